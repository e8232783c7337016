"""Streaming reads: first put, the smallest later events, queries, keep-alive, slow consumers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.server import ServerProcess
from tests.support.sse import SseReader


@pytest.fixture
def reader_factory(server: ServerProcess):  # type: ignore[no-untyped-def]
    readers: list[SseReader] = []

    def make(path: str, **kwargs: object) -> SseReader:
        reader = SseReader(server, path, **kwargs)  # type: ignore[arg-type]
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.close()


def test_first_put_then_put_and_patch(server: ServerProcess, reader_factory) -> None:  # type: ignore[no-untyped-def]
    server.put("rooms/r1", {"title": "Guitar", "n": 1})
    reader = reader_factory("rooms/r1")
    assert reader.next() == ("put", {"path": "/", "data": {"title": "Guitar", "n": 1}})
    server.put("rooms/r1/n", 2)
    assert reader.next() == ("put", {"path": "/n", "data": 2})
    server.request("PATCH", "rooms/r1", {"a": 1, "b": {"c": 2}}).raise_for_status()
    assert reader.next() == ("patch", {"path": "/", "data": {"a": 1, "b": {"c": 2}}})
    server.request("DELETE", "rooms/r1/a").raise_for_status()
    assert reader.next() == ("put", {"path": "/a", "data": None})
    server.put("rooms", {"r1": {"title": "Piano"}})
    assert reader.next() == ("put", {"path": "/", "data": {"title": "Piano"}})


def test_listener_below_a_write_sees_only_real_changes(
    server: ServerProcess,
    reader_factory,  # type: ignore[no-untyped-def]
) -> None:
    server.put("a", {"b": {"x": 1}, "c": 1})
    reader = reader_factory("a/b")
    assert reader.next() == ("put", {"path": "/", "data": {"x": 1}})
    server.put("a", {"b": {"x": 1}, "c": 2})  # leaves /a/b alone: no event
    server.request("PATCH", "", {"a/c": 3, "z": 1}).raise_for_status()  # nor this
    server.put("a", {"b": {"x": 5}, "c": 2})  # changes /a/b
    assert reader.next() == ("put", {"path": "/", "data": {"x": 5}})
    server.put("a", 7)  # a leaf replaces the object: /a/b is gone
    assert reader.next() == ("put", {"path": "/", "data": None})
    server.put("a/b/y", 1)  # a write below the leaf /a turns it into an object again
    assert reader.next() == ("put", {"path": "/", "data": {"y": 1}})


def test_multi_path_update_is_one_set_of_events(
    server: ServerProcess,
    reader_factory,  # type: ignore[no-untyped-def]
) -> None:
    reader = reader_factory("")
    assert reader.next() == ("put", {"path": "/", "data": None})
    server.request("PATCH", "", {"users/u1/name": "Ann", "users/u2/name": "Bob"}).raise_for_status()
    assert reader.next() == ("put", {"path": "/users/u1/name", "data": "Ann"})
    assert reader.next() == ("put", {"path": "/users/u2/name", "data": "Bob"})
    server.request("PATCH", "users", {"u1/age": 30, "u2/age": 40}).raise_for_status()
    assert reader.next() == ("put", {"path": "/users/u1/age", "data": 30})
    assert reader.next() == ("put", {"path": "/users/u2/age", "data": 40})
    server.request("PATCH", "users/u1", {"age": 31, "city": "Oslo"}).raise_for_status()
    assert reader.next() == ("patch", {"path": "/users/u1", "data": {"age": 31, "city": "Oslo"}})


def test_query_stream_follows_the_query(server: ServerProcess, reader_factory) -> None:  # type: ignore[no-untyped-def]
    for key, ts in (("m1", 1), ("m2", 2), ("m3", 3)):
        server.put(f"msgs/{key}", {"ts": ts})
    reader = reader_factory("msgs", orderBy='"ts"', limitToLast="2")
    assert reader.next() == ("put", {"path": "/", "data": {"m2": {"ts": 2}, "m3": {"ts": 3}}})
    server.put("msgs/m0", {"ts": 0})  # outside the window: no event
    server.put("msgs/m4", {"ts": 4})  # m2 leaves the window, m4 enters: only that is sent
    assert reader.next() == ("put", {"path": "/m2", "data": None})
    assert reader.next() == ("patch", {"path": "/", "data": {"m4": {"ts": 4}}})
    server.put("msgs/m3/text", "hi")  # a child in the window changes
    assert reader.next() == ("patch", {"path": "/", "data": {"m3": {"ts": 3, "text": "hi"}}})
    server.request("DELETE", "msgs").raise_for_status()  # the window empties: a whole put
    assert reader.next() == ("put", {"path": "/", "data": None})


def test_keep_alive_on_an_idle_stream(server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(tmp_path / "d", extra_args=["--keep-alive", "0.2"]).start()
    reader = SseReader(server, "idle")
    try:
        assert reader.next() == ("put", {"path": "/", "data": None})
        assert reader.next(skip_keep_alive=False) == ("keep-alive", None)
    finally:
        reader.close()


def test_stream_without_credentials_is_refused(server: ServerProcess) -> None:
    reader = SseReader(server, "a", token="nobody")
    try:
        assert reader.next() is None
        assert reader.status == 401
    finally:
        reader.close()


def test_slow_consumer_is_closed_and_others_keep_up(server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(tmp_path / "d", extra_args=["--stream-buffer", "65536"]).start()
    stalled = SseReader(server, "feed", rcvbuf=4096, read=False)
    healthy = SseReader(server, "feed")
    try:
        assert healthy.next() == ("put", {"path": "/", "data": None})
        blob = "x" * 20_000
        # 12 MB: beyond the kernel's socket buffers (up to 4 MB each way) and the stream buffer
        for index in range(600):
            server.put(f"feed/k{index}", blob)
        for index in range(600):
            event = healthy.next()
            assert event == ("put", {"path": f"/k{index}", "data": blob})
        deadline = time.monotonic() + 30
        while "slow consumer" not in "".join(server.stderr_lines):
            assert time.monotonic() < deadline, "the stalled stream was never closed"
            time.sleep(0.05)
        assert server.get("feed/k599") == blob  # writers were never stalled
    finally:
        stalled.close()
        healthy.close()
