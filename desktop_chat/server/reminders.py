"""Session reminders: one ``session_reminder`` per confirmed booking and person, on time."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
from dataclasses import dataclass
from functools import partial

from desktop_chat.core.paths import MAX_KEY_BYTES, Path
from desktop_chat.core.values import NULL_ETAG, Node
from desktop_chat.server.database import Database, SetOp, View, WriteRequest
from desktop_chat.server.errors import HttpError
from desktop_chat.server.notifications import (
    NotificationError,
    notification_path,
    system_notification,
)

__all__ = ["Reminder", "Reminders", "due_reminders", "reminder_id"]

log = logging.getLogger("desktop_chat.server")

REMINDER_PREFIX = "sessionReminder_"
MAX_SLEEP = 300.0
"""Longest wait (seconds) while a reminder is pending: the server clock is a wall clock, and
a clock that jumps must not delay a reminder by more than this."""
RETRY_AFTER = 30.0
"""Wait (seconds) after an unexpected failure before trying again."""
WATCHED = frozenset({"bookings", "skillAvailability"})
"""Changes below these (or of the whole tree) can add, move or cancel a reminder."""
SENT = "sentReminders"
"""``sentReminders/{uid}/{reminderId}``: the session start of each reminder sent, written
with it, so that one its owner deleted is never sent again (no client may read or write
here: the rules grant nothing). Kept a week after the session."""
KEEP_SENT_MS = 7 * 24 * 3_600_000
PRUNE_EVERY_MS = 3_600_000


def reminder_id(booking_id: str, uid: str) -> str:
    """The one id the reminder of *booking_id* for *uid* has, on every node and after every
    restart: ``sessionReminder_<bookingId>`` (a hash of both when that is too long a key)."""
    readable = REMINDER_PREFIX + booking_id
    if len(readable.encode("utf-8")) <= MAX_KEY_BYTES:
        return readable
    digest = hashlib.sha256(f"{booking_id}\0{uid}".encode()).hexdigest()
    return REMINDER_PREFIX + digest


@dataclass(frozen=True, slots=True)
class Reminder:
    """A reminder still to send: who, for which booking, and when."""

    booking_id: str
    uid: str
    start_ms: int
    due_ms: int

    @property
    def key(self) -> tuple[str, str]:
        return self.booking_id, self.uid


def _session_start(look: View, booking: dict[str, Node]) -> int | None:
    """The start (epoch ms) of the slot a booking holds, if it names one with a start."""
    keys: list[str] = []
    for name in ("skillId", "date", "slotId"):
        key = booking.get(name)
        if not isinstance(key, str) or not key:
            return None
        keys.append(key)
    start = look(("skillAvailability", *keys, "start"))
    if isinstance(start, dict):  # a leaf with a priority
        start = start.get(".value")
    if isinstance(start, bool) or not isinstance(start, int | float) or not math.isfinite(start):
        return None
    return int(start)


def due_reminders(look: View, lead_ms: int, now_ms: int) -> list[Reminder]:
    """Every reminder not yet in the tree (values looked up with *look*) for a confirmed
    booking whose session has not started: its student's and its provider's, due *lead_ms*
    before the start."""
    bookings = look(("bookings",))
    if not isinstance(bookings, dict):
        return []
    found: list[Reminder] = []
    for booking_id, booking in bookings.items():
        if not isinstance(booking, dict) or booking.get("status") != "confirmed":
            continue
        start = _session_start(look, booking)
        if start is None or start <= now_ms:
            continue
        people = {booking.get("studentId"), booking.get("providerId")}
        for uid in sorted(p for p in people if isinstance(p, str) and p):
            rid = reminder_id(booking_id, uid)
            sent = look((SENT, uid, rid)) is not None  # (its owner may have deleted it)
            if not sent and look(notification_path(uid, rid)) is None:
                found.append(Reminder(booking_id, uid, start, start - lead_ms))
    return found


def _still_due(reminder: Reminder, look: View) -> bool:
    """The booking is still confirmed, for the same session (a write queued before the
    reminder's may have cancelled or moved it)."""
    booking = look(("bookings", reminder.booking_id))
    return (
        isinstance(booking, dict)
        and booking.get("status") == "confirmed"
        and _session_start(look, booking) == reminder.start_ms
    )


def _reminder_text(look: View, booking_id: str, start_ms: int, now_ms: int) -> tuple[str, str]:
    skill_id = look(("bookings", booking_id, "skillId"))
    skill = look(("skills", skill_id, "title")) if isinstance(skill_id, str) else None
    what = f"Your session “{skill[:150]}”" if isinstance(skill, str) and skill else "Your session"
    minutes = math.ceil((start_ms - now_ms) / 60_000)
    when = "in less than a minute" if minutes <= 1 else f"in {minutes} minutes"
    return "Session starting soon", f"{what} starts {when}."


class Reminders:
    """The server's reminder task: sleeps until the next reminder is due (or until a booking
    or slot changes), sends what is due with a create-if-absent write, and sleeps again."""

    def __init__(self, db: Database, lead_ms: int) -> None:
        if lead_ms <= 0:
            raise ValueError("the reminder lead time must be positive")
        self.db = db
        self.lead_ms = lead_ms
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sent: dict[tuple[str, str], int] = {}
        """Reminders this process sent or found sent (to their session's start)."""
        self._pruned_at = 0

    def start(self) -> None:
        self.db.commit_hooks.append(self.on_commit)
        self._task = asyncio.create_task(self._run(), name="session-reminders")

    async def close(self) -> None:
        """Stop the task; a reminder being written either lands whole or not at all."""
        with contextlib.suppress(ValueError):
            self.db.commit_hooks.remove(self.on_commit)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def on_commit(self, changes: list[tuple[Path, Node]]) -> None:
        """A commit hook: wake the task when bookings or slots changed."""
        if any(not path or path[0] in WATCHED for path, _ in changes):
            self._wake.set()

    async def _run(self) -> None:
        log.info("session reminders %g minutes before each session", self.lead_ms / 60_000)
        while True:
            self._wake.clear()
            try:
                delay = await self._send_due()
            except asyncio.CancelledError:
                raise
            except HttpError as exc:  # the store failed to commit, say: the write was undone
                log.warning("a session reminder was not written (%s); trying again", exc.message)
                delay = RETRY_AFTER
            except Exception:
                log.exception("sending session reminders failed; trying again shortly")
                delay = RETRY_AFTER
            if delay is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    async def _send_due(self) -> float | None:
        """Send every reminder that is due; the seconds until the next one (None: none)."""
        await self.db.settled()
        now = self.db.now_ms()
        self._sent = {key: start for key, start in self._sent.items() if start > now}
        if now - self._pruned_at >= PRUNE_EVERY_MS:
            await self._prune(now)
        next_due: int | None = None
        due = await self.db.examine(partial(due_reminders, lead_ms=self.lead_ms, now_ms=now))
        for reminder in due:
            if reminder.key in self._sent:
                continue
            if reminder.due_ms > now:
                next_due = reminder.due_ms if next_due is None else min(next_due, reminder.due_ms)
                continue
            await self._send(reminder)
        if next_due is None:
            return None
        return min(MAX_SLEEP, max(0.0, (next_due - self.db.now_ms()) / 1000))

    async def _send(self, reminder: Reminder) -> None:
        """Create one reminder unless it exists (HttpError if the database refuses)."""
        now = self.db.now_ms()
        booking = await self.db.examine(lambda look: look(("bookings", reminder.booking_id)))
        if not isinstance(booking, dict) or booking.get("status") != "confirmed":
            return  # changed since the scan; the next scan sees the change
        title, body = await self.db.examine(
            partial(
                _reminder_text,
                booking_id=reminder.booking_id,
                start_ms=reminder.start_ms,
                now_ms=now,
            )
        )
        try:
            value = system_notification(
                "session_reminder", title, body, {"bookingId": reminder.booking_id}
            )
        except NotificationError as exc:  # a booking id too long to link: never sendable
            log.warning("no session reminder for booking %r: %s", reminder.booking_id, exc)
            self._sent[reminder.key] = reminder.start_ms
            return
        rid = reminder_id(reminder.booking_id, reminder.uid)
        request = WriteRequest(  # the mark and the reminder, only if not marked sent before
            [
                SetOp((SENT, reminder.uid, rid), reminder.start_ms),
                SetOp(notification_path(reminder.uid, rid), value),
            ],
            has_server_values=True,
            if_match=NULL_ETAG,
        )
        request.precondition = partial(_still_due, reminder)  # (checked in write order)
        try:
            await self.db.write(request)
        except HttpError as exc:
            if exc.status != 412:
                raise
            if await self.db.examine(lambda look: look((SENT, reminder.uid, rid))) is not None:
                self._sent[reminder.key] = reminder.start_ms
                log.info("session reminder %s for %s was already sent", rid, reminder.uid)
            return  # (or the booking changed meanwhile: the next scan sees how)
        self._sent[reminder.key] = reminder.start_ms
        log.info("sent session reminder %s to %s", rid, reminder.uid)

    async def _prune(self, now: int) -> None:
        """Forget the marks of sessions that started more than KEEP_SENT_MS ago."""
        self._pruned_at = now
        marks = await self.db.examine(lambda look: look((SENT,)))
        old = {
            f"{SENT}/{uid}/{rid}": None
            for uid, sent in (marks.items() if isinstance(marks, dict) else ())
            if isinstance(sent, dict)
            for rid, start in sent.items()
            if not isinstance(start, int | float) or start < now - KEEP_SENT_MS
        }
        if old:
            ops = [SetOp(tuple(path.split("/")), None) for path in old]
            await self.db.write(WriteRequest(ops))
            log.info("forgot %d marks of session reminders sent over a week ago", len(ops))
