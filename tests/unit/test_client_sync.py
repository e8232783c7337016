"""Which children a stream event changed: only those are parsed again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from desktop_chat.client.cache import LocalCache
from desktop_chat.client.events import EventBus, EventStream, MessageAdded, MessageChanged
from desktop_chat.client.following import changed_children
from desktop_chat.client.sse import apply_event
from desktop_chat.client.streams import StreamEvent
from desktop_chat.client.sync import KNOWN_PER_CONVERSATION, Merger
from desktop_chat.core.model import Message, MessageType
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


def message(n: int, *, read: bool = False) -> Message:
    """Message number *n* of conversation a_b, a to b (its timestamp is *n*)."""
    return Message(f"m{n:05d}", "a_b", "a", "b", f"text {n}", n, read, MessageType.TEXT)


def test_the_merger_keeps_memory_bounded_and_still_announces_each_message_once(
    tmp_path: Path,
) -> None:
    """A long history is not held in memory (the cache holds it), yet a message seen before is
    never announced as added again, and read stays final."""

    async def main() -> None:
        with LocalCache(tmp_path) as cache:
            bus = EventBus(maxsize=100_000)
            stream = bus.stream()
            merger = Merger(cache, "b", bus)
            total = KNOWN_PER_CONVERSATION + 1_000
            for start in range(0, total, 250):
                await merger.merge_messages("a_b", [message(n) for n in range(start, start + 250)])
            added = [e for e in _drain(stream) if isinstance(e, MessageAdded)]
            assert len(added) == total
            assert len(merger._known["a_b"]) <= KNOWN_PER_CONVERSATION
            await merger.merge_messages("a_b", [message(n) for n in range(0, 300)])  # long gone
            assert _drain(stream) == []
            await merger.merge_messages("a_b", [message(5, read=True)])
            assert [type(e) for e in _drain(stream)] == [MessageChanged]
            await merger.merge_messages("a_b", [message(5)])  # read is final
            assert _drain(stream) == []
            await merger.writer.flush()  # (the writes follow the announcements)
            assert cache.message("a_b", "m00005").read  # type: ignore[union-attr]

    asyncio.run(main())


def _drain(stream: EventStream) -> list[object]:
    events = []
    while (event := stream.get_nowait()) is not None:
        events.append(event)
    return events


def test_conversations_leaving_memory_are_looked_up_again(tmp_path: Path) -> None:
    """More conversations than memory keeps: coming back to one never re-announces what it
    had, new messages anywhere are still announced once."""

    def message(cid: str, n: int) -> Message:
        first, second = cid.split("_")
        return Message(f"m{n:05d}", cid, first, second, f"text {n}", n, False, MessageType.TEXT)

    async def main() -> None:
        with LocalCache(tmp_path) as cache:
            bus = EventBus(maxsize=100_000)
            stream = bus.stream()
            merger = Merger(cache, "b", bus)
            cids = [f"a{i:02d}_b" for i in range(12)]
            for cid in cids:
                await merger.merge_messages(cid, [message(cid, n) for n in range(5)])
            assert len([e for e in _drain(stream) if isinstance(e, MessageAdded)]) == 60
            for cid in cids:  # the first ones left memory: looked up, not announced again
                await merger.merge_messages(cid, [message(cid, n) for n in range(6)])
            added = [e.message for e in _drain(stream) if isinstance(e, MessageAdded)]
            assert sorted((m.conversation_id, m.id) for m in added) == [(c, "m00005") for c in cids]

    asyncio.run(main())


def test_merge_now_only_when_nothing_has_to_wait(tmp_path: Path) -> None:
    """The stream reader's fast path: a new message is announced at once, unless a merge is
    under way, the conversation was never looked at, or the message may be in the cache."""

    async def main() -> None:
        with LocalCache(tmp_path) as cache:
            bus = EventBus(maxsize=1_000)
            stream = bus.stream()
            merger = Merger(cache, "b", bus)
            assert not merger.merge_now("a_b", [message(1)])  # its bound is not known yet
            await merger.merge_messages("a_b", [message(1)])
            assert [type(e) for e in _drain(stream)] == [MessageAdded]
            assert merger.merge_now("a_b", [message(2)])
            assert [e.message.id for e in _drain(stream)] == ["m00002"]  # type: ignore[attr-defined]
            assert merger.merge_now("a_b", [message(2)])  # known, unchanged: nothing to say
            assert _drain(stream) == []
            async with merger._lock:  # a merge under way goes first
                assert not merger.merge_now("a_b", [message(3)])
            assert _drain(stream) == []
            merger._known["a_b"].pop("m00001")  # memory lets it go (as _trim does): it may
            merger._bound["a_b"] = message(1).order  # be cached, so it is looked up
            assert not merger.merge_now("a_b", [message(1)])
            await merger.writer.flush()
            assert cache.message("a_b", "m00002") is not None

    asyncio.run(main())


def test_cache_writes_wait_for_more_unless_flushed(tmp_path: Path) -> None:
    """Cache writes gather for a moment (off the path of a message being sent or shown);
    flushing writes them at once; left alone they land after the delay."""
    from desktop_chat.client.sync import CacheWriter

    async def main() -> None:
        with LocalCache(tmp_path) as cache:
            failures: list[Exception] = []
            patient = CacheWriter(cache, failures.append, delay=3_600)
            patient.put([message(1)])
            for _ in range(20):
                await asyncio.sleep(0)
            assert cache.message("a_b", "m00001") is None  # still gathering
            async with asyncio.timeout(10):
                await patient.flush()
            assert cache.message("a_b", "m00001") is not None
            brisk = CacheWriter(cache, failures.append, delay=0.01)
            brisk.put([message(2), message(3)])
            assert brisk._task is not None
            async with asyncio.timeout(10):  # (not flushed: it writes when its delay is up)
                await asyncio.shield(brisk._task)
            assert cache.message("a_b", "m00003") is not None
            assert failures == []

    asyncio.run(main())


def test_a_list_event_touching_one_entry_reads_and_writes_only_that_one(tmp_path: Path) -> None:
    """One message changes one entry of a long list: only that entry is parsed, stored and
    announced; a removed one goes; a whole put still replaces the list."""
    from desktop_chat.client.events import ConversationChanged
    from desktop_chat.client.following import touched_keys

    def record(other: str, unread: int) -> dict[str, Any]:
        return {
            "otherUser": {"id": other, "name": other.title()},
            "lastMessage": "hi",
            "lastMessageAt": 5,
            "unreadCount": unread,
        }

    whole = {f"me_u{n:03d}": record(f"u{n:03d}", 0) for n in range(300)}

    async def main() -> None:
        with LocalCache(tmp_path) as cache:
            bus = EventBus(maxsize=10_000)
            stream = bus.stream()
            merger = Merger(cache, "me", bus)
            first = StreamEvent("put", (), whole, whole, resync=True)
            await merger.merge_conversations(first.value, whole=True, touched=touched_keys(first))
            assert len([e for e in _drain(stream) if isinstance(e, ConversationChanged)]) == 300
            after = {**whole, "me_u007": record("u007", 1)}
            one = StreamEvent("put", ("me_u007", "unreadCount"), 1, after)
            assert touched_keys(one) == ["me_u007"]
            await merger.merge_conversations(one.value, whole=False, touched=touched_keys(one))
            [changed] = _drain(stream)
            assert isinstance(changed, ConversationChanged)
            assert changed.entry is not None and changed.entry.unread_count == 1
            gone = {k: v for k, v in after.items() if k != "me_u009"}
            removal = StreamEvent("put", ("me_u009",), None, gone)
            await merger.merge_conversations(gone, whole=False, touched=touched_keys(removal))
            assert _drain(stream) == [ConversationChanged("me_u009", None)]
            again = StreamEvent("put", ("me_u010",), whole["me_u010"], gone)  # unchanged
            await merger.merge_conversations(gone, whole=False, touched=touched_keys(again))
            assert _drain(stream) == []
            rows = {entry.conversation_id: entry for entry in cache.conversations()}
            assert len(rows) == 299 and rows["me_u007"].unread_count == 1

    asyncio.run(main())
