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
