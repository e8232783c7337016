"""Benchmark 3: server RSS per idle open stream, ours and a bare aiohttp SSE server."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from tests.benchmarks.harness import (
    OWNER_HEADERS,
    BenchResult,
    Child,
    raise_nofile_limit,
    rss_bytes,
    start_server,
    stop_server,
)

GOAL_BYTES_PER_STREAM = 50 * 1024
WARMUP_STREAMS = 20
IDLE_VALUE = {"hello": "world", "members": {"alice": True, "bob": True}}


def _open_idle(url: str, streams: int) -> tuple[Child, dict[str, Any]]:
    client = Child("tests.benchmarks.sse_client", ["idle", "--url", url, "--streams", str(streams)])
    try:
        report = client.read_json(timeout=120)
    except BaseException:
        client.stop()
        raise
    if report["ready"] != streams:
        client.stop()
        raise RuntimeError(f"only {report['ready']} of {streams} streams opened: {report}")
    return client, report


def _rss_settled(pid: int, settle: float) -> int:
    """RSS after *settle* seconds, the last of a few samples."""
    samples = []
    for _ in range(3):
        time.sleep(settle / 3)
        samples.append(rss_bytes(pid))
    return samples[-1]


def measure_streams(pid: int, url: str, streams: int, settle: float = 1.0) -> dict[str, Any]:
    """RSS of *pid* after a warm-up with no streams open, and with *streams* idle streams open."""
    warm, _ = _open_idle(url, min(WARMUP_STREAMS, streams))
    warm.stop()
    before = _rss_settled(pid, settle)
    client, report = _open_idle(url, streams)
    try:
        after = _rss_settled(pid, settle)
    finally:
        client.stop()
    return {
        "streams": streams,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_stream": (after - before) / streams,
        "open_seconds": report["seconds"],
    }


def run_idle_memory(streams: int = 1000) -> BenchResult:
    """Bytes of server RSS per idle stream that has received its first put."""
    raise_nofile_limit(streams + 512)  # before spawning: the servers inherit the soft limit
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        server = start_server(Path(tmp) / "data", ["--keep-alive", "30"])
        try:
            requests.put(
                f"{server.url}/idle.json", json=IDLE_VALUE, headers=OWNER_HEADERS, timeout=10
            ).raise_for_status()
            requests.get(f"{server.url}/idle.json", headers=OWNER_HEADERS, timeout=10)
            assert server.proc is not None
            ours = measure_streams(server.proc.pid, f"{server.url}/idle.json", streams)
        finally:
            stop_server(server)
    baseline_server = Child("tests.benchmarks.sse_baseline", ["--port", "0", "--keep-alive", "30"])
    try:
        url = f"http://127.0.0.1:{baseline_server.wait_listening()}/idle.json"
        base = measure_streams(baseline_server.pid, url, streams)
    finally:
        baseline_server.stop()
    per_stream = ours["bytes_per_stream"]
    return BenchResult(
        name=f"Memory per idle stream ({streams} streams)",
        ours=f"{per_stream / 1024:.1f} KB/stream",
        baseline=f"{base['bytes_per_stream'] / 1024:.1f} KB/stream bare aiohttp SSE",
        figure=f"{per_stream / 1024:.1f} KB/stream (RSS {ours['rss_before'] / 2**20:.1f}"
        f" -> {ours['rss_after'] / 2**20:.1f} MB)",
        goal=f"<= {GOAL_BYTES_PER_STREAM // 1024} KB/stream",
        passed=per_stream <= GOAL_BYTES_PER_STREAM,
        details={"ours": ours, "baseline": base},
    )
