"""Benchmark 14: resident memory of the desktop app with 10,000 messages loaded in a chat.

The real app starts signed in over a prefilled cache (its server down, see ui_cold_start) and
opens the conversation holding *messages* messages; then the history is scrolled to the top
again and again, each time loading the next older page the way a person paging up does, until
*messages* rows are in the model (every bubble laid out once). Then the merger is handed the
newest page, as the conversation's message stream does first thing when online (it reads every
cached message of the conversation to tell new from known). The process's RSS (VmRSS from
/proc) is read after opening, after loading and after that merge; the goal is on the last. A
bare PySide6 QMainWindow process's RSS is reported beside it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.benchmarks.harness import BenchResult
from tests.benchmarks.ui_support import (
    app_env,
    bare_env,
    build_app_data,
    closed_port,
    event,
    run_child,
)

MB = 1024 * 1024
GOAL_BYTES = 150 * MB


def run_ui_memory(conversations: int = 200, messages: int = 10_000) -> BenchResult:
    """RSS of the app with *messages* messages loaded in the open conversation."""
    with tempfile.TemporaryDirectory(prefix="bench-ui-memory-") as tmp:
        data = build_app_data(Path(tmp), conversations, messages)
        config = {
            "env": app_env(data.root, closed_port()),
            "actions": ["memory"],
            "big_cid": data.big_cid,
            "small_cid": data.small_cid,
            "load_rows": messages,
        }
        memory = event(run_child("app", config, timeout=240), "memory")
    bare = event(run_child("bare-window", {"env": bare_env()}), "painted")
    loaded, opened, streamed = memory["loaded"], memory["opened"], memory["streamed"]
    rss = streamed["VmRSS"]
    complete = loaded["rows"] == streamed["rows"] == messages
    figure = (
        f"{rss / MB:.0f} MB with {messages:,} rows + merger ({loaded['VmRSS'] / MB:.0f} MB"
        f" without; {opened['VmRSS'] / MB:.0f} MB with {opened['rows']} rows)"
    )
    return BenchResult(
        name=f"UI memory ({messages:,} msgs loaded)",
        ours=f"{rss / MB:.0f} MB",
        baseline=f"{bare['VmRSS'] / MB:.0f} MB bare QMainWindow",
        figure=figure,
        goal=f"< {GOAL_BYTES // MB} MB",
        passed=complete and rss < GOAL_BYTES,
        details={
            "conversations": conversations,
            "messages": messages,
            "build_seconds": data.build_seconds,
            "rss_bytes": rss,
            "peak_bytes": streamed["VmHWM"],
            "rows": loaded["rows"],
            "opened": opened,
            "loaded": loaded,
            "streamed": streamed,
            "pages": memory["pages"],
            "paging_seconds": memory["paging_seconds"],
            "baseline_rss_bytes": bare["VmRSS"],
        },
    )
