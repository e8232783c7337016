"""Values of the data tree: normalising written JSON, server values, rendering and ETags."""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import orjson

from desktop_chat.core.errors import InvalidDataError, InvalidPathError
from desktop_chat.core.paths import MAX_DEPTH, Path, check_key

__all__ = [
    "NULL_ETAG",
    "Node",
    "ServerValue",
    "Written",
    "etag",
    "normalize",
    "render",
    "resolve_server_values",
]

Node: TypeAlias = Any
"""A stored value: None, bool, int, float, str, or dict[str, Node]. A leaf with a priority is
kept as ``{".value": v, ".priority": p}``; an object with a priority has a ``".priority"`` key."""

NULL_ETAG = "null_etag"
_MAX_SAFE_INT = 2**53


@dataclass(frozen=True, slots=True)
class ServerValue:
    """A ``{".sv": ...}`` placeholder, resolved when the write is applied."""

    kind: str  # "timestamp" or "increment"
    delta: int | float = 0


@dataclass(frozen=True, slots=True)
class Written:
    """A normalised value ready to write, and whether it holds server values."""

    value: Node
    has_server_values: bool


def _check_priority(priority: object) -> None:
    if priority is not None and (
        isinstance(priority, bool) or not isinstance(priority, int | float | str)
    ):
        raise InvalidDataError("Invalid data; .priority must be a number, a string or null")


def _server_value(spec: object) -> ServerValue:
    if spec == "timestamp":
        return ServerValue("timestamp")
    if isinstance(spec, dict) and len(spec) == 1 and "increment" in spec:
        delta = spec["increment"]
        if isinstance(delta, int | float) and not isinstance(delta, bool) and math.isfinite(delta):
            return ServerValue("increment", delta)
    raise InvalidDataError("Invalid data; unknown server value")


class _Normalizer:
    def __init__(self, base_depth: int) -> None:
        self.base_depth = base_depth
        self.has_server_values = False

    def node(self, value: object, depth: int) -> Node:
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidDataError("Invalid data; numbers must be finite")
            if value.is_integer() and abs(value) < _MAX_SAFE_INT:
                return int(value)
            return value
        if isinstance(value, list):
            value = {str(index): item for index, item in enumerate(value)}
        if not isinstance(value, dict):
            raise InvalidDataError(f"Invalid data; cannot store a {type(value).__name__}")
        if depth >= MAX_DEPTH:
            raise InvalidDataError(f"Invalid data; tree deeper than {MAX_DEPTH} levels")
        if ".sv" in value:
            if len(value) != 1:
                raise InvalidDataError("Invalid data; .sv must be the only key of its object")
            self.has_server_values = True
            return _server_value(value[".sv"])
        priority = value.get(".priority")
        _check_priority(priority)
        if ".value" in value:
            if set(value) - {".value", ".priority"}:
                raise InvalidDataError("Invalid data; .value may only stand beside .priority")
            inner = self.node(value[".value"], depth)
            if priority is None or inner is None:
                return inner
            if isinstance(inner, dict):
                return {**inner, ".priority": priority}
            return {".value": inner, ".priority": priority}
        out: dict[str, Node] = {}
        for key, child in value.items():
            if key == ".priority":
                continue
            try:
                check_key(key)
            except InvalidPathError as exc:
                raise InvalidDataError(f"Invalid data; {exc}") from exc
            normalized = self.node(child, depth + 1)
            if normalized is not None:
                out[key] = normalized
        if not out:
            return None
        if priority is not None:
            out[".priority"] = priority
        return out


def normalize(value: object, base: Path = ()) -> Written:
    """Check a parsed JSON value written at *base* and bring it to stored form.

    Arrays become objects keyed by index, empty objects and nulls disappear, integral floats
    become ints, and ``{".sv": ...}`` becomes a ServerValue placeholder.
    """
    if len(base) > MAX_DEPTH:  # e.g. a multi-path PATCH key or a POST below a deep URL
        raise InvalidDataError(f"Invalid data; path deeper than {MAX_DEPTH} levels")
    normalizer = _Normalizer(len(base))
    node = normalizer.node(value, len(base))
    return Written(node, normalizer.has_server_values)


def resolve_server_values(
    node: Node, path: Path, current: Callable[[Path], Node], now_ms: int
) -> Node:
    """Replace placeholders in *node* (to be written at *path*) with their values.

    *current* returns the value stored at a path before the write (for increments).
    """
    if isinstance(node, ServerValue):
        if node.kind == "timestamp":
            return now_ms
        old = current(path)
        if isinstance(old, dict) and ".value" in old:
            old = old[".value"]
        if isinstance(old, int | float) and not isinstance(old, bool):
            total = old + node.delta
            if isinstance(total, float) and total.is_integer() and abs(total) < _MAX_SAFE_INT:
                return int(total)
            if isinstance(total, int) and not -(2**63) <= total < 2**64:
                return float(total)  # past what a JSON integer is stored as (orjson): a double
            return total
        return node.delta
    if isinstance(node, dict):
        return {
            key: resolve_server_values(child, (*path, key), current, now_ms)
            for key, child in node.items()
        }
    return node


def _array_length(node: dict[str, Node]) -> int:
    """The list length if *node* should show as a JSON array (Firebase's rule), else -1."""
    highest = -1
    for key in node:
        if not key.isdigit() or (len(key) > 1 and key[0] == "0") or not key.isascii():
            return -1
        highest = max(highest, int(key))
    return highest + 1 if highest + 1 <= 2 * len(node) else -1


def render(node: Node, export: bool = False) -> Node:
    """The JSON a reader sees: priorities dropped (kept when *export*), index objects as arrays."""
    if not isinstance(node, dict):
        return node
    if ".value" in node:
        return dict(node) if export else node[".value"]
    out: dict[str, Node] = {}
    for key, child in node.items():
        if key == ".priority":
            if export:
                out[key] = child
            continue
        out[key] = render(child, export) if isinstance(child, dict) else child
    if ".priority" not in out:
        length = _array_length(out)
        if length > 0:
            return [out.get(str(index)) for index in range(length)]
    return out


def etag(node: Node) -> str:
    """The ETag of a stored value: ``null_etag`` for nothing, else a hash of its export JSON."""
    if node is None:
        return NULL_ETAG
    data = orjson.dumps(render(node, export=True), option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode()
