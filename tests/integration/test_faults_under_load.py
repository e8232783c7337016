"""Faults under load: the server, or Redis, killed with kill -9 in the middle of the load
generator's traffic. Clients reconnect by themselves, every send lands once (retried and read
back, as the app's outbox does), and every receiver's log shows every message exactly once.

Socket.IO pushes sent while a socket is away are not replayed (Socket.IO keeps no backlog; the
app reads its notifications from the data): sockets are checked for duplicates, streams for
both loss and duplicates. The data itself is counted too: every conversation holds exactly the
messages stored, and each receiver's unread count and notifications count each message once.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.chat import FAST
from tests.support.redis import RedisProcess
from tests.support.server import ServerProcess, socket_node

REPO = Path(__file__).resolve().parents[2]
LOAD = ["--streams", "100", "--sockets", "100", "--conversations", "50", "--rate", "100"]
LOAD += ["--warmup", "3", "--seconds", "15", "--drain", "60", "--pushes-may-be-lost"]


def load_with(
    data: ServerProcess, socket_urls: list[str], fault: Callable[[], None], out: Path
) -> Any:
    """The load generator's report, *fault* done three seconds after it is warm."""
    args = [sys.executable, "-m", "tests.support.load", "--url", data.url]
    args += ["--namespace", data.namespace, "--socket-urls", *socket_urls, *LOAD]
    args += ["--report", str(out)]
    with subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip() == "WARM":
                time.sleep(3.0)
                fault()
        assert process.wait(timeout=300) == 0, "the load generator failed"
    return orjson.loads(out.read_bytes())


def kill_and_restart(process: ServerProcess | RedisProcess) -> Callable[[], None]:
    def fault() -> None:
        process.kill()  # kill -9
        time.sleep(2.0)
        if isinstance(process, ServerProcess):
            process.requested_port = process.port  # (clients come back to the same address)
        process.start()

    return fault


def counted_once(data: ServerProcess, report: dict[str, Any]) -> None:
    """The data: each stored message once, counted once in unread counts and notifications."""
    conversations = data.get("conversations") or {}
    messages = sum(len(c.get("messages") or {}) for c in conversations.values())
    entries = data.get("userConversations") or {}
    unread = sum(e.get("unreadCount", 0) for user in entries.values() for e in user.values())
    notes = sum(len(n) for n in (data.get("notifications") or {}).values())
    assert messages == unread == notes == report["stored"], (messages, unread, notes)


def check(report: dict[str, Any]) -> None:
    assert report["stored"] == report["sent"] > 0, report
    assert "send: gave up" not in report["errors"], report["errors"]
    assert report["stream_missing"] == 0 and report["stream_twice"] == 0, report
    assert report["socket_twice"] == 0, report


def test_the_server_killed_under_load(tmp_path: Path) -> None:
    data = ServerProcess(tmp_path / "data", FAST, rules=None).start()
    try:
        report = load_with(data, [data.url], kill_and_restart(data), tmp_path / "r.json")
        check(report)
        assert report["stream_reconnects"] >= 100 and report["socket_reconnects"] >= 100
        assert report["retries"] > 0  # (sends met the dead server, and were retried)
        counted_once(data, report)
    finally:
        data.kill()


@pytest.mark.timeout(300)
def test_redis_killed_under_load(tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path / "redis").start()
    servers: list[ServerProcess] = []
    try:
        data = ServerProcess(tmp_path / "data", [*FAST, "--redis-url", redis.url], rules=None)
        servers.append(data.start())
        node = socket_node(data, tmp_path / "node", "--redis-url", redis.url)
        servers.append(node)
        report = load_with(data, [data.url, node.url], kill_and_restart(redis), tmp_path / "r")
        check(report)
        assert report["stream_reconnects"] == 0  # (the data never went away)
        counted_once(data, report)
        for server in servers:  # both nodes lived through it
            assert server.proc is not None and server.proc.poll() is None
    finally:
        for server in servers:
            server.kill()
        redis.kill()


_SENDING_APP = """
import asyncio, sys
from pathlib import Path
from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.token_store import KeyringTokenStore
from tests.support.file_keyring import FileKeyring

async def main() -> None:
    url, namespace, data, keys, other, count = sys.argv[1:7]
    config = BackendConfig.from_values({"server_url": url, "namespace": namespace})
    store = KeyringTokenStore(FileKeyring(Path(keys)))
    client = await ChatClient.create(config, Path(data), token_store=store)
    await client.sign_up("ann@example.com", "secret-1", "Ann", "student")
    await client.start()
    cid = await client.open_conversation(other)
    await asyncio.gather(*(client.send_message(cid, f"m{n}") for n in range(int(count))))
    print(cid, flush=True)  # every message stored: the parent kills this process now
    await asyncio.sleep(120)

asyncio.run(main())
"""


def test_the_app_killed_while_sending_delivers_everything_at_next_start(
    tmp_path: Path,
) -> None:
    """kill -9 of the app while its outbox drains: at the next start every message is sent,
    once, and counted once."""
    import asyncio

    from desktop_chat.client.chat_client import ChatClient
    from desktop_chat.client.config import BackendConfig
    from desktop_chat.client.token_store import KeyringTokenStore
    from tests.support.file_keyring import FileKeyring
    from tests.support.sockets import account

    server = ServerProcess(tmp_path / "server", FAST, rules=None).start()
    try:
        bob, bob_token = account(server, "bob")
        server.put(f"users/{bob}", {"displayName": "Bob", "role": "provider"})
        data, keys, count = tmp_path / "app", tmp_path / "keys.json", 300
        args = [sys.executable, "-c", _SENDING_APP, server.url, server.namespace]
        args += [str(data), str(keys), bob, str(count)]
        with subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, text=True) as app:
            assert app.stdout is not None
            cid = app.stdout.readline().strip()
            app.kill()  # kill -9, the outbox still draining
        sent_before = len(server.get(f"conversations/{cid}/messages") or {})
        assert cid and sent_before < count, sent_before  # (it was killed while sending)

        async def next_start() -> None:
            config = BackendConfig.from_values(
                {"server_url": server.url, "namespace": server.namespace}
            )
            store = KeyringTokenStore(FileKeyring(keys))
            client = await ChatClient.create(config, data, token_store=store)
            try:
                await client.start()
                deadline = asyncio.get_running_loop().time() + 60
                while len(server.get(f"conversations/{cid}/messages") or {}) < count:
                    assert asyncio.get_running_loop().time() < deadline, "not all delivered"
                    await asyncio.sleep(0.2)
            finally:
                await client.close()

        asyncio.run(next_start())
        stored = server.get(f"conversations/{cid}/messages")
        texts = [m["text"] for m in sorted(stored.values(), key=lambda m: m["timestamp"])]
        assert sorted(texts, key=lambda t: int(t[1:])) == [f"m{n}" for n in range(count)]
        assert server.get(f"userConversations/{bob}/{cid}/unreadCount") == count
        assert len(server.get(f"notifications/{bob}")) == count
        del bob_token
    finally:
        server.kill()
