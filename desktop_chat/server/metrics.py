"""A Socket.IO node's counters as Prometheus text (exposition format 0.0.4) and a health check."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["CONTENT_TYPE", "OTHER", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Content-Type of ``render()``'s text."""

OTHER = "other"
"""The label value counting every name past the first ``max_labels``."""

MAX_LABEL_CHARS = 100
RATE_WINDOW = 10
"""Seconds over which ``events_per_second`` averages."""

PREFIX = "desktop_chat_socketio_"


def escape_label(value: str) -> str:
    """A label value as the text format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(round(value, 6))


class _LabelledCounter:
    """A counter by one label, with at most *max_labels* distinct values (then OTHER)."""

    def __init__(self, max_labels: int) -> None:
        self.max_labels = max_labels
        self.values: dict[str, int] = {}

    def add(self, label: str, amount: int = 1) -> None:
        label = label[:MAX_LABEL_CHARS]
        if label not in self.values and len(self.values) >= self.max_labels:
            label = OTHER
        self.values[label] = self.values.get(label, 0) + amount


class Metrics:
    """What one node counts. Pure bookkeeping, no I/O; call from the event loop only."""

    def __init__(
        self,
        node_id: str,
        *,
        max_labels: int = 50,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node_id = node_id
        self._clock = clock
        self._started = clock()
        self.connections = 0
        self._events = _LabelledCounter(max_labels)
        self._errors = _LabelledCounter(max_labels)
        self._deliveries = 0
        self._recent: deque[list[int]] = deque()  # [second, events in it], oldest first

    # recording
    def connected(self) -> None:
        self.connections += 1

    def disconnected(self) -> None:
        self.connections = max(0, self.connections - 1)

    def event(self, name: str) -> None:
        """One event received, by name (say ``typing``)."""
        self._events.add(name)
        second = int(self._clock())
        if self._recent and self._recent[-1][0] == second:
            self._recent[-1][1] += 1
        else:
            self._recent.append([second, 1])
            self._forget(second)

    def error(self, kind: str) -> None:
        """One error, by kind (say ``rate_limited``, ``data_unavailable``)."""
        self._errors.add(kind)

    def deliveries(self, n: int = 1) -> None:
        """*n* messages pushed to clients."""
        if n > 0:
            self._deliveries += n

    # reading
    @property
    def uptime(self) -> float:
        """Seconds since this Metrics was made (the node started)."""
        return max(0.0, self._clock() - self._started)

    @property
    def events_per_second(self) -> float:
        """Events received per second, averaged over the last RATE_WINDOW seconds."""
        now = int(self._clock())
        self._forget(now)
        return sum(count for second, count in self._recent if second > now - RATE_WINDOW) / (
            RATE_WINDOW
        )

    def events(self) -> dict[str, int]:
        return dict(self._events.values)

    def errors(self) -> dict[str, int]:
        return dict(self._errors.values)

    @property
    def delivered(self) -> int:
        return self._deliveries

    def _forget(self, now: int) -> None:
        while self._recent and self._recent[0][0] <= now - RATE_WINDOW:
            self._recent.popleft()

    def healthz(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "node": self.node_id,
            "uptime": round(self.uptime, 3),
            "connections": self.connections,
        }

    def render(self) -> str:
        """Everything, in the Prometheus text exposition format 0.0.4."""
        lines: list[str] = []

        def family(
            name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]
        ) -> None:
            lines.append(f"# HELP {PREFIX}{name} {help_text}")
            lines.append(f"# TYPE {PREFIX}{name} {kind}")
            lines.extend(f"{PREFIX}{name}{labels} {_number(value)}" for labels, value in samples)

        def by(label: str, values: dict[str, int]) -> list[tuple[str, float]]:
            return [(f'{{{label}="{escape_label(key)}"}}', values[key]) for key in sorted(values)]

        family(
            "info",
            "gauge",
            "This node; always 1.",
            [(f'{{node="{escape_label(self.node_id)}"}}', 1)],
        )
        family("connections", "gauge", "Socket.IO connections open now.", [("", self.connections)])
        family(
            "events_total",
            "counter",
            f"Events received, by name (after {self._events.max_labels} names: other).",
            by("event", self._events.values),
        )
        family(
            "errors_total",
            "counter",
            "Errors, by kind.",
            by("kind", self._errors.values),
        )
        family(
            "deliveries_total", "counter", "Messages pushed to clients.", [("", self._deliveries)]
        )
        family(
            "events_per_second",
            "gauge",
            f"Events received per second over the last {RATE_WINDOW} s.",
            [("", self.events_per_second)],
        )
        family("uptime_seconds", "gauge", "Seconds since the node started.", [("", self.uptime)])
        return "\n".join(lines) + "\n"
