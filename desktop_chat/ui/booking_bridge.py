"""BookingBridge: live slots and bookings for the widgets, and the booking commands they run."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PySide6.QtCore import QObject, QTimeZone, Signal

from desktop_chat.client.bookings import BookingDesk, SlotTakenError, describe_time
from desktop_chat.client.errors import ClientError
from desktop_chat.client.events import AvailabilityChanged, BookingsChanged
from desktop_chat.core.booking import (
    AvailabilitySlot,
    Booking,
    BookingStatus,
    CardState,
    WeeklyTemplate,
)
from desktop_chat.core.model import Slot
from desktop_chat.ui.bridge import ChatBridge, Skill, human_error
from desktop_chat.ui.bridge_data import skill_from

__all__ = ["BookingBridge", "local_zone", "zone_note"]

log = logging.getLogger("desktop_chat.ui")


def local_zone() -> dt.tzinfo:
    """This computer's time zone, with its daylight-saving rules where Qt knows its name."""
    name = bytes(QTimeZone.systemTimeZoneId().data()).decode("ascii", "replace")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.datetime.now().astimezone().tzinfo
        return zone if zone is not None else dt.UTC


def zone_note(zone: dt.tzinfo | None = None) -> str:
    """``Times are in your time zone, Europe/Berlin (UTC+01:00)``."""
    zone = zone or local_zone()
    now = dt.datetime.now(zone)
    offset = now.strftime("%z")
    name = getattr(zone, "key", None) or now.tzname() or "local time"
    return f"Times are in your time zone, {name} (UTC{offset[:3]}:{offset[3:]})"


class BookingBridge(QObject):
    """The booking desk of the signed-in account, for the widgets: views say which skills they
    show (:meth:`want`), and only those stream; every command runs as a tracked task and
    reports through a signal, never an exception."""

    slotsChanged = Signal(str, object)  # skill id, list[AvailabilitySlot]
    bookingsChanged = Signal(object)  # list[Booking]
    booked = Signal(object, object)  # Booking (my request went through), origin
    slotTaken = Signal(object, object)  # Slot (someone else was first), origin
    skillRead = Signal(object)  # Skill: what read_skill asked for
    bookingOpened = Signal(object)  # Skill: the one open_booking's booking is of
    skillOpened = Signal(object)  # Skill: what open_skill asked for
    conversationSkill = Signal(str, str)  # conversation id, the skill it started about
    done = Signal(str, object)  # a sentence (what a command did), origin: the view that asked
    error = Signal(str, object)  # a sentence, origin

    def __init__(self, bridge: ChatBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.zone = local_zone()
        self._wanted: dict[int, frozenset[str]] = {}
        self._names: dict[str, str] = {}
        self._providers: dict[str, str] = {}  # skill id -> its provider
        self._booking: set[Slot] = set()  # slots being booked
        self._asked: set[str] = set()
        bridge.bookingEvent.connect(self._event)
        bridge.resync.connect(lambda _reason: self._replay())

    @property
    def desk(self) -> BookingDesk | None:
        return self.bridge.client.desk

    @property
    def uid(self) -> str | None:
        return self.bridge.uid

    def _event(self, event: object) -> None:
        if isinstance(event, AvailabilityChanged):
            self.slotsChanged.emit(event.skill_id, list(event.slots))
        elif isinstance(event, BookingsChanged):
            self.bookingsChanged.emit(list(event.bookings))

    def _replay(self) -> None:
        """After a resync (events may have been dropped): what the desk knows, again."""
        desk = self.desk
        if desk is None:
            return
        for skill in desk.watched:
            slots = desk.slots(skill)
            if slots is not None:
                self.slotsChanged.emit(skill, list(slots))
        self.bookingsChanged.emit(self.bookings())

    async def _read_name(self, uid: str) -> None:
        try:
            profile = await self.bridge.client.profile(uid)
        except ClientError as exc:
            log.info("no name for %s: %s", uid, exc)
            return
        self._names[uid] = profile.display_name if profile is not None else "Someone"
        self.bookingsChanged.emit(self.bookings())  # (the rows naming them are redrawn)

    def name_of(self, uid: str) -> str:
        """The display name of the other side of a booking, read once in the background
        (until then: "A student")."""
        if uid not in self._names and uid not in self._asked and not self.bridge.closed:
            self._asked.add(uid)
            self.bridge.spawn(self._read_name(uid), "a booking's name")
        return self._names.get(uid, "A student")

    # what is on screen ---------------------------------------------------------------------
    def want(self, viewer: object, skill_ids: Iterable[str]) -> None:
        """*viewer* shows these skills now (an empty list: none); the union streams."""
        self._wanted[id(viewer)] = frozenset(skill_ids)
        if self.desk is not None:
            self.desk.watch(set().union(*self._wanted.values()))

    def wanted_by(self, viewer: object) -> frozenset[str]:
        return self._wanted.get(id(viewer), frozenset())

    def slots(self, skill_id: str) -> list[AvailabilitySlot] | None:
        return self.desk.slots(skill_id) if self.desk is not None else None

    def slot(self, slot: Slot) -> AvailabilitySlot | None:
        return self.desk.slot(slot) if self.desk is not None else None

    def card_state(self, slot: Slot) -> CardState:
        return self.desk.card_state(slot) if self.desk is not None else CardState.UNKNOWN

    def bookings(self) -> list[Booking]:
        """Mine, newest first."""
        found = self.desk.bookings.values() if self.desk is not None else ()
        return sorted(found, key=lambda booking: -booking.created_at)

    def next_session(self, other_uid: str) -> tuple[Booking, AvailabilitySlot | None] | None:
        return self.desk.next_session(other_uid) if self.desk is not None else None

    def when(self, start_ms: int) -> str:
        return describe_time(start_ms, self.zone)

    # commands ----------------------------------------------------------------------------
    def _run(
        self,
        action: str,
        work: Callable[[BookingDesk], Coroutine[Any, Any, Any]],
        done: Callable[[Any], None] | None = None,
        origin: object = None,
    ) -> asyncio.Task[None] | None:
        """Run *work* as a task tracked by the bridge; its outcome goes to *done*, a taken
        slot to ``slotTaken`` and an error to ``error``, each with the *origin* (the view
        that asked) so only that view answers; errors of no view go to the status line."""
        desk = self.desk
        if desk is None or self.bridge.closed:
            self._failed(f"Could not {action}: you are not signed in.", origin)
            return None

        async def guarded() -> None:
            try:
                result = await work(desk)
            except SlotTakenError as exc:
                self.slotTaken.emit(exc.slot.slot if exc.slot is not None else None, origin)
                return
            except (ClientError, ValueError) as exc:
                log.info("could not %s: %s", action, exc)
                self._failed(human_error(action, exc), origin)
                return
            if done is not None:
                done(result)

        return self.bridge.spawn(guarded(), action)  # (tracked, cancelled with the bridge)

    def _failed(self, sentence: str, origin: object) -> None:
        self.error.emit(sentence, origin)
        if origin is None:
            self.bridge.error.emit(sentence)

    def _said(self, sentence: str, origin: object) -> Callable[[Any], None]:
        return lambda _: self.done.emit(sentence, origin)

    def read_skill(self, skill_id: str) -> asyncio.Task[None] | None:
        """Read a skill (with its provider's name): ``skillRead(Skill)``."""
        return self._run(
            "open the skill", lambda desk: self._skill(desk, skill_id), self.skillRead.emit
        )

    def read_conversation_skill(self, cid: str) -> asyncio.Task[None] | None:
        """``conversationSkill(cid, skill_id)`` if the conversation started about a skill."""

        async def work(desk: BookingDesk) -> str | None:
            value = await desk.db.get(f"conversations/{cid}/metadata/skillId")
            return value if isinstance(value, str) and value else None

        def read(skill_id: str | None) -> None:
            if skill_id is not None:
                self.conversationSkill.emit(cid, skill_id)

        return self._run("read what the conversation is about", work, read)

    def open_skill(self, skill_id: str) -> asyncio.Task[None] | None:
        """Read a skill to show its page: ``skillOpened(Skill)``."""
        return self._run(
            "open the skill", lambda desk: self._skill(desk, skill_id), self.skillOpened.emit
        )

    def open_booking(self, booking_id: str) -> asyncio.Task[None] | None:
        """Read the skill one of my bookings is of: ``bookingOpened(Skill)``."""

        async def work(desk: BookingDesk) -> Skill:
            return await self._skill(desk, (await desk.read_booking(booking_id)).skill_id)

        return self._run("open the booking", work, self.bookingOpened.emit)

    async def _skill(self, desk: BookingDesk, skill_id: str) -> Skill:
        skill = skill_from(skill_id, await desk.read_skill(skill_id))
        if skill is None:
            raise ValueError(f"the skill {skill_id} cannot be shown")
        self._providers[skill_id] = skill.provider_id
        provider = await self.bridge.client.profile(skill.provider_id)
        return skill.with_provider(provider.display_name if provider is not None else "")

    def provider_of(self, skill_id: str) -> str | None:
        """The provider of a skill read before (None: not read yet)."""
        return self._providers.get(skill_id)

    def book(self, slot: Slot, origin: object = None) -> asyncio.Task[None] | None:
        """Book *slot*: ``booked(Booking, origin)``, or ``slotTaken(Slot, origin)`` when
        someone was first. A second click while the first is on its way does nothing."""
        if slot in self._booking:
            return None
        self._booking.add(slot)

        async def work(desk: BookingDesk) -> Booking:
            try:
                return await desk.book(slot)
            finally:
                self._booking.discard(slot)

        return self._run("book this slot", work, lambda b: self.booked.emit(b, origin), origin)

    def confirm(self, booking_id: str, origin: object = None) -> asyncio.Task[None] | None:
        return self._run(
            "confirm the booking",
            lambda desk: desk.confirm(booking_id),
            self._said("Booking confirmed: the student has been told.", origin),
            origin,
        )

    def decline(self, booking_id: str, origin: object = None) -> asyncio.Task[None] | None:
        return self._run(
            "decline the booking",
            lambda desk: desk.decline(booking_id),
            self._said("Booking declined: the slot is free again.", origin),
            origin,
        )

    def cancel(self, booking_id: str, origin: object = None) -> asyncio.Task[None] | None:
        return self._run(
            "cancel the booking",
            lambda desk: desk.cancel(booking_id),
            self._said("Booking cancelled: the slot is free again.", origin),
            origin,
        )

    def add_slot(
        self, skill_id: str, start_ms: int, minutes: int, origin: object = None
    ) -> asyncio.Task[None] | None:
        end = start_ms + minutes * 60_000
        return self._run(
            "add the slot",
            lambda desk: desk.add_slot(skill_id, start_ms, end, self.zone),
            self._said(f"Slot added: {self.when(start_ms)}.", origin),
            origin,
        )

    def remove_slot(
        self, slot: AvailabilitySlot, origin: object = None
    ) -> asyncio.Task[None] | None:
        return self._run(
            "remove the slot",
            lambda desk: desk.remove_slot(slot),
            self._said(f"Slot removed: {self.when(slot.start)}.", origin),
            origin,
        )

    def apply_template(
        self, skill_id: str, template: WeeklyTemplate, origin: object = None
    ) -> asyncio.Task[None] | None:
        def added(count: int) -> None:
            self.done.emit(
                f"{count} slots added for the next two weeks."
                if count
                else "Every slot of the template is there already.",
                origin,
            )

        return self._run(
            "fill the weeks ahead",
            lambda desk: desk.apply_template(skill_id, template, self.zone),
            added,
            origin,
        )

    def propose(
        self, cid: str, slot: AvailabilitySlot, origin: object = None
    ) -> asyncio.Task[None] | None:
        """Send a booking card bound to *slot* into *cid* (its text names the time in UTC,
        which every reader can read; the card shows it in the reader's zone)."""
        text = f"Proposed time: {describe_time(slot.start, dt.UTC)}"
        client = self.bridge.client
        return self._run(
            "propose this time",
            lambda _: client.send_message(cid, text, slot=slot.slot),
            origin=origin,
        )

    def status_text(self, booking: Booking) -> str:
        mine = booking.student_id == self.uid
        return {
            BookingStatus.REQUESTED: "waiting for the provider" if mine else "asks you to confirm",
            BookingStatus.CONFIRMED: "confirmed",
            BookingStatus.DECLINED: "declined",
            BookingStatus.CANCELLED: "cancelled",
        }[booking.status]
