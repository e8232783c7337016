"""Helpers for the conformance suite: firebase-admin apps, listener event logs, a local mirror."""

from __future__ import annotations

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
    """Close a listener without failing the test on the traceback its thread prints on close.

    ``ListenerRegistration.close()`` closes the response under the reading thread, which then
    dies with an AttributeError. Only that thread's exceptions, and only while closing, are
    swallowed: any earlier death of the thread (say, from a malformed event) still reaches
    pytest's unhandled-thread-exception check.
    """
    thread = log.thread or getattr(registration, "_thread", None)
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


def _set_at(root: Any, keys: list[str], value: Any) -> Any:
    if not keys:
        return copy.deepcopy(value)
    node = dict(root) if isinstance(root, dict) else {}
    head, rest = keys[0], keys[1:]
    child = _set_at(node.get(head), rest, value)
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
        return _set_at(mirror, keys, data)
    if kind == "patch":
        assert isinstance(data, dict), f"patch data must be an object: {event!r}"
        for key, value in data.items():
            mirror = _set_at(mirror, keys + [part for part in key.split("/") if part], value)
        return mirror
    raise AssertionError(f"unexpected event type: {event!r}")


def replay(events: list[EventTuple]) -> Any:
    """The value a client holds after applying *events* from the start of a stream."""
    mirror: Any = None
    for event in events:
        mirror = apply_event(mirror, event)
    return mirror
