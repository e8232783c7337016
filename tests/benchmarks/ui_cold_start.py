"""Benchmark 11: the desktop app's cold start to its first painted conversation list.

A data dir where ``desktop-chat`` starts signed in (``account.json``, a refresh token in a file
keychain, a prefilled cache of *conversations* conversations holding *messages* messages) is
built once; the server it is configured to use is down (a closed port), so nothing waits on
the network. Each run starts the real app (``desktop_chat.app.main``, its real MainWindow) in a
fresh offscreen process and times from the spawn to the end of the first paint of the
conversation list with rows in it. The baseline is a bare PySide6 QMainWindow shown, painted and
closed in a fresh process the same way; the two alternate, and the medians of *runs* compare.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks.harness import BenchResult
from tests.benchmarks.ui_support import (
    app_env,
    bare_env,
    build_app_data,
    closed_port,
    event,
    median,
    run_child,
)

GOAL_RATIO = 3.0


def run_ui_cold_start(
    conversations: int = 200, messages: int = 100_000, runs: int = 5
) -> BenchResult:
    """Median spawn -> first painted list of the app against a bare window's first paint."""
    app_runs: list[dict[str, Any]] = []
    bare_runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ui-cold-") as tmp:
        data = build_app_data(Path(tmp), conversations, messages)
        config = {"env": app_env(data.root, closed_port()), "actions": []}
        for _ in range(runs):
            app_runs.append(event(run_child("app", config), "list_painted"))
            bare_runs.append(event(run_child("bare-window", {"env": bare_env()}), "painted"))
    ours = median([run["since_spawn_ms"] for run in app_runs])
    base = median([run["since_spawn_ms"] for run in bare_runs])
    ratio = ours / base
    complete = all(run["rows"] == conversations for run in app_runs)
    figure = f"x{ratio:.2f} (median of {runs})"
    if not complete:
        figure += f" (listed {min(run['rows'] for run in app_runs)}/{conversations})"
    return BenchResult(
        name=f"UI cold start ({conversations} convs, {messages:,} msgs)",
        ours=f"{ours:.0f} ms",
        baseline=f"{base:.0f} ms bare QMainWindow",
        figure=figure,
        goal=f"<= {GOAL_RATIO:g} x bare window",
        passed=complete and ratio <= GOAL_RATIO,
        details={
            "conversations": conversations,
            "messages": messages,
            "runs": runs,
            "build_seconds": data.build_seconds,
            "median_ms": ours,
            "baseline_median_ms": base,
            "ratio": ratio,
            "in_script_median_ms": median([run["in_script_ms"] for run in app_runs]),
            "baseline_in_script_median_ms": median([run["in_script_ms"] for run in bare_runs]),
            "app": app_runs,
            "baseline": bare_runs,
        },
    )
