"""Benchmark 5: ChatClient send-to-receive latency, against raw aiohttp through the same server.

Client A's ``send_message`` to client B's ``MessageAdded`` event, paced at ``rate`` messages
per second, is compared with a baseline run against the same server at the same pace: a bare
aiohttp ``PUT`` of a comparable message create as A (with A's ID token, through the shipped
rules) and its arrival on a bare SSE stream of the conversation's messages held by B (B's
token, the same ``orderBy timestamp, limitToLast`` query the client streams). As in life, the
receiving side (B's client and the bare stream) runs in a process of its own
(:mod:`tests.benchmarks.latency_receiver`); the sending side (A's client and the bare
requests) runs here. The modes alternate in blocks, so all see the same machine load; every
stream stays open and receives every message throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.events import DeliveryStateChanged
from desktop_chat.core import writes
from desktop_chat.core.model import DeliveryState
from tests.benchmarks.chat_users import FAST_SCRYPT, TEXT, RawUser, message_record, signed_up
from tests.benchmarks.harness import BenchResult, percentile, start_server, stop_server
from tests.support.server import ServerProcess

GOAL_P99_RATIO = 1.5
MODES = ("client", "raw", "raw_send")
"""``raw_send``: the client's own multi-path send PATCH, issued raw (reported, not the goal)."""
REPO = Path(__file__).resolve().parents[2]


class Receiver:
    """The receiving process (:mod:`tests.benchmarks.latency_receiver`)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, server: ServerProcess, cid: str, data_dir: Path, email: str) -> Receiver:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.benchmarks.latency_receiver",
            server.url,
            server.namespace,
            cid,
            str(data_dir),
            email,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
            limit=1 << 24,  # (the answer is one long line)
        )
        receiver = cls(process)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if line.strip() != b"ready":
            await receiver.close()
            raise RuntimeError(f"the receiver did not start: {line!r}")
        return receiver

    async def arrivals(self, added: list[str], raw: list[str]) -> dict[str, dict[str, int]]:
        """When B's client announced each of *added* and the bare stream showed each of *raw*
        (those that arrived within the receiver's wait)."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(orjson.dumps({"added": added, "raw": raw}) + b"\n")
        await stdin.drain()
        line = await asyncio.wait_for(stdout.readline(), 90)
        found: dict[str, dict[str, int]] = orjson.loads(line)
        return found

    async def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self.process.returncode is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.process.wait(), 30)
                if self.process.returncode is None:
                    self.process.kill()
                    await self.process.wait()


class Acks:
    """A's SENT times, by message id."""

    def __init__(self, sender: ChatClient) -> None:
        self.acked: dict[str, int] = {}
        self._task = asyncio.create_task(self._acks(sender))

    async def _acks(self, client: ChatClient) -> None:
        async for event in client.events():
            if isinstance(event, DeliveryStateChanged) and event.state is DeliveryState.SENT:
                self.acked.setdefault(event.message_id, time.time_ns())

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


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
    bob = await signed_up(server, data / "bob", "bob", "provider", start=False)
    raw: RawUser | None = None
    receiver: Receiver | None = None
    acks: Acks | None = None
    try:
        assert ann.uid is not None and bob.uid is not None and ann.me is not None
        cid = await ann.open_conversation(bob.uid)
        bob_profile = await ann.profile(bob.uid)
        assert bob_profile is not None
        await bob.close()  # B lives in the receiving process
        receiver = await Receiver.start(server, cid, data / "bob-receiving", "bob@example.com")
        ann.select_conversation(cid)
        await _until(lambda: ann.connected, 30)
        raw = RawUser(server, await ann.auth.token())
        acks = Acks(ann)
        started: dict[str, dict[str, int]] = {mode: {} for mode in MODES}
        enqueue_ns: dict[str, int] = {}
        tasks: set[asyncio.Task[None]] = set()
        errors: list[str] = []
        uid, other, me = ann.uid, bob_profile.uid, ann.me

        async def send_client(record: bool) -> None:
            begun = time.time_ns()
            mid = await ann.send_message(cid, TEXT)
            if record:
                started["client"][mid] = begun
                enqueue_ns[mid] = time.time_ns() - begun

        async def send_raw(record: bool) -> None:
            assert raw is not None
            mid = raw.ids()
            if record:
                started["raw"][mid] = time.time_ns()
            path = f"conversations/{cid}/messages/{mid}"
            await raw.write("PUT", path, message_record(uid, other))

        async def send_raw_patch(record: bool) -> None:
            assert raw is not None
            mid = raw.ids()
            body = writes.send_message(me, bob_profile, cid, mid, TEXT)
            if record:
                started["raw_send"][mid] = time.time_ns()
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

        found = await receiver.arrivals(
            list(started["client"]), [m for mode in MODES[1:] for m in started[mode]]
        )
        result: dict[str, Any] = {"errors": errors}
        for mode in MODES:
            sends = started[mode]
            arrivals = found["added"] if mode == "client" else found["raw"]
            result[mode] = {
                "latencies_ns": [arrivals[m] - t for m, t in sends.items() if m in arrivals],
                "missing": sum(m not in arrivals for m in sends),
            }
        # The client's messages on the bare stream too: A's side (and the server) apart from B's.
        result["client"]["to_raw_stream_ns"] = [
            found["raw"][m] - t for m, t in started["client"].items() if m in found["raw"]
        ]
        result["client"]["enqueue_ns"] = list(enqueue_ns.values())
        result["client"]["acked_ns"] = [
            acks.acked[m] - t for m, t in started["client"].items() if m in acks.acked
        ]
        return result
    finally:
        for closer in (acks, raw, receiver):
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
    messages: int = 600, warmup: int = 20, rate: float = 20.0, block: int = 25
) -> BenchResult:
    """Latency of ChatClient A -> B against raw PUT + SSE, *messages* of each at *rate*/s.

    600 of each: the p99 of 300 is the third-worst message, which the machine's scheduling
    noise alone moved by a third between runs (the baseline's own p99 2.7-5.8 ms)."""
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
    ours["to_raw_stream"] = _ms(raw["client"]["to_raw_stream_ns"])
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
