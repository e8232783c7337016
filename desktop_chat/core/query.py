"""Realtime Database queries: orderBy with range filters and limits, evaluated on a value."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from desktop_chat.core.errors import InvalidQueryError
from desktop_chat.core.ordering import (
    child_value,
    key_order,
    priority_order,
    value_order,
)
from desktop_chat.core.paths import Path, check_key
from desktop_chat.core.values import Node

__all__ = ["QUERY_PARAMS", "Query", "parse_query"]

QUERY_PARAMS = (
    "orderBy",
    "startAt",
    "startAfter",
    "endAt",
    "endBefore",
    "equalTo",
    "limitToFirst",
    "limitToLast",
)
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query. ``order_by`` is ``$key``, ``$value``, ``$priority`` or a child path."""

    order_by: str
    start_at: Any = _UNSET
    start_after: Any = _UNSET
    end_at: Any = _UNSET
    end_before: Any = _UNSET
    limit_first: int | None = None
    limit_last: int | None = None

    @property
    def child_path(self) -> Path | None:
        """The child path ordered by, or None for ``$key``, ``$value`` and ``$priority``."""
        if self.order_by.startswith("$"):
            return None
        return tuple(part for part in self.order_by.split("/") if part)

    def _sort_key(self) -> Callable[[tuple[str, Node]], tuple[Any, ...]]:
        if self.order_by == "$key":
            return lambda item: key_order(item[0])
        if self.order_by == "$value":
            return lambda item: (value_order(item[1]), key_order(item[0]))
        if self.order_by == "$priority":
            return lambda item: (priority_order(item[1]), key_order(item[0]))
        path = self.child_path or ()
        return lambda item: (value_order(child_value(item[1], path)), key_order(item[0]))

    def _bound(self, bound: Any) -> tuple[Any, ...]:
        if self.order_by == "$key":
            return key_order(str(bound))
        if self.order_by == "$priority":
            return priority_order({".priority": bound})
        return (value_order(bound),)

    def _in_range(self, item: tuple[str, Node]) -> bool:
        if self.order_by == "$key":
            key: tuple[Any, ...] = key_order(item[0])
        elif self.order_by == "$priority":
            key = priority_order(item[1])
        elif self.order_by == "$value":
            key = (value_order(item[1]),)
        else:
            key = (value_order(child_value(item[1], self.child_path or ())),)
        if self.start_at is not _UNSET and key < self._bound(self.start_at):
            return False
        if self.start_after is not _UNSET and key <= self._bound(self.start_after):
            return False
        if self.end_at is not _UNSET and key > self._bound(self.end_at):
            return False
        return not (self.end_before is not _UNSET and key >= self._bound(self.end_before))

    def ordered(self, node: Node) -> list[tuple[str, Node]]:
        """The children of *node* that match, in query order, limits applied."""
        if not isinstance(node, dict) or ".value" in node:
            return []
        items = [item for item in node.items() if item[0] != ".priority"]
        items = [item for item in items if self._in_range(item)]
        items.sort(key=self._sort_key())
        if self.limit_first is not None:
            items = items[: self.limit_first]
        if self.limit_last is not None:
            items = items[-self.limit_last :] if self.limit_last else []
        return items

    def apply(self, node: Node) -> Node:
        """The answer Firebase gives: the matching children as an object (or None)."""
        if not isinstance(node, dict) or ".value" in node:
            return None if self.limit_first == 0 or self.limit_last == 0 else node
        return dict(self.ordered(node)) or None


def _json_param(name: str, raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidQueryError(f"{name} must be a valid JSON value") from None


def _limit_param(name: str, raw: str) -> int:
    value = _json_param(name, raw)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidQueryError(f"{name} must be a non-negative integer")
    return value


def parse_query(params: Mapping[str, str]) -> Query | None:
    """Build a Query from URL parameters (JSON-encoded, as Firebase takes them), or None."""
    present = [name for name in QUERY_PARAMS if name in params]
    if not present:
        return None
    if "orderBy" not in params:
        raise InvalidQueryError("orderBy must be defined when other query parameters are defined")
    order_by = _json_param("orderBy", params["orderBy"])
    if not isinstance(order_by, str) or not order_by:
        raise InvalidQueryError("orderBy must be a string")
    if not order_by.startswith("$"):
        for part in (part for part in order_by.split("/") if part):
            check_key(part)
    elif order_by not in ("$key", "$value", "$priority"):
        raise InvalidQueryError(f"orderBy {order_by} is not supported")
    fields: dict[str, Any] = {}
    for name, field in (
        ("startAt", "start_at"),
        ("startAfter", "start_after"),
        ("endAt", "end_at"),
        ("endBefore", "end_before"),
    ):
        if name in params:
            fields[field] = _json_param(name, params[name])
    if "equalTo" in params:
        if set(present) & {"startAt", "startAfter", "endAt", "endBefore"}:
            raise InvalidQueryError("equalTo cannot be combined with startAt or endAt")
        value = _json_param("equalTo", params["equalTo"])
        fields["start_at"] = fields["end_at"] = value
    for bound in ("start_at", "start_after", "end_at", "end_before"):
        value = fields.get(bound, _UNSET)
        if value is not _UNSET and isinstance(value, dict | list):
            raise InvalidQueryError("query bounds must be null, booleans, numbers or strings")
        if order_by == "$key" and value is not _UNSET and not isinstance(value, str):
            raise InvalidQueryError("startAt, endAt and equalTo must be strings with orderBy $key")
    if "limitToFirst" in params and "limitToLast" in params:
        raise InvalidQueryError("limitToFirst and limitToLast cannot both be set")
    if "limitToFirst" in params:
        fields["limit_first"] = _limit_param("limitToFirst", params["limitToFirst"])
    if "limitToLast" in params:
        fields["limit_last"] = _limit_param("limitToLast", params["limitToLast"])
    return Query(order_by=order_by, **fields)
