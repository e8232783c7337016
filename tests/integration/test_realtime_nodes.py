"""Socket.IO scaled out: one data server and two --socketio-only nodes sharing a real Redis.
Typing, presence and pushes cross nodes; a node killed without cleaning up has its users
marked offline within 30 s."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import socketio

from tests.support.chat import FAST, run, until
from tests.support.redis import RedisProcess
from tests.support.server import OWNER, ServerProcess
from tests.support.sockets import Peer, account, link


def node(tmp: Path, data: ServerProcess, redis: RedisProcess, name: str) -> ServerProcess:
    """A --socketio-only node against *data*, sharing *redis*."""
    secret = (data.data_dir / "admin-secret").read_text().strip()
    args = ["--socketio-only", "--database-url", data.database_url, "--redis-url", redis.url]
    return ServerProcess(
        tmp / name, args, emulator_admin=False, env={"DESKTOP_CHAT_ADMIN_SECRET": secret}
    ).start()


@pytest.fixture
def cluster(
    tmp_path: Path, redis: RedisProcess
) -> Iterator[tuple[ServerProcess, ServerProcess, ServerProcess]]:
    data = ServerProcess(tmp_path / "data", [*FAST, "--redis-url", redis.url], rules=None).start()
    nodes: list[ServerProcess] = []
    try:
        nodes = [node(tmp_path, data, redis, f"node{n}") for n in (1, 2)]
        yield data, nodes[0], nodes[1]
    finally:
        for process in (*nodes, data):
            process.kill()


def test_typing_presence_and_pushes_cross_nodes(
    cluster: tuple[ServerProcess, ServerProcess, ServerProcess],
) -> None:
    data, node1, node2 = cluster
    ann, ann_token = account(data, "ann")
    bob, bob_token = account(data, "bob")
    eve, eve_token = account(data, "eve")
    cid = link(data, ann, bob)

    async def main() -> None:
        a = await Peer(node1.url, ann_token, ann).connect()
        await a.wait_for(lambda: [p["online"] for p in a.of("presence")] == [False])  # snapshot
        b = await Peer(node2.url, bob_token, bob).connect()
        e = await Peer(node2.url, eve_token, eve).connect()
        try:
            await a.wait_for(lambda: [p["online"] for p in a.of("presence")] == [False, True])
            assert await a.call("join", {"conversationId": cid}) == {"ok": True}
            assert await b.call("join", {"conversationId": cid}) == {"ok": True}
            assert (await e.call("join", {"conversationId": cid}))["error"]["code"] == 403

            await a.call("typing", {"conversationId": cid, "isTyping": True})
            await b.wait_for(lambda: bool(b.of("user-typing")))
            assert b.of("user-typing") == [{"conversationId": cid, "userId": ann, "isTyping": True}]
            await b.call("typing", {"conversationId": cid, "isTyping": True})
            await a.wait_for(lambda: bool(a.of("user-typing")))

            # A notification written on the data server reaches bob's socket on node 2.
            record = {"type": "new_message", "title": "Ann", "body": "hi", "read": False}
            await asyncio.to_thread(data.put, f"notifications/{bob}/n1", record)
            assert await b.first_of("notification") == {**record, "id": "n1"}
            assert data.get(f"userStatus/{bob}")["online"] is True

            # Node 2 dies without a word: bob is offline for ann within 30 s.
            node2.kill()
            await a.wait_for(
                lambda: [p["online"] for p in a.of("presence")] == [False, True, False], 40
            )
            assert data.get(f"userStatus/{bob}")["online"] is False
            assert e.of("user-typing") == []
        finally:
            await a.close()
            for peer in (b, e):
                with contextlib.suppress(Exception):
                    await peer.close()

    run(main, timeout=90)


def test_a_revoked_users_sockets_end_on_every_node(
    cluster: tuple[ServerProcess, ServerProcess, ServerProcess],
) -> None:
    """A node checks each handshake's token with the data server, and every few seconds the
    tokens of its sockets: a disabled user's socket ends there too, and cannot come back."""
    data, node1, node2 = cluster
    (ann, token), (bob, bob_token) = account(data, "ann"), account(data, "bob")

    async def main() -> None:
        peer = await Peer(node1.url, token, ann).connect()
        other = await Peer(node1.url, bob_token, bob).connect()
        url = f"{data.url}/_admin/users/ann@example.com:disable"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, headers=OWNER, json={}) as disabled,
        ):
            assert disabled.status == 200, await disabled.text()
        again = Peer(node2.url, token, ann)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await again.connect()
        assert again.refused is not None and again.refused["data"] == {"code": 401}
        assert "no longer valid" in again.refused["message"]
        await until(lambda: _gone(peer), 40)
        assert other.client.connected  # another user's socket stays
        await other.close()

    run(main, timeout=90)


async def _gone(peer: Peer) -> bool:
    return not peer.client.connected
