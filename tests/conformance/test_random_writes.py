"""Random writes through firebase-admin against a model: reads and every listener agree with it."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

import pytest
from firebase_admin import db

from tests.conformance.support import EventLog, converges_to, run_threads, set_at

Listen = Callable[[db.Reference], EventLog]
KEYS = ("a", "b", "c")
LISTENED = ("", "a", "a/b", "c/a", "b/b/b")


def random_path(rng: random.Random, min_len: int = 1) -> list[str]:
    return [rng.choice(KEYS) for _ in range(rng.randint(min_len, 3))]


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.random()
    if depth < 2 and kind < 0.3:
        return {key: random_value(rng, depth + 1) for key in rng.sample(KEYS, rng.randint(1, 3))}
    if kind < 0.55:
        return rng.randint(-5, 5)
    if kind < 0.8:
        return rng.choice(["x", "y", "ü", ""])
    return rng.choice([True, False, 1.5])


def get_at(value: Any, keys: list[str]) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


@pytest.mark.parametrize("seed", [1, 2])
def test_random_writes_match_model(root: db.Reference, listen: Listen, seed: int) -> None:
    rng = random.Random(seed)
    logs = [
        (listen(root.child(path) if path else root), path.split("/") if path else [])
        for path in LISTENED
    ]
    for log, _ in logs:
        log.wait_for(1)
    model: Any = None
    for step in range(150):
        op = rng.random()
        if op < 0.45:
            path = random_path(rng)
            value = random_value(rng)
            root.child("/".join(path)).set(value)
            model = set_at(model, path, value)
        elif op < 0.75:
            base = random_path(rng, 0)
            update: dict[str, Any] = {}
            for key in rng.sample(KEYS, rng.randint(1, 3)):
                sub = [key, *random_path(rng, 0)[: rng.randint(0, 1)]]
                update["/".join(sub)] = None if rng.random() < 0.2 else random_value(rng)
            (root.child("/".join(base)) if base else root).update(update)
            for sub_path, value in update.items():
                model = set_at(model, base + sub_path.split("/"), value)
        else:
            path = random_path(rng)
            root.child("/".join(path)).delete()
            model = set_at(model, path, None)
        assert root.get() == model, f"step {step}"
    for log, keys in logs:
        expected = get_at(model, keys)
        events = log.wait_until(converges_to(expected))
        assert all(kind in ("put", "patch") for kind, _, _ in events)


def test_concurrent_writers_and_listeners_converge(root: db.Reference, listen: Listen) -> None:
    """Four threads write at once; every listener ends with exactly the server's value."""
    logs = [(listen(root.child(path) if path else root), path) for path in LISTENED]
    for log, _ in logs:
        log.wait_for(1)

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(60):
            path = "/".join(random_path(rng))
            if rng.random() < 0.6:
                root.child(path).set(random_value(rng))
            elif rng.random() < 0.5:
                root.child(path).update({key: random_value(rng) for key in rng.sample(KEYS, 2)})
            else:
                root.child(path).delete()

    run_threads([functools.partial(writer, seed) for seed in range(4)])
    for log, path in logs:
        expected = (root.child(path) if path else root).get()
        log.wait_until(converges_to(expected))
