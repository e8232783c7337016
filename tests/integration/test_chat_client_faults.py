"""ChatClient faults against the real server: lost answers, short-lived tokens, Firebase URLs."""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter
from collections.abc import Awaitable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.core.model import DeliveryState
from tests.support.auth import PASSWORD
from tests.support.chat import FAST, Recorder, run, unread, until
from tests.support.proxy import DroppingProxy, ProxiedRequest
from tests.support.server import ServerProcess


def local(url: str, namespace: str) -> BackendConfig:
    return BackendConfig.from_values({"server_url": url, "namespace": namespace})


async def user(config: BackendConfig, data_dir: Path, name: str, role: str) -> ChatClient:
    client = await ChatClient.create(
        config,
        data_dir,
        token_store=MemoryTokenStore(),
        max_attempts=3,
        sender_backoff=(0.05, 0.5),
    )
    await client.sign_up(f"{name}@example.com", PASSWORD, name.title(), role)
    await client.start()
    return client


async def states_are(client: ChatClient, cid: str, ids: list[str], *ok: DeliveryState) -> bool:
    return all([await client.delivery_state(cid, mid) in ok for mid in ids])


async def has_all(client: ChatClient, cid: str, ids: list[str]) -> bool:
    return set(ids) <= {m.id for m in await client.messages(cid)}


def on_server(server: ServerProcess, path: str) -> dict[str, Any]:
    value = server.get(path)
    return value if isinstance(value, dict) else {}


SENT = (DeliveryState.SENT, DeliveryState.READ)


def test_lost_answer_after_commit_is_sent_once_and_counted_once(
    own: ServerProcess, tmp_path: Path
) -> None:
    """The sender's PATCH lands but its answer is dropped; then also the read-back, so that
    the resent PATCH is refused whole by the rules. Each message is still there once."""

    def send_write(request: ProxiedRequest) -> bool:
        return request.method == "PATCH" and request.path == "/.json"

    with DroppingProxy(own.port) as proxy:

        async def main() -> None:
            ann = await user(local(proxy.url, own.namespace), tmp_path / "ann", "ann", "student")
            bob = await user(local(own.url, own.namespace), tmp_path / "bob", "bob", "provider")
            seen_a, seen_b = Recorder(ann), Recorder(bob)
            try:
                assert ann.uid is not None and bob.uid is not None
                cid = await ann.open_conversation(bob.uid)
                ann.select_conversation(cid)
                bob.select_conversation(cid)

                def read_back(request: ProxiedRequest) -> bool:
                    pattern = rf"/conversations/{re.escape(cid)}/messages/[^/]+\.json"
                    return (
                        request.method == "GET" and re.fullmatch(pattern, request.path) is not None
                    )

                # 1. Only the answer to the write is lost: the read-back finds it.
                proxy.drop_answers(send_write, 1)
                first = await ann.send_message(cid, "first")
                await until(lambda: states_are(ann, cid, [first], *SENT))
                assert [r.method for r in proxy.dropped] == ["PATCH"]
                assert first.encode() in proxy.dropped[0].body

                # 2. The read-back's answers are lost too: the resent write is refused whole
                # (the id exists), then read back and marked sent.
                proxy.drop_answers(send_write, 1)
                proxy.drop_answers(read_back, 2)
                second = await ann.send_message(cid, "second")
                await until(lambda: states_are(ann, cid, [second], *SENT))
                assert proxy.dropped[1].method == "PATCH" and second.encode() in (
                    proxy.dropped[1].body
                )
                assert any(read_back(r) for r in proxy.dropped[2:])
                writes = proxy.requests(lambda r: send_write(r) and second.encode() in r.body)
                assert len(writes) >= 2  # the lost one and at least one refused resend

                ids = [first, second]
                assert set(on_server(own, f"conversations/{cid}/messages")) == set(ids)
                await until(lambda: has_all(bob, cid, ids))
                await until(lambda: _eq(unread(bob, cid), 2))
                assert own.get(f"userConversations/{bob.uid}/{cid}/unreadCount") == 2
                assert len(on_server(own, f"notifications/{bob.uid}")) == 2
                await until(lambda: _len(bob.notifications(), 2))
                assert Counter(seen_b.added(cid)) == Counter(ids)  # each announced once
                assert sum(seen_b.notified().values()) == 2
                assert seen_a.states(DeliveryState.SENT) == Counter(ids)
                assert not seen_a.states(DeliveryState.FAILED)

                assert await bob.mark_read(cid) == 2
                await until(lambda: states_are(ann, cid, ids, DeliveryState.READ))
                assert own.get(f"userConversations/{bob.uid}/{cid}/unreadCount") == 0
                assert [m.id for m in await ann.messages(cid)] == ids
            finally:
                await ann.close()
                await bob.close()

        run(main)


@pytest.mark.slow
def test_three_second_tokens_streams_and_writes_survive_refreshes(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "d", [*FAST, "--token-ttl", "3"], rules=None).start()

    async def main() -> None:
        config = local(server.url, server.namespace)
        ann = await user(config, tmp_path / "ann", "ann", "student")
        bob = await user(config, tmp_path / "bob", "bob", "provider")
        seen_a, seen_b = Recorder(ann), Recorder(bob)
        try:
            assert ann.uid is not None and bob.uid is not None
            cid = await ann.open_conversation(bob.uid)
            ann.select_conversation(cid)
            bob.select_conversation(cid)
            sent: dict[str, list[str]] = {"ann": [], "bob": []}
            loop = asyncio.get_running_loop()
            stop_at = loop.time() + 10
            i = 0
            while loop.time() < stop_at:
                sent["ann"].append(await ann.send_message(cid, f"a{i}"))
                await asyncio.sleep(0.15)
                sent["bob"].append(await bob.send_message(cid, f"b{i}"))
                await asyncio.sleep(0.15)
                seen_a.drain()
                seen_b.drain()
                i += 1
            everything = sent["ann"] + sent["bob"]

            await until(lambda: has_all(ann, cid, everything), 15)
            await until(lambda: has_all(bob, cid, everything), 15)
            await until(lambda: states_are(ann, cid, sent["ann"], *SENT))
            await until(lambda: states_are(bob, cid, sent["bob"], *SENT))
            assert ann.auth.refreshes >= 3 and bob.auth.refreshes >= 3
            # the message streams delivered every message once, to both sides
            assert Counter(seen_a.added(cid)) == Counter(everything)
            assert Counter(seen_b.added(cid)) == Counter(everything)
            # the conversation-list and notification streams kept up too
            await until(lambda: _eq(unread(ann, cid), i))
            await until(lambda: _eq(unread(bob, cid), i))
            await until(lambda: _len(ann.notifications(), i))
            await until(lambda: _len(bob.notifications(), i))
            assert sum(seen_a.notified().values()) == sum(seen_b.notified().values()) == i
            assert server.get(f"userConversations/{bob.uid}/{cid}/unreadCount") == i
            assert set(on_server(server, f"conversations/{cid}/messages")) == set(everything)
            assert ann.connected and bob.connected
        finally:
            await ann.close()
            await bob.close()

    try:
        run(main, 50)
    finally:
        server.kill()


def test_firebase_urls_with_emulator_hosts_drive_a_chat(own: ServerProcess, tmp_path: Path) -> None:
    host = f"127.0.0.1:{own.port}"
    env = {
        "DESKTOP_CHAT_API_KEY": "AIzaSy-fake-key-for-tests",
        "DESKTOP_CHAT_DATABASE_URL": f"https://{own.namespace}.firebaseio.com",
        "DESKTOP_CHAT_PROJECT_ID": "demo-desktop-chat",
        "FIREBASE_AUTH_EMULATOR_HOST": host,
        "FIREBASE_DATABASE_EMULATOR_HOST": host,
    }
    config = BackendConfig.load(None, env=env, default_file=False)
    assert config.mode == "firebase" and not config.embedded
    assert config.database_base == f"http://{host}"
    assert config.database_params == {"ns": own.namespace}
    assert config.identity_base == f"http://{host}/identitytoolkit.googleapis.com/v1"
    assert config.securetoken_base == f"http://{host}/securetoken.googleapis.com/v1"

    async def main() -> None:
        ann = await user(config, tmp_path / "ann", "ann", "student")
        bob = await user(config, tmp_path / "bob", "bob", "provider")
        seen_b = Recorder(bob)
        try:
            assert ann.uid is not None and bob.uid is not None
            cid = await ann.open_conversation(bob.uid, skill_id="guitar")
            assert await bob.open_conversation(ann.uid) == cid
            ann.select_conversation(cid)
            bob.select_conversation(cid)
            ids: list[str] = []
            for who, text in [(ann, "hi"), (bob, "hello"), (ann, "lesson?"), (bob, "sure")]:
                ids.append(await who.send_message(cid, text))
                await until(partial(states_are, who, cid, ids[-1:], *SENT))
            await until(lambda: has_all(ann, cid, ids))
            await until(lambda: has_all(bob, cid, ids))
            assert [m.id for m in await ann.messages(cid)] == ids
            assert [m.id for m in await bob.messages(cid)] == ids
            assert Counter(seen_b.added(cid)) == Counter(ids)
            await until(lambda: _eq(unread(bob, cid), 2))
            await until(lambda: _len(bob.notifications(), 2))
            assert await bob.mark_read(cid) == 2
            await until(lambda: states_are(ann, cid, ids[0::2], DeliveryState.READ))
            assert set(on_server(own, f"conversations/{cid}/messages")) == set(ids)
        finally:
            await ann.close()
            await bob.close()

    run(main)


async def _eq(value: Awaitable[int | None], expected: int) -> bool:
    return await value == expected


async def _len(value: Awaitable[list[Any]], expected: int) -> bool:
    return len(await value) == expected


def test_nothing_is_sent_before_the_outbox_has_stored_it(
    own: ServerProcess, tmp_path: Path
) -> None:
    """The request is made ready while the outbox stores the message, but it leaves only once
    the message is stored; when storing fails, nothing is sent (even with the request ready),
    the message is failed and the error raised; the next message goes as usual."""
    from desktop_chat.client.outbox import OutboxError

    async def main() -> None:
        config = local(own.url, own.namespace)
        ann = await user(config, tmp_path / "ann", "ann", "student")
        bob = await user(config, tmp_path / "bob", "bob", "provider")
        try:
            assert bob.uid is not None and ann.outbox is not None and ann.sender is not None
            sender, enqueue = ann.sender, ann.outbox.enqueue
            cid = await ann.open_conversation(bob.uid)
            disk = threading.Event()
            fail = False

            def slow_disk(item: Any, *more: Any) -> Any:  # (a fault: a slow disk, or failing)
                assert disk.wait(30)
                if fail:
                    raise OutboxError("disk I/O error")
                return enqueue(item, *more)

            ann.outbox.enqueue = slow_disk  # type: ignore[method-assign]
            sending = asyncio.ensure_future(ann.send_message(cid, "stored, then sent"))
            await until(lambda: _true(sender._in_flight is not None))  # its request is ready
            await asyncio.sleep(1.0)
            assert not on_server(own, f"conversations/{cid}/messages")
            assert not sending.done()
            disk.set()
            kept = await sending
            await until(lambda: states_are(ann, cid, [kept], *SENT))
            assert enqueue.__self__.get(kept) is not None

            disk.clear()
            fail = True
            events = Recorder(ann)
            sending = asyncio.ensure_future(ann.send_message(cid, "never stored"))
            await until(lambda: _true(sender._in_flight is not None))
            disk.set()
            with pytest.raises(OutboxError):
                await sending
            failed = events.states(DeliveryState.FAILED)
            assert len(failed) == 1 and enqueue.__self__.get(next(iter(failed))) is None
            ann.outbox.enqueue = enqueue  # type: ignore[method-assign]
            after = await ann.send_message(cid, "the disk is back")
            await until(lambda: states_are(ann, cid, [after], *SENT))
            messages = await bob.db.get(f"conversations/{cid}/messages")
            texts = [m["text"] for m in sorted(messages.values(), key=lambda m: m["timestamp"])]
            assert texts == ["stored, then sent", "the disk is back"]
        finally:
            await ann.close()
            await bob.close()

    run(main)


async def _true(value: bool) -> bool:
    return value
