"""Benchmark 1: acknowledged single-leaf PUTs per second (wrk) against raw sqlite3 commits."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import requests

from tests.benchmarks.harness import (
    OWNER_HEADERS,
    BenchResult,
    run_wrk,
    start_server,
    stop_server,
    wrk_errors,
)

LUA_SCRIPT = Path(__file__).with_name("put.lua")
GOAL_RATIO = 0.15


def sqlite_baseline(directory: Path, seconds: float) -> dict[str, Any]:
    """Rows per second with raw sqlite3: WAL, synchronous=NORMAL, one commit per row."""
    directory.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(directory / "baseline.sqlite3")
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE nodes (path TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID"
        )
        conn.commit()
        sql = (
            "INSERT INTO nodes (path, value) VALUES (?, ?) "
            "ON CONFLICT(path) DO UPDATE SET value = excluded.value"
        )
        rows = 0
        start = time.perf_counter()
        elapsed = 0.0
        while elapsed < seconds:
            for _ in range(100):
                rows += 1
                conn.execute(sql, (f"bench/t0_{rows}", orjson.dumps(rows)))
                conn.commit()
            elapsed = time.perf_counter() - start
        stored = conn.execute("SELECT count(*) FROM nodes").fetchone()[0]
    finally:
        conn.close()
    return {"rows": rows, "stored": stored, "seconds": elapsed, "per_second": rows / elapsed}


def run_put_throughput(
    seconds: float = 10.0,
    connections: int = 64,
    threads: int = 2,
    baseline_seconds: float = 3.0,
) -> BenchResult:
    """Our server's acknowledged PUTs per second over HTTP, as a ratio of raw sqlite3 commits.

    The machine is noisy, so the baseline runs twice (before and after wrk) and the faster run
    counts: the ratio errs against our server, never for it.
    """
    with tempfile.TemporaryDirectory(prefix="bench-put-") as tmp:
        directory = Path(tmp)
        runs = [sqlite_baseline(directory / "before", baseline_seconds)]
        server = start_server(directory / "data")
        try:
            for n in range(20):  # warm-up: import paths, create /bench, prime the connection
                response = requests.put(
                    f"{server.url}/warmup/{n}.json", data=b"1", headers=OWNER_HEADERS, timeout=10
                )
                response.raise_for_status()
            ours = run_wrk(server.url, seconds, connections, threads, LUA_SCRIPT)
            check = requests.get(
                f"{server.url}/bench.json",
                params={"shallow": "true"},
                headers=OWNER_HEADERS,
                timeout=30,
            )
            stored = len(check.json() or {}) if check.status_code == 200 else 0
            stored_ok = stored >= ours["ok"]  # every acknowledged PUT is there
        finally:
            stop_server(server)
        runs.append(sqlite_baseline(directory / "after", baseline_seconds))
    baseline = max(runs, key=lambda run: float(run["per_second"]))
    errors = wrk_errors(ours)
    ratio = ours["per_second"] / baseline["per_second"]
    clean = errors == 0 and stored_ok and ours["ok"] > 0
    figure = f"ratio {ratio:.3f}"
    if not clean:
        figure += f" ({errors} errors{'' if stored_ok else ', data missing'})"
    return BenchResult(
        name=f"PUT throughput (wrk {threads}t/{connections}c)",
        ours=f"{ours['per_second']:,.0f} PUT/s",
        baseline=f"{baseline['per_second']:,.0f} rows/s sqlite3",
        figure=figure,
        goal=f">= {GOAL_RATIO}",
        passed=clean and ratio >= GOAL_RATIO,
        details={
            "ours": {key: value for key, value in ours.items() if key != "wrk_output"},
            "wrk_output": ours["wrk_output"],
            "baseline": baseline,
            "baseline_runs_per_second": [run["per_second"] for run in runs],
            "ratio": ratio,
            "errors": errors,
            "stored_leaves": stored,
            "stored_ok": stored_ok,
        },
    )
