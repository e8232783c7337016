"""The booking desk: live availability of the skills on screen, my bookings, and booking writes."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import Any

from desktop_chat.client.errors import (
    ClientError,
    InvalidRequestError,
    NetworkError,
    PermissionDeniedError,
)
from desktop_chat.client.events import AvailabilityChanged, BookingsChanged, EventBus
from desktop_chat.client.following import consume
from desktop_chat.client.rtdb import Database, QuerySpec
from desktop_chat.client.streams import StreamEvent
from desktop_chat.client.transport import TaskTracker
from desktop_chat.core import booking as rec
from desktop_chat.core.booking import AvailabilitySlot, Booking, BookingStatus
from desktop_chat.core.errors import CoreError
from desktop_chat.core.model import Slot
from desktop_chat.core.paths import PushIdGenerator

__all__ = ["BookingDesk", "SlotTakenError", "describe_time"]

log = logging.getLogger("desktop_chat.client")

TEMPLATE_DAYS = 14
"""How many days ahead a weekly template fills."""


class SlotTakenError(ClientError):
    """The slot was taken (or removed) before this booking reached the server."""

    def __init__(self, slot: AvailabilitySlot | None) -> None:
        super().__init__("this slot was just taken")
        self.slot = slot


def describe_time(start_ms: int, zone: dt.tzinfo | None = None) -> str:
    """``Tue 3 Dec, 09:00 CET``: an instant in *zone* (None: this computer's), named."""
    moment = dt.datetime.fromtimestamp(start_ms / 1000, zone).astimezone(zone)
    return f"{moment:%a} {moment.day} {moment:%b}, {moment:%H:%M} {moment.tzname() or ''}".strip()


class BookingDesk:
    """One account's bookings (two small query streams: as student and as provider) and the
    availability of the skills a visible view shows (one stream per such skill, stopped when
    no view shows it). Every change is announced on the bus."""

    def __init__(
        self,
        db: Database,
        uid: str,
        bus: EventBus,
        name: Callable[[], str],
        now_ms: Callable[[], int],
    ) -> None:
        self.db = db
        self.uid = uid
        self.bus = bus
        self._name = name
        self._now_ms = now_ms
        self.tasks = TaskTracker("bookings")
        self.bookings: dict[str, Booking] = {}
        self._sides: dict[str, dict[str, Booking]] = {"studentId": {}, "providerId": {}}
        self._slots: dict[str, list[AvailabilitySlot]] = {}
        self._watched: dict[str, asyncio.Task[None]] = {}
        self._wanted: frozenset[str] = frozenset()
        self._running = False
        self._ids = PushIdGenerator()

    # streams -----------------------------------------------------------------------------
    def start(self) -> None:
        """Follow my bookings and the skills asked for (again, after :meth:`stop`)."""
        if self._running:
            return
        self._running = True
        for side in self._sides:
            self.tasks.spawn(self._follow_bookings(side), f"bookings as {side}")
        self.watch(self._wanted)

    async def stop(self) -> None:
        """Stop every stream (what is watched is remembered for the next start)."""
        self._running = False
        self._watched.clear()
        await self.tasks.cancel_all()

    def watch(self, skill_ids: Iterable[str]) -> None:
        """Follow exactly these skills' availability (what the views on screen show)."""
        self._wanted = frozenset(skill for skill in skill_ids if skill)
        for skill in set(self._watched) - self._wanted:
            self._watched.pop(skill).cancel()
            self._slots.pop(skill, None)
        if self._running:
            for skill in self._wanted - set(self._watched):
                task = self.tasks.spawn(self._follow_skill(skill), f"slots {skill}")
                self._watched[skill] = task

    @property
    def watched(self) -> frozenset[str]:
        """The skills whose availability streams."""
        return frozenset(self._watched)

    def slots(self, skill_id: str) -> list[AvailabilitySlot] | None:
        """The followed skill's slots by start time (None: not read yet)."""
        return self._slots.get(skill_id)

    def slot(self, slot: Slot) -> AvailabilitySlot | None:
        for found in self._slots.get(slot.skill_id, ()):
            if found.date == slot.date and found.slot_id == slot.slot_id:
                return found
        return None

    def card_state(self, slot: Slot) -> rec.CardState:
        """The live state of a booking card's slot to me."""
        known = slot.skill_id in self._slots
        return rec.card_state(self.slot(slot), self.bookings, self.uid, self._now_ms(), known=known)

    async def _follow_skill(self, skill_id: str) -> None:
        subscription = self.db.listen(f"skillAvailability/{skill_id}")

        async def handle(event: StreamEvent) -> None:
            slots = rec.slots_from(skill_id, event.value)
            self._slots[skill_id] = slots
            self.bus.publish(AvailabilityChanged(skill_id, tuple(slots)))

        await consume(subscription, handle, f"availability of {skill_id}")

    async def _follow_bookings(self, side: str) -> None:
        subscription = self.db.listen("bookings", QuerySpec(side, equal_to=self.uid))

        async def handle(event: StreamEvent) -> None:
            found = {}
            if isinstance(event.value, dict):
                for bid, value in event.value.items():
                    booking = rec.booking_from(str(bid), value)
                    if booking is not None:
                        found[booking.booking_id] = booking
            self._sides[side] = found
            self.bookings = {**self._sides["studentId"], **self._sides["providerId"]}
            self.bus.publish(BookingsChanged(tuple(self.bookings.values())))

        await consume(subscription, handle, f"bookings ({side})")

    # reads -------------------------------------------------------------------------------
    async def read_slot(self, slot: Slot) -> AvailabilitySlot | None:
        """The slot as the server has it now (None: removed)."""
        path = f"skillAvailability/{slot.skill_id}/{slot.date}/{slot.slot_id}"
        value = await self.db.get(path)
        found = rec.slots_from(slot.skill_id, {slot.date: {slot.slot_id: value}})
        return found[0] if found else None

    async def read_booking(self, booking_id: str) -> Booking:
        """One of my bookings, from the stream or the server."""
        known = self.bookings.get(booking_id)
        if known is not None:
            return known
        found = rec.booking_from(booking_id, await self.db.get(f"bookings/{booking_id}"))
        if found is None:
            raise InvalidRequestError(f"there is no booking {booking_id!r}")
        return found

    async def read_skill(self, skill_id: str) -> dict[str, Any]:
        value = await self.db.get(f"skills/{skill_id}")
        if not isinstance(value, dict) or not isinstance(value.get("providerId"), str):
            raise InvalidRequestError(f"there is no skill {skill_id!r}")
        return value

    def next_session(self, other_uid: str) -> tuple[Booking, AvailabilitySlot] | None:
        """The next confirmed session between me and *other_uid* (its slot must be
        followed: the caller watches the skills of our bookings), or None."""
        now = self._now_ms()
        best: tuple[int, Booking, AvailabilitySlot] | None = None
        for booking in self.bookings.values():
            confirmed = booking.status is BookingStatus.CONFIRMED
            if not confirmed or booking.party(self.uid) != other_uid:
                continue
            slot = self.slot(booking.slot)
            if slot is None or slot.end <= now:
                continue
            if best is None or slot.start < best[0]:
                best = (slot.start, booking, slot)
        return None if best is None else (best[1], best[2])

    # writes ------------------------------------------------------------------------------
    async def book(self, slot: Slot) -> Booking:
        """Book *slot* as me (a student): one atomic write taking the slot, creating the
        booking and notifying the provider. A slot taken first (or gone) raises
        :class:`SlotTakenError` after reading it again; nothing else changed. A slot I hold
        already gives my booking of it; an answer lost on the way is settled by reading the
        slot back."""
        current = self.slot(slot) or await self.read_slot(slot)
        if current is not None and not current.available and current.booked_by == self.uid:
            return await self.read_booking(current.booking_id or "")
        if current is None or not current.available:
            raise SlotTakenError(current)
        skill = await self.read_skill(slot.skill_id)
        provider = str(skill["providerId"])
        if provider == self.uid:
            raise InvalidRequestError("this is your own skill: students book it")
        booking_id = self._ids()
        try:
            update = rec.book_slot(
                current,
                self.uid,
                provider,
                booking_id,
                student_name=self._name(),
                skill_title=str(skill.get("title", "a session")),
                when=describe_time(current.start, dt.UTC),  # (a zone every reader can read)
            )
        except CoreError as exc:
            raise InvalidRequestError(str(exc)) from exc
        try:
            await self.db.update("/", update)
        except (PermissionDeniedError, NetworkError) as exc:
            again = await self.read_slot(slot)  # (a NetworkError here: the outcome is unknown)
            if again is not None and again.booking_id == booking_id:
                pass  # the write landed, only its answer was lost: the booking is mine
            elif again is not None and not again.available and again.booked_by == self.uid:
                return await self.read_booking(again.booking_id or "")  # (booked twice at once)
            elif isinstance(exc, PermissionDeniedError) and (again is None or not again.available):
                raise SlotTakenError(again) from exc
            else:
                raise
        booking = Booking(
            booking_id,
            slot.skill_id,
            slot.date,
            slot.slot_id,
            self.uid,
            provider,
            BookingStatus.REQUESTED,
            self._now_ms(),
        )
        self.bookings.setdefault(booking_id, booking)
        return booking

    def _booking(self, booking_id: str) -> Booking:
        booking = self.bookings.get(booking_id)
        if booking is None:
            raise InvalidRequestError(f"there is no booking {booking_id!r} of yours")
        return booking

    async def confirm(self, booking_id: str) -> None:
        """Confirm a requested booking (its provider): the student is notified."""
        booking = self._booking(booking_id)
        skill = await self.read_skill(booking.skill_id)
        slot = self.slot(booking.slot) or await self.read_slot(booking.slot)
        when = describe_time(slot.start, dt.UTC) if slot is not None else booking.date
        update = rec.confirm_booking(
            booking,
            provider_name=self._name(),
            skill_title=str(skill.get("title", "a session")),
            when=when,
        )
        await self.db.update("/", update)

    async def decline(self, booking_id: str) -> None:
        """Decline a requested booking (its provider): the slot is free again."""
        await self._release(self._booking(booking_id), BookingStatus.DECLINED)

    async def cancel(self, booking_id: str) -> None:
        """Cancel a requested or confirmed booking (either side): the slot is free again."""
        await self._release(self._booking(booking_id), BookingStatus.CANCELLED)

    async def _release(self, booking: Booking, status: BookingStatus) -> None:
        update = rec.release_booking(booking, status)
        if await self.read_slot(booking.slot) is None:  # (removed: nothing left to free)
            update = {k: v for k, v in update.items() if k.startswith("bookings/")}
        await self.db.update("/", update)

    async def add_slot(self, skill_id: str, start_ms: int, end_ms: int, zone: dt.tzinfo) -> Slot:
        """Add a free slot to my skill (its day in my time zone *zone*); one starting at the
        same time exists already: InvalidRequestError (a booked slot is never overwritten)."""
        try:
            update = rec.new_slot(skill_id, start_ms, end_ms, zone)
        except CoreError as exc:
            raise InvalidRequestError(str(exc)) from exc
        slot = Slot(skill_id, rec.date_of(start_ms, zone), rec.slot_id_for(start_ms))
        if await self.read_slot(slot) is not None:
            raise InvalidRequestError("there is a slot at that time already")
        await self.db.update("/", update)
        return slot

    async def remove_slot(self, slot: AvailabilitySlot) -> None:
        """Remove a free slot of my skill (a booked one is declined or cancelled first)."""
        if not slot.available:
            raise InvalidRequestError("this slot is booked: decline or cancel the booking first")
        await self.db.update("/", rec.remove_slot(slot.slot))

    async def apply_template(
        self,
        skill_id: str,
        template: rec.WeeklyTemplate,
        zone: dt.tzinfo,
        *,
        days: int = TEMPLATE_DAYS,
    ) -> int:
        """Fill the next *days* days of my skill from a weekly template (one write); slots
        that exist already are kept as they are. Returns how many were added."""
        value = await self.db.get(f"skillAvailability/{skill_id}")  # (now, not as followed)
        existing = {s.slot_id for s in rec.slots_from(skill_id, value)}
        update: dict[str, Any] = {}
        for start, end in template.instances(self._now_ms(), days, zone):
            if rec.slot_id_for(start) not in existing:
                update.update(rec.new_slot(skill_id, start, end, zone))
        if update:
            await self.db.update("/", update)
        return len(update)
