"""ChatClient's notifications against the real server: marking read, events, restarts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.errors import PermissionDeniedError
from desktop_chat.client.events import NotificationChanged, NotificationReceived
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.core.model import NotificationKind
from desktop_chat.core.writes import message_notification_id
from tests.support.auth import PASSWORD
from tests.support.chat import FAST, Recorder, run, unread, until
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("notes") / "d", FAST, rules=None).start()
    yield server
    server.kill()


def config_of(server: ServerProcess) -> BackendConfig:
    return BackendConfig.from_values({"server_url": server.url, "namespace": server.namespace})


async def user(
    server: ServerProcess,
    data_dir: Path,
    name: str,
    role: str,
    store: MemoryTokenStore,
    *,
    start: bool = True,
) -> ChatClient:
    client = await ChatClient.create(
        config_of(server), data_dir, token_store=store, max_attempts=3, sender_backoff=(0.05, 0.5)
    )
    await client.sign_up(f"{name}-{time.monotonic_ns()}@example.com", PASSWORD, name, role)
    if start:
        await client.start()
    return client


def admin_note(server: ServerProcess, uid: str, nid: str, kind: str, **link: str) -> None:
    """A system notification (``review``, ``payment``, ``session_reminder``: admins only)."""
    record: dict[str, Any] = {
        "kind": kind,
        "title": f"A {kind.replace('_', ' ')}",
        "body": "Details",
        "createdAt": int(time.time() * 1000),
        "read": False,
    }
    if link:
        record["link"] = link
    server.put(f"notifications/{uid}/{nid}", record)


def server_unread(server: ServerProcess, uid: str) -> set[str]:
    value = server.get(f"notifications/{uid}")
    items = value.items() if isinstance(value, dict) else ()
    return {nid for nid, record in items if record.get("read") is False}


async def count_is(client: ChatClient, expected: int) -> bool:
    return await client.unread_notification_count() == expected


def test_read_one_all_and_with_the_conversation(shared: ServerProcess, tmp_path: Path) -> None:
    async def main() -> None:
        ann = await user(shared, tmp_path / "ann", "Ann", "student", MemoryTokenStore())
        bob = await user(shared, tmp_path / "bob", "Bob", "provider", MemoryTokenStore())
        seen = Recorder(bob)
        try:
            assert ann.uid is not None and bob.uid is not None
            cid = await ann.open_conversation(bob.uid)
            mids = [await ann.send_message(cid, text) for text in ("hi", "there")]
            admin_note(shared, bob.uid, "review-1", "review", skillId="guitar")
            admin_note(shared, bob.uid, "pay-1", "payment")
            await until(lambda: count_is(bob, 4))
            received = [e for e in seen.drain() if isinstance(e, NotificationReceived)]
            assert len(received) == 4
            assert {message_notification_id(mid) for mid in mids} <= {
                e.notification.id for e in received
            }

            # reading the conversation reads its message notifications, nothing else
            assert await bob.mark_read(cid) == 2
            assert server_unread(shared, bob.uid) == {"review-1", "pay-1"}
            assert await bob.unread_notification_count() == 2
            changed = [e.notification for e in seen.drain() if isinstance(e, NotificationChanged)]
            assert sorted(n.id for n in changed) == sorted(map(message_notification_id, mids))
            assert all(n.read and n.kind is NotificationKind.MESSAGE for n in changed)
            assert await unread(bob, cid) == 0

            # one by one, then all at once
            await bob.mark_notification_read("review-1")
            assert server_unread(shared, bob.uid) == {"pay-1"}
            assert await bob.unread_notification_count() == 1
            admin_note(shared, bob.uid, "remind-1", "session_reminder")
            await until(lambda: count_is(bob, 2))
            assert await bob.mark_all_notifications_read() == 2
            assert server_unread(shared, bob.uid) == set()
            assert await bob.unread_notification_count() == 0
            assert await bob.mark_all_notifications_read() == 0  # nothing left: no write

            # the stream's echo of those reads announces nothing twice: a note written after
            # them arrives after their echoes, on the same stream
            admin_note(shared, bob.uid, "after-1", "payment")
            await until(lambda: count_is(bob, 1))
            events = seen.drain()
            changes = [e.notification.id for e in events if isinstance(e, NotificationChanged)]
            assert len(changes) == len(set(changes)) == 5

            # someone else's notification, or none: refused
            with pytest.raises(PermissionDeniedError):
                await bob.mark_notification_read("no-such-notification")
        finally:
            await ann.close()
            await bob.close()

    run(main)


def test_reading_marks_notifications_not_streamed_yet(
    shared: ServerProcess, tmp_path: Path
) -> None:
    """Bob's streams do not run: his cache knows no notification, yet reading the
    conversation reads the ones its unread messages brought; a notification he deleted
    does not stop the rest."""

    async def main() -> None:
        ann = await user(shared, tmp_path / "ann", "Ann", "student", MemoryTokenStore())
        bob = await user(
            shared, tmp_path / "bob", "Bob", "provider", MemoryTokenStore(), start=False
        )
        try:
            assert ann.uid is not None and bob.uid is not None
            cid = await ann.open_conversation(bob.uid)
            first = await ann.send_message(cid, "one")
            await until(lambda: _exists(shared, bob.uid or "", message_notification_id(first)))
            assert await bob.notifications() == []
            assert await bob.mark_read(cid) == 1
            assert server_unread(shared, bob.uid) == set()

            second = await ann.send_message(cid, "two")
            third = await ann.send_message(cid, "three")
            await until(lambda: _exists(shared, bob.uid or "", message_notification_id(third)))
            gone = shared.request(
                "DELETE", f"notifications/{bob.uid}/{message_notification_id(second)}"
            )
            gone.raise_for_status()
            assert await bob.mark_read(cid) == 2
            assert server_unread(shared, bob.uid) == set()
            messages = shared.get(f"conversations/{cid}/messages")
            assert all(record["read"] for record in messages.values())
        finally:
            await ann.close()
            await bob.close()

    run(main)


async def _exists(server: ServerProcess, uid: str, nid: str) -> bool:
    return server.get(f"notifications/{uid}/{nid}") is not None


def test_the_count_survives_a_restart_before_the_network(
    shared: ServerProcess, tmp_path: Path
) -> None:
    async def main() -> None:
        keys = MemoryTokenStore()
        bob = await user(shared, tmp_path / "bob", "Bob", "provider", keys)
        uid = bob.uid
        assert uid is not None
        for n in range(3):
            admin_note(shared, uid, f"r{n}", "review")
        await until(lambda: count_is(bob, 3))
        await bob.mark_notification_read("r1")
        await bob.close()

        again = await ChatClient.create(config_of(shared), tmp_path / "bob", token_store=keys)
        try:
            assert again.uid == uid  # the stores are open, no network asked yet
            assert await again.unread_notification_count() == 2
            seen = Recorder(again)
            await again.start()
            admin_note(shared, uid, "r3", "review")
            await until(lambda: count_is(again, 3))
            notes = [e for e in seen.drain() if isinstance(e, NotificationReceived)]
            assert [e.notification.id for e in notes] == ["r3"]  # the cached ones: not again
        finally:
            await again.close()

    run(main)


def test_unread_ones_older_than_the_streamed_window_count_too(
    shared: ServerProcess, tmp_path: Path
) -> None:
    """The stream holds the newest 50; an older unread one (written while away) still counts,
    so the bell and the server agree."""
    from desktop_chat.client.following import NOTIFICATION_WINDOW

    async def main() -> None:
        ann = await user(
            shared, tmp_path / "ann", "Ann", "student", MemoryTokenStore(), start=False
        )
        try:
            assert ann.uid is not None
            now = int(time.time() * 1000)
            old = {"kind": "review", "title": "Old", "body": "b", "createdAt": now - 86_400_000}
            shared.put(f"notifications/{ann.uid}/old", {**old, "read": False})
            shared.put(f"notifications/{ann.uid}/oldread", {**old, "read": True})
            for n in range(NOTIFICATION_WINDOW):
                admin_note(shared, ann.uid, f"n{n:03d}", "payment")
            await ann.start()
            await until(lambda: count_is(ann, NOTIFICATION_WINDOW + 1))
            assert len(server_unread(shared, ann.uid)) == NOTIFICATION_WINDOW + 1
            ids = {item.id for item in await ann.notifications()}
            assert "old" in ids and "oldread" not in ids  # (only the unread are looked for)
            assert await ann.mark_all_notifications_read() == NOTIFICATION_WINDOW + 1
            assert server_unread(shared, ann.uid) == set()
        finally:
            await ann.close()

    run(main)
