"""Each benchmark runs in a tiny configuration and yields numbers (no timing assertions)."""

from __future__ import annotations

import math
import shutil

import pytest

from tests.benchmarks.__main__ import format_table
from tests.benchmarks.client_latency import run_client_latency
from tests.benchmarks.cold_start import run_cold_start
from tests.benchmarks.fanout import run_fanout
from tests.benchmarks.harness import BenchResult
from tests.benchmarks.idle_memory import run_idle_memory
from tests.benchmarks.outbox_drain import run_outbox_drain
from tests.benchmarks.put_throughput import run_put_throughput
from tests.benchmarks.realtime_fanout import run_realtime_fanout, run_realtime_nodes
from tests.benchmarks.rules_throughput import run_rules
from tests.benchmarks.typing_latency import run_typing_latency
from tests.benchmarks.ui_cold_start import run_ui_cold_start
from tests.benchmarks.ui_memory import run_ui_memory
from tests.benchmarks.ui_open_conversation import run_ui_open_conversation
from tests.benchmarks.ui_stall import run_ui_stall


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _check_row(result: BenchResult) -> None:
    assert result.name and result.ours and result.baseline and result.figure and result.goal
    assert "error" not in result.details
    assert format_table([result]).count("\n") == 2


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_put_throughput_smoke() -> None:
    result = run_put_throughput(seconds=1, connections=8, threads=1, baseline_seconds=0.2)
    _check_row(result)
    details = result.details
    assert details["ours"]["ok"] > 0 and details["errors"] == 0 and details["stored_ok"]
    assert details["baseline"]["rows"] > 0
    assert _finite(details["ratio"]) and details["ratio"] > 0


def test_fanout_smoke() -> None:
    result = run_fanout(listeners=10, messages=20, warmup=2, gap=0.001)
    _check_row(result)
    for side in ("ours", "baseline"):
        stats = result.details[side]
        assert stats["deliveries"] == 200 and stats["missing"] == 0 and not stats["errors"]
        assert _finite(stats["p50_ms"]) and _finite(stats["p99_ms"])
    assert _finite(result.details["p99_ratio"])


def test_idle_memory_smoke() -> None:
    result = run_idle_memory(streams=20)
    _check_row(result)
    for side in ("ours", "baseline"):
        figures = result.details[side]
        assert figures["streams"] == 20
        assert figures["rss_before"] > 0 and figures["rss_after"] > 0
        assert _finite(figures["bytes_per_stream"])


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_rules_smoke() -> None:
    result = run_rules(seconds=1, connections=4, threads=1, users=2)
    _check_row(result)
    details = result.details
    assert details["problems"] == [] and details["senders"] == 2
    for side in ("off", "full"):
        for mode in ("create", "send"):
            run = details["runs"][side][mode]
            assert run["ok"] > 0 and run["errors"] == 0
    assert _finite(details["ratio"]) and details["ratio"] > 0
    assert _finite(details["send_ratio"]) and details["send_ratio"] > 0


def test_client_latency_smoke() -> None:
    result = run_client_latency(messages=6, warmup=2, rate=100, block=3)
    _check_row(result)
    details = result.details
    assert details["errors"] == []
    for side in ("ours", "baseline", "raw_send_patch"):
        stats = details[side]
        assert stats["count"] == 6 and stats["missing"] == 0
        assert _finite(stats["p50_ms"]) and _finite(stats["p99_ms"])
    assert _finite(details["p99_ratio"])


def test_outbox_drain_smoke() -> None:
    result = run_outbox_drain(messages=30, baseline_messages=20)
    _check_row(result)
    details = result.details
    assert details["unsent"] == 0 and details["stored"] == 30 and result.passed
    assert _finite(details["per_second"]) and _finite(details["baseline_per_second"])
    assert _finite(details["ratio"]) and details["ratio"] > 0


def test_cold_start_smoke() -> None:
    result = run_cold_start(conversations=5, messages=200, runs=2)
    _check_row(result)
    assert result.passed and result.details["listed"] == [5, 5]
    assert _finite(result.details["median_ms"])


def test_realtime_fanout_smoke() -> None:
    result = run_realtime_fanout(receivers=5, senders=1, seconds=0.5, warmup=0.2)
    _check_row(result)
    for side in ("ours", "baseline"):
        assert result.details[side]["delivered"] > 0 and result.details[side]["refused"] == 0
    assert _finite(result.details["ratio"])


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_realtime_nodes_smoke() -> None:
    result = run_realtime_nodes(receivers=4, senders=2, seconds=0.5, warmup=0.2)
    _check_row(result)
    for side in ("two_nodes", "one_node"):
        assert result.details[side]["delivered"] > 0 and result.details[side]["refused"] == 0


def test_typing_latency_smoke() -> None:
    result = run_typing_latency(rounds=5, warmup=1)
    _check_row(result)
    assert result.passed and _finite(result.details["start"]["p99_ms"])


def test_ui_cold_start_smoke() -> None:
    result = run_ui_cold_start(conversations=5, messages=50, runs=1)
    _check_row(result)
    details = result.details
    assert [run["rows"] for run in details["app"]] == [5]
    assert [run["loaded_early"] for run in details["app"]] == [[]]  # network stack after paint
    assert _finite(details["median_ms"]) and _finite(details["baseline_median_ms"])
    assert _finite(details["ratio"]) and details["ratio"] > 0


def test_ui_open_conversation_smoke() -> None:
    result = run_ui_open_conversation(conversations=3, messages=200, reopens=1)
    _check_row(result)
    details = result.details
    assert result.passed and details["rows_shown"] > 0
    assert _finite(details["first_ms"]) and _finite(details["again_median_ms"])
    assert len(details["small_ms"]) == 1


def test_ui_stall_smoke() -> None:
    result = run_ui_stall(rate=50, seconds=0.4, warmup=0.2, conversations=3, messages=100)
    _check_row(result)
    ours, base = result.details["ours"], result.details["baseline"]
    assert ours["rows_added"] == 30 and ours["delivered"] == base["delivered"] == 20
    for side in (ours, base):
        assert side["ticks"] > 0 and _finite(side["p99_ms"]) and _finite(side["deliver_p99_ms"])
    assert _finite(result.details["p99_ratio"])


def test_ui_memory_smoke() -> None:
    result = run_ui_memory(conversations=3, messages=300)
    _check_row(result)
    details = result.details
    assert details["rows"] == 300 and details["pages"] > 0
    assert details["rss_bytes"] > 0 and details["baseline_rss_bytes"] > 0
