"""Load-generating SSE client process: timed fan-out writes, or many idle open streams."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

STREAM_HEADERS = {"Accept": "text/event-stream", "Authorization": "Bearer owner"}
WRITE_HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer owner"}
FANOUT_STREAM = "/fanout.json"
FANOUT_WRITE = "/fanout/msg.json"
TEXT = "Hi! Are you still available for the guitar lesson on Thursday at 6pm?"


@dataclass(slots=True)
class _Pending:
    """One message in flight: how many listeners have it, and whether it counts."""

    record: bool
    count: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class Target:
    """One server under test, as seen by identical client code."""

    name: str
    base_url: str
    listeners: int
    latencies_ns: list[int] = field(default_factory=list)
    acks_ns: list[int] = field(default_factory=list)
    missing: int = 0
    errors: list[str] = field(default_factory=list)
    pending: dict[int, _Pending] = field(default_factory=dict)

    def deliver(self, seq: int, latency_ns: int) -> None:
        pending = self.pending.get(seq)
        if pending is None:  # arrived after its timeout
            return
        if pending.record:
            self.latencies_ns.append(latency_ns)
        pending.count += 1
        if pending.count >= self.listeners:
            pending.done.set()


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, force_close=False),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
    )


async def _listen(
    session: aiohttp.ClientSession,
    url: str,
    on_ready: Callable[[], None],
    on_data: Callable[[bytes, int], None] | None,
) -> None:
    """Read one stream: the first data line means ready, later ones go to *on_data*."""
    async with session.get(url, headers=STREAM_HEADERS) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {url}: HTTP {response.status}")
        ready = False
        async for line in response.content:
            if not line.startswith(b"data: "):
                continue
            now = time.monotonic_ns()
            if not ready:
                ready = True
                on_ready()
            elif on_data is not None:
                on_data(line, now)


def _on_fanout_data(target: Target) -> Callable[[bytes, int], None]:
    def on_data(line: bytes, now: int) -> None:
        data = orjson.loads(line[6:]).get("data")
        if isinstance(data, dict) and "seq" in data:
            target.deliver(data["seq"], now - data["t"])

    return on_data


async def _open_streams(
    session: aiohttp.ClientSession,
    url: str,
    count: int,
    on_data: Callable[[bytes, int], None] | None,
    timeout: float,
) -> tuple[list[asyncio.Task[None]], int, list[str]]:
    """Open *count* streams (a few at a time) and wait until each has its first event."""
    ready = 0
    all_ready = asyncio.Event()
    opening = asyncio.Semaphore(64)
    errors: list[str] = []

    def settle() -> None:
        if ready + len(errors) >= count:
            all_ready.set()

    async def one() -> None:
        nonlocal ready
        got_first = False

        def on_ready() -> None:
            nonlocal ready, got_first
            got_first = True
            ready += 1
            opening.release()
            settle()

        await opening.acquire()
        try:
            await _listen(session, url, on_ready, on_data)
            error = "stream ended"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        if not got_first:
            errors.append(error)
            opening.release()
            settle()

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await all_ready.wait()
    return tasks, ready, errors


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _send(
    session: aiohttp.ClientSession, target: Target, seq: int, record: bool, timeout: float
) -> None:
    """Write one message, then wait for its ack and for every listener to receive it."""
    pending = _Pending(record)
    target.pending[seq] = pending
    sent = time.monotonic_ns()
    body = orjson.dumps({"seq": seq, "t": sent, "text": TEXT})
    try:
        async with session.put(
            target.base_url + FANOUT_WRITE, data=body, headers=WRITE_HEADERS
        ) as response:
            await response.read()
            if response.status != 200:
                target.errors.append(f"PUT seq {seq}: HTTP {response.status}")
        if record:
            target.acks_ns.append(time.monotonic_ns() - sent)
        async with asyncio.timeout(timeout):
            await pending.done.wait()
    except TimeoutError:
        if record:
            target.missing += target.listeners - pending.count
    finally:
        del target.pending[seq]


async def fanout(
    targets: list[Target], messages: int, warmup: int, gap: float, timeout: float
) -> dict[str, Any]:
    """Connect every target's listeners, then alternate single writes between the targets."""
    async with _session() as streams, _session() as writer:
        tasks: list[asyncio.Task[None]] = []
        try:
            for target in targets:
                opened, ready, errors = await _open_streams(
                    streams,
                    target.base_url + FANOUT_STREAM,
                    target.listeners,
                    _on_fanout_data(target),
                    timeout=60,
                )
                tasks.extend(opened)
                target.errors.extend(errors)
                if ready < target.listeners:
                    raise RuntimeError(f"{target.name}: only {ready} streams ready: {errors[:3]}")
            for seq in range(warmup + messages):
                order = targets if seq % 2 == 0 else targets[::-1]
                for target in order:
                    await _send(writer, target, seq, seq >= warmup, timeout)
                    await asyncio.sleep(gap)
        finally:
            await _cancel(tasks)
    return {
        target.name: {
            "listeners": target.listeners,
            "latencies_ns": target.latencies_ns,
            "acks_ns": target.acks_ns,
            "missing": target.missing,
            "errors": target.errors[:10],
        }
        for target in targets
    }


async def idle(url: str, count: int) -> None:
    """Open *count* streams, report when all have their first event, hold them until stdin EOF."""
    loop = asyncio.get_running_loop()
    async with _session() as session:
        started = time.monotonic()
        tasks, ready, errors = await _open_streams(session, url, count, None, timeout=90)
        report = {
            "ready": ready,
            "failed": len(errors),
            "errors": errors[:5],
            "seconds": time.monotonic() - started,
        }
        print(orjson.dumps(report).decode(), flush=True)
        try:
            await loop.run_in_executor(None, sys.stdin.readline)
        finally:
            await _cancel(tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    modes = parser.add_subparsers(dest="mode", required=True)
    fan = modes.add_parser("fanout")
    fan.add_argument("--target", action="append", required=True, help="NAME=BASE_URL")
    fan.add_argument("--listeners", type=int, default=100)
    fan.add_argument("--messages", type=int, default=300)
    fan.add_argument("--warmup", type=int, default=20)
    fan.add_argument("--gap", type=float, default=0.005, help="seconds between writes")
    fan.add_argument("--timeout", type=float, default=5.0, help="seconds to wait per write")
    still = modes.add_parser("idle")
    still.add_argument("--url", required=True)
    still.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    _raise_nofile()
    if args.mode == "fanout":
        targets = [
            Target(name, url.rstrip("/"), args.listeners)
            for name, _, url in (spec.partition("=") for spec in args.target)
        ]
        result = asyncio.run(fanout(targets, args.messages, args.warmup, args.gap, args.timeout))
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        sys.stdout.flush()
    else:
        asyncio.run(idle(args.url, args.streams))


if __name__ == "__main__":
    main()
