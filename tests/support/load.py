"""A load generator process: streaming and Socket.IO clients, paced sends, and every receiver's log.

``python -m tests.support.load --url URL --namespace NS --seconds 60 --report out.json``
signs up two people per conversation, opens ``--streams`` SSE streams of the conversations'
messages (the app's query: ``orderBy timestamp, limitToLast 50``) and ``--sockets`` Socket.IO
connections (``--socket-urls``: spread over several nodes), then sends ``--rate`` messages a
second across the conversations, each the app's own multi-path write, for ``--warmup`` then
``--seconds`` seconds. A send whose answer is lost (a server killed under it) is retried and
read back, as the app's outbox does, so each message is stored once. It prints ``READY``,
``WARM``, ``LOADED`` and ``DONE`` as it goes (the test samples the server between them), and
writes a report: what was sent, what each receiver got (missing, twice), latencies, reconnects.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import socketio

from desktop_chat.client.errors import ProtocolError
from desktop_chat.client.sse import SseEvent, SseParser, event_payload
from desktop_chat.core import writes
from desktop_chat.core.paths import PushIdGenerator
from tests.support.chat import until
from tests.support.load_world import OK, Backend, Pair, Person, make_world, people

TEXT = "Hi! Is the Thursday 6pm guitar lesson still free?"
QUERY = {"orderBy": '"timestamp"', "limitToLast": "50"}


class StreamLog:
    """What one SSE stream of one conversation received."""

    def __init__(self, cid: str, person: Person) -> None:
        self.cid, self.person = cid, person
        self.got: Counter[str] = Counter()  # a message arriving as a new child
        self.seen: set[str] = set()  # ... or in a first snapshot (a reconnect's resync)
        self.latencies: list[int] = []
        self.connects = 0
        self.fresh = True
        """No snapshot yet on this connection (a later put at the root carries new ones)."""
        self.opened = asyncio.Event()


class SocketLog:
    def __init__(self, person: Person, url: str) -> None:
        self.person, self.url = person, url
        self.got: Counter[str] = Counter()
        self.connects = 0


class Load:
    def __init__(self, args: argparse.Namespace, backend: Backend, pairs: list[Pair]) -> None:
        self.args, self.backend, self.pairs = args, backend, pairs
        self.sent_at: dict[str, int] = {}  # mid -> when its send began (ns)
        self.stored: dict[str, str] = {}  # mid -> cid, once the server has it
        self.receiver: dict[str, str] = {}  # mid -> the receiver's uid
        self.errors: Counter[str] = Counter()
        self.retries = 0
        self.streams: list[StreamLog] = []
        self.sockets: list[SocketLog] = []
        self.clients: list[socketio.AsyncClient] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.new_id = PushIdGenerator()

    # receivers -------------------------------------------------------------------------------
    async def stream(self, log: StreamLog) -> None:
        url = f"{self.backend.url}/conversations/{log.cid}/messages.json"
        params = {"ns": self.backend.namespace, "auth": log.person.token, **QUERY}
        while True:
            try:
                async with self.backend.session.get(
                    url, params=params, headers={"Accept": "text/event-stream"}, timeout=None
                ) as answer:
                    if answer.status != 200:
                        raise aiohttp.ClientError(f"stream answered {answer.status}")
                    log.connects += 1
                    log.fresh = True
                    parser = SseParser()
                    async for chunk in answer.content.iter_any():
                        for event in parser.feed(chunk):
                            self._event(log, event.event, event.data)
            except (aiohttp.ClientError, OSError, ValueError, ProtocolError) as exc:
                self.errors[f"stream: {type(exc).__name__}"] += 1
            await asyncio.sleep(0.5)  # (the server went away: come back, as the app does)

    def _event(self, log: StreamLog, kind: str, data: str) -> None:
        if kind not in ("put", "patch"):
            return
        now = time.time_ns()
        path, value = event_payload(SseEvent(kind, data))
        if not path and kind == "put" and log.fresh:  # a connection's snapshot: the window
            log.fresh = False
            log.seen.update(value if isinstance(value, dict) else ())
            log.opened.set()
            return
        children = value.items() if not path and isinstance(value, dict) else [(path[0], value)]
        for mid, child in children:
            if len(path) > 1 or child is None:
                continue  # (a message leaving the window is not a deletion)
            if mid in log.got or mid not in log.seen:  # (in a reconnect's snapshot first: once)
                log.got[mid] += 1
            if mid not in log.seen:
                log.seen.add(mid)
                began = self.sent_at.get(mid)
                if began is not None:
                    log.latencies.append(now - began)

    async def socket(self, log: SocketLog) -> None:
        client = socketio.AsyncClient(handle_sigint=False, reconnection_delay_max=2)
        self.clients.append(client)

        async def notification(data: Any) -> None:
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                log.got[data["id"]] += 1

        async def connected() -> None:
            log.connects += 1

        client.on("notification", notification)
        client.on("connect", connected)
        await client.connect(
            log.url, auth={"token": log.person.token}, transports=["websocket"], wait_timeout=30
        )

    # senders ---------------------------------------------------------------------------------
    async def send(self, n: int) -> None:
        pair = self.pairs[n % len(self.pairs)]
        me, other = (pair.a, pair.b) if (n // len(self.pairs)) % 2 == 0 else (pair.b, pair.a)
        mid = self.new_id()
        body = writes.send_message(me.profile, other.profile, pair.cid, mid, TEXT)
        self.receiver[mid] = other.uid
        self.sent_at[mid] = time.time_ns()
        for attempt in range(60):
            try:
                status = await self.backend.write("PATCH", "", body, me.token)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                status, error = 0, type(exc).__name__
            else:
                error = f"HTTP {status}"
            if status in OK:
                self.stored[mid] = pair.cid
                return
            self.retries += 1
            if status in (0, 401, 503):  # an answer lost, or refused as already there?
                with_it = await self._read_back(pair.cid, mid, me.token)
                if with_it:
                    self.stored[mid] = pair.cid
                    return
            if attempt == 0:
                self.errors[f"send: {error}"] += 1
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
        self.errors["send: gave up"] += 1

    async def _read_back(self, cid: str, mid: str, token: str) -> bool:
        try:
            return await self.backend.read(f"conversations/{cid}/messages/{mid}", token) is not None
        except Exception:
            return False

    async def pace(self, seconds: float, first: int) -> int:
        """Send at the rate for *seconds*; the number of the next message."""
        loop = asyncio.get_running_loop()
        gap, start, n = 1 / self.args.rate, loop.time(), first
        while loop.time() - start < seconds:
            delay = start + (n - first) * gap - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.send(n))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            n += 1
        return n

    # the whole run ---------------------------------------------------------------------------
    def missing(self) -> tuple[int, int, int, int]:
        """(stream deliveries missing, twice; socket pushes missing, twice)."""
        by_cid: dict[str, list[str]] = {}
        for mid, cid in self.stored.items():
            by_cid.setdefault(cid, []).append(mid)
        s_missing = sum(
            sum(mid not in log.seen for mid in by_cid.get(log.cid, ())) for log in self.streams
        )
        s_twice = sum(sum(c > 1 for c in log.got.values()) for log in self.streams)
        notes: dict[str, list[str]] = {}
        for mid in self.stored:
            notes.setdefault(self.receiver[mid], []).append(writes.message_notification_id(mid))
        k_missing = sum(
            sum(nid not in log.got for nid in notes.get(log.person.uid, ())) for log in self.sockets
        )
        k_twice = sum(sum(c > 1 for c in log.got.values()) for log in self.sockets)
        return s_missing, s_twice, k_missing, k_twice

    def report(self, seconds: float) -> dict[str, Any]:
        latencies = sorted(v for log in self.streams for v in log.latencies)

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(len(latencies) * p))] / 1e6

        s_missing, s_twice, k_missing, k_twice = self.missing()
        return {
            "sent": len(self.sent_at),
            "stored": len(self.stored),
            "rate": round(len(self.sent_at) / seconds, 1),
            "retries": self.retries,
            "errors": dict(self.errors),
            "streams": len(self.streams),
            "stream_missing": s_missing,
            "stream_twice": s_twice,
            "stream_reconnects": sum(max(0, log.connects - 1) for log in self.streams),
            "sockets": len(self.sockets),
            "socket_missing": k_missing,
            "socket_twice": k_twice,
            "socket_reconnects": sum(max(0, log.connects - 1) for log in self.sockets),
            "deliveries": len(latencies),
            "latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)}
            if latencies
            else None,
        }


def say(line: str) -> None:
    print(line, flush=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        backend = Backend(args.url, args.namespace, session)
        pairs = await make_world(backend, args.conversations, args.tag)
        load = Load(args, backend, pairs)
        for n in range(args.streams):
            pair = pairs[n % len(pairs)]
            load.streams.append(StreamLog(pair.cid, pair.a if n % 2 == 0 else pair.b))
        everyone, urls = people(pairs), args.socket_urls or [args.url]
        load.sockets = [
            SocketLog(everyone[n % len(everyone)], urls[n % len(urls)]) for n in range(args.sockets)
        ]
        streaming = [asyncio.create_task(load.stream(log)) for log in load.streams]
        for start in range(0, len(load.sockets), 50):
            await asyncio.gather(*(load.socket(log) for log in load.sockets[start : start + 50]))
        await asyncio.wait_for(asyncio.gather(*(log.opened.wait() for log in load.streams)), 120)
        say("READY")
        n = await load.pace(args.warmup, 0)
        say("WARM")
        began = time.monotonic()
        await load.pace(args.seconds, n)
        sending = time.monotonic() - began
        say("LOADED")
        if load.tasks:
            await asyncio.wait(load.tasks, timeout=120)

        async def drained() -> bool:
            stream_missing, _, socket_missing, _ = load.missing()
            return not stream_missing and (args.pushes_may_be_lost or not socket_missing)

        with contextlib.suppress(TimeoutError):  # (what is still missing is reported)
            await until(drained, args.drain)
        result = load.report(sending + args.warmup)
        for task in streaming:
            task.cancel()
        await asyncio.gather(*streaming, return_exceptions=True)
        await asyncio.gather(*(c.disconnect() for c in load.clients), return_exceptions=True)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--socket-urls", nargs="*", default=[])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--drain", type=float, default=30.0)
    parser.add_argument("--tag", default="load")
    parser.add_argument(
        "--pushes-may-be-lost",
        action="store_true",
        help="do not wait for the pushes of a fault (Socket.IO keeps no backlog)",
    )
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    result = asyncio.run(run(args))
    args.report.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    say("DONE")
    sys.exit(0)


if __name__ == "__main__":
    main()
