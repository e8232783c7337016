"""Helpers for the conformance suite: firebase-admin apps, listener event logs, a local mirror."""

from __future__ import annotations

import contextlib
import copy
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import firebase_admin
from firebase_admin import db

from tests.support.server import ServerProcess

EventTuple = tuple[str, str, Any]
"""An event as (type, path, data), e.g. ("put", "/", {...})."""

WAIT = 20.0
"""Generous seconds to wait for an event that should come at once."""


def new_app(server: ServerProcess) -> firebase_admin.App:
    """A firebase-admin app, with its own name, talking to *server* as the emulator owner."""
    return firebase_admin.initialize_app(
        options={"databaseURL": server.database_url},
        name=f"conformance-{uuid.uuid4().hex}",
    )


class EventLog:
    """A listen() callback that keeps every event, thread-safely, and lets a test wait for them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._events: list[EventTuple] = []
        self.thread: threading.Thread | None = None

    def __call__(self, event: db.Event) -> None:
        with self._cond:
            self.thread = threading.current_thread()
            self._events.append((event.event_type, event.path, copy.deepcopy(event.data)))
            self._cond.notify_all()

    @property
    def events(self) -> list[EventTuple]:
        with self._cond:
            return list(self._events)

    def wait_for(self, count: int, timeout: float = WAIT) -> list[EventTuple]:
        """Wait until at least *count* events arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._events) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"waited {timeout:.0f} s for {count} events, got {len(self._events)}: "
                        f"{self._events!r}"
                    )
                self._cond.wait(left)
            return list(self._events)

    def wait_until(
        self, predicate: Callable[[list[EventTuple]], bool], timeout: float = WAIT
    ) -> list[EventTuple]:
        """Wait until *predicate* holds for the events received so far; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self._events):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"condition not met within {timeout:.0f} s; events: {self._events!r}"
                    )
                self._cond.wait(left)
            return list(self._events)


def close_listener(registration: db.ListenerRegistration, log: EventLog) -> None:
    """Close a listener promptly, and without its thread's traceback failing the test.

    ``ListenerRegistration.close()`` closes the response under the thread that reads it: the
    close waits until that thread's blocked read returns (the next keep-alive, up to 30 s
    later), and then the thread dies with an AttributeError. So first stop reconnects and shut
    the socket down for reading (urllib3's ``HTTPResponse.shutdown()``): the read ends, the SSE
    client finds it must not reconnect, and the thread finishes cleanly. Should that not work
    (other library versions), exceptions of that thread, and only while closing, are swallowed;
    an earlier death of the thread (say, from a malformed event) still reaches pytest.
    """
    thread: threading.Thread | None = getattr(registration, "_thread", None) or log.thread
    sse = getattr(registration, "_sse", None)
    raw = getattr(getattr(sse, "resp", None), "raw", None)
    if sse is not None and raw is not None and hasattr(raw, "shutdown") and thread is not None:
        sse.should_connect = False
        sse.retry = 0
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            raw.shutdown()
            thread.join(WAIT)
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if thread is not None and args.thread is thread:
            return
        previous(args)

    threading.excepthook = hook
    try:
        registration.close()
    finally:
        threading.excepthook = previous


def set_at(root: Any, keys: list[str], value: Any) -> Any:
    """*root* with *value* put at *keys*, Firebase's way: None deletes (and empty parents go);
    writing below a leaf turns it into an object; deleting below a leaf changes nothing."""
    if not keys:
        return copy.deepcopy(value)
    if value is None and not isinstance(root, dict):
        return root
    node = dict(root) if isinstance(root, dict) else {}
    head, rest = keys[0], keys[1:]
    child = set_at(node.get(head), rest, value)
    if child is None or child == {}:
        node.pop(head, None)
    else:
        node[head] = child
    return node or None


def apply_event(mirror: Any, event: EventTuple) -> Any:
    """Apply one put or patch event to a local copy of the listened value, as a client would."""
    kind, path, data = event
    keys = [key for key in path.split("/") if key]
    if kind == "put":
        return set_at(mirror, keys, data)
    if kind == "patch":
        assert isinstance(data, dict), f"patch data must be an object: {event!r}"
        for key, value in data.items():
            mirror = set_at(mirror, keys + [part for part in key.split("/") if part], value)
        return mirror
    raise AssertionError(f"unexpected event type: {event!r}")


def converges_to(expected: Any) -> Callable[[list[EventTuple]], bool]:
    """A wait_until() predicate: the replayed events give *expected*."""

    def predicate(events: list[EventTuple]) -> bool:
        return bool(replay(events) == expected)

    return predicate


def replay(events: list[EventTuple]) -> Any:
    """The value a client holds after applying *events* from the start of a stream."""
    mirror: Any = None
    for event in events:
        mirror = apply_event(mirror, event)
    return mirror


def write_with_every_api(ref: db.Reference) -> Any:
    """Write below *ref* with set, push, multi-path update, delete, set_if_unchanged and
    transaction, each acknowledged; return the value *ref* must hold afterwards."""
    profile = {
        "name": "Ada",
        "age": 36,
        "ratio": 0.5,
        "active": True,
        "langs": ["en", "fr"],
        "bio": 'héllo ✓ "quoted" \\ / 漢字',
    }
    ref.child("profile").set(profile)
    messages = ref.child("messages")
    pushed = {
        messages.push({"text": f"m{i}", "ts": i}).key: {"text": f"m{i}", "ts": i} for i in range(3)
    }
    ref.child("users").set(
        {
            "alan": {"nickname": "a", "age": 41},
            "grace": {"nickname": "g", "age": 85},
            "linus": {"nickname": "l", "age": 54},
        }
    )
    ref.child("users").update({"alan/nickname": "X", "grace/nickname": "Y"})
    ref.child("users/linus").delete()
    ref.child("scratch").set("gone soon")
    ref.child("scratch").delete()
    value, tag = ref.child("guarded").get(etag=True)
    assert value is None
    ok, _, _ = ref.child("guarded").set_if_unchanged(tag, {"v": 1})
    assert ok
    assert ref.child("counter").transaction(lambda current: (current or 0) + 5) == 5
    return {
        "profile": profile,
        "messages": pushed,
        "users": {"alan": {"nickname": "X", "age": 41}, "grace": {"nickname": "Y", "age": 85}},
        "guarded": {"v": 1},
        "counter": 5,
    }


def run_threads(targets: list[Callable[[], None]], timeout: float = 90.0) -> None:
    """Run each target in a thread; re-raise the first failure in the test's thread."""
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "threads did not finish"
    if errors:
        raise errors[0]
