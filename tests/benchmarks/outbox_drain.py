"""Benchmark 6: draining a ChatClient outbox of queued messages, against raw sequential PATCHes.

A's client is signed up and its conversation with B opened, but not started (its sender is
paused); *messages* sends are queued straight into its outbox (each one durable, as
``send_message`` does). Then ``start()`` runs the session and the sender: messages per second
until the last is sent. The baseline is the server's raw write rate for the same multi-path
send PATCH, issued one after another by one bare aiohttp client as A (through the rules), in
a conversation of its own with a third user, measured before the drain. Reported, no goal.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from desktop_chat.core import writes
from tests.benchmarks.chat_users import FAST_SCRYPT, TEXT, RawUser, signed_up
from tests.benchmarks.harness import OWNER_HEADERS, BenchResult, start_server, stop_server
from tests.support.server import ServerProcess


def _stored(server: ServerProcess, cid: str) -> int:
    response = requests.get(
        f"{server.url}/conversations/{cid}/messages.json",
        params={"ns": server.namespace, "shallow": "true"},
        headers=OWNER_HEADERS,
        timeout=60,
    )
    response.raise_for_status()
    return len(response.json() or {})


async def _measure(
    server: ServerProcess, data: Path, messages: int, baseline_messages: int
) -> dict[str, Any]:
    ann = await signed_up(server, data / "ann", "ann", "student", start=False)
    bob = await signed_up(server, data / "bob", "bob", "provider", start=False)
    cat = await signed_up(server, data / "cat", "cat", "provider", start=False)
    raw: RawUser | None = None
    try:
        assert ann.uid is not None and bob.uid is not None and cat.uid is not None
        assert ann.me is not None and ann.outbox is not None and ann.sender is not None
        me = ann.me
        # Baseline: the same send PATCH, sequentially, raw, in a conversation of its own.
        side = await ann.open_conversation(cat.uid)
        other = await ann.profile(cat.uid)
        assert other is not None
        raw = RawUser(server, await ann.auth.token())
        for _ in range(20):  # warm-up
            await raw.write("PATCH", "", writes.send_message(me, other, side, raw.ids(), TEXT))
        bodies = [
            writes.send_message(me, other, side, raw.ids(), TEXT) for _ in range(baseline_messages)
        ]
        begun = time.perf_counter()
        for body in bodies:
            await raw.write("PATCH", "", body)
        base_seconds = time.perf_counter() - begun

        # Ours: queue everything with the sender paused, then start and drain.
        cid = await ann.open_conversation(bob.uid)
        receiver = await ann.profile(bob.uid)
        assert receiver is not None
        outbox = ann.outbox

        def enqueue_all() -> None:
            for _ in range(messages):
                mid = outbox.new_id()
                body = writes.send_message(me, receiver, cid, mid, TEXT)
                outbox.enqueue({"id": mid, "cid": cid, "body": body})

        begun = time.perf_counter()
        await asyncio.to_thread(enqueue_all)
        enqueue_seconds = time.perf_counter() - begun
        sender = ann.sender
        begun = time.perf_counter()
        await ann.start()
        deadline = begun + 60 + messages / 20
        while sender.sent < messages:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"drained {sender.sent} of {messages} in time")
            await asyncio.sleep(0.01)
        drain_seconds = time.perf_counter() - begun
        unsent = await asyncio.to_thread(outbox.unsent_count)
    finally:
        if raw is not None:
            await raw.close()
        for client in (ann, bob, cat):
            await client.close()
    stored = await asyncio.to_thread(_stored, server, cid)
    stored_baseline = await asyncio.to_thread(_stored, server, side)
    return {
        "drain_seconds": drain_seconds,
        "enqueue_seconds": enqueue_seconds,
        "baseline_seconds": base_seconds,
        "unsent": unsent,
        "stored": stored,
        "stored_baseline": stored_baseline,
    }


def run_outbox_drain(messages: int = 10_000, baseline_messages: int = 3_000) -> BenchResult:
    """Messages/s draining *messages* queued sends, against raw sequential send PATCHes."""
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        data = Path(tmp)
        server = start_server(data / "server", FAST_SCRYPT, rules=None)
        try:
            raw = asyncio.run(_measure(server, data, messages, baseline_messages))
        finally:
            stop_server(server)
    ours = messages / raw["drain_seconds"]
    base = baseline_messages / raw["baseline_seconds"]
    ratio = ours / base
    complete = (
        raw["unsent"] == 0
        and raw["stored"] == messages
        and raw["stored_baseline"] == baseline_messages + 20
    )
    figure = f"ratio {ratio:.2f} (reported)"
    if not complete:
        figure += f" (stored {raw['stored']}/{messages}, {raw['unsent']} unsent)"
    return BenchResult(
        name=f"Outbox drain ({messages:,} msgs)",
        ours=f"{ours:,.0f} msg/s",
        baseline=f"{base:,.0f} PATCH/s raw sequential",
        figure=figure,
        goal="report",
        passed=complete,
        details={
            "messages": messages,
            "baseline_messages": baseline_messages,
            "per_second": ours,
            "baseline_per_second": base,
            "ratio": ratio,
            "enqueue_per_second": messages / raw["enqueue_seconds"],
            **raw,
        },
    )
