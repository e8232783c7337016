"""Firebase's ordering of keys and values, and queries (orderBy, ranges, limits) on a value."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from desktop_chat.core.errors import InvalidQueryError
from desktop_chat.core.paths import Path, check_key
from desktop_chat.core.values import Node

__all__ = [
    "QUERY_PARAMS",
    "UNSET",
    "KeyOrder",
    "Query",
    "ValueOrder",
    "child_value",
    "key_order",
    "parse_query",
    "priority_order",
    "value_order",
]

KeyOrder = tuple[int, int, int, str]
ValueOrder = tuple[int, Any]

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


def _as_int32(key: str) -> int | None:
    # As Firebase's SDKs parse keys (Java Utilities.tryParseInt): an optional "-", digits, at
    # most 11 characters in all; leading zeros ("007") and "-0" count as integers too.
    body = key[1:] if key.startswith("-") else key
    if not body or not body.isascii() or not body.isdigit() or len(key) > 11:
        return None
    number = int(key)
    return number if _INT32_MIN <= number <= _INT32_MAX else None


def _utf16(text: str) -> str:
    """*text* with characters above U+FFFF as surrogate pairs, so that ``<`` compares UTF-16
    code units, as Firebase does (Java and JavaScript strings)."""
    if text.isascii() or max(text) <= "\uffff":
        return text
    return "".join(
        char
        if char <= "\uffff"
        else chr(0xD7C0 + (ord(char) >> 10)) + chr(0xDC00 + (ord(char) & 0x3FF))
        for char in text
    )


def key_order(key: str) -> KeyOrder:
    """Sort key for keys: 32-bit integer keys first, numerically (equal numbers: shorter key
    first, "7" before "007"), then the rest as strings."""
    number = _as_int32(key)
    if number is not None:
        return (0, number, len(key), key)  # "00" and "-0" tie in Firebase: any fixed order
    return (1, 0, 0, _utf16(key))


def value_order(value: Node) -> ValueOrder:
    """Sort key for values: null < false < true < numbers < strings < objects (objects tie)."""
    if isinstance(value, dict) and ".value" in value:
        value = value[".value"]
    if value is None:
        return (0, 0)
    if value is False:
        return (1, 0)
    if value is True:
        return (2, 0)
    if isinstance(value, int | float):
        return (3, value)
    if isinstance(value, str):
        return (4, _utf16(value))
    return (5, 0)


def priority_order(node: Node) -> ValueOrder:
    """Sort key for priorities: none first, then numbers, then strings."""
    priority = node.get(".priority") if isinstance(node, dict) else None
    if priority is None:
        return (0, 0)
    if isinstance(priority, str):
        return (2, _utf16(priority))
    return (1, priority)


def child_value(node: Node, path: Path) -> Node:
    """The value at *path* below *node*, the way an ``orderBy`` on a child path reads it."""
    for key in path:
        if not isinstance(node, dict) or ".value" in node:
            return None
        node = node.get(key)
    return node


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
UNSET: Any = object()
"""The value of a query bound that was not given (None is a real bound: null)."""


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query. ``order_by`` is ``$key``, ``$value``, ``$priority`` or a child path."""

    order_by: str
    start_at: Any = UNSET
    start_after: Any = UNSET
    end_at: Any = UNSET
    end_before: Any = UNSET
    limit_first: int | None = None
    limit_last: int | None = None

    @property
    def child_path(self) -> Path | None:
        """The child path ordered by, or None for ``$key``, ``$value`` and ``$priority``."""
        if self.order_by.startswith("$"):
            return None
        return tuple(part for part in self.order_by.split("/") if part)

    def sort_key(self) -> Callable[[tuple[str, Node]], tuple[Any, ...]]:
        """The sort key of a ``(key, child)`` pair in this query's order (unique per key)."""
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

    def matches(self, item: tuple[str, Node]) -> bool:
        """Whether a ``(key, child)`` pair is within the query's bounds (limits aside)."""
        if self.order_by == "$key":
            key: tuple[Any, ...] = key_order(item[0])
        elif self.order_by == "$priority":
            key = priority_order(item[1])
        elif self.order_by == "$value":
            key = (value_order(item[1]),)
        else:
            key = (value_order(child_value(item[1], self.child_path or ())),)
        if self.start_at is not UNSET and key < self._bound(self.start_at):
            return False
        if self.start_after is not UNSET and key <= self._bound(self.start_after):
            return False
        if self.end_at is not UNSET and key > self._bound(self.end_at):
            return False
        return not (self.end_before is not UNSET and key >= self._bound(self.end_before))

    def ordered(self, node: Node) -> list[tuple[str, Node]]:
        """The children of *node* that match, in query order, limits applied."""
        if not isinstance(node, dict) or ".value" in node:
            return []
        items = [item for item in node.items() if item[0] != ".priority"]
        items = [item for item in items if self.matches(item)]
        items.sort(key=self.sort_key())
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
        value = fields.get(bound, UNSET)
        if value is not UNSET and isinstance(value, dict | list):
            raise InvalidQueryError("query bounds must be null, booleans, numbers or strings")
        if order_by == "$key" and value is not UNSET and not isinstance(value, str):
            raise InvalidQueryError("startAt, endAt and equalTo must be strings with orderBy $key")
    if "limitToFirst" in params and "limitToLast" in params:
        raise InvalidQueryError("limitToFirst and limitToLast cannot both be set")
    if "limitToFirst" in params:
        fields["limit_first"] = _limit_param("limitToFirst", params["limitToFirst"])
    if "limitToLast" in params:
        fields["limit_last"] = _limit_param("limitToLast", params["limitToLast"])
    return Query(order_by=order_by, **fields)
