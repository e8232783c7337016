"""What one user or one network address may ask of the server: write and event rates, streams."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from desktop_chat.server.errors import ServerError

__all__ = ["LimitError", "LimitSettings", "Limits", "RateLimiter", "parse_limit"]

log = logging.getLogger("desktop_chat.server")

BURST_SECONDS = 4.0
"""A rate's bucket holds this many seconds' worth: a burst after a quiet spell is allowed."""
MAX_KEYS = 100_000
"""Buckets kept before the idle (full) ones are dropped: memory stays bounded."""


class LimitError(ServerError):
    """A request over a limit: answered 429 (the client should slow down and retry)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """Per second (rates) or at once (counts); 0 turns a limit off. Admin callers have none."""

    writes_per_user: float = 100.0
    writes_per_address: float = 1000.0
    events_per_user: float = 50.0
    """Socket.IO events (join, leave, typing, anything else) of all of a user's sockets."""
    events_per_address: float = 1000.0
    streams_per_user: int = 50
    """Open event streams (SSE) of one user, over all their devices."""
    streams_per_address: int = 2000
    sockets_per_user: int = 50
    """Open Socket.IO connections of one user."""


def parse_limit(text: str, settings: LimitSettings) -> LimitSettings:
    """*settings* with one ``NAME=VALUE`` applied (the ``--limit`` option); ValueError if bad."""
    name, sep, value = text.partition("=")
    fields = {field.name: field for field in dataclasses.fields(LimitSettings)}
    name = name.strip().replace("-", "_")
    if not sep or name not in fields:
        raise ValueError(f"expected NAME=VALUE with NAME one of {', '.join(fields)}")
    try:
        number = float(value) if fields[name].type == "float" else int(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if number < 0:
        raise ValueError(f"{name} must be 0 (off) or more")
    changes: dict[str, Any] = {name: number}
    return dataclasses.replace(settings, **changes)


class RateLimiter:
    """A token bucket: *rate* events per second on average, bursts up to *burst*."""

    __slots__ = ("_clock", "_stamp", "_tokens")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: float | None = None
        self._stamp = 0.0

    def allow(self, rate: float, burst: int) -> bool:
        """Take one token if there is one."""
        now = self._clock()
        if self._tokens is None:
            self._tokens = float(burst)
        else:
            self._tokens = min(float(burst), self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def idle(self, rate: float, burst: int) -> bool:
        """Whether the bucket would be full now (forgetting it changes nothing)."""
        if self._tokens is None:
            return True
        return self._tokens + (self._clock() - self._stamp) * rate >= burst


class _Buckets:
    """One :class:`RateLimiter` per key, at *rate* per second."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = max(1, int(rate * BURST_SECONDS))
        self._clock = clock
        self._buckets: dict[str, RateLimiter] = {}

    def allow(self, key: str) -> bool:
        if self.rate <= 0:
            return True
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._buckets = {
                    k: b for k, b in self._buckets.items() if not b.idle(self.rate, self.burst)
                }
            bucket = self._buckets[key] = RateLimiter(self._clock)
        return bucket.allow(self.rate, self.burst)

    def __len__(self) -> int:
        return len(self._buckets)


class _Counts:
    """How many of something each key holds open, at most *most* (0: no limit)."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._open: dict[str, int] = {}

    def full(self, key: str) -> bool:
        return self.most > 0 and self._open.get(key, 0) >= self.most

    def add(self, key: str) -> None:
        self._open[key] = self._open.get(key, 0) + 1

    def remove(self, key: str) -> None:
        left = self._open.get(key, 0) - 1
        if left > 0:
            self._open[key] = left
        else:
            self._open.pop(key, None)

    def __len__(self) -> int:
        return len(self._open)


class Limits:
    """The server's limits, checked on the event loop (no locks needed)."""

    def __init__(
        self, settings: LimitSettings | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings = settings or LimitSettings()
        self._writes = (
            _Buckets(settings.writes_per_user, clock),
            _Buckets(settings.writes_per_address, clock),
        )
        self._events = (
            _Buckets(settings.events_per_user, clock),
            _Buckets(settings.events_per_address, clock),
        )
        self._streams = (_Counts(settings.streams_per_user), _Counts(settings.streams_per_address))
        self._sockets = _Counts(settings.sockets_per_user)
        self.refused = 0
        """How many requests and events were refused (for metrics and tests)."""

    def write(self, uid: str | None, address: str) -> None:
        """One write by *uid* (None: not signed in) from *address*; LimitError if too many."""
        self._rate(self._writes, uid, address, "writes")

    def event(self, uid: str, address: str) -> None:
        """One Socket.IO event; LimitError if too many."""
        self._rate(self._events, uid, address, "events")

    def _rate(
        self, buckets: tuple[_Buckets, _Buckets], uid: str | None, address: str, what: str
    ) -> None:
        per_user, per_address = buckets
        if uid is not None and not per_user.allow(uid):
            self._refuse(f"Too many {what}: at most {per_user.rate:g} a second per user")
        if not per_address.allow(address):
            self._refuse(f"Too many {what}: at most {per_address.rate:g} a second per address")

    @contextmanager
    def stream(self, uid: str | None, address: str) -> Iterator[None]:
        """Hold one open stream of *uid* from *address* for the block; LimitError if too many."""
        per_user, per_address = self._streams
        user_key = uid if uid is not None else f"address:{address}"
        if per_user.full(user_key):
            self._refuse(f"Too many open streams: at most {per_user.most} per user")
        if per_address.full(address):
            self._refuse(f"Too many open streams: at most {per_address.most} per address")
        per_user.add(user_key)
        per_address.add(address)
        try:
            yield
        finally:
            per_user.remove(user_key)
            per_address.remove(address)

    def socket_opened(self, uid: str) -> None:
        """A Socket.IO connection of *uid*; LimitError (and not counted) if too many."""
        if self._sockets.full(uid):
            self._refuse(f"Too many connections: at most {self._sockets.most} per user")
        self._sockets.add(uid)

    def socket_closed(self, uid: str) -> None:
        self._sockets.remove(uid)

    def _refuse(self, message: str) -> None:
        self.refused += 1
        log.debug("limit: %s", message)
        raise LimitError(message)

    def sizes(self) -> dict[str, int]:
        """How many keys each table holds (memory stays bounded; for tests)."""
        return {
            "writes": sum(map(len, self._writes)),
            "events": sum(map(len, self._events)),
            "streams": sum(map(len, self._streams)),
            "sockets": len(self._sockets),
        }
