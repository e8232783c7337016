"""Benchmark 12: opening a conversation of 100,000 cached messages in the desktop app.

The real app starts signed in over a prefilled cache (its server down, see ui_cold_start);
once its conversation list is painted, ``MainWindow.open_conversation`` opens the conversation
holding *messages* messages, and the time to the end of the first paint of its history with
rows in it is reported. Then it is opened *reopens* more times, each after opening a small
conversation (every open is a real one: the history is read again from the cache).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.benchmarks.harness import BenchResult
from tests.benchmarks.ui_support import (
    app_env,
    build_app_data,
    closed_port,
    event,
    median,
    run_child,
)


def run_ui_open_conversation(
    conversations: int = 200, messages: int = 100_000, reopens: int = 5
) -> BenchResult:
    """ms from the open call to the first painted history of a big conversation."""
    with tempfile.TemporaryDirectory(prefix="bench-ui-open-") as tmp:
        data = build_app_data(Path(tmp), conversations, messages)
        config = {
            "env": app_env(data.root, closed_port()),
            "actions": ["open"],
            "big_cid": data.big_cid,
            "small_cid": data.small_cid,
            "reopens": reopens,
        }
        opened = event(run_child("app", config), "opened")
    first, again = opened["first_ms"], median(opened["again_ms"])
    figure = f"first {first:.1f} ms"
    if opened["again_ms"]:
        figure += f", again {again:.1f} ms (median of {reopens})"
    return BenchResult(
        name=f"UI open conversation ({messages:,} msgs)",
        ours=f"{first:.1f} ms",
        baseline="-",
        figure=figure,
        goal="report (ms)",
        passed=opened["rows"] > 0,
        details={
            "conversations": conversations,
            "messages": messages,
            "build_seconds": data.build_seconds,
            "first_ms": first,
            "again_median_ms": again,
            "again_ms": opened["again_ms"],
            "small_ms": opened["small_ms"],
            "rows_shown": opened["rows"],
        },
    )
