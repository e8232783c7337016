"""firebase-admin listen(): the first put, then put and patch events, over Server-Sent Events."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import firebase_admin
from firebase_admin import db

from tests.conformance.support import EventLog, converges_to, replay
from tests.support.server import ServerProcess

Listen = Callable[[db.Reference], EventLog]


def step(log: EventLog, ref: db.Reference, count: int) -> list[tuple[str, str, object]]:
    """Wait for event number *count*; the replayed events must equal the server's value."""
    events = log.wait_for(count)
    assert len(events) == count, f"unexpected extra events: {events[count - 1 :]!r}"
    assert replay(events) == ref.get(), events
    return events


def test_first_event_is_put_of_whole_value(root: db.Reference, listen: Listen) -> None:
    root.set({"a": 1, "b": {"c": "d"}, "list": [1, 2]})
    log = listen(root)
    assert log.wait_for(1) == [("put", "/", {"a": 1, "b": {"c": "d"}, "list": [1, 2]})]


def test_first_event_on_missing_location_is_put_null(root: db.Reference, listen: Listen) -> None:
    log = listen(root.child("nothing/here"))
    assert log.wait_for(1) == [("put", "/", None)]


def test_put_and_patch_events_follow_writes(root: db.Reference, listen: Listen) -> None:
    root.set({"title": "room", "members": {"alan": True}})
    log = listen(root)
    step(log, root, 1)

    root.child("title").set("renamed")
    assert step(log, root, 2)[-1] == ("put", "/title", "renamed")

    root.child("members/grace").set(True)
    assert step(log, root, 3)[-1] == ("put", "/members/grace", True)

    root.update({"topic": "maths", "title": "again"})
    assert step(log, root, 4)[-1] == ("patch", "/", {"topic": "maths", "title": "again"})

    root.child("members").update({"ada": True, "alan": None})
    assert step(log, root, 5)[-1] == ("patch", "/members", {"ada": True, "alan": None})

    root.child("topic").delete()
    assert step(log, root, 6)[-1] == ("put", "/topic", None)

    root.set({"fresh": "start"})
    assert step(log, root, 7)[-1] == ("put", "/", {"fresh": "start"})

    root.delete()
    assert step(log, root, 8)[-1] == ("put", "/", None)

    root.child("back").set(1)
    assert step(log, root, 9)[-1] == ("put", "/back", 1)


def test_multi_path_update_arrives_as_one_consistent_change(
    root: db.Reference, listen: Listen
) -> None:
    root.set({"users": {"alan": {"nickname": "a", "age": 41}, "grace": {"nickname": "g"}}})
    log = listen(root)
    step(log, root, 1)
    root.update({"users/alan/nickname": "X", "users/grace/nickname": "Y", "count": 2})
    events = log.wait_until(lambda events: replay(events) == root.get())
    assert all(kind in ("put", "patch") for kind, _, _ in events)
    root.child("marker").set(True)  # nothing else was owed for the update
    events = log.wait_until(lambda events: events[-1] == ("put", "/marker", True))
    assert replay(events) == root.get()


def test_push_events(root: db.Reference, listen: Listen) -> None:
    log = listen(root)
    step(log, root, 1)
    pushed = root.child("messages").push({"text": "hi"})
    assert step(log, root, 2)[-1] == ("put", f"/messages/{pushed.key}", {"text": "hi"})


def test_writes_elsewhere_are_not_delivered(root: db.Reference, listen: Listen) -> None:
    root.set({"watched": {"v": 1}, "other": {"v": 1}})
    log = listen(root.child("watched"))
    log.wait_for(1)
    root.child("other/v").set(2)
    root.child("other").update({"w": 3})
    root.child("watchedx").set("prefix, but not below")
    root.child("watched/v").set(5)
    events = log.wait_for(2)
    assert events == [("put", "/", {"v": 1}), ("put", "/v", 5)]


def test_writes_above_the_listened_location(root: db.Reference, listen: Listen) -> None:
    child = root.child("room/meta")
    root.set({"room": {"meta": {"title": "t"}, "log": 1}})
    log = listen(child)
    step(log, child, 1)
    root.set({"room": {"meta": {"title": "t2"}}})
    assert step(log, child, 2)[-1] == ("put", "/", {"title": "t2"})
    root.update({"room/meta/topic": "x", "room/log": 2})
    events = log.wait_until(lambda events: replay(events) == {"title": "t2", "topic": "x"})
    assert replay(events) == child.get()
    root.delete()
    events = log.wait_until(lambda events: replay(events) is None)
    assert events[-1] == ("put", "/", None)


def test_nested_listeners_each_get_their_view(root: db.Reference, listen: Listen) -> None:
    parent = root
    child = root.child("a")
    grandchild = root.child("a/b")
    logs = [(listen(ref), ref) for ref in (parent, child, grandchild)]
    for log, _ in logs:
        log.wait_for(1)
    root.child("a/b/c").set(1)
    root.update({"a/x": 2, "z": 3})
    root.child("a").delete()
    for log, ref in logs:
        log.wait_until(converges_to(ref.get()))
    assert replay(logs[0][0].events) == {"z": 3}
    assert replay(logs[1][0].events) is None


def test_rapid_writes_arrive_in_order(root: db.Reference, listen: Listen) -> None:
    log = listen(root)
    log.wait_for(1)
    for i in range(60):
        root.child("counter").set(i)
        if i % 10 == 0:
            root.update({f"batch/{i}": i, "last": i})
    events = log.wait_until(lambda events: replay(events) == root.get())
    counters = [data for kind, path, data in events if (kind, path) == ("put", "/counter")]
    assert counters == list(range(60))


def test_sees_writes_of_other_clients(
    conformance_server: ServerProcess,
    app_factory: Callable[[ServerProcess], firebase_admin.App],
    root: db.Reference,
    listen: Listen,
) -> None:
    log = listen(root)
    log.wait_for(1)
    other = db.reference(root.path, app=app_factory(conformance_server))
    other.child("from").set("another app")
    assert other.child("n").transaction(lambda current: (current or 0) + 1) == 1
    events = log.wait_for(3)
    assert events[1:] == [("put", "/from", "another app"), ("put", "/n", 1)]


def test_unicode_and_large_values(root: db.Reference, listen: Listen) -> None:
    log = listen(root)
    log.wait_for(1)
    text = 'héllo ✓ 漢字 😀 "quoted" \\ \n new line'
    root.child("ünïcode 😀").set(text)
    assert log.wait_for(2)[-1] == ("put", "/ünïcode 😀", text)
    big = {f"k{i}": "x" * 1000 for i in range(200)}  # about 200 kB in one event
    root.child("big").set(big)
    assert log.wait_for(3)[-1] == ("put", "/big", big)


def test_listeners_opened_during_writes_stay_consistent(root: db.Reference, listen: Listen) -> None:
    """The first put and the events after it never miss or repeat a write in between."""
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(150):
                root.child(f"items/{i % 7}").set(i)
                if i % 5 == 0:
                    root.child("items").update({"n": i, f"{i % 7}": -i})
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    logs: list[EventLog] = []
    while not done.is_set() and len(logs) < 6:
        logs.append(listen(root))
        time.sleep(0.02)
    thread.join(60)
    assert not errors, errors
    final = root.get()
    for log in logs:
        log.wait_until(converges_to(final))


def test_keep_alives_are_not_events(
    server_factory: type[ServerProcess],
    tmp_path: Path,
    app_factory: Callable[[ServerProcess], firebase_admin.App],
    listen: Listen,
) -> None:
    server = server_factory(tmp_path / "data", ["--keep-alive", "0.1"]).start()
    ref = db.reference("quiet", app=app_factory(server))
    log = listen(ref)
    log.wait_for(1)
    time.sleep(1.0)  # about ten keep-alives
    ref.set("woken")
    assert log.wait_for(2) == [("put", "/", None), ("put", "/", "woken")]
