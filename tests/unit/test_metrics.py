"""Metrics: Prometheus text exposition (0.0.4) that parses back to the counted values."""

from __future__ import annotations

import re
from typing import Any

from desktop_chat.server.metrics import CONTENT_TYPE, OTHER, Metrics

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"(?:\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\n]|\\[\\\"n])*\",?)*)\})?"
    r" (?P<value>\S+)$"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def parse(text: str) -> tuple[dict[str, tuple[str, str]], dict[tuple[str, frozenset[Any]], float]]:
    """``({family: (type, help)}, {(name, labels): value})``, checking every line's syntax and
    that each sample follows its family's HELP and TYPE."""
    assert text.endswith("\n")
    families: dict[str, tuple[str, str]] = {}
    samples: dict[tuple[str, frozenset[Any]], float] = {}
    help_text: dict[str, str] = {}
    current = ""
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name, _, rest = line[7:].partition(" ")
            help_text[name] = rest
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in ("counter", "gauge"), line
            assert name in help_text and name not in families, line
            families[name] = (kind, help_text[name])
            current = name
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            assert match["name"] == current, f"{line!r} is outside its family"
            labels = frozenset(
                (key, re.sub(r"\\[\\\"n]", lambda m: _UNESCAPE[m[0]], value))
                for key, value in _LABEL.findall(match["labels"] or "")
            )
            key = (match["name"], labels)
            assert key not in samples, f"duplicate sample {line!r}"
            samples[key] = float(match["value"])
    return families, samples


P = "desktop_chat_socketio_"


def test_render_parses_back() -> None:
    clock = Clock()
    metrics = Metrics('node "1"\\a', clock=clock)
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    families, samples = parse(metrics.render())
    assert families[P + "connections"][0] == "gauge"
    assert families[P + "events_total"][0] == "counter"
    assert families[P + "errors_total"][0] == "counter"
    assert families[P + "deliveries_total"][0] == "counter"
    assert families[P + "events_per_second"][0] == "gauge"
    assert samples[(P + "connections", frozenset())] == 0
    assert samples[(P + "info", frozenset({("node", 'node "1"\\a')}))] == 1

    for _ in range(3):
        metrics.connected()
    metrics.disconnected()
    for _ in range(4):
        metrics.event("typing")
    metrics.event("join")
    metrics.event('we"ird\nname\\')
    metrics.error("rate_limited")
    metrics.error("rate_limited")
    metrics.error("data_unavailable")
    metrics.deliveries(5)
    metrics.deliveries(0)
    clock.now += 2.5
    _, samples = parse(metrics.render())
    assert samples[(P + "connections", frozenset())] == 2
    assert samples[(P + "events_total", frozenset({("event", "typing")}))] == 4
    assert samples[(P + "events_total", frozenset({("event", "join")}))] == 1
    assert samples[(P + "events_total", frozenset({("event", 'we"ird\nname\\')}))] == 1
    assert samples[(P + "errors_total", frozenset({("kind", "rate_limited")}))] == 2
    assert samples[(P + "errors_total", frozenset({("kind", "data_unavailable")}))] == 1
    assert samples[(P + "deliveries_total", frozenset())] == 5
    assert samples[(P + "events_per_second", frozenset())] == 0.6  # 6 events / 10 s
    assert samples[(P + "uptime_seconds", frozenset())] == 2.5


def test_events_per_second_forgets_old_seconds() -> None:
    clock = Clock()
    metrics = Metrics("n", clock=clock)
    for second in range(20):
        clock.now = 1000.0 + second
        for _ in range(second):
            metrics.event("typing")
    assert metrics.events_per_second == sum(range(10, 20)) / 10
    clock.now += 100
    assert metrics.events_per_second == 0
    assert metrics.events() == {"typing": sum(range(20))}


def test_label_values_are_capped() -> None:
    metrics = Metrics("n", max_labels=50)
    for index in range(60):
        metrics.event(f"event{index}")
    metrics.event("event3")
    metrics.event("x" * 500)
    events = metrics.events()
    assert len(events) == 51
    assert events["event3"] == 2
    assert events[OTHER] == 11
    _, samples = parse(metrics.render())
    assert samples[(P + "events_total", frozenset({("event", OTHER)}))] == 11


def test_connections_never_go_negative_and_healthz() -> None:
    clock = Clock()
    metrics = Metrics("node-7", clock=clock)
    metrics.disconnected()
    metrics.connected()
    clock.now += 12.3456
    assert metrics.healthz() == {
        "status": "ok",
        "node": "node-7",
        "uptime": 12.346,
        "connections": 1,
    }
