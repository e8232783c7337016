"""ChatClient's Socket.IO side against the real server: typing, presence, pushes, rooms and
reconnecting with a fresh token."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import socketio

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.events import ConnectionStateChanged, PresenceChanged, TypingChanged
from desktop_chat.client.rtdb import TokenSource
from desktop_chat.client.token_store import MemoryTokenStore
from tests.support.auth import PASSWORD
from tests.support.chat import FAST, Recorder, run, until
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("rt") / "d", FAST, rules=None).start()
    yield server
    server.kill()


async def client(
    server: ServerProcess, data_dir: Path, name: str, role: str = "student", start: bool = True
) -> ChatClient:
    config = BackendConfig.from_values({"server_url": server.url, "namespace": server.namespace})
    chat = await ChatClient.create(
        config, data_dir, token_store=MemoryTokenStore(), realtime_backoff=(0.2, 2.0)
    )
    await chat.sign_up(f"{name}@example.com", PASSWORD, name.title(), role)
    if start:
        await chat.start()
    return chat


async def holds(condition: bool) -> bool:
    return condition


async def joined(chat: ChatClient, cid: str) -> None:
    await until(lambda: holds(chat.realtime is not None and chat.realtime.joined == cid), 30)


def typing_of(seen: Recorder, cid: str, uid: str) -> list[bool]:
    return [
        e.typing
        for e in seen.drain()
        if isinstance(e, TypingChanged) and e.conversation_id == cid and e.uid == uid
    ]


async def shows(seen: Recorder, cid: str, uid: str, states: list[bool]) -> None:
    """Wait until the typing states shown for *uid* in *cid* are exactly *states*."""
    await until(lambda: holds(typing_of(seen, cid, uid) == states), 30)


def test_typing_renewed_stopped_on_idle_and_send_and_hidden_when_no_stop_comes(
    shared: ServerProcess, tmp_path: Path
) -> None:
    async def main() -> None:
        ann = await client(shared, tmp_path / "ann", "ann1")
        bob = await client(shared, tmp_path / "bob", "bob1", "provider")
        raw = socketio.AsyncClient(handle_sigint=False, reconnection=False)
        try:
            assert ann.uid is not None and bob.uid is not None
            cid = await ann.open_conversation(bob.uid)
            ann.select_conversation(cid)
            bob.select_conversation(cid)
            await joined(ann, cid)
            await joined(bob, cid)
            seen_a, seen_b = Recorder(ann), Recorder(bob)

            # Typing for 8 s: renewed, so shown throughout (longer than the 6 s expiry).
            for _ in range(16):
                ann.typing(cid)
                await asyncio.sleep(0.5)
            await shows(seen_b, cid, ann.uid, [True])
            # No more keystrokes: ann's client stops after 3 s.
            await shows(seen_b, cid, ann.uid, [True, False])

            # A send stops the typing at once.
            ann.typing(cid)
            await shows(seen_b, cid, ann.uid, [True, False, True])
            await ann.send_message(cid, "hello")
            assert ann.realtime is not None and ann.realtime.outbound.active is None
            await shows(seen_b, cid, ann.uid, [True, False, True, False])
            assert typing_of(seen_a, cid, bob.uid) == []  # typing goes to the other only

            # A socket of ann's that starts typing and never stops: still hidden in time.
            token = await ann.auth.token()
            await raw.connect(shared.url, auth={"token": token}, wait_timeout=10)
            assert await raw.call("join", {"conversationId": cid}, timeout=10) == {"ok": True}
            await raw.emit("typing", {"conversationId": cid, "isTyping": True})
            await shows(seen_b, cid, ann.uid, [True, False, True, False, True])
            await shows(seen_b, cid, ann.uid, [True, False, True, False, True, False])
        finally:
            await raw.disconnect()
            await ann.close()
            await bob.close()

    run(main, 100)


def test_a_non_participant_cannot_join_and_never_sees_the_typing(
    shared: ServerProcess, tmp_path: Path
) -> None:
    async def main() -> None:
        ann = await client(shared, tmp_path / "ann", "ann2")
        bob = await client(shared, tmp_path / "bob", "bob2", "provider")
        cat = await client(shared, tmp_path / "cat", "cat2")
        try:
            assert ann.uid is not None and bob.uid is not None
            cid = await ann.open_conversation(bob.uid)
            seen_b, seen_c = Recorder(bob), Recorder(cat)
            cat.select_conversation(cid)  # what a UI would do with a foreign id
            await until(
                lambda: holds(cat.realtime is not None and cid in cat.realtime.join_answers)
            )
            assert cat.realtime is not None
            refused = cat.realtime.join_answers[cid]
            assert not refused.ok and refused.code == 403
            assert cat.realtime.joined is None
            again = await cat.realtime.join(cid)
            assert not again.ok and again.code == 403

            ann.select_conversation(cid)
            await joined(ann, cid)
            ann.typing(cid)
            await shows(seen_b, cid, ann.uid, [True])
            ann.select_conversation(None)  # leaving stops the typing
            await shows(seen_b, cid, ann.uid, [True, False])
            assert not [e for e in seen_c.drain() if isinstance(e, TypingChanged)]
        finally:
            for chat in (ann, bob, cat):
                await chat.close()

    run(main, 100)


def test_presence_online_while_connected_offline_with_last_seen_after_close(
    shared: ServerProcess, tmp_path: Path
) -> None:
    async def main() -> None:
        ann = await client(shared, tmp_path / "ann", "ann3", start=False)
        bob = await client(shared, tmp_path / "bob", "bob3", "provider", start=False)
        closed = False
        try:
            assert ann.uid is not None and bob.uid is not None
            bob_uid = bob.uid  # (None once bob closed)
            await ann.open_conversation(bob_uid)  # contacts now
            seen_a = Recorder(ann)
            await ann.start()
            await bob.start()
            await until(lambda: holds(_online(ann, bob_uid)), 30)
            await until(lambda: holds(_online(bob, ann.uid)), 30)  # the snapshot on connect
            await bob.close()
            closed = True
            await until(lambda: holds(_offline(ann, bob_uid)), 30)
            last = ann.presence(bob_uid)
            assert last is not None and isinstance(last.last_seen, int) and last.last_seen > 0
            about_bob = [
                e.online
                for e in seen_a.drain()
                if isinstance(e, PresenceChanged) and e.uid == bob_uid
            ]
            assert about_bob[-2:] == [True, False]
        finally:
            await ann.close()
            if not closed:
                await bob.close()

    run(main, 100)


def test_presence_of_a_contact_made_after_connecting_is_read_on_opening(
    shared: ServerProcess, tmp_path: Path
) -> None:
    async def main() -> None:
        ann = await client(shared, tmp_path / "ann", "ann6")
        bob = await client(shared, tmp_path / "bob", "bob6", "provider")
        try:
            assert ann.uid is not None and bob.uid is not None
            bob_uid = bob.uid
            await until(lambda: holds(ann.realtime is not None and ann.realtime.connected), 30)
            await until(lambda: holds(bob.realtime is not None and bob.realtime.connected), 30)
            assert ann.presence(bob_uid) is None  # no snapshot knew him: not a contact then
            await until(lambda: holds(shared.get(f"userStatus/{bob_uid}") is not None), 30)
            cid = await ann.open_conversation(bob_uid)
            ann.select_conversation(cid)
            await until(lambda: holds(_online(ann, bob_uid)), 30)
        finally:
            await ann.close()
            await bob.close()

    run(main, 100)


def _connections(chat: ChatClient) -> int:
    return chat.realtime.connections if chat.realtime is not None else 0


def _online(chat: ChatClient, uid: str) -> bool:
    presence = chat.presence(uid)
    return presence is not None and presence.online


def _offline(chat: ChatClient, uid: str) -> bool:
    presence = chat.presence(uid)
    return presence is not None and not presence.online and presence.last_seen is not None


def test_a_pushed_notification_is_announced_once(shared: ServerProcess, tmp_path: Path) -> None:
    async def main() -> None:
        ann = await client(shared, tmp_path / "ann", "ann4")
        bob = await client(shared, tmp_path / "bob", "bob4", "provider")
        try:
            assert ann.uid is not None and bob.uid is not None
            await until(lambda: holds(bob.realtime is not None and bob.realtime.connected), 30)
            seen_b = Recorder(bob)
            cid = await ann.open_conversation(bob.uid)
            for text in ("one", "two", "three"):
                await ann.send_message(cid, text)

            async def delivered() -> bool:
                assert bob.realtime is not None
                return bob.realtime.pushes >= 3 and len(await bob.notifications()) == 3

            await until(delivered, 30)
            await asyncio.sleep(1.0)  # let the notifications stream deliver them too
            notified = seen_b.notified()
            assert len(notified) == 3 and set(notified.values()) == {1}
            assert Counter(n.id for n in await bob.notifications()) == notified
        finally:
            await ann.close()
            await bob.close()

    run(main, 100)


class StaleOnce:
    """A TokenSource giving an expired token once, then the real ones."""

    def __init__(self, real: TokenSource, stale: str) -> None:
        self.real = real
        self.stale: str | None = stale

    async def token(self) -> str:
        stale, self.stale = self.stale, None
        return stale if stale is not None else await self.real.token()

    async def force_refresh(self, stale: str | None = None) -> str:
        return await self.real.force_refresh(stale)


def test_reconnects_with_a_fresh_token_after_restarts(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "d", [*FAST, "--token-ttl", "3"], rules=None).start()

    async def restart(*chats: ChatClient) -> None:
        """Kill and restart the server; return once every chat has a NEW connection (a
        stale ``joined`` from before the kill must not pass for a re-join)."""
        before = [chat.realtime.connections if chat.realtime else 0 for chat in chats]
        server.kill()
        server.requested_port = server.port
        await asyncio.to_thread(server.start)
        for chat, count in zip(chats, before, strict=True):
            await until(lambda c=chat, n=count: holds(_connections(c) > n), 30)

    async def main() -> None:
        ann = await client(server, tmp_path / "ann", "ann5")
        bob = await client(server, tmp_path / "bob", "bob5", "provider")
        try:
            assert ann.uid is not None and bob.uid is not None
            cid = await ann.open_conversation(bob.uid)
            ann.select_conversation(cid)
            bob.select_conversation(cid)
            await joined(ann, cid)
            await joined(bob, cid)
            assert ann.realtime is not None
            stale = await ann.auth.token()
            seen_a, seen_b = Recorder(ann), Recorder(bob)
            await asyncio.sleep(4)  # every token of the first handshakes has expired

            await restart(ann, bob)
            await joined(ann, cid)  # re-joined on the new connection
            await joined(bob, cid)
            assert ann.realtime.connections >= 2
            ann.typing(cid)
            await shows(seen_b, cid, ann.uid, [True])

            # A reconnect whose token has expired: refused (401), refreshed, accepted.
            ann.realtime.auth = StaleOnce(ann.auth, stale)
            refusals = ann.realtime.refusals
            await restart(ann, bob)
            await joined(ann, cid)
            assert ann.realtime.refusals > refusals
            assert ann.auth.signed_in
            ann.typing(cid)
            await shows(seen_b, cid, ann.uid, [True, False, True])
            drops = [
                e.connected
                for e in seen_a.drain()
                if isinstance(e, ConnectionStateChanged) and e.channel == "realtime"
            ]
            assert drops.count(False) >= 2 and drops[-1] is True
        finally:
            await ann.close()
            await bob.close()

    try:
        run(main, 110)
    finally:
        server.kill()
