"""Run every benchmark, print a results table and write bench-results/latest.json."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import orjson

from tests.benchmarks.client_latency import GOAL_P99_RATIO as CLIENT_GOAL_P99_RATIO
from tests.benchmarks.client_latency import run_client_latency
from tests.benchmarks.cold_start import run_cold_start
from tests.benchmarks.fanout import GOAL_P99_RATIO, run_fanout
from tests.benchmarks.harness import REPO_ROOT, BenchResult, kill_everything, raise_nofile_limit
from tests.benchmarks.idle_memory import GOAL_BYTES_PER_STREAM, run_idle_memory
from tests.benchmarks.outbox_drain import run_outbox_drain
from tests.benchmarks.put_throughput import GOAL_RATIO, run_put_throughput
from tests.benchmarks.realtime_fanout import (
    GOAL_NODES_RATIO,
    run_realtime_fanout,
    run_realtime_nodes,
)
from tests.benchmarks.realtime_fanout import GOAL_RATIO as SIO_GOAL_RATIO
from tests.benchmarks.rules_throughput import GOAL_RATIO as RULES_GOAL_RATIO
from tests.benchmarks.rules_throughput import run_rules
from tests.benchmarks.typing_latency import run_typing_latency
from tests.benchmarks.ui_cold_start import GOAL_RATIO as UI_COLD_GOAL_RATIO
from tests.benchmarks.ui_cold_start import run_ui_cold_start
from tests.benchmarks.ui_memory import GOAL_BYTES as UI_GOAL_BYTES
from tests.benchmarks.ui_memory import run_ui_memory
from tests.benchmarks.ui_open_conversation import run_ui_open_conversation
from tests.benchmarks.ui_stall import GOAL_P99_MS as UI_STALL_GOAL_MS
from tests.benchmarks.ui_stall import GOAL_P99_RATIO as UI_STALL_GOAL_RATIO
from tests.benchmarks.ui_stall import run_ui_stall

BUDGET_SECONDS = 600
BENCHMARKS: dict[str, tuple[str, str, Callable[[], BenchResult]]] = {
    "put": ("PUT throughput", f">= {GOAL_RATIO}", run_put_throughput),
    "fanout": ("Fan-out p99 latency", f"p99 <= {GOAL_P99_RATIO} x baseline", run_fanout),
    "memory": (
        "Memory per idle stream",
        f"<= {GOAL_BYTES_PER_STREAM // 1024} KB/stream",
        run_idle_memory,
    ),
    "rules": ("Rules write throughput", f">= {RULES_GOAL_RATIO}", run_rules),
    "client_latency": (
        "Client send->event latency",
        f"p99 <= {CLIENT_GOAL_P99_RATIO} x baseline",
        run_client_latency,
    ),
    "outbox_drain": ("Outbox drain", "report", run_outbox_drain),
    "cold_start": ("Cold start", "report (ms)", run_cold_start),
    "sio_fanout": ("Socket.IO typing fan-out", f">= {SIO_GOAL_RATIO}", run_realtime_fanout),
    "sio_nodes": ("Socket.IO two nodes + Redis", f">= {GOAL_NODES_RATIO}", run_realtime_nodes),
    "typing": ("Typing end to end", "report (ms)", run_typing_latency),
    "ui_cold_start": (
        "UI cold start",
        f"<= {UI_COLD_GOAL_RATIO:g} x bare window",
        run_ui_cold_start,
    ),
    "ui_open_conversation": ("UI open conversation", "report (ms)", run_ui_open_conversation),
    "ui_stall": (
        "UI stalls",
        f"p99 <= {UI_STALL_GOAL_MS:g} ms and <= {UI_STALL_GOAL_RATIO:g} x baseline",
        run_ui_stall,
    ),
    "ui_memory": ("UI memory", f"< {UI_GOAL_BYTES >> 20} MB", run_ui_memory),
}
COLUMNS = ("benchmark", "ours", "baseline", "ratio/figure", "goal", "pass/FAIL")


class OutOfTime(BaseException):
    """The whole run took longer than its budget."""


def _out_of_time(signum: int, frame: FrameType | None) -> None:
    raise OutOfTime(f"benchmarks exceeded {BUDGET_SECONDS} s")


def format_table(results: list[BenchResult]) -> str:
    rows = [COLUMNS] + [
        (r.name, r.ours, r.baseline, r.figure, r.goal, "pass" if r.passed else "FAIL")
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def _failed(name: str, goal: str, error: BaseException) -> BenchResult:
    return BenchResult(
        name=name,
        ours="error",
        baseline="-",
        figure=f"{type(error).__name__}: {error}".splitlines()[0][:80],
        goal=goal,
        passed=False,
        details={"error": "".join(traceback.format_exception(error))},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__)
    parser.add_argument(
        "--only", action="append", choices=sorted(BENCHMARKS), help="run just these (repeatable)"
    )
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "bench-results" / "latest.json")
    args = parser.parse_args(argv)
    raise_nofile_limit(4096)  # before any server starts: children inherit the soft limit
    previous = signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(BUDGET_SECONDS)
    started = time.monotonic()
    results: list[BenchResult] = []
    try:
        for key in args.only or list(BENCHMARKS):
            name, goal, run = BENCHMARKS[key]
            print(f"running {name} ...", file=sys.stderr, flush=True)
            begun = time.monotonic()
            try:
                result = run()
            except OutOfTime as exc:
                results.append(_failed(name, goal, exc))
                break
            except Exception as exc:
                result = _failed(name, goal, exc)
                print(result.details["error"], file=sys.stderr)
            result.details["seconds"] = round(time.monotonic() - begun, 1)
            results.append(result)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        kill_everything()
    print(format_table(results))
    passed = bool(results) and all(result.passed for result in results)
    report = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "all_passed": passed,
        "results": [result.as_json() for result in results],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"wrote {args.output}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
