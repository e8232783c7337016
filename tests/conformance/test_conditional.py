"""firebase-admin ETags: get(etag=True), get_if_changed, set_if_unchanged and transaction()."""

from __future__ import annotations

import functools
import threading
from typing import Any

import pytest
from firebase_admin import db

from tests.conformance.support import run_threads

THREADS = 8
INCREMENTS = 50


def test_etag_of_missing_location(root: db.Reference) -> None:
    assert root.child("nothing").get(etag=True) == (None, "null_etag")


def test_etag_follows_content(root: db.Reference) -> None:
    ref = root.child("doc")
    ref.set({"a": 1, "b": {"c": [1, 2]}})
    value, first = ref.get(etag=True)
    assert value == {"a": 1, "b": {"c": [1, 2]}}
    assert isinstance(first, str)
    assert first
    assert first != "null_etag"
    assert ref.get(etag=True) == (value, first), "an ETag is stable while nothing changes"
    ref.child("a").set(2)
    _, second = ref.get(etag=True)
    assert second != first
    ref.child("a").set(1)  # same content again, written another way: same ETag
    assert ref.get(etag=True) == (value, first)
    ref.set({"b": {"c": [1, 2]}, "a": 1})
    assert ref.get(etag=True) == (value, first)


def test_etag_is_per_location(root: db.Reference) -> None:
    root.set({"x": {"v": 1}, "y": {"v": 1}})
    _, parent = root.get(etag=True)
    _, x = root.child("x").get(etag=True)
    _, y = root.child("y").get(etag=True)
    assert x == y, "same content, same ETag"
    assert parent != x
    root.child("y/v").set(2)
    assert root.child("x").get(etag=True)[1] == x, "a sibling write leaves the ETag alone"
    assert root.get(etag=True)[1] != parent, "a child write changes the parent's ETag"


def test_set_if_unchanged_succeeds_with_current_etag(root: db.Reference) -> None:
    ref = root.child("doc")
    ref.set({"v": 1})
    _, tag = ref.get(etag=True)
    ok, value, _new_tag = ref.set_if_unchanged(tag, {"v": 2})
    assert ok
    assert value == {"v": 2}
    assert ref.get() == {"v": 2}


def test_set_if_unchanged_fails_with_stale_etag(root: db.Reference) -> None:
    ref = root.child("doc")
    ref.set({"v": 1})
    _, stale = ref.get(etag=True)
    ref.set({"v": 2, "by": "someone else"})
    ok, value, tag = ref.set_if_unchanged(stale, {"v": 3})
    assert not ok
    assert value == {"v": 2, "by": "someone else"}, "a 412 carries the current value"
    assert tag == ref.get(etag=True)[1], "... and the current ETag"
    assert ref.get() == {"v": 2, "by": "someone else"}
    ok, value, _ = ref.set_if_unchanged(tag, {"v": 3})
    assert ok
    assert ref.get() == {"v": 3}


def test_set_if_unchanged_on_missing_location(root: db.Reference) -> None:
    ref = root.child("new")
    ok, _, _ = ref.set_if_unchanged("null_etag", "created")
    assert ok
    assert ref.get() == "created"
    ok, value, tag = ref.set_if_unchanged("null_etag", "again")
    assert not ok
    assert value == "created"
    assert tag == ref.get(etag=True)[1]
    ref.delete()
    ok, value, tag = root.child("new").set_if_unchanged("some-stale-etag", "x")
    assert (ok, value, tag) == (False, None, "null_etag")


def test_get_if_changed(root: db.Reference) -> None:
    ref = root.child("doc")
    ref.set({"v": 1})
    _, tag = ref.get(etag=True)
    assert ref.get_if_changed(tag) == (False, None, None)
    ref.child("v").set(2)
    changed, value, new_tag = ref.get_if_changed(tag)
    assert changed
    assert value == {"v": 2}
    assert new_tag == ref.get(etag=True)[1]
    assert new_tag != tag


def test_only_one_of_racing_conditional_writes_wins(root: db.Reference) -> None:
    ref = root.child("contested")
    for round_ in range(5):
        ref.set({"round": round_})
        _, tag = ref.get(etag=True)
        wins = race_conditional_writes(ref, tag)
        assert len(wins) == 1, f"round {round_}: winners {wins}"
        assert ref.get() == {"winner": wins[0]}


def race_conditional_writes(ref: db.Reference, tag: str) -> list[int]:
    """THREADS writers released at once, all with the same ETag; return who succeeded."""
    barrier = threading.Barrier(THREADS)
    wins: list[int] = []
    lock = threading.Lock()

    def attempt(who: int) -> None:
        barrier.wait()
        ok, _, _ = ref.set_if_unchanged(tag, {"winner": who})
        if ok:
            with lock:
                wins.append(who)

    run_threads([functools.partial(attempt, who) for who in range(THREADS)])
    return wins


def test_transaction_creates_updates_and_returns_new_value(root: db.Reference) -> None:
    ref = root.child("counter")
    seen: list[Any] = []

    def bump(current: Any) -> int:
        seen.append(current)
        return (current or 0) + 1

    assert ref.transaction(bump) == 1
    assert ref.transaction(bump) == 2
    assert seen == [None, 1]
    assert ref.get() == 2


def test_transaction_on_object(root: db.Reference) -> None:
    ref = root.child("room")
    ref.set({"members": {"alan": True}, "count": 1})

    def join(current: Any) -> Any:
        return {
            "members": {**current["members"], "grace": True},
            "count": current["count"] + 1,
        }

    assert ref.transaction(join) == {"members": {"alan": True, "grace": True}, "count": 2}
    assert ref.get() == {"members": {"alan": True, "grace": True}, "count": 2}


def test_transaction_abort_by_exception_writes_nothing(root: db.Reference) -> None:
    ref = root.child("counter")
    ref.set(10)

    def refuse(current: Any) -> Any:
        raise ValueError(f"not today: {current}")

    with pytest.raises(ValueError, match="not today: 10"):
        ref.transaction(refuse)
    assert ref.get() == 10


def test_transaction_retries_after_concurrent_write(root: db.Reference) -> None:
    ref = root.child("counter")
    ref.set(1)
    calls: list[Any] = []

    def interfere_once(current: Any) -> Any:
        calls.append(current)
        if len(calls) == 1:
            ref.set(100)  # someone else writes between the read and the conditional write
        return current + 1

    assert ref.transaction(interfere_once) == 101
    assert calls == [1, 100], "the retry must start from the value in the 412"
    assert ref.get() == 101


def test_concurrent_transactions_count_exactly(root: db.Reference) -> None:
    """8 threads x 50 increments through transaction(): every one lands exactly once."""
    ref = root.child("counter")
    results: list[int] = []
    aborted: list[int] = []
    lock = threading.Lock()

    def increment(current: Any) -> int:
        return (current or 0) + 1

    def worker() -> None:
        for _ in range(INCREMENTS):
            for _attempt in range(20):
                try:
                    value = ref.transaction(increment)
                except db.TransactionAbortedError:
                    # firebase-admin gives up after 25 lost races; nothing was written, go again
                    with lock:
                        aborted.append(1)
                    continue
                with lock:
                    results.append(value)
                break
            else:
                raise AssertionError("a transaction lost 20 x 25 races in a row")

    run_threads([worker] * THREADS)
    total = THREADS * INCREMENTS
    assert ref.get() == total
    assert sorted(results) == list(range(1, total + 1)), "each commit saw a distinct value"
    assert len(aborted) < total // 4, f"{len(aborted)} transactions gave up after 25 tries"
