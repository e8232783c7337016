"""Benchmark 2: write-to-delivery latency for 100 stream listeners, against bare aiohttp SSE."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks.harness import (
    BenchResult,
    Child,
    percentile,
    raise_nofile_limit,
    start_server,
    stop_server,
)

GOAL_P99_RATIO = 1.5


def _stats(raw: dict[str, Any]) -> dict[str, Any]:
    latencies = [value / 1e6 for value in raw["latencies_ns"]]
    acks = [value / 1e6 for value in raw["acks_ns"]]
    return {
        "deliveries": len(latencies),
        "missing": raw["missing"],
        "errors": raw["errors"],
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=float("nan")),
        "mean_ms": sum(latencies) / len(latencies) if latencies else float("nan"),
        "ack_p50_ms": percentile(acks, 50),
        "ack_p99_ms": percentile(acks, 99),
    }


def run_fanout(
    listeners: int = 100, messages: int = 300, warmup: int = 20, gap: float = 0.005
) -> BenchResult:
    """Alternate single writes to our server and to the bare baseline; compare delivery p99."""
    raise_nofile_limit(2 * listeners + 256)
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        server = start_server(Path(tmp) / "data", ["--keep-alive", "30"])
        baseline = Child("tests.benchmarks.sse_baseline", ["--port", "0", "--keep-alive", "30"])
        try:
            baseline_url = f"http://127.0.0.1:{baseline.wait_listening()}"
            client = Child(
                "tests.benchmarks.sse_client",
                [
                    "fanout",
                    "--target",
                    f"ours={server.url}",
                    "--target",
                    f"baseline={baseline_url}",
                    "--listeners",
                    str(listeners),
                    "--messages",
                    str(messages),
                    "--warmup",
                    str(warmup),
                    "--gap",
                    str(gap),
                ],
            )
            try:
                raw = client.read_json(timeout=60 + (messages + warmup) * 0.5)
            finally:
                client.stop()
        finally:
            baseline.stop()
            stop_server(server)
    ours, base = _stats(raw["ours"]), _stats(raw["baseline"])
    ratio = ours["p99_ms"] / base["p99_ms"]
    complete = all(
        stats["missing"] == 0
        and not stats["errors"]
        and stats["deliveries"] == messages * listeners
        for stats in (ours, base)
    )
    figure = f"p99 x{ratio:.2f} (p50 {ours['p50_ms']:.1f} vs {base['p50_ms']:.1f} ms)"
    if not complete:
        figure += f" ({ours['missing'] + base['missing']} missing)"
    return BenchResult(
        name=f"Fan-out p99 latency ({listeners} listeners)",
        ours=f"{ours['p99_ms']:.2f} ms",
        baseline=f"{base['p99_ms']:.2f} ms bare aiohttp SSE",
        figure=figure,
        goal=f"p99 <= {GOAL_P99_RATIO} x baseline",
        passed=complete and ratio <= GOAL_P99_RATIO,
        details={
            "listeners": listeners,
            "messages": messages,
            "warmup": warmup,
            "gap_s": gap,
            "ours": ours,
            "baseline": base,
            "p99_ratio": ratio,
        },
    )
