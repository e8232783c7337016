"""Who is online across Socket.IO nodes: socket counts per user, in memory or in Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterable
from typing import Any, Protocol

from redis import asyncio as redis_asyncio
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from redis.retry import Retry

from desktop_chat.server.errors import ServerError
from desktop_chat.server.presence_lua import HEARTBEAT, REAP, SET_COUNT, SYNC

__all__ = ["LostCallback", "MemoryPresence", "Presence", "PresenceError", "RedisPresence"]

log = logging.getLogger("desktop_chat.server")

LostCallback = Callable[[list[str]], Awaitable[None]]
"""Awaited with uids whose online state changed behind the caller's back (see Presence)."""


class PresenceError(ServerError):
    """The presence store (Redis) cannot be reached or answered with an error."""


class Presence(Protocol):
    """Counts each user's connected sockets on every node; a user is online while the total
    over all nodes is above zero.

    Pair every ``connected(uid)`` with one ``disconnected(uid)``, even when one of them raised.
    Set ``on_lost`` (and ``on_regained``) before ``start()``.
    """

    on_lost: LostCallback | None
    """Awaited with uids that went offline without a ``disconnected()`` answering True here:
    their last sockets were on a node that died (or on this node while the store was down)."""
    on_regained: LostCallback | None
    """Awaited with uids that came back online without a ``connected()`` answering True here:
    this node's counts were published again after the store lost them (outage, restart)."""

    async def start(self) -> None: ...

    async def close(self) -> list[str]:
        """Remove this node's counts; returns the uids that thereby went offline."""
        ...

    async def connected(self, uid: str) -> bool:
        """One more socket of *uid* here; True iff the user's total went from 0 to 1."""
        ...

    async def disconnected(self, uid: str) -> bool:
        """One socket of *uid* less here (never below 0); True iff the total went to 0."""
        ...

    async def online(self, uids: Collection[str]) -> set[str]:
        """Which of *uids* have at least one socket on some node."""
        ...


def _check_uid(uid: object) -> str:
    if not isinstance(uid, str) or not uid:
        raise ValueError(f"a uid must be a non-empty string, not {uid!r}")
    return uid


class MemoryPresence:
    """Presence of a single node: a dict of counts. Never calls its callbacks."""

    def __init__(self) -> None:
        self.on_lost: LostCallback | None = None
        self.on_regained: LostCallback | None = None
        self._counts: dict[str, int] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> list[str]:
        gone = sorted(self._counts)
        self._counts.clear()
        return gone

    async def connected(self, uid: str) -> bool:
        count = self._counts.get(_check_uid(uid), 0) + 1
        self._counts[uid] = count
        return count == 1

    async def disconnected(self, uid: str) -> bool:
        count = self._counts.get(_check_uid(uid), 0)
        if count <= 1:
            self._counts.pop(uid, None)
            return count == 1
        self._counts[uid] = count - 1
        return False

    async def online(self, uids: Collection[str]) -> set[str]:
        return {uid for uid in uids if self._counts.get(uid, 0) > 0}


_REDIS_ERRORS = (RedisError, OSError)
MAX_REAPS_PER_BEAT = 100
POOL = 4  # (Redis connections a node keeps for presence at most, however busy it was)
ONLINE_CHUNK = 500


def _default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


class RedisPresence:
    """Presence shared by every node through one Redis.

    Each node writes its own count per user and renews a heartbeat every *heartbeat* seconds;
    a node whose heartbeat is older than *dead_after* seconds is cleared by the first live node
    to notice, which passes the users now at zero to its ``on_lost``. With the defaults a dead
    node's users are corrected within 20 s (the promise to operators is 30 s).

    This node's counts are also kept here. When Redis fails, ``connected()`` and
    ``disconnected()`` still count the socket here, then raise PresenceError at once (without
    waiting for Redis again) until a heartbeat gets through; that heartbeat publishes this
    node's counts again and reports the users whose state changed meanwhile to ``on_lost`` /
    ``on_regained``. So a caller may log a PresenceError and go on. Redis Cluster is not
    supported (the scripts compute key names).
    """

    def __init__(
        self,
        url: str,
        node_id: str | None = None,
        *,
        heartbeat: float = 5.0,
        dead_after: float = 15.0,
        prefix: str = "desktop_chat:",
        timeout: float = 5.0,
    ) -> None:
        if heartbeat <= 0 or dead_after <= heartbeat:
            raise ValueError("need 0 < heartbeat < dead_after")
        self.url = url
        self.node_id = node_id or _default_node_id()
        self.heartbeat = heartbeat
        self.dead_after = dead_after
        self.prefix = prefix
        self.timeout = timeout
        self.on_lost: LostCallback | None = None
        self.on_regained: LostCallback | None = None
        self._counts: dict[str, int] = {}
        self._unsent_offline: set[str] = set()
        """uids whose last socket here went while Redis could not be told."""
        self._lock = asyncio.Lock()  # one write at a time: Redis sees this node's counts in order
        self._healthy = False
        self._needs_sync = True
        self._client: redis_asyncio.Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._beat_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @property
    def _nodes(self) -> str:
        return self._key("nodes")

    @property
    def _members(self) -> str:
        return self._key("node", self.node_id)

    async def start(self) -> None:
        """Connect, take over what a previous life of this node id left, start the heartbeat."""
        if self._client is not None:
            return
        try:
            timeouts = {"timeout": self.timeout, "socket_timeout": self.timeout}
            pool = redis_asyncio.BlockingConnectionPool.from_url(  # (waits rather than opens more)
                self.url,
                max_connections=POOL,
                decode_responses=True,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 1),  # one retry: a pooled connection from before a restart
                **timeouts,
            )
            self._client = redis_asyncio.Redis.from_pool(pool)
        except ValueError as exc:
            raise PresenceError(f"bad Redis URL for presence: {exc}") from None
        for name, text in (
            ("set", SET_COUNT),
            ("beat", HEARTBEAT),
            ("sync", SYNC),
            ("reap", REAP),
        ):
            self._scripts[name] = self._client.register_script(text)
        try:
            async with self._lock:
                await self._sync()
        except BaseException:
            await self._client.aclose()
            self._client = None
            raise
        self._beat_task = asyncio.create_task(self._beat_loop(), name="presence-heartbeat")
        log.info("presence in Redis as node %s", self.node_id)

    async def close(self) -> list[str]:
        """Stop the heartbeat and remove this node's counts; returns the uids that went offline.

        If Redis cannot be reached, returns [] and the other nodes clear this node's counts
        once its heartbeat is older than *dead_after* (their ``on_lost`` reports those users).
        """
        tasks = [t for t in (self._beat_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._beat_task = None
        self._tasks.clear()
        if self._client is None:
            return []
        lost: list[str] = []
        self._counts.clear()
        try:
            async with self._lock:
                _, lost = await self._run_sync(leave=True)
        except PresenceError as exc:
            log.warning("presence: could not remove this node's counts on close: %s", exc)
        finally:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None
        return lost

    async def connected(self, uid: str) -> bool:
        count = self._counts.get(_check_uid(uid), 0) + 1
        self._counts[uid] = count
        self._unsent_offline.discard(uid)
        before, after = await self._publish(uid)
        return before == 0 and after > 0

    async def disconnected(self, uid: str) -> bool:
        count = self._counts.get(_check_uid(uid), 0)
        if count <= 1:
            self._counts.pop(uid, None)
        else:
            self._counts[uid] = count - 1
        if count == 0:
            return False
        if count == 1:
            self._unsent_offline.add(uid)
        before, after = await self._publish(uid)
        return before > 0 and after == 0

    async def online(self, uids: Collection[str]) -> set[str]:
        client = self._require_client()
        wanted = list(dict.fromkeys(uids))
        found: set[str] = set()
        try:
            for start in range(0, len(wanted), ONLINE_CHUNK):
                chunk = wanted[start : start + ONLINE_CHUNK]
                pipe = client.pipeline(transaction=False)
                for uid in chunk:
                    pipe.hvals(self._key("presence", uid))
                answers = await pipe.execute()
                found.update(
                    uid for uid, values in zip(chunk, answers, strict=True) if _sum(values) > 0
                )
        except _REDIS_ERRORS as exc:
            raise self._error("reading who is online", exc) from None
        return found

    def _require_client(self) -> redis_asyncio.Redis:
        if self._client is None:
            raise PresenceError("presence is not started (or already closed)")
        return self._client

    async def _publish(self, uid: str) -> tuple[int, int]:
        """Write this node's count for *uid*; returns the user's (before, after) totals."""
        self._require_client()
        if not self._healthy:
            raise PresenceError(
                "Redis is unreachable; presence counts are kept here and published when it is back"
            )
        async with self._lock:
            count = self._counts.get(uid, 0)
            keys = [self._nodes, self._members, self._key("presence", uid)]
            try:
                before, after, registered = await self._scripts["set"](
                    keys, [self.node_id, uid, count]
                )
            except _REDIS_ERRORS as exc:
                self._healthy = False
                self._needs_sync = True
                raise self._error(f"updating the presence of {uid}", exc) from None
            except asyncio.CancelledError:  # Redis may or may not have it: publish all again
                self._needs_sync = True
                raise
            if count == 0:
                self._unsent_offline.discard(uid)
        if not int(registered):  # this node had been cleared as dead: publish the rest soon
            log.warning("presence: node %s was cleared as dead; publishing again", self.node_id)
            self._needs_sync = True
        return int(before), int(after)

    async def _run_sync(self, leave: bool = False) -> tuple[list[str], list[str]]:
        pairs: list[str | int] = []
        for uid, count in self._counts.items():
            pairs += [uid, count]
        unsent = set(self._unsent_offline)
        mode = "leave" if leave else "stay"
        args = [self.node_id, self.prefix, mode, len(self._counts), *pairs, *unsent]
        try:
            regained, lost = await self._scripts["sync"]([self._nodes, self._members], args)
        except _REDIS_ERRORS as exc:
            raise self._error("publishing this node's presence counts", exc) from None
        self._unsent_offline -= unsent
        return list(regained), list(lost)

    async def _sync(self) -> None:
        """Publish this node's counts (call with the lock held) and report what changed."""
        regained, lost = await self._run_sync()
        self._needs_sync = False
        self._healthy = True
        self._notify(self.on_regained, regained, "regained")
        self._notify(self.on_lost, lost, "lost")

    async def _beat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            was_healthy = self._healthy
            try:
                await self._beat()
                if not was_healthy:
                    log.info("presence: Redis is reachable again")
                self._healthy = True
            except PresenceError as exc:
                if self._healthy:
                    log.warning("presence heartbeat failed (will retry): %s", exc)
                self._healthy = False
                self._needs_sync = True
            except Exception:  # a bug: keep beating, or this node would be cleared as dead
                log.exception("presence heartbeat failed unexpectedly")

    async def _beat(self) -> None:
        """Renew this node (publishing its counts again if Redis lost them), then clear dead
        nodes."""
        if not self._needs_sync:
            try:
                missing = await self._scripts["beat"]([self._nodes], [self.node_id])
            except _REDIS_ERRORS as exc:
                raise self._error("renewing the presence heartbeat", exc) from None
            if int(missing):
                log.warning("presence: Redis had lost node %s; publishing again", self.node_id)
                self._needs_sync = True
        if self._needs_sync:
            async with self._lock:
                await self._sync()
        for _ in range(MAX_REAPS_PER_BEAT):
            try:
                reaped = await self._scripts["reap"](
                    [self._nodes], [self.prefix, int(self.dead_after * 1000), self.node_id]
                )
            except _REDIS_ERRORS as exc:
                raise self._error("clearing dead nodes", exc) from None
            if not reaped:
                break
            node, lost = reaped[0], list(reaped[1])
            log.warning("presence: node %s stopped; %d users went offline", node, len(lost))
            self._notify(self.on_lost, lost, "lost")

    def _notify(self, callback: LostCallback | None, uids: list[str], what: str) -> None:
        if callback is not None and uids:
            self._spawn(_guarded(callback(uids), what), f"presence-{what}")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _error(self, doing: str, exc: BaseException) -> PresenceError:
        return PresenceError(f"Redis presence failed {doing}: {type(exc).__name__}: {exc}")


async def _guarded(call: Awaitable[None], what: str) -> None:
    try:
        await call
    except Exception:
        log.exception("presence: the %s-users callback failed", what)


def _sum(values: Iterable[str]) -> int:
    return sum(int(value) for value in values)
