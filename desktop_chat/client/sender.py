"""The outbox drain: sends queued messages in order per conversation, each exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from enum import Enum

from desktop_chat.client.errors import (
    AuthError,
    BadRequestError,
    ClientError,
    NetworkError,
    PermissionDeniedError,
)
from desktop_chat.client.events import DeliveryStateChanged, EventBus
from desktop_chat.client.outbox import Outbox, OutboxItem
from desktop_chat.client.rtdb import Database
from desktop_chat.client.transport import Backoff, wait_set
from desktop_chat.core.model import DeliveryState

__all__ = ["Outcome", "Sender"]

log = logging.getLogger("desktop_chat.client")


class Outcome(Enum):
    SENT = "sent"
    FAILED = "failed"
    RETRY = "retry"
    """Refused, and the message is not on the server: an attempt counted, try again later."""
    OFFLINE = "offline"
    """No answer (network, 5xx, no token yet): nothing counted, try again later."""
    WITHDRAWN = "withdrawn"
    """Its storing failed: nothing was sent, and it never will be."""


class Sender:
    """Drains an :class:`Outbox` through one multi-path PATCH per message.

    Items go in ``(created_at, id)`` order; an item waiting for a retry holds back the later
    items of its conversation only. On a refusal or an unknown outcome the message is read
    back and marked sent if it is there (the rules let an id be created once, so a resent
    message that had landed is refused whole). Refusals count towards the outbox's
    ``max_attempts``, after which the item is failed; being offline never counts, so no
    message fails just because the network was away. :meth:`wake` is called on enqueue, on a
    manual retry and whenever a stream reconnects (``force`` skips pending backoffs).

    The pending items are read from the outbox once and then kept in memory: a new message
    arrives through :meth:`submit` while it is being stored, with the storing as its gate: its
    request is made ready meanwhile, but no byte of it leaves before the message is stored, and
    if storing fails nothing is sent (:meth:`withdraw`). "Sent" marks are written in batches
    once the sender is idle, off the sending path; one lost to a crash is settled by the
    read-back when the message is tried again.
    """

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        bus: EventBus,
        *,
        backoff_base: float = 0.25,
        backoff_cap: float = 5.0,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.bus = bus
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.sent = 0
        self._wake = asyncio.Event()
        self._not_before: dict[str, float] = {}
        self._backoffs: dict[str, Backoff] = {}
        self._items: dict[str, OutboxItem] | None = None
        self._fresh: dict[str, OutboxItem] = {}  # submitted, not done: kept across reloads
        self._gates: dict[str, asyncio.Future[bool]] = {}  # submitted, storing not yet done
        self._withdrawn: set[str] = set()  # never to be sent (their storing failed)
        self._in_flight: str | None = None
        self._unmarked: list[str] = []
        self._flushing: asyncio.Task[None] | None = None

    def wake(self, *, force: bool = False, reload: bool = False) -> None:
        """Look at the outbox again now; *force*: skip backoffs; *reload*: re-read the file
        (after a change made outside :meth:`submit`, such as a manual retry)."""
        if force:
            self._not_before.clear()
        if reload:
            self._items = None
        self._wake.set()

    def submit(self, item: OutboxItem, stored: asyncio.Future[bool]) -> None:
        """Send *item* as soon as its turn comes and *stored* says True (storing it in the outbox
        goes on meanwhile; its request is made ready but held until then)."""
        if item["state"] == "pending":
            self._fresh[item["id"]] = item
            self._gates[item["id"]] = stored
        self._wake.set()

    def withdraw(self, message_id: str) -> None:
        """Forget a submitted message whose storing failed: it was not sent and never will be
        (a request already made ready for it fails without sending a byte)."""
        self._withdrawn.add(message_id)  # (a pass reading a reloaded list skips it too)
        self._fresh.pop(message_id, None)
        self._gates.pop(message_id, None)
        if self._items is not None:
            self._items.pop(message_id, None)

    async def run(self) -> None:
        """Drain forever (until cancelled)."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._wake.clear()
                progressed, soonest = await self._drain_once()
                if progressed:
                    continue
                if self._unmarked and (self._flushing is None or self._flushing.done()):
                    self._flushing = loop.create_task(self._flush_marks())  # (idle: no hurry)
                timeout = None if soonest is None else max(0.0, soonest - loop.time())
                await wait_set(self._wake, timeout)
        finally:
            with contextlib.suppress(Exception):
                if self._flushing is not None:
                    await self._flushing
                await self._flush_marks()

    async def _flush_marks(self) -> None:
        if self._unmarked:
            ids, self._unmarked = self._unmarked, []
            await asyncio.to_thread(self.outbox.mark_sent_many, ids)

    async def _pending(self) -> list[OutboxItem]:
        if self._items is None:
            stored = await asyncio.to_thread(self.outbox.pending)
            self._items = {item["id"]: item for item in stored}
        for mid, item in self._fresh.items():  # (one that a reload already saw is kept once)
            self._items.setdefault(mid, item)
        return sorted(self._items.values(), key=lambda item: (item["created_at"], item["id"]))

    async def _drain_once(self) -> tuple[bool, float | None]:
        """One pass over the pending items: (anything finished, when to look again)."""
        loop = asyncio.get_running_loop()
        items = await self._pending()
        blocked: set[str] = set()
        progressed = False
        soonest: float | None = None
        for item in items:
            mid, cid = item["id"], item["cid"]
            if cid in blocked or mid in self._withdrawn:
                continue  # (held back, or withdrawn)
            due = self._not_before.get(mid, 0.0)
            if due > loop.time():
                blocked.add(cid)
                soonest = due if soonest is None else min(soonest, due)
                continue
            self._in_flight = mid
            try:
                outcome = await self.attempt(item)
            finally:
                self._in_flight = None
            if outcome in (Outcome.SENT, Outcome.FAILED, Outcome.WITHDRAWN):
                progressed = True
                self._fresh.pop(mid, None)
                self._gates.pop(mid, None)
                if self._items is not None:
                    self._items.pop(mid, None)
                if len(self._unmarked) >= 100:
                    await self._flush_marks()
                self._not_before.pop(mid, None)
                self._backoffs.pop(mid, None)
                continue
            blocked.add(cid)
            backoff = self._backoffs.setdefault(
                mid, Backoff(base=self.backoff_base, cap=self.backoff_cap)
            )
            due = loop.time() + backoff.next_delay()
            self._not_before[mid] = due
            soonest = due if soonest is None else min(soonest, due)
            if outcome is Outcome.OFFLINE:
                break  # the server is away: no point trying the other conversations now
        return progressed, soonest

    async def attempt(self, item: OutboxItem) -> Outcome:
        """Send *item* once and record the outcome in the outbox (and as an event)."""
        mid, cid = item["id"], item["cid"]
        gate = self._gates.get(mid)
        try:
            await self.db.update("/", item["body"], gate=gate)
            return await self._sent(item)
        except PermissionDeniedError as exc:
            error = f"refused: {exc.message}"
        except BadRequestError as exc:  # can never succeed as it is
            return await self._failed(item, f"bad request: {exc.message}")
        except (NetworkError, AuthError, TimeoutError) as exc:
            error = f"no answer: {exc}"
        except ClientError as exc:
            error = f"error: {exc}"
        if gate is not None and gate.done() and not gate.result():
            self.withdraw(mid)
            return Outcome.WITHDRAWN  # not stored: not sent either (the sender of it is told)
        try:  # the outcome is a refusal or unknown: is the message there?
            there = await self.db.get(f"conversations/{cid}/messages/{mid}") is not None
        except PermissionDeniedError:
            there = False  # not even readable: not a participant
        except (NetworkError, AuthError, TimeoutError) as exc:
            log.info("message %s: %s; reading it back failed too (%s)", mid, error, exc)
            return Outcome.OFFLINE
        if there:
            return await self._sent(item)
        if error.startswith("no answer"):
            return Outcome.OFFLINE  # the server answered the read: it is back, go again
        log.info("message %s not delivered: %s", mid, error)
        updated = await asyncio.to_thread(self.outbox.mark_attempt, mid, error, _epoch_ms_after(0))
        if updated["state"] == "failed":
            self.bus.publish(DeliveryStateChanged(cid, mid, DeliveryState.FAILED, error))
            return Outcome.FAILED
        return Outcome.RETRY

    async def _sent(self, item: OutboxItem) -> Outcome:
        self._unmarked.append(item["id"])
        self.sent += 1
        self.bus.publish(DeliveryStateChanged(item["cid"], item["id"], DeliveryState.SENT))
        return Outcome.SENT

    async def _failed(self, item: OutboxItem, error: str) -> Outcome:
        await asyncio.to_thread(self.outbox.mark_failed, item["id"], error)
        log.warning("message %s failed: %s", item["id"], error)
        self.bus.publish(DeliveryStateChanged(item["cid"], item["id"], DeliveryState.FAILED, error))
        return Outcome.FAILED


def _epoch_ms_after(seconds: float) -> int:
    return time.time_ns() // 1_000_000 + int(seconds * 1000)
