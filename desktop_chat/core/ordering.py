"""Firebase's ordering of keys and values, used by queries on the server and in the client."""

from __future__ import annotations

from typing import Any

from desktop_chat.core.paths import Path
from desktop_chat.core.values import Node

__all__ = [
    "KeyOrder",
    "ValueOrder",
    "child_value",
    "key_order",
    "priority_order",
    "value_order",
]

KeyOrder = tuple[int, int, str]
ValueOrder = tuple[int, Any]

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


def _as_int32(key: str) -> int | None:
    body = key[1:] if key.startswith("-") else key
    if not body or not body.isascii() or not body.isdigit() or len(body) > 10:
        return None
    if len(body) > 1 and body[0] == "0":
        return None
    if key == "-0":
        return None
    number = int(key)
    return number if _INT32_MIN <= number <= _INT32_MAX else None


def key_order(key: str) -> KeyOrder:
    """Sort key for keys: 32-bit integer keys first, numerically, then the rest as strings."""
    number = _as_int32(key)
    if number is not None:
        return (0, number, "")
    return (1, 0, key)


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
        return (4, value)
    return (5, 0)


def priority_order(node: Node) -> ValueOrder:
    """Sort key for priorities: none first, then numbers, then strings."""
    priority = node.get(".priority") if isinstance(node, dict) else None
    if priority is None:
        return (0, 0)
    if isinstance(priority, str):
        return (2, priority)
    return (1, priority)


def child_value(node: Node, path: Path) -> Node:
    """The value at *path* below *node*, the way an ``orderBy`` on a child path reads it."""
    for key in path:
        if not isinstance(node, dict) or ".value" in node:
            return None
        node = node.get(key)
    return node
