"""Which children a stream event changed: only those are parsed again."""

from __future__ import annotations

from typing import Any

import pytest

from desktop_chat.client.sse import apply_event
from desktop_chat.client.streams import StreamEvent
from desktop_chat.client.sync import changed_children
from desktop_chat.core.paths import parse_path

BEFORE = {"a": {"t": 1}, "b": {"t": 2}, "c": {"t": 3}}


def event(kind: str, path: str, data: Any, *, resync: bool = False) -> StreamEvent:
    at = parse_path(path)
    value = apply_event(None if resync else BEFORE, kind, at, data)
    return StreamEvent(kind, at, data, value, resync=resync)


@pytest.mark.parametrize(
    ("kind", "path", "data", "expected"),
    [
        ("put", "/b", {"t": 9}, {"b": {"t": 9}}),
        ("put", "/b/t", 7, {"b": {"t": 7}}),
        ("put", "/d", {"t": 4}, {"d": {"t": 4}}),
        ("put", "/b", None, {}),  # gone: left out, never a deletion
        ("patch", "/", {"b": {"t": 5}, "d": {"t": 6}}, {"b": {"t": 5}, "d": {"t": 6}}),
        ("patch", "/", {"a/t": 8, "a/read": True}, {"a": {"t": 8, "read": True}}),
        ("patch", "/", {"c": None}, {}),
        ("patch", "/b", {"t": 4}, {"b": {"t": 4}}),
    ],
)
def test_only_the_children_an_event_touched(
    kind: str, path: str, data: Any, expected: dict[str, Any]
) -> None:
    assert dict(changed_children(event(kind, path, data))) == expected


def test_a_whole_value_means_every_child() -> None:
    whole = {"x": {"t": 1}, "y": {"t": 2}}
    assert dict(changed_children(event("put", "/", whole))) == whole
    assert dict(changed_children(event("put", "/", whole, resync=True))) == whole
    assert changed_children(event("put", "/", None)) == []
    assert changed_children(event("put", "/", "scalar")) == []
