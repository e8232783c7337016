"""Socket.IO benchmarks: ``user-typing`` deliveries per second into a room of 100 sockets,
against a bare python-socketio server; and two nodes behind Redis against one node."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import socketio

from tests.benchmarks.harness import NO_LIMITS, BenchResult, Child, start_server, stop_server
from tests.support.chat import FAST
from tests.support.redis import RedisProcess
from tests.support.server import ServerProcess, socket_node
from tests.support.sockets import account, link

GOAL_RATIO = 0.8
GOAL_NODES_RATIO = 0.8
UNLIMITED = ["--typing-rate", "1000000", *NO_LIMITS]


@dataclass(frozen=True, slots=True)
class Side:
    """Where the sockets go: ``(url, auth)`` for each sender and receiver, and the typing
    payload (plus whether senders must join the conversation first)."""

    senders: list[tuple[str, dict[str, Any]]]
    receivers: list[tuple[str, dict[str, Any]]]
    payload: dict[str, Any]
    join: bool


async def _connect(url: str, auth: dict[str, Any]) -> socketio.AsyncClient:
    client = socketio.AsyncClient(handle_sigint=False, reconnection=False)
    await client.connect(url, auth=auth, transports=["websocket"], wait_timeout=20)
    return client


async def _measure(side: Side, seconds: float, warmup: float) -> dict[str, Any]:
    received = [0]

    async def count(data: Any = None) -> None:
        received[0] += 1

    clients: list[socketio.AsyncClient] = []
    try:
        for url, auth in side.receivers:
            client = await _connect(url, auth)
            client.on("user-typing", count)
            clients.append(client)
        senders = [await _connect(url, auth) for url, auth in side.senders]
        clients += senders
        if side.join:
            for sender in senders:
                answer = await sender.call(
                    "join", {"conversationId": side.payload["conversationId"]}
                )
                assert answer == {"ok": True}, answer
        stop = asyncio.Event()
        refused = [0]

        async def send(sender: socketio.AsyncClient) -> None:
            while not stop.is_set():
                answer = await sender.call("typing", side.payload, timeout=20)
                if not answer.get("ok"):
                    refused[0] += 1

        tasks = [asyncio.create_task(send(sender)) for sender in senders]
        await asyncio.sleep(warmup)
        start, begun = received[0], time.perf_counter()
        await asyncio.sleep(seconds)
        delivered, elapsed = received[0] - start, time.perf_counter() - begun
        stop.set()
        await asyncio.gather(*tasks)
        return {
            "deliveries_per_s": delivered / elapsed,
            "delivered": delivered,
            "refused": refused[0],
        }
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.disconnect()


def _ours(server: ServerProcess, senders: int, receivers: int) -> Side:
    ann, ann_token = account(server, "ann")
    bob, bob_token = account(server, "bob")
    cid = link(server, ann, bob)
    return Side(
        [(server.url, {"token": ann_token})] * senders,
        [(server.url, {"token": bob_token})] * receivers,
        {"conversationId": cid, "isTyping": True},
        join=True,
    )


def run_realtime_fanout(
    receivers: int = 100, senders: int = 4, seconds: float = 5.0, warmup: float = 1.0
) -> BenchResult:
    """``user-typing`` into a room of *receivers* sockets: ours against a bare server."""
    with tempfile.TemporaryDirectory(prefix="bench-sio-") as tmp:
        server = start_server(Path(tmp) / "s", [*FAST, *UNLIMITED], rules=None)
        try:
            ours = asyncio.run(_measure(_ours(server, senders, receivers), seconds, warmup))
        finally:
            stop_server(server)
    bare = Child("tests.benchmarks.socketio_bare", [])
    try:
        url = f"http://127.0.0.1:{bare.wait_listening()}"
        side = Side(
            [(url, {})] * senders,
            [(url, {"room": "bob"})] * receivers,
            {"conversationId": "a_b", "isTyping": True, "to": "bob"},
            join=False,
        )
        base = asyncio.run(_measure(side, seconds, warmup))
    finally:
        bare.stop()
    ratio = ours["deliveries_per_s"] / base["deliveries_per_s"]
    return BenchResult(
        name=f"Socket.IO typing fan-out ({receivers} sockets)",
        ours=f"{ours['deliveries_per_s']:,.0f} deliveries/s",
        baseline=f"{base['deliveries_per_s']:,.0f}/s bare python-socketio",
        figure=f"ratio {ratio:.2f}",
        goal=f">= {GOAL_RATIO}",
        passed=ratio >= GOAL_RATIO and ours["refused"] == 0,
        details={"ours": ours, "baseline": base, "ratio": ratio, "senders": senders},
    )


def run_realtime_nodes(
    receivers: int = 100, senders: int = 4, seconds: float = 5.0, warmup: float = 1.0
) -> BenchResult:
    """Total deliveries/s with two --socketio-only nodes behind Redis against one node."""
    with tempfile.TemporaryDirectory(prefix="bench-nodes-") as tmp:
        root = Path(tmp)
        single = start_server(root / "one", [*FAST, *UNLIMITED], rules=None)
        try:
            one = asyncio.run(_measure(_ours(single, senders, receivers), seconds, warmup))
        finally:
            stop_server(single)
        redis = RedisProcess(root / "redis").start()
        servers: list[ServerProcess] = []
        try:
            data = start_server(root / "data", [*FAST, "--redis-url", redis.url], rules=None)
            servers.append(data)
            for n in (1, 2):
                node = socket_node(data, root / f"n{n}", "--redis-url", redis.url, *UNLIMITED)
                servers.append(node)
            side = _ours(data, senders, receivers)
            nodes = servers[1:]
            two_side = Side(
                [(nodes[i % 2].url, auth) for i, (_, auth) in enumerate(side.senders)],
                [(nodes[i % 2].url, auth) for i, (_, auth) in enumerate(side.receivers)],
                side.payload,
                join=True,
            )
            two = asyncio.run(_measure(two_side, seconds, warmup))
        finally:
            for process in reversed(servers):
                stop_server(process) if process is servers[0] else process.kill()
            redis.kill()
    ratio = two["deliveries_per_s"] / one["deliveries_per_s"]
    return BenchResult(
        name="Socket.IO two nodes + Redis vs one",
        ours=f"{two['deliveries_per_s']:,.0f} deliveries/s",
        baseline=f"{one['deliveries_per_s']:,.0f}/s one node",
        figure=f"ratio {ratio:.2f}",
        goal=f">= {GOAL_NODES_RATIO}",
        passed=ratio >= GOAL_NODES_RATIO and two["refused"] == one["refused"] == 0,
        details={"two_nodes": two, "one_node": one, "ratio": ratio, "senders": senders},
    )
