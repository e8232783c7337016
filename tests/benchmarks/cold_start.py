"""Benchmark 7: ChatClient cold start from a big cache to its conversation list, offline.

A cache of *conversations* conversations and *messages* messages (plus their profiles) is
built directly through LocalCache, and ``account.json`` names its account. Each run then
times ``ChatClient.create(...)`` (the cache and outbox opened, their integrity checked) until
``conversations()`` returns every entry, with the configured server unreachable (a closed
port): nothing waits on the network. The median of *runs* is reported (the file is in the
OS page cache after the build: a warm start). No goal is set.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from desktop_chat.client.cache import LocalCache
from desktop_chat.client.chat_client import ACCOUNT_FILE
from desktop_chat.core.model import (
    ConversationEntry,
    Message,
    MessageType,
    Role,
    UserProfile,
    conversation_id,
)
from tests.benchmarks.chat_users import TEXT, backend, new_client
from tests.benchmarks.harness import BenchResult

ME = "benchMe0000000000000000000001"
CHUNK = 10_000


def build_cache(directory: Path, conversations: int, messages: int) -> None:
    """The account's cache: *conversations* entries sharing *messages* messages evenly."""
    others = [f"benchOther{n:018d}" for n in range(conversations)]
    cids = [conversation_id(ME, other) for other in others]
    base = 1_700_000_000_000
    with LocalCache(directory) as cache:
        cache.upsert_users(
            [UserProfile(ME, "Me", Role.STUDENT)]
            + [UserProfile(o, f"Tutor {n}", Role.PROVIDER) for n, o in enumerate(others)]
        )
        batch: list[Message] = []
        for n in range(messages):
            at = n % conversations
            mine = n % 2 == 0
            sender, receiver = (ME, others[at]) if mine else (others[at], ME)
            batch.append(
                Message(
                    f"m{n:019d}",
                    cids[at],
                    sender,
                    receiver,
                    TEXT,
                    base + n,
                    not mine,
                    MessageType.TEXT,
                )
            )
            if len(batch) >= CHUNK:
                cache.upsert_messages(batch)
                batch = []
        cache.upsert_messages(batch)
        cache.upsert_conversations(
            ConversationEntry(
                cid, other, f"Tutor {n}", None, TEXT, base + messages - conversations + n, n % 3
            )
            for n, (cid, other) in enumerate(zip(cids, others, strict=True))
        )
    (directory.parent / ACCOUNT_FILE).write_bytes(orjson.dumps({"uid": ME}))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _start_once(data_dir: Path, port: int) -> tuple[float, int]:
    begun = time.perf_counter()
    client = await new_client(backend(f"http://127.0.0.1:{port}", "bench-ns"), data_dir)
    try:
        entries = await client.conversations()
        elapsed = time.perf_counter() - begun
    finally:
        await client.close()
    return elapsed * 1000, len(entries)


def run_cold_start(conversations: int = 200, messages: int = 100_000, runs: int = 5) -> BenchResult:
    """Median ms from ChatClient.create to conversations() over a big cache, offline."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        data_dir = Path(tmp)
        begun = time.perf_counter()
        build_cache(data_dir / ME, conversations, messages)
        build_seconds = time.perf_counter() - begun
        port = _closed_port()
        timings: list[float] = []
        counts: list[int] = []
        for _ in range(runs):
            ms, count = asyncio.run(_start_once(data_dir, port))
            timings.append(ms)
            counts.append(count)
        cache_bytes = sum(f.stat().st_size for f in (data_dir / ME).iterdir())
    median = statistics.median(timings)
    complete = all(count == conversations for count in counts)
    figure = f"{median:.0f} ms median of {runs}"
    if not complete:
        figure += f" (listed {min(counts)}/{conversations})"
    return BenchResult(
        name=f"Cold start ({conversations} convs, {messages:,} msgs)",
        ours=f"{median:.0f} ms",
        baseline="-",
        figure=figure,
        goal="report (ms)",
        passed=complete,
        details={
            "conversations": conversations,
            "messages": messages,
            "runs_ms": timings,
            "median_ms": median,
            "min_ms": min(timings),
            "listed": counts,
            "build_seconds": build_seconds,
            "cache_bytes": cache_bytes,
        },
    )
