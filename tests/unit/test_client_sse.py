"""Unit tests for the client's SSE parser and Firebase stream events (no network)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_chat.client.errors import ProtocolError
from desktop_chat.client.sse import (
    SseEvent,
    SseParser,
    apply_event,
    cancel_message,
    event_payload,
)

STREAM = (
    b"\xef\xbb\xbf: a comment\r\n"
    b'event: put\r\ndata: {"path": "/", "data": {"a": 1}}\r\n\r\n'
    b"event: keep-alive\ndata: null\n\n"
    b'event: patch\rdata: {"path": "/b",\rdata:  "data": {"c": "\xc3\xa9"}}\r\r'
    b"retry: 1500\nid: 7\n\n"
    b'event: cancel\ndata: "Permission denied"\n\n'
    b"event: auth_revoked\ndata: credential is no longer valid\n\n"
    b"data: unfinished"
)
EXPECTED = [
    SseEvent("put", '{"path": "/", "data": {"a": 1}}'),
    SseEvent("keep-alive", "null"),
    SseEvent("patch", '{"path": "/b",\n "data": {"c": "\u00e9"}}'),
    SseEvent("cancel", '"Permission denied"', "7"),
    SseEvent("auth_revoked", "credential is no longer valid", "7"),
]


def _feed_all(chunks: list[bytes]) -> tuple[list[SseEvent], SseParser]:
    parser = SseParser()
    events: list[SseEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events, parser


def test_whole_stream_in_one_chunk() -> None:
    events, parser = _feed_all([STREAM])
    assert events == EXPECTED
    assert parser.retry == 1500
    assert parser.comments == 1


def test_byte_by_byte() -> None:
    events, _ = _feed_all([STREAM[i : i + 1] for i in range(len(STREAM))])
    assert events == EXPECTED


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_fragmentation_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    events, _ = _feed_all([STREAM[a:b] for a, b in itertools.pairwise(bounds)])
    assert events == EXPECTED


def test_crlf_split_across_chunks_ends_one_line() -> None:
    events, _ = _feed_all([b"event: put\r", b"\ndata: x\r", b"\n\r", b"\n"])
    assert events == [SseEvent("put", "x")]


def test_fields_without_space_blank_data_and_unknown_fields() -> None:
    events, _ = _feed_all([b"event:put\ndata:x\nfoo: bar\ndata\n\nevent: lonely\n\n"])
    assert events == [SseEvent("put", "x\n")]  # an event with no data line is dropped


def test_invalid_utf8_and_oversized_events_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError):
        SseParser().feed(b"data: \xff\xfe\n\n")
    parser = SseParser(max_event_bytes=64)
    with pytest.raises(ProtocolError):
        parser.feed(b"data: " + b"x" * 100)
    assert parser.feed(b"\n\ndata: ok\n\n") == [SseEvent("message", "ok")]


def test_event_payload_checks_shape() -> None:
    assert event_payload(SseEvent("put", '{"path": "/a/b", "data": 1}')) == (("a", "b"), 1)
    for bad in (
        "{",
        "[1]",
        '{"path": 3, "data": 1}',
        '{"path": "/a"}',
        '{"path": "/a.b", "data": 1}',
    ):
        with pytest.raises(ProtocolError):
            event_payload(SseEvent("put", bad))


def test_apply_put_and_patch_without_mutating() -> None:
    first = apply_event(None, "put", (), {"a": {"x": 1}, "list": [1, 2]})
    assert first == {"a": {"x": 1}, "list": {"0": 1, "1": 2}}
    second = apply_event(first, "patch", ("a",), {"y": 2, "z/w": 3, "x": None})
    assert second == {"a": {"y": 2, "z": {"w": 3}}, "list": {"0": 1, "1": 2}}
    assert first == {"a": {"x": 1}, "list": {"0": 1, "1": 2}}  # untouched
    third = apply_event(second, "put", ("a",), None)
    assert third == {"list": {"0": 1, "1": 2}}
    assert apply_event(third, "put", ("list", "0"), None) == {"list": {"1": 2}}
    assert apply_event(7, "put", ("k",), 1) == {"k": 1}  # a leaf becomes an object


def test_apply_refuses_bad_data() -> None:
    with pytest.raises(ProtocolError):
        apply_event(None, "patch", (), [1])
    with pytest.raises(ProtocolError):
        apply_event(None, "put", (), {"bad.key": 1})
    with pytest.raises(ProtocolError):
        apply_event(None, "patch", (), {"": 1})


def test_cancel_message_quoted_or_bare() -> None:
    assert cancel_message('"Permission denied"') == "Permission denied"
    assert cancel_message("Permission denied") == "Permission denied"
    assert cancel_message("null") == "null"
    assert cancel_message("") == "Permission denied"
