"""What firebase-admin wrote and saw acknowledged is still there after SIGTERM or kill -9."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import firebase_admin
import pytest
from firebase_admin import db

from tests.conformance.support import EventLog, replay, run_threads, write_with_every_api
from tests.support.server import ServerProcess

AppFactory = Callable[[ServerProcess], firebase_admin.App]
Listen = Callable[[db.Reference], EventLog]

pytestmark = pytest.mark.parametrize("how", ["sigterm", "kill9"])


def restart(server: ServerProcess, how: str) -> None:
    """Stop the server with SIGTERM (it must exit 0) or kill -9, then start it again."""
    if how == "sigterm":
        code = server.stop()
        assert code == 0, f"exit code {code}:\n" + "".join(server.stderr_lines)
    else:
        server.kill()
    server.start()


@pytest.fixture
def started(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    return server_factory(tmp_path / "data").start()


def test_acknowledged_writes_survive(
    started: ServerProcess, app_factory: AppFactory, how: str
) -> None:
    ref = db.reference("data", app=app_factory(started))
    expected = write_with_every_api(ref)

    pushed: dict[str, Any] = {}
    lock = threading.Lock()

    def pusher(who: int) -> None:
        for i in range(25):
            value = {"who": who, "i": i}
            key = ref.child("burst").push(value).key
            assert key is not None
            with lock:
                pushed[key] = value

    def incrementer() -> None:
        for _ in range(10):
            ref.child("counter").transaction(lambda current: (current or 0) + 1)

    run_threads([*(functools.partial(pusher, who) for who in range(4)), incrementer, incrementer])
    ref.child("last").set("acknowledged just before the end")  # then at once:
    restart(started, how)

    after = db.reference("data", app=app_factory(started))
    assert after.get() == {
        **expected,
        "burst": pushed,
        "counter": expected["counter"] + 20,
        "last": "acknowledged just before the end",
    }


def test_multi_path_updates_are_all_or_nothing_across_a_crash(
    started: ServerProcess, app_factory: AppFactory, how: str
) -> None:
    """A stream of two-leaf updates, stopped mid-flight: no half of any update is ever stored."""
    ref = db.reference("pairs", app=app_factory(started))
    ref.set({"a": {"n": 0}, "b": {"n": 0}})
    acknowledged = [0]
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                ref.update({"a/n": n, "b/n": n, f"log/{n}": True})
            except Exception:  # the server went away under us
                return
            acknowledged[0] = n

    thread = threading.Thread(target=writer)
    thread.start()
    deadline = time.monotonic() + 10
    while acknowledged[0] < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert acknowledged[0] >= 30, "the writer made no progress"
    if how == "sigterm":
        code = started.stop()
        assert code == 0, f"exit code {code}:\n" + "".join(started.stderr_lines)
    else:
        started.kill()
    stop.set()
    thread.join(60)
    assert not thread.is_alive()
    started.start()

    value = db.reference("pairs", app=app_factory(started)).get()
    n = value["a"]["n"]
    assert value["b"]["n"] == n, value
    assert n in (acknowledged[0], acknowledged[0] + 1), (n, acknowledged[0])
    log = value["log"]  # keys 1..n: Firebase renders that as an array with a hole at 0
    assert log == [None] + [True] * n, value


def test_etags_survive_restart(started: ServerProcess, app_factory: AppFactory, how: str) -> None:
    ref = db.reference("doc", app=app_factory(started))
    ref.set({"title": "t", "tags": ["a", "b"], "n": 1.5})
    value, tag = ref.get(etag=True)
    restart(started, how)

    after = db.reference("doc", app=app_factory(started))
    assert after.get(etag=True) == (value, tag)
    assert after.get_if_changed(tag) == (False, None, None)
    ok, _, _ = after.set_if_unchanged(tag, {"title": "t2"})
    assert ok, "an ETag taken before the restart is still good after it"
    assert after.get() == {"title": "t2"}


def test_push_ids_keep_rising_across_restart(
    started: ServerProcess, app_factory: AppFactory, how: str
) -> None:
    before = [db.reference("q", app=app_factory(started)).push(i).key for i in range(3)]
    restart(started, how)
    ref = db.reference("q", app=app_factory(started))
    after = [ref.push(i).key for i in range(3, 6)]
    assert list(ref.order_by_key().get()) == [*before, *after]
    assert list(ref.order_by_key().limit_to_last(1).get()) == after[-1:]


def test_listener_resyncs_after_restart(
    started: ServerProcess, app_factory: AppFactory, listen: Listen, how: str
) -> None:
    """firebase-admin reconnects 3 s after its stream ends; a restarted server on the same port
    answers with a full ``put /``, and later writes arrive as usual."""
    started.extra_args = [*started.extra_args, "--port", str(started.port)]
    ref = db.reference("room", app=app_factory(started))
    ref.set({"title": "before"})
    log = listen(ref)
    assert log.wait_for(1) == [("put", "/", {"title": "before"})]
    ref.child("seen").set(True)
    log.wait_for(2)
    restart(started, how)

    writer = db.reference("room", app=app_factory(started))
    writer.child("title").set("while reconnecting")
    expected = {"title": "while reconnecting", "seen": True}
    events = log.wait_until(
        lambda events: (
            any(event[:2] == ("put", "/") for event in events[2:]) and replay(events) == expected
        )
    )
    assert ("put", "/", expected) in events[2:] or ("put", "/title", expected["title"]) in events
    writer.child("title").set("after")
    events = log.wait_until(lambda events: events[-1] == ("put", "/title", "after"))
    assert replay(events) == writer.get() == {"title": "after", "seen": True}


def test_replaced_and_deleted_values_stay_gone(
    started: ServerProcess, app_factory: AppFactory, how: str
) -> None:
    """Shape changes (leaf to object, object to leaf, pruned parents) survive two restarts."""
    ref = db.reference("shapes", app=app_factory(started))
    ref.child("a").set("leaf")
    ref.child("a").set({"b": 1})  # a leaf becomes an object
    ref.child("a/b").delete()  # and goes away again
    ref.child("c").set({"d": {"e": 1}})
    ref.child("c/d/e/f").set(2)  # written below a leaf: the leaf becomes an object
    ref.child("g").set({"h": 1, "i": 2})
    ref.child("g").set("now a leaf")  # an object becomes a leaf
    ref.child("j/k/l").set(1)
    ref.child("j/k/l").delete()  # empty parents vanish
    ref.update({"m": {"n": 1}, "o/p": 1})
    ref.update({"m/n": None, "o": "leaf"})
    expected = {"c": {"d": {"e": {"f": 2}}}, "g": "now a leaf", "o": "leaf"}
    assert ref.get() == expected
    restart(started, how)

    ref = db.reference("shapes", app=app_factory(started))
    assert ref.get() == expected
    ref.child("c/d/e").set("leaf again")
    ref.child("g/x").set(1)
    ref.child("o").delete()
    expected = {"c": {"d": {"e": "leaf again"}}, "g": {"x": 1}}
    assert ref.get() == expected
    restart(started, how)

    assert db.reference("shapes", app=app_factory(started)).get() == expected
