"""Typing end to end: a keystroke in ChatClient A to TypingChanged in ChatClient B, through the
real server's Socket.IO layer; p50 and p99 in milliseconds (a figure to report)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.events import TypingChanged
from tests.benchmarks.chat_users import FAST_SCRYPT, signed_up
from tests.benchmarks.harness import BenchResult, percentile, start_server, stop_server
from tests.support.server import ServerProcess


async def _until(predicate: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


async def _measure(server: ServerProcess, data: Path, rounds: int, warmup: int) -> dict[str, Any]:
    ann = await signed_up(server, data / "ann", "ann", "student")
    bob = await signed_up(server, data / "bob", "bob", "provider")
    try:
        assert ann.uid is not None and bob.uid is not None
        cid = await ann.open_conversation(bob.uid)
        ann.select_conversation(cid)
        bob.select_conversation(cid)
        await _until(lambda: _joined(ann, cid) and _joined(bob, cid), 30)
        shown: asyncio.Queue[tuple[bool, int]] = asyncio.Queue()

        async def watch() -> None:
            async for event in bob.events():
                if isinstance(event, TypingChanged) and event.conversation_id == cid:
                    shown.put_nowait((event.typing, time.perf_counter_ns()))

        watcher = asyncio.create_task(watch())
        starts: list[float] = []
        stops: list[float] = []
        assert ann.realtime is not None
        try:
            for n in range(warmup + rounds):
                begun = time.perf_counter_ns()
                ann.typing(cid)  # the keystroke
                state, at = await asyncio.wait_for(shown.get(), 10)
                assert state is True
                if n >= warmup:
                    starts.append((at - begun) / 1e6)
                begun = time.perf_counter_ns()
                ann.realtime.stop_typing(cid)  # as on send
                state, at = await asyncio.wait_for(shown.get(), 10)
                assert state is False
                if n >= warmup:
                    stops.append((at - begun) / 1e6)
                await asyncio.sleep(0.01)
        finally:
            watcher.cancel()
        return {"start_ms": starts, "stop_ms": stops}
    finally:
        await ann.close()
        await bob.close()


def _joined(chat: ChatClient, cid: str) -> bool:
    return chat.realtime is not None and chat.realtime.joined == cid


def run_typing_latency(rounds: int = 300, warmup: int = 20) -> BenchResult:
    """Keystroke on A to "is typing" on B (and stop to hidden), *rounds* times."""
    with tempfile.TemporaryDirectory(prefix="bench-typing-") as tmp:
        # The rounds come faster than a person types: lift the per-socket typing rate.
        args = [*FAST_SCRYPT, "--typing-rate", "100000"]
        server = start_server(Path(tmp) / "s", args, rules=None)
        try:
            raw = asyncio.run(_measure(server, Path(tmp), rounds, warmup))
        finally:
            stop_server(server)
    starts, stops = raw["start_ms"], raw["stop_ms"]
    p50, p99 = percentile(starts, 50), percentile(starts, 99)
    return BenchResult(
        name="Typing end to end (A keystroke -> B)",
        ours=f"p99 {p99:.2f} ms",
        baseline="-",
        figure=f"p50 {p50:.2f} ms; stop p99 {percentile(stops, 99):.2f} ms",
        goal="report (ms)",
        passed=len(starts) == rounds,
        details={
            "rounds": rounds,
            "start": {"p50_ms": p50, "p99_ms": p99, "max_ms": max(starts)},
            "stop": {"p50_ms": percentile(stops, 50), "p99_ms": percentile(stops, 99)},
        },
    )
