"""ChatClient against the real server: two users chatting, offline start, kill -9 mid-exchange."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_chat.client.cache import CACHE_FILE
from desktop_chat.client.chat_client import ACCOUNT_FILE, ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.errors import InvalidRequestError, PermissionDeniedError
from desktop_chat.client.events import (
    ConnectionStateChanged,
    DeliveryStateChanged,
    MessageChanged,
    NotificationReceived,
)
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.core.model import DeliveryState, MessageType
from tests.support.auth import PASSWORD
from tests.support.chat import FAST, Recorder, run, unread, until
from tests.support.server import ServerProcess


def local(server: ServerProcess) -> BackendConfig:
    return BackendConfig.from_values({"server_url": server.url, "namespace": server.namespace})


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("chat") / "d", FAST, rules=None).start()
    yield server
    server.kill()


async def new_client(
    server: ServerProcess, data_dir: Path, store: MemoryTokenStore | None = None
) -> ChatClient:
    return await ChatClient.create(
        local(server),
        data_dir,
        token_store=store or MemoryTokenStore(),
        max_attempts=3,
        sender_backoff=(0.05, 0.5),
    )


async def user(
    server: ServerProcess,
    data_dir: Path,
    name: str,
    role: str,
    store: MemoryTokenStore | None = None,
) -> ChatClient:
    client = await new_client(server, data_dir, store)
    await client.sign_up(f"{name}@example.com", PASSWORD, name.title(), role)
    await client.start()
    return client


async def all_sent(client: ChatClient, cid: str, ids: list[str]) -> bool:
    states = [await client.delivery_state(cid, mid) for mid in ids]
    return all(state in (DeliveryState.SENT, DeliveryState.READ) for state in states)


def server_messages(server: ServerProcess, cid: str) -> dict[str, Any]:
    value = server.get(f"conversations/{cid}/messages")
    return value if isinstance(value, dict) else {}


def test_two_users_chat_read_edit_delete_refusals(shared: ServerProcess, tmp_path: Path) -> None:
    async def main() -> None:
        ann = await user(shared, tmp_path / "ann", "ann", "student")
        bob = await user(shared, tmp_path / "bob", "bob", "provider")
        cat_keys = MemoryTokenStore()
        cat = await user(shared, tmp_path / "cat", "cat", "student", cat_keys)
        seen_a, seen_b = Recorder(ann), Recorder(bob)
        try:
            assert ann.uid is not None and bob.uid is not None
            cid = await ann.open_conversation(bob.uid, skill_id="guitar")
            assert await bob.open_conversation(ann.uid) == cid  # exists: returned as it is
            ann.select_conversation(cid)
            bob.select_conversation(cid)
            sent: list[tuple[ChatClient, str]] = []
            for who, text in [(ann, "hi"), (ann, "are you free?"), (bob, "yes"), (ann, "great")]:
                sent.append((who, await who.send_message(cid, text)))
                await until(lambda w=who, m=sent[-1][1]: all_sent(w, cid, [m]))
            sent.append((bob, await bob.send_message(cid, "see you")))
            ids = [mid for _, mid in sent]

            async def both_have_all() -> bool:
                mine = [m.id for m in await ann.messages(cid)]
                theirs = [m.id for m in await bob.messages(cid)]
                return mine == ids and theirs == ids and await all_sent(bob, cid, ids[-1:])

            await until(both_have_all)
            assert Counter(seen_a.added(cid)) == Counter(ids)  # each exactly once
            assert Counter(seen_b.added(cid)) == Counter(ids)
            await until(lambda: _eq(unread(bob, cid), 3))
            await until(lambda: _eq(unread(ann, cid), 2))
            await until(lambda: _count_notes(bob, 3))
            notes = [e for e in seen_b.drain() if isinstance(e, NotificationReceived)]
            assert len(notes) == 3 and all(n.notification.sender_id == ann.uid for n in notes)
            assert [c.conversation_id for c in await ann.conversations()] == [cid]

            # Reading: all of bob's unread messages, the sender's ticks turn to read.
            assert await bob.mark_read(cid) == 3
            assert await unread(bob, cid) == 0
            ann_ids = [mid for who, mid in sent if who is ann]
            await until(lambda: _all_state(ann, cid, ann_ids, DeliveryState.READ))
            reads = [
                e.message_id
                for e in seen_a.drain()
                if isinstance(e, DeliveryStateChanged) and e.state is DeliveryState.READ
            ]
            assert sorted(reads) == sorted(ann_ids)
            assert shared.get(f"userConversations/{bob.uid}/{cid}/unreadCount") == 0
            assert all(n["read"] for n in shared.get(f"notifications/{bob.uid}").values())

            # Edit and delete one's own messages; the other side sees both.
            await ann.edit_message(cid, ids[0], "hello")
            await ann.delete_message(cid, ids[1])

            async def bob_sees_changes() -> bool:
                got = {m.id: m for m in await bob.messages(cid)}
                return got[ids[0]].text == "hello" and got[ids[1]].type is MessageType.DELETED

            await until(bob_sees_changes)
            changed = [e for e in seen_b.drain() if isinstance(e, MessageChanged)]
            assert any(e.message.edited_at is not None for e in changed)
            with pytest.raises(PermissionDeniedError):
                await bob.edit_message(cid, ids[0], "not mine")

            # A non-participant: refused locally for a send, by the rules for a write.
            with pytest.raises(InvalidRequestError):
                await cat.send_message(cid, "let me in")
            with pytest.raises(PermissionDeniedError):
                await cat.edit_message(cid, ids[0], "mine now")

            # Refused by the rules (bob blocked ann): failed after the bounded attempts,
            # then a manual retry once unblocked delivers it once.
            await bob.db.set(f"blocks/{bob.uid}/{ann.uid}", True)
            blocked = await ann.send_message(cid, "are you there?")
            await until(lambda: _all_state(ann, cid, [blocked], DeliveryState.FAILED))
            assert any(
                isinstance(e, DeliveryStateChanged) and e.state is DeliveryState.FAILED
                for e in seen_a.drain()
            )
            await bob.db.delete(f"blocks/{bob.uid}/{ann.uid}")
            await ann.retry(blocked)
            await until(lambda: all_sent(ann, cid, [blocked]))
            await until(lambda: _eq(unread(bob, cid), 1))
            assert len(server_messages(shared, cid)) == 6
            await until(lambda: _has(bob, cid, blocked))
            assert seen_b.added(cid).count(blocked) == 1

            # Signing out removes the account's cache, its keychain entry and the marker.
            cat_uid = cat.uid
            assert cat_uid is not None and await cat_keys.load(cat_uid) is not None
            await cat.sign_out()
            assert await cat_keys.load(cat_uid) is None
            assert not (tmp_path / "cat" / cat_uid / CACHE_FILE).exists()
            assert not (tmp_path / "cat" / ACCOUNT_FILE).exists()
        finally:
            for client in (ann, bob, cat):
                await client.close()

    run(main)


async def _eq(value: Awaitable[int | None], expected: int) -> bool:
    return await value == expected


async def _count_notes(client: ChatClient, expected: int) -> bool:
    return len(await client.notifications()) == expected


async def _all_state(client: ChatClient, cid: str, ids: list[str], state: DeliveryState) -> bool:
    return all([await client.delivery_state(cid, mid) == state for mid in ids])


async def _connected(*clients: ChatClient) -> bool:
    return all(client.connected for client in clients)


async def _has(client: ChatClient, cid: str, mid: str) -> bool:
    return mid in {m.id for m in await client.messages(cid)}


def test_offline_start_shows_cache_and_delivers_once(own: ServerProcess, tmp_path: Path) -> None:
    async def main() -> None:
        store = MemoryTokenStore()
        ann = await user(own, tmp_path / "ann", "ann", "student", store)
        bob = await user(own, tmp_path / "bob", "bob", "provider")
        second: ChatClient | None = None
        try:
            assert ann.uid is not None and bob.uid is not None
            cid = await ann.open_conversation(bob.uid)
            ann.select_conversation(cid)
            bob.select_conversation(cid)
            first = [await ann.send_message(cid, f"m{i}") for i in range(2)]
            await until(lambda: all_sent(ann, cid, first))
            reply = await bob.send_message(cid, "reply")
            await until(lambda: _has(ann, cid, reply))
            await until(lambda: _eq(unread(ann, cid), 1))
            await ann.close()

            own.stop()
            second = await new_client(own, tmp_path / "ann", store)
            await second.start()
            second.select_conversation(cid)
            assert [c.conversation_id for c in await second.conversations()] == [cid]
            assert [m.id for m in await second.messages(cid)] == [*first, reply]
            queued = await second.send_message(cid, "written offline")
            assert await second.delivery_state(cid, queued) is DeliveryState.PENDING
            await asyncio.sleep(1)

            own.requested_port = own.port
            own.start()
            await until(lambda: all_sent(second, cid, [queued]), 30)
            await until(lambda: _has(bob, cid, queued), 30)
            assert [m.id for m in await bob.messages(cid)] == [*first, reply, queued]
            assert len(server_messages(own, cid)) == 4
            await until(lambda: _eq(unread(bob, cid), 3))
            assert own.get(f"userConversations/{bob.uid}/{cid}/unreadCount") == 3
        finally:
            for client in (ann, bob, second):
                if client is not None:
                    await client.close()

    run(main, 90)


async def exchange(own: ServerProcess, tmp_path: Path, count: int, kills: int) -> None:
    ann = await user(own, tmp_path / "ann", "ann", "student")
    bob = await user(own, tmp_path / "bob", "bob", "provider")
    try:
        assert ann.uid is not None and bob.uid is not None
        cid = await ann.open_conversation(bob.uid)
        ann.select_conversation(cid)
        bob.select_conversation(cid)
        seen = Recorder(bob)
        sent: dict[str, list[str]] = {"ann": [], "bob": []}
        kill_at = {count * (k + 1) // (kills + 1) for k in range(kills)}
        for i in range(count):
            sent["ann"].append(await ann.send_message(cid, f"a{i}"))
            sent["bob"].append(await bob.send_message(cid, f"b{i}"))
            await asyncio.sleep(0.005)
            seen.drain()
            if i in kill_at:
                own.kill()
                await asyncio.sleep(0.3)
                own.requested_port = own.port
                await asyncio.to_thread(own.start)
                await until(lambda: _connected(ann, bob))  # the next kill is a new outage
        everything = set(sent["ann"]) | set(sent["bob"])

        async def settled() -> bool:
            seen.drain()
            mine = {m.id for m in await ann.messages(cid)}
            theirs = {m.id for m in await bob.messages(cid)}
            return (
                mine == everything
                and theirs == everything
                and await all_sent(ann, cid, sent["ann"][-1:])
                and await all_sent(bob, cid, sent["bob"][-1:])
            )

        await until(settled, 30 + count / 10)
        drops = [
            e
            for e in seen.drain()
            if isinstance(e, ConnectionStateChanged) and e.channel == "database"
        ]
        assert sum(not e.connected for e in drops) >= kills  # the streams did go down
        assert Counter(seen.added(cid)) == Counter(everything)  # each announced once
        on_server = server_messages(own, cid)
        assert set(on_server) == everything
        for client, name in ((ann, "ann"), (bob, "bob")):
            order = [m.id for m in await client.messages(cid)]
            assert len(order) == len(set(order)) == 2 * count
            assert [mid for mid in order if mid in set(sent[name])] == sent[name]
            server_order = sorted(on_server, key=lambda mid: (on_server[mid]["timestamp"], mid))
            assert order == server_order
        await until(lambda: _eq(unread(ann, cid), count), 15)
        await until(lambda: _eq(unread(bob, cid), count), 15)
        for owner in (ann.uid, bob.uid):
            assert own.get(f"userConversations/{owner}/{cid}/unreadCount") == count
            assert len(own.get(f"notifications/{owner}")) == count
    finally:
        await ann.close()
        await bob.close()


def test_kill_9_mid_exchange_exactly_once_in_order(own: ServerProcess, tmp_path: Path) -> None:
    run(lambda: exchange(own, tmp_path, 100, 2), 90)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_9_thousand_messages_five_restarts(own: ServerProcess, tmp_path: Path) -> None:
    run(lambda: exchange(own, tmp_path, 500, 5), 580)
