"""Load and soak: 500 streaming and 500 Socket.IO clients, 200 messages/s over 100 conversations,
against one server and against two nodes behind Redis: nothing lost or twice, no leak.

The full soak (10 minutes each) runs by hand: ``pytest -m soak tests/integration/test_soak.py``;
the suite runs the same scenario for 60 seconds. The load generator is a process of its own
(:mod:`tests.support.load`). Each run writes its figures to ``build/soak/<name>.json``.

Open files and asyncio tasks, idle before and idle after, must be the same (but for the Redis
connections a node keeps, in pools of a fixed size). The server's memory at the end (its
clients gone) must be within 10 % of its memory after the warm-up: the server keeps only the
newest messages of each conversation and notifications of each user in memory (``History``),
so its memory does not grow with the messages stored. The warm-up lasts until every one of
those collections has been trimmed once and every stream's window is full. The figures also
give the memory of a fresh server on the same data, which reads only that much back.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from desktop_chat.server.presence import POOL
from desktop_chat.server.realtime import PUBLISHERS
from tests.support.chat import FAST, run
from tests.support.redis import RedisProcess
from tests.support.server import ServerProcess, socket_node
from tests.support.sockets import Peer, account

REPO = Path(__file__).resolve().parents[2]
RATE = 200.0
WARMUP = 40.0
"""Seconds of load before the warm memory is taken: at 200 messages/s a user receives a
notification a second, so each history collection (twice --history-in-memory, 32 by default)
is trimmed once, and every stream's window (the app's 50 newest) is full."""
MEMORY_GROWTH = 1.10
"""The server's memory at the end may be at most this times its memory after the warm-up."""
REDIS_KEPT = PUBLISHERS + 1 + POOL
"""Redis connections a node may keep after being busy: its bounded pools and subscription."""
PING_INTERVAL = 25.0
"""Engine.IO's default: a closed connection's ping task ends within this."""


def rss(server: ServerProcess) -> int:
    """Resident memory of *server*'s process, in bytes."""
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) * 1024


def idle(server: ServerProcess, back_to: tuple[int, int] | None = None) -> tuple[int, int]:
    """(open files, asyncio tasks) of *server* once settled: back to *back_to* if given, or
    after a minute (a closed Socket.IO connection's ping task ends at its next ping, <= 25 s)."""
    assert server.proc is not None
    deadline = time.monotonic() + (60.0 if back_to is not None else 2.0)
    while True:
        time.sleep(1.0)
        files = len(os.listdir(f"/proc/{server.proc.pid}/fd"))
        tasks = requests.get(f"{server.url}/healthz", timeout=10).json()["tasks"]
        settled = back_to is not None and files <= back_to[0] and tasks <= back_to[1]
        if settled or time.monotonic() > deadline:
            return files, tasks


def prime(data: ServerProcess, servers: list[ServerProcess]) -> None:
    """One Socket.IO connection to each server, come and gone: Engine.IO starts its service
    task with the first connection (it stays), and a connection's ping task ends at its next
    ping; so the idle counts before the load compare with those after it."""
    _, token = account(data, "primer")

    async def main() -> None:
        for server in servers:
            peer = await Peer(server.url, token).connect()
            await peer.close()
        await asyncio.sleep(PING_INTERVAL + 2)

    run(main, timeout=PING_INTERVAL + 60)


def generate(servers: list[ServerProcess], seconds: float, out: Path) -> Any:
    """Run the load generator against *servers* (the first holds the data; Socket.IO clients
    spread over all); the memory of each when warm and when loaded, and the report."""
    data = servers[0]
    socket_urls = [server.url for server in servers]
    args = [sys.executable, "-m", "tests.support.load", "--url", data.url]
    args += ["--namespace", data.namespace, "--socket-urls", *socket_urls]
    args += ["--rate", str(RATE), "--seconds", str(seconds), "--report", str(out)]
    args += ["--warmup", str(WARMUP)]
    memory: dict[str, int] = {}
    with subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip() in ("WARM", "LOADED"):
                memory[line.strip().lower()] = [rss(server) for server in servers]
        assert process.wait(timeout=seconds + 600) == 0, "the load generator failed"
    return memory, orjson.loads(out.read_bytes())


def fresh_memory(data: ServerProcess) -> int:
    """The memory of a new server on *data*'s data dir: what the data alone takes."""
    data.stop()
    again = ServerProcess(data.data_dir, FAST, rules=None).start()
    try:
        idle(again)
        return rss(again)
    finally:
        again.kill()


def soak(tmp: Path, name: str, seconds: float, nodes: int) -> dict[str, Any]:
    redis = RedisProcess(tmp / "redis").start() if nodes > 1 else None
    servers: list[ServerProcess] = []
    try:
        extra = ["--redis-url", redis.url] if redis is not None else []
        data = ServerProcess(tmp / "data", [*FAST, *extra], rules=None).start()
        servers.append(data)
        for n in range(1, nodes):
            servers.append(socket_node(data, tmp / f"node{n}", *extra))
        prime(data, servers)
        before = [idle(server) for server in servers]
        memory, report = generate(servers, seconds, tmp / "report.json")
        pools = REDIS_KEPT if nodes > 1 else 0  # (what a node may keep: see check())
        after = [
            idle(server, (files + pools, tasks))
            for server, (files, tasks) in zip(servers, before, strict=True)
        ]
        memory["end"] = [rss(server) for server in servers]
        for server in servers[1:]:
            server.stop()
        memory["fresh_same_data"] = fresh_memory(data)
        figures = {**report, "nodes": nodes, "seconds": seconds, "memory": memory}
        figures["idle_before"], figures["idle_after"] = before, after
        folder = REPO / "build" / "soak"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
        return figures
    finally:
        for server in servers:
            server.kill()
        if redis is not None:
            redis.kill()


def check(figures: dict[str, Any]) -> None:
    seconds = figures["seconds"]
    assert figures["errors"] == {}, figures["errors"]
    assert figures["rate"] >= 0.95 * RATE, figures["rate"]
    assert figures["stored"] == figures["sent"] >= 0.95 * RATE * seconds
    assert figures["streams"] == 500 and figures["sockets"] == 500
    for what in ("stream", "socket"):  # every receiver's log: each message once
        assert figures[f"{what}_missing"] == 0, figures
        assert figures[f"{what}_twice"] == 0, figures
        assert figures[f"{what}_reconnects"] == 0, figures
    pools = REDIS_KEPT if figures["nodes"] > 1 else 0
    for (files_before, tasks_before), (files_after, tasks_after) in zip(
        figures["idle_before"], figures["idle_after"], strict=True
    ):
        assert files_after <= files_before + pools, figures["idle_after"]
        assert tasks_after <= tasks_before, figures["idle_after"]
    memory = figures["memory"]  # (each server's: the data server's first)
    for warm, end in zip(memory["warm"], memory["end"], strict=True):
        assert end <= MEMORY_GROWTH * warm, memory


@pytest.mark.timeout(600)
@pytest.mark.parametrize("nodes", [1, 2])
def test_a_minute_of_load(tmp_path: Path, nodes: int) -> None:
    check(soak(tmp_path, f"minute-{nodes}-node", 60.0, nodes))


@pytest.mark.soak
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("nodes", [1, 2])
def test_ten_minutes_of_load(tmp_path: Path, nodes: int) -> None:
    check(soak(tmp_path, f"soak-{nodes}-node", 600.0, nodes))
