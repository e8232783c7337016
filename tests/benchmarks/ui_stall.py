"""Benchmark 13: event-loop stalls of the desktop app while messages pour into the open chat.

The real app starts signed in over a prefilled cache (its server down, see ui_cold_start) and
opens the conversation holding *messages* messages. Then *rate* incoming messages a second for
*seconds* go the way a streamed message goes: ``Merger.merge_messages`` (the cache, then
``MessageAdded`` on the client's EventBus) -> ChatBridge -> ChatView -> MessageListModel ->
the history view, plus the conversation list's row update (``ConversationChanged``). A 1 ms
precise QTimer ticks meanwhile; a stall is how late a tick came. The baseline is a bare qasync
loop in a fresh process with a QListView (uniform rows) over a trivial model, fed the same
messages at the same rate while the same timer ticks.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks.harness import BenchResult
from tests.benchmarks.ui_support import (
    TEXTS,
    app_env,
    bare_env,
    build_app_data,
    closed_port,
    event,
    run_child,
)

GOAL_P99_MS = 16.0
GOAL_P99_RATIO = 2.0
_STATS = ("p50_ms", "p90_ms", "p99_ms", "max_ms", "over_16ms", "ticks_per_second")


def run_ui_stall(
    rate: float = 100,
    seconds: float = 10,
    warmup: float = 2,
    conversations: int = 200,
    messages: int = 100_000,
) -> BenchResult:
    """p99 tick lateness of the app fed *rate* messages/s against a bare qasync + QListView."""
    feed: dict[str, Any] = {"rate": rate, "seconds": seconds, "warmup": warmup, "text": TEXTS[0]}
    with tempfile.TemporaryDirectory(prefix="bench-ui-stall-") as tmp:
        data = build_app_data(Path(tmp), conversations, messages)
        config = {
            "env": app_env(data.root, closed_port()),
            "actions": ["stall"],
            "big_cid": data.big_cid,
            "small_cid": data.small_cid,
            **feed,
        }
        ours = event(run_child("app", config), "stall")
    base = event(run_child("bare-loop", {"env": bare_env(), **feed}), "stall")
    ratio = ours["p99_ms"] / max(base["p99_ms"], 1e-3)
    expected = round((seconds + warmup) * rate)
    complete = ours["rows_added"] == expected and base["delivered"] == ours["delivered"]
    figure = (
        f"x{ratio:.2f} (p50 {ours['p50_ms']:.1f} vs {base['p50_ms']:.1f} ms,"
        f" {ours['processed_per_second']:.0f} msg/s done)"
    )
    if not complete:
        figure += f" (shown {ours['rows_added']}/{expected})"
    return BenchResult(
        name=f"UI stalls ({rate:g} msg/s for {seconds:g} s)",
        ours=f"p99 {ours['p99_ms']:.1f} ms",
        baseline=f"p99 {base['p99_ms']:.1f} ms bare qasync+QListView",
        figure=figure,
        goal=f"p99 <= {GOAL_P99_MS:g} ms and <= {GOAL_P99_RATIO:g} x baseline",
        passed=complete and ours["p99_ms"] <= GOAL_P99_MS and ratio <= GOAL_P99_RATIO,
        details={
            "rate": rate,
            "seconds": seconds,
            "warmup": warmup,
            "conversations": conversations,
            "messages": messages,
            "build_seconds": data.build_seconds,
            "p99_ratio": ratio,
            "ours": ours,
            "baseline": base,
            "summary": {key: (ours[key], base[key]) for key in _STATS},
        },
    )
