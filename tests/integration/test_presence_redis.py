"""RedisPresence on a real redis-server: totals over nodes, dead nodes cleared once, outages."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_chat.server.presence import PresenceError, RedisPresence
from tests.support.redis import RedisProcess

WAIT = 30.0
"""Generous seconds for what the heartbeat should do within a second or two."""


def fast_node(url: str, node_id: str | None, timeout: float = 5.0) -> RedisPresence:
    """Quick heartbeats; a node is dead after 3 s of silence."""
    return RedisPresence(url, node_id, heartbeat=0.2, dead_after=3.0, timeout=timeout)


_NODE_SCRIPT = """
import asyncio, sys
from desktop_chat.server.presence import RedisPresence

async def main():
    presence = RedisPresence(sys.argv[1], sys.argv[2], heartbeat=0.2, dead_after=3.0)
    await presence.start()
    for uid in sys.argv[3:]:
        await presence.connected(uid)
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 100))


class Calls:
    """A callback that records each call's uids."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def __call__(self, uids: list[str]) -> None:
        self.calls.append(sorted(uids))


async def eventually(check: Callable[[], Any], what: str, seconds: float = WAIT) -> None:
    deadline = time.monotonic() + seconds
    while not await _holds(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:.0f} s for {what}")
        await asyncio.sleep(0.05)


async def _holds(check: Callable[[], Any]) -> bool:
    result = check()
    if asyncio.iscoroutine(result):
        result = await result
    return bool(result)


@pytest.fixture
def node_processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        kill(proc)


def start_node_process(
    started: list[subprocess.Popen[str]], url: str, node: str, uids: list[str]
) -> subprocess.Popen[str]:
    """A RedisPresence node in its own process holding one socket of each of *uids*."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _NODE_SCRIPT, url, node, *uids],
        stdout=subprocess.PIPE,
        text=True,
    )
    started.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def kill(proc: subprocess.Popen[str]) -> None:
    """kill -9: the node gets no chance to clean up."""
    proc.kill()
    proc.communicate(timeout=30)  # reaps it and closes its pipe


def test_totals_are_over_every_node(redis: RedisProcess) -> None:
    async def main() -> None:
        one = fast_node(redis.url, "one")
        two = fast_node(redis.url, "two")
        await one.start()
        await two.start()
        try:
            assert await one.connected("ann") is True
            assert await two.connected("ann") is False  # online already, through node one
            assert await two.connected("bob") is True
            assert await one.online(["ann", "bob", "carl"]) == {"ann", "bob"}
            assert await two.online(["ann", "bob", "carl"]) == {"ann", "bob"}
            assert await one.disconnected("ann") is False  # still on node two
            assert await two.disconnected("ann") is True
            assert await one.disconnected("ann") is False  # never below zero
            assert await one.online(["ann", "bob"]) == {"bob"}
            assert await one.connected("ann") is True
            assert await one.close() == ["ann"]  # bob's socket is on node two
            assert await two.online(["ann", "bob"]) == {"bob"}
        finally:
            await one.close()
            assert await two.close() == ["bob"]

    run(main)


def test_a_dead_nodes_users_are_cleared_once(
    redis: RedisProcess, node_processes: list[subprocess.Popen[str]]
) -> None:
    async def main() -> None:
        lost_b, lost_c = Calls(), Calls()
        node_b = fast_node(redis.url, "b")
        node_c = fast_node(redis.url, "c")
        node_b.on_lost, node_c.on_lost = lost_b, lost_c
        await node_b.start()
        await node_c.start()
        try:
            await node_b.connected("carl")
            await node_c.connected("dora")
            doomed = await asyncio.to_thread(
                start_node_process, node_processes, redis.url, "doomed", ["ann", "bob", "carl"]
            )
            assert await node_b.online(["ann", "bob", "carl", "dora"]) == {
                "ann",
                "bob",
                "carl",
                "dora",
            }
            await asyncio.to_thread(kill, doomed)
            await eventually(lambda: lost_b.calls or lost_c.calls, "the dead node to be cleared")
            assert sorted(lost_b.calls + lost_c.calls) == [["ann", "bob"]]  # carl is on b
            assert await node_c.online(["ann", "bob", "carl", "dora"]) == {"carl", "dora"}
            await asyncio.sleep(1.0)  # several more heartbeats of both: nothing more to clear
            assert len(lost_b.calls + lost_c.calls) == 1
            assert await node_b.disconnected("carl") is True
        finally:
            await node_b.close()
            await node_c.close()

    run(main)


def test_a_restarted_node_clears_what_its_previous_life_left(
    redis: RedisProcess, node_processes: list[subprocess.Popen[str]]
) -> None:
    async def main() -> None:
        first = await asyncio.to_thread(
            start_node_process, node_processes, redis.url, "same-id", ["ann", "bob"]
        )
        await asyncio.to_thread(kill, first)
        other = fast_node(redis.url, "other")
        await other.start()
        await other.connected("bob")
        lost = Calls()
        again = fast_node(redis.url, "same-id")
        again.on_lost = lost
        await again.start()  # before the others could tell the old one was dead
        try:
            await eventually(lambda: lost.calls, "the leftovers to be reported")
            assert lost.calls == [["ann"]]
            assert await again.online(["ann", "bob"]) == {"bob"}
            assert await again.connected("ann") is True
        finally:
            assert await again.close() == ["ann"]
            assert await other.close() == ["bob"]

    run(main)


def test_a_redis_restart_is_a_presence_error_then_counts_come_back(redis: RedisProcess) -> None:
    async def main() -> None:
        regained, lost = Calls(), Calls()
        node = fast_node(redis.url, "node", timeout=2.0)
        node.on_regained, node.on_lost = regained, lost
        await node.start()
        try:
            assert await node.connected("ann") is True
            assert await node.connected("carl") is True
            await asyncio.to_thread(redis.kill)
            with pytest.raises(PresenceError, match="Redis"):
                await node.connected("bob")  # still counted here, published later
            with pytest.raises(PresenceError, match="Redis"):
                await node.disconnected("carl")
            with pytest.raises(PresenceError, match="Redis"):
                await node.online(["ann"])
            await asyncio.sleep(0.5)  # heartbeats fail meanwhile, quietly
            await asyncio.to_thread(redis.start)  # same port, but empty
            await eventually(lambda: regained.calls and lost.calls, "the counts to be published")
            assert regained.calls == [["ann", "bob"]]
            assert lost.calls == [["carl"]]  # gone while Redis was down
            assert await node.online(["ann", "bob", "carl"]) == {"ann", "bob"}
            assert await node.disconnected("bob") is True
        finally:
            assert await node.close() == ["ann"]

    run(main)


def test_close_without_redis_returns_nothing_and_does_not_raise(redis: RedisProcess) -> None:
    async def main() -> None:
        node = fast_node(redis.url, "node", timeout=2.0)
        await node.start()
        await node.connected("ann")
        await asyncio.to_thread(redis.kill)
        assert await node.close() == []
        with pytest.raises(PresenceError, match="not started"):
            await node.connected("ann")

    run(main)


def test_unreachable_redis_at_start_is_a_presence_error(tmp_path: Path) -> None:
    async def main() -> None:
        probe = RedisProcess(tmp_path / "r").start()
        url = probe.url
        probe.kill()  # a port where nothing listens now
        node = RedisPresence(url, timeout=2.0)
        with pytest.raises(PresenceError, match="Redis presence failed"):
            await node.start()
        assert await node.close() == []
        with pytest.raises(ValueError, match="heartbeat"):
            RedisPresence(url, heartbeat=5, dead_after=5)
        with pytest.raises(PresenceError, match="URL"):
            await RedisPresence("http://nowhere", timeout=1.0).start()

    run(main)
