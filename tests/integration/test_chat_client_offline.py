"""ChatClient offline and restart cases against the real server: a damaged cache, a stream
window sliding past cached messages, quitting with unsent messages."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from desktop_chat.client.cache import CACHE_FILE
from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.errors import InvalidRequestError, NetworkError
from desktop_chat.client.events import (
    DeliveryStateChanged,
    MessageChanged,
)
from desktop_chat.client.following import MESSAGE_WINDOW, PREFETCH
from desktop_chat.client.sync import PAGE
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.core.model import DeliveryState
from desktop_chat.core.paths import PushIdGenerator
from tests.support.auth import PASSWORD
from tests.support.chat import Recorder, run, unread, until
from tests.support.server import ServerProcess


async def new_client(server: ServerProcess, data_dir: Path, store: MemoryTokenStore) -> ChatClient:
    return await ChatClient.create(
        BackendConfig.from_values({"server_url": server.url, "namespace": server.namespace}),
        data_dir,
        token_store=store,
        max_attempts=3,
        sender_backoff=(0.05, 0.3),
    )


async def user(
    server: ServerProcess, data_dir: Path, name: str, role: str, store: MemoryTokenStore
) -> ChatClient:
    client = await new_client(server, data_dir, store)
    await client.sign_up(f"{name}@example.com", PASSWORD, name.title(), role)
    await client.start()
    return client


async def ids_are(client: ChatClient, cid: str, expected: list[str]) -> bool:
    return [m.id for m in await client.messages(cid)] == expected


async def states_are(client: ChatClient, cid: str, ids: list[str], state: DeliveryState) -> bool:
    return all([await client.delivery_state(cid, mid) is state for mid in ids])


async def unread_is(client: ChatClient, cid: str, expected: int) -> bool:
    return await unread(client, cid) == expected


def server_order(server: ServerProcess, cid: str) -> list[str]:
    value = server.get(f"conversations/{cid}/messages")
    found: dict[str, Any] = value if isinstance(value, dict) else {}
    return sorted(found, key=lambda mid: (found[mid]["timestamp"], mid))


def restart(server: ServerProcess) -> None:
    server.requested_port = server.port
    server.start()


def damage(file: Path, how: str) -> bytes:
    """Overwrite *file* with garbage: all of it, or all but its 100-byte SQLite header (so
    only ``quick_check`` or reading the schema finds it), or cut it in half."""
    data = file.read_bytes()
    garbage = bytes(range(256))[::-1] * (len(data) // 256 + 1)
    damaged = {
        "garbage": garbage[: len(data)],
        "pages": data[:100] + garbage[: len(data) - 100],
        "truncated": data[: len(data) // 2],
    }[how]
    file.write_bytes(damaged)
    return damaged


@pytest.mark.parametrize("how", ["garbage", "pages", "truncated"])
def test_damaged_cache_is_set_aside_rebuilt_and_keeps_the_outbox(
    own: ServerProcess, tmp_path: Path, how: str
) -> None:
    async def main() -> None:
        store = MemoryTokenStore()
        ann = await user(own, tmp_path / "ann", "ann", "student", store)
        bob = await user(own, tmp_path / "bob", "bob", "provider", MemoryTokenStore())
        second: ChatClient | None = None
        try:
            assert ann.uid is not None and bob.uid is not None
            cid = await ann.open_conversation(bob.uid)
            ann.select_conversation(cid)
            bob.select_conversation(cid)
            seen_b = Recorder(bob)
            first = [await ann.send_message(cid, f"m{i}") for i in range(2)]
            await until(lambda: states_are(ann, cid, first, DeliveryState.SENT))
            reply = await bob.send_message(cid, "reply")
            await until(lambda: ids_are(ann, cid, [*first, reply]))

            own.stop()
            queued = await ann.send_message(cid, "written while the server is away")
            await asyncio.sleep(0.5)
            assert await ann.delivery_state(cid, queued) is DeliveryState.PENDING
            uid = ann.uid
            await ann.close()

            account = tmp_path / "ann" / uid
            cache = account / CACHE_FILE
            assert cache.exists()
            garbage = damage(cache, how)

            second = await new_client(own, tmp_path / "ann", store)  # the server still away
            assert second.cache is not None and second.cache.rebuilt
            aside = sorted(account.glob(f"{CACHE_FILE}.damaged-*"))
            assert [path.read_bytes() for path in aside] == [garbage]
            await second.start()
            with pytest.raises(NetworkError, match="try again once online"):
                await second.send_message(cid, "no profiles cached, no server to ask")
            restart(own)
            second.select_conversation(cid)

            everything = [*first, reply, queued]
            await until(lambda: ids_are(second, cid, everything))
            await until(lambda: states_are(second, cid, [queued], DeliveryState.SENT))
            assert [c.conversation_id for c in await second.conversations()] == [cid]
            assert server_order(own, cid) == everything
            await until(lambda: ids_are(bob, cid, everything))
            await until(lambda: unread_is(bob, cid, 3))
            assert own.get(f"userConversations/{bob.uid}/{cid}/unreadCount") == 3
            assert seen_b.added(cid).count(queued) == 1
            assert sorted(account.glob(f"{CACHE_FILE}.damaged-*")) == aside  # never deleted
        finally:
            for client in (ann, bob, second):
                if client is not None:
                    await client.close()

    run(main)


def test_a_message_leaving_the_stream_window_is_not_deleted(
    own: ServerProcess, tmp_path: Path
) -> None:
    async def main() -> None:
        ann = await user(own, tmp_path / "ann", "ann", "student", MemoryTokenStore())
        bob = await user(own, tmp_path / "bob", "bob", "provider", MemoryTokenStore())
        try:
            assert ann.uid is not None and bob.uid is not None
            cid = await ann.open_conversation(bob.uid)
            # More than the prefetch, written straight to the server, so that paging back
            # has to ask the server for the oldest ones.
            make_id, start = PushIdGenerator(), int(time.time() * 1000) - 3_600_000
            old = [make_id() for _ in range(PREFETCH + PAGE + 10)]
            records = {
                mid: {
                    "senderId": ann.uid,
                    "receiverId": bob.uid,
                    "text": f"old {i}",
                    "timestamp": start + i,
                    "read": False,
                    "type": "text",
                }
                for i, mid in enumerate(old)
            }
            await asyncio.to_thread(own.put, f"conversations/{cid}/messages", records)
            seen_b = Recorder(bob)
            ann.select_conversation(cid)
            bob.select_conversation(cid)
            await until(lambda: ids_are(bob, cid, old[-PREFETCH:]))
            await until(lambda: ids_are(ann, cid, old[-PREFETCH:]))

            # New messages push the oldest ones out of both streams' limitToLast window.
            new = [await ann.send_message(cid, f"new {i}") for i in range(MESSAGE_WINDOW // 5)]
            kept = [*old[-PREFETCH:], *new]
            await until(lambda: ids_are(bob, cid, kept))
            await until(lambda: states_are(ann, cid, new, DeliveryState.SENT))
            await asyncio.sleep(0.3)  # let every stream event land
            assert await ids_are(bob, cid, kept)
            assert await ids_are(ann, cid, kept)
            assert all(n == 1 for n in Counter(seen_b.added(cid)).values())
            assert not [e for e in seen_b.drain() if isinstance(e, MessageChanged)]

            # Paging back: from the server, a page at a time, then nothing more.
            rest = old[:-PREFETCH]
            assert [m.id for m in await bob.load_older(cid)] == rest[-PAGE:]
            assert [m.id for m in await bob.load_older(cid)] == rest[:-PAGE]
            assert await bob.load_older(cid) == []
            assert await ids_are(bob, cid, [*old, *new])
            assert [m.id for m in await bob.messages(cid, MESSAGE_WINDOW)] == kept[-MESSAGE_WINDOW:]
        finally:
            await ann.close()
            await bob.close()

    run(main)


def test_quitting_with_pending_messages_delivers_them_at_the_next_start(
    own: ServerProcess, tmp_path: Path
) -> None:
    async def main() -> None:
        store = MemoryTokenStore()
        ann = await user(own, tmp_path / "ann", "ann", "student", store)
        bob = await user(own, tmp_path / "bob", "bob", "provider", MemoryTokenStore())
        second: ChatClient | None = None
        try:
            assert ann.uid is not None and bob.uid is not None
            cid = await ann.open_conversation(bob.uid)
            ann.select_conversation(cid)
            bob.select_conversation(cid)
            seen_b = Recorder(bob)
            hello = await ann.send_message(cid, "hello")
            await until(lambda: states_are(ann, cid, [hello], DeliveryState.SENT))

            own.stop()
            queued = [await ann.send_message(cid, f"offline {i}") for i in range(3)]
            await asyncio.sleep(0.5)
            assert await states_are(ann, cid, queued, DeliveryState.PENDING)
            await ann.close()  # quit

            restart(own)
            second = await new_client(own, tmp_path / "ann", store)
            assert await ids_are(second, cid, [hello, *queued])  # shown at once, from the cache
            assert await states_are(second, cid, queued, DeliveryState.PENDING)
            seen = Recorder(second)
            await second.start()
            second.select_conversation(cid)

            await until(lambda: states_are(second, cid, queued, DeliveryState.SENT))
            assert server_order(own, cid) == [hello, *queued]
            await until(lambda: ids_are(second, cid, [hello, *queued]))
            await until(lambda: ids_are(bob, cid, [hello, *queued]))
            await until(lambda: unread_is(bob, cid, 4))
            assert own.get(f"userConversations/{bob.uid}/{cid}/unreadCount") == 4
            assert len(own.get(f"notifications/{bob.uid}")) == 4
            assert all(seen_b.added(cid).count(mid) == 1 for mid in [hello, *queued])
            sent = [
                e.message_id
                for e in seen.drain()
                if isinstance(e, DeliveryStateChanged) and e.state is DeliveryState.SENT
            ]
            assert sent == queued  # each once, in send order
        finally:
            for client in (ann, bob, second):
                if client is not None:
                    await client.close()

    run(main)


def test_paging_back_through_many_messages_of_one_millisecond_and_marking_all_read(
    own: ServerProcess, tmp_path: Path
) -> None:
    """More than two pages share one timestamp (a REST query bounds by timestamp alone), and
    more unread messages than the prefetch: paging back finds each message once, in order,
    from any message on screen; marking read reaches the ones never loaded."""

    async def main() -> None:
        ann = await user(own, tmp_path / "ann", "ann", "student", MemoryTokenStore())
        bob = await user(own, tmp_path / "bob", "bob", "provider", MemoryTokenStore())
        try:
            assert ann.uid is not None and bob.uid is not None
            cid = await ann.open_conversation(bob.uid)
            make_id, start = PushIdGenerator(), int(time.time() * 1000) - 3_600_000
            tied = [make_id() for _ in range(2 * PAGE + 30)]  # all at `start`
            later = [make_id() for _ in range(PREFETCH + 20)]
            stamps = {mid: start for mid in tied} | {
                mid: start + 1 + i for i, mid in enumerate(later)
            }
            records = {
                mid: {
                    "senderId": ann.uid,
                    "receiverId": bob.uid,
                    "text": f"m {mid}",
                    "timestamp": stamp,
                    "read": False,
                    "type": "text",
                }
                for mid, stamp in stamps.items()
            }
            await asyncio.to_thread(own.put, f"conversations/{cid}/messages", records)
            everything = [*tied, *later]
            bob.select_conversation(cid)
            await until(lambda: ids_are(bob, cid, later[-PREFETCH:]))

            # From a message on screen: the page before it comes from the cache.
            shown = later[-MESSAGE_WINDOW]
            page = await bob.load_older(cid, before=shown)
            assert [m.id for m in page] == later[-MESSAGE_WINDOW - PAGE : -MESSAGE_WINDOW]

            # Back past the prefetch and through the tied millisecond, a page at a time.
            collected: list[str] = []
            cursor: str | None = later[-PREFETCH]
            while cursor is not None:
                page = await bob.load_older(cid, before=cursor)
                assert len(page) in (PAGE, len(everything) - PREFETCH - len(collected))
                collected[:0] = [m.id for m in page]
                cursor = page[0].id if page else None
            assert collected == everything[:-PREFETCH]
            assert await ids_are(bob, cid, everything)
            with pytest.raises(InvalidRequestError):
                await bob.load_older(cid, before="-NoSuchMessage000000")

            # Marking read reaches every unread message, loaded or not.
            assert await bob.mark_read(cid) == len(everything)
            stored = own.get(f"conversations/{cid}/messages")
            assert all(record["read"] is True for record in stored.values())
            assert own.get(f"userConversations/{bob.uid}/{cid}/unreadCount") == 0
            assert all(m.read for m in await bob.messages(cid))
            assert await bob.mark_read(cid) == 0
        finally:
            await ann.close()
            await bob.close()

    run(main)
