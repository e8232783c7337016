"""Load-generating SSE client process: timed fan-out writes, or many idle open streams."""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=30))


class _SseStream(asyncio.Protocol):
    """A lean SSE reader: timestamps bytes as they arrive and hands on ``data:`` lines.

    It skips HTTP/1.1 chunk framing by reading line by line: SSE data lines never contain a
    newline, and both servers write whole frames per chunk.
    """

    def __init__(self, request: bytes, on_data: Callable[[bytes, int], None] | None) -> None:
        self.request = request
        self.on_data = on_data
        self.first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._buffer = b""
        self._in_body = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        buffer = self._buffer + data
        if not self._in_body:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = buffer
                return
            status = buffer[: buffer.find(b"\r\n")]
            if not status.startswith(b"HTTP/1.1 200"):
                self._fail(RuntimeError(f"stream refused: {status.decode(errors='replace')}"))
                return
            self._in_body = True
            buffer = buffer[end + 4 :]
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        for line in lines:
            if line.startswith(b"data: "):
                if not self.first.done():
                    self.first.set_result(None)
                elif self.on_data is not None:
                    self.on_data(line, now)

    def _fail(self, exc: Exception) -> None:
        if not self.first.done():
            self.first.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"stream closed before its first event: {exc}"))


def _on_fanout_data(target: Target) -> Callable[[bytes, int], None]:
    def on_data(line: bytes, now: int) -> None:
        data = orjson.loads(line[6:]).get("data")
        if isinstance(data, dict) and "seq" in data:
            target.deliver(data["seq"], now - data["t"])

    return on_data


async def _open_streams(
    url: str, count: int, on_data: Callable[[bytes, int], None] | None, seconds: float
) -> tuple[list[asyncio.Transport], int, list[str]]:
    """Open *count* streams (64 at a time) and wait until each has had its first event.

    Returns the transports, how many streams are ready, and what went wrong with the others.
    """
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"GET {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in STREAM_HEADERS.items())
        + "\r\n"
    ).encode()
    opening = asyncio.Semaphore(64)
    transports: list[asyncio.Transport] = []
    errors: list[str] = []
    ready = 0

    async def one() -> None:
        nonlocal ready
        async with opening:
            try:
                transport, stream = await loop.create_connection(
                    lambda: _SseStream(request, on_data), host, port
                )
                transports.append(transport)
                await stream.first
                ready += 1
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    try:
        async with asyncio.timeout(seconds):
            await asyncio.gather(*tasks)
    except TimeoutError:
        errors.append(f"timed out after {seconds} s")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return transports, ready, errors


def _close(transports: list[asyncio.Transport]) -> None:
    for transport in transports:
        transport.close()


async def _send(
    session: aiohttp.ClientSession, target: Target, seq: int, record: bool, wait: float
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
        async with asyncio.timeout(wait):
            await pending.done.wait()
    except TimeoutError:
        if record:
            target.missing += target.listeners - pending.count
    finally:
        del target.pending[seq]


async def fanout(
    targets: list[Target], messages: int, warmup: int, gap: float, wait: float
) -> dict[str, Any]:
    """Connect every target's listeners, then alternate single writes between the targets."""
    transports: list[asyncio.Transport] = []
    async with _session() as writer:
        try:
            for target in targets:
                opened, _, errors = await _open_streams(
                    target.base_url + FANOUT_STREAM,
                    target.listeners,
                    _on_fanout_data(target),
                    seconds=60,
                )
                transports.extend(opened)
                if errors:
                    raise RuntimeError(f"{target.name}: {len(errors)} streams failed: {errors[:3]}")
            for seq in range(warmup + messages):
                order = targets if seq % 2 == 0 else targets[::-1]
                for target in order:
                    await _send(writer, target, seq, seq >= warmup, wait)
                    await asyncio.sleep(gap)
        finally:
            _close(transports)
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
    started = time.monotonic()
    transports, ready, errors = await _open_streams(url, count, None, seconds=90)
    try:
        report = {
            "ready": ready,
            "failed": len(errors),
            "errors": errors[:5],
            "seconds": time.monotonic() - started,
        }
        print(orjson.dumps(report).decode(), flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
    finally:
        _close(transports)


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
