"""Benchmark 5: ChatClient send-to-receive latency, against raw aiohttp through the same server.

Client A's ``send_message`` to client B's ``MessageAdded`` event, paced at ``rate`` messages
per second, is compared with a baseline run in the same process against the same server at
the same pace: a bare aiohttp ``PUT`` of a comparable message create as A (with A's ID token,
through the shipped rules) and its arrival on a bare SSE stream of the conversation's
messages held by B (B's token, the same ``orderBy timestamp, limitToLast`` query the client
streams). The two modes alternate in blocks, so both see the same machine load; both streams
(the clients' and the raw one) stay open and receive every message throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.events import DeliveryStateChanged, MessageAdded
from desktop_chat.client.sync import MESSAGE_WINDOW
from desktop_chat.core import writes
from desktop_chat.core.model import DeliveryState
from tests.benchmarks.chat_users import FAST_SCRYPT, TEXT, RawUser, message_record, signed_up
from tests.benchmarks.harness import BenchResult, percentile, start_server, stop_server
from tests.support.server import ServerProcess

GOAL_P99_RATIO = 1.5
MODES = ("client", "raw", "raw_send")
"""``raw_send``: the client's own multi-path send PATCH, issued raw (reported, not the goal)."""


class RawStream:
    """A bare SSE stream of ``conversations/<cid>/messages`` as one user: notes when each
    message id first shows up in a ``data:`` line."""

    def __init__(self, server: ServerProcess, token: str, cid: str) -> None:
        self.url = f"{server.url}/conversations/{cid}/messages.json"
        self.params = {
            "ns": server.namespace,
            "auth": token,
            "orderBy": '"timestamp"',
            "limitToLast": str(MESSAGE_WINDOW),
        }
        self.arrivals: dict[str, int] = {}
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, session: aiohttp.ClientSession) -> None:
        self._task = asyncio.create_task(self._run(session))
        ready = asyncio.create_task(self.ready.wait())
        done, _ = await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            ready.cancel()
            self._task.result()
            raise RuntimeError("the raw stream ended before its first event")

    async def _run(self, session: aiohttp.ClientSession) -> None:
        async with session.get(
            self.url,
            params=self.params,
            headers={"Accept": "text/event-stream"},
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"raw stream: {response.status} {await response.read()!r}")
            async for line in response.content:
                now = time.perf_counter_ns()
                if not line.startswith(b"data: {"):
                    continue
                self.ready.set()
                payload = orjson.loads(line[6:])
                path, data = payload.get("path", "/"), payload.get("data")
                if path == "/":
                    ids = list(data) if isinstance(data, dict) else []
                else:
                    ids = [path.strip("/").split("/")[0]]
                for mid in ids:
                    self.arrivals.setdefault(mid, now)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


class Recorder:
    """B's MessageAdded times and A's SENT times, by message id, from their event streams."""

    def __init__(self, receiver: ChatClient, sender: ChatClient) -> None:
        self.added: dict[str, int] = {}
        self.acked: dict[str, int] = {}
        self._tasks = [
            asyncio.create_task(self._receive(receiver)),
            asyncio.create_task(self._acks(sender)),
        ]

    async def _receive(self, client: ChatClient) -> None:
        async for event in client.events():
            if isinstance(event, MessageAdded):
                self.added.setdefault(event.message.id, time.perf_counter_ns())

    async def _acks(self, client: ChatClient) -> None:
        async for event in client.events():
            if isinstance(event, DeliveryStateChanged) and event.state is DeliveryState.SENT:
                self.acked.setdefault(event.message_id, time.perf_counter_ns())

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _until(predicate: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


async def _measure(
    server: ServerProcess, data: Path, messages: int, warmup: int, rate: float, block: int
) -> dict[str, Any]:
    ann = await signed_up(server, data / "ann", "ann", "student")
    bob = await signed_up(server, data / "bob", "bob", "provider")
    raw: RawUser | None = None
    stream: RawStream | None = None
    recorder: Recorder | None = None
    try:
        assert ann.uid is not None and bob.uid is not None
        cid = await ann.open_conversation(bob.uid)
        ann.select_conversation(cid)
        bob.select_conversation(cid)
        await _until(lambda: ann.connected and bob.connected, 30)
        raw = RawUser(server, await ann.auth.token())
        stream = RawStream(server, await bob.auth.token(), cid)
        await stream.start(raw.session)
        recorder = Recorder(bob, ann)
        started: dict[str, dict[str, int]] = {mode: {} for mode in MODES}
        enqueue_ns: dict[str, int] = {}
        tasks: set[asyncio.Task[None]] = set()
        errors: list[str] = []
        uid, other = ann.uid, bob.uid
        bob_profile = await ann.profile(other)
        assert bob_profile is not None

        async def send_client(record: bool) -> None:
            begun = time.perf_counter_ns()
            mid = await ann.send_message(cid, TEXT)
            if record:
                started["client"][mid] = begun
                enqueue_ns[mid] = time.perf_counter_ns() - begun

        async def send_raw(record: bool) -> None:
            assert raw is not None
            mid = raw.ids()
            if record:
                started["raw"][mid] = time.perf_counter_ns()
            path = f"conversations/{cid}/messages/{mid}"
            await raw.write("PUT", path, message_record(uid, other))

        async def send_raw_patch(record: bool) -> None:
            assert raw is not None and ann.me is not None and bob.me is not None
            mid = raw.ids()
            body = writes.send_message(ann.me, bob_profile, cid, mid, TEXT)
            if record:
                started["raw_send"][mid] = time.perf_counter_ns()
            await raw.write("PATCH", "", body)

        senders = {"client": send_client, "raw": send_raw, "raw_send": send_raw_patch}

        async def guarded(coro: Any) -> None:
            try:
                await coro
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

        # Blocks of `block` messages alternate between the modes, each block at `rate`.
        plan: list[tuple[str, bool]] = []
        for mode in MODES:  # warm-up: every path imported, every connection open
            plan += [(mode, False)] * warmup
        for start in range(0, messages, block):
            for mode in MODES:
                plan += [(mode, True)] * min(block, messages - start)
        gap = 1 / rate
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for n, (mode, record) in enumerate(plan):
            delay = t0 + n * gap - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(guarded(senders[mode](record)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*list(tasks))

        def arrived() -> bool:
            return all(m in recorder.added for m in started["client"]) and all(
                m in stream.arrivals for mode in MODES[1:] for m in started[mode]
            )

        with contextlib.suppress(TimeoutError):
            await _until(arrived, 30)
        result: dict[str, Any] = {"errors": errors}
        for mode in MODES:
            sends = started[mode]
            arrivals = recorder.added if mode == "client" else stream.arrivals
            result[mode] = {
                "latencies_ns": [arrivals[m] - t for m, t in sends.items() if m in arrivals],
                "missing": sum(m not in arrivals for m in sends),
            }
        result["client"]["enqueue_ns"] = list(enqueue_ns.values())
        result["client"]["acked_ns"] = [
            recorder.acked[m] - t for m, t in started["client"].items() if m in recorder.acked
        ]
        return result
    finally:
        for closer in (recorder, stream, raw):
            if closer is not None:
                await closer.close()
        await ann.close()
        await bob.close()


def _ms(values_ns: list[int]) -> dict[str, float]:
    values = [value / 1e6 for value in values_ns]
    return {
        "count": len(values),
        "p50_ms": percentile(values, 50),
        "p90_ms": percentile(values, 90),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values, default=float("nan")),
    }


def run_client_latency(
    messages: int = 300, warmup: int = 20, rate: float = 20.0, block: int = 25
) -> BenchResult:
    """Latency of ChatClient A -> B against raw PUT + SSE, *messages* of each at *rate*/s."""
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        data = Path(tmp)
        server = start_server(data / "server", FAST_SCRYPT, rules=None)
        try:
            raw = asyncio.run(_measure(server, data, messages, warmup, rate, block))
        finally:
            stop_server(server)
    ours = {**_ms(raw["client"]["latencies_ns"]), "missing": raw["client"]["missing"]}
    base = {**_ms(raw["raw"]["latencies_ns"]), "missing": raw["raw"]["missing"]}
    ours["enqueue"] = _ms(raw["client"]["enqueue_ns"])
    ours["acked"] = _ms(raw["client"]["acked_ns"])
    send = {**_ms(raw["raw_send"]["latencies_ns"]), "missing": raw["raw_send"]["missing"]}
    ratio = ours["p99_ms"] / base["p99_ms"]
    complete = (
        not raw["errors"]
        and ours["missing"] == 0
        and base["missing"] == send["missing"] == 0
        and ours["count"] == base["count"] == send["count"] == messages
    )
    figure = f"p99 x{ratio:.2f} (p50 {ours['p50_ms']:.1f} vs {base['p50_ms']:.1f} ms)"
    if not complete:
        lost = ours["missing"] + base["missing"] + send["missing"]
        figure += f" ({lost} missing, {len(raw['errors'])} errors)"
    return BenchResult(
        name=f"Client send->event latency ({rate:g} msg/s)",
        ours=f"p99 {ours['p99_ms']:.2f} ms",
        baseline=f"p99 {base['p99_ms']:.2f} ms raw PUT+SSE",
        figure=figure,
        goal=f"p99 <= {GOAL_P99_RATIO} x baseline",
        passed=complete and ratio <= GOAL_P99_RATIO,
        details={
            "messages": messages,
            "warmup": warmup,
            "rate": rate,
            "block": block,
            "ours": ours,
            "baseline": base,
            "raw_send_patch": send,
            "p99_ratio": ratio,
            "p99_ratio_vs_raw_send_patch": ours["p99_ms"] / send["p99_ms"],
            "errors": raw["errors"][:20],
        },
    )
