"""Availability slots and bookings: their records, a card's live state, and the booking writes."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from desktop_chat.core.errors import InvalidIdError
from desktop_chat.core.model import Slot, is_uid
from desktop_chat.core.paths import check_key
from desktop_chat.core.writes import MAX_NOTIFICATION_BODY, SERVER_TIME, Update, preview

__all__ = [
    "AvailabilitySlot",
    "Booking",
    "BookingStatus",
    "CardState",
    "WeeklyTemplate",
    "active_bookings",
    "book_slot",
    "booking_from",
    "card_state",
    "confirm_booking",
    "date_of",
    "free_slot",
    "new_slot",
    "release_booking",
    "remove_slot",
    "slot_id_for",
    "slots_from",
]

_ACTIVE = ("requested", "confirmed")


class BookingStatus(StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        """Whether the booking still holds its slot."""
        return self.value in _ACTIVE


class CardState(StrEnum):
    """What a booking card (or a slot in the grid) is to the one looking at it."""

    AVAILABLE = "available"
    TAKEN = "taken"  # by someone else
    REQUESTED = "requested"  # booked by you (the student) or asked of you (the provider)
    CONFIRMED = "confirmed"
    PAST = "past"
    GONE = "gone"  # the provider removed the slot
    UNKNOWN = "unknown"  # not read yet


@dataclass(frozen=True, slots=True)
class AvailabilitySlot:
    """One ``skillAvailability/{skillId}/{date}/{slotId}`` record."""

    skill_id: str
    date: str
    slot_id: str
    start: int
    end: int
    available: bool
    booked_by: str | None = None
    booking_id: str | None = None

    @property
    def slot(self) -> Slot:
        return Slot(self.skill_id, self.date, self.slot_id)

    @property
    def path(self) -> str:
        return f"skillAvailability/{self.skill_id}/{self.date}/{self.slot_id}"


@dataclass(frozen=True, slots=True)
class Booking:
    """One ``bookings/{bookingId}`` record."""

    booking_id: str
    skill_id: str
    date: str
    slot_id: str
    student_id: str
    provider_id: str
    status: BookingStatus
    created_at: int
    updated_at: int | None = None

    @property
    def slot(self) -> Slot:
        return Slot(self.skill_id, self.date, self.slot_id)

    def party(self, uid: str) -> str:
        """The other side of the booking from *uid*'s."""
        return self.provider_id if uid == self.student_id else self.student_id


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if math.isfinite(value) and abs(value) < 2**53 else None


def _slot_from(skill_id: str, date: str, slot_id: str, value: object) -> AvailabilitySlot | None:
    if not isinstance(value, dict):
        return None
    start, end, available = _int(value.get("start")), _int(value.get("end")), value.get("available")
    if start is None or end is None or end <= start or not isinstance(available, bool):
        return None
    booked_by, booking_id = value.get("bookedBy"), value.get("bookingId")
    return AvailabilitySlot(
        skill_id,
        date,
        slot_id,
        start,
        end,
        available,
        booked_by if isinstance(booked_by, str) and not available else None,
        booking_id if isinstance(booking_id, str) and not available else None,
    )


def slots_from(skill_id: str, value: object) -> list[AvailabilitySlot]:
    """The well-formed slots of a ``skillAvailability/{skillId}`` value, by start time
    (malformed ones are skipped: bad data never breaks a view)."""
    found: list[AvailabilitySlot] = []
    if isinstance(value, dict):
        for date, day in value.items():
            if isinstance(date, str) and isinstance(day, dict):
                for slot_id, record in day.items():
                    slot = _slot_from(skill_id, date, str(slot_id), record)
                    if slot is not None:
                        found.append(slot)
    return sorted(found, key=lambda slot: (slot.start, slot.slot_id))


def booking_from(booking_id: str, value: object) -> Booking | None:
    """A ``bookings/{bookingId}`` record, or None when it is malformed."""
    if not isinstance(value, dict):
        return None
    fields = [value.get(key) for key in ("skillId", "date", "slotId", "studentId", "providerId")]
    status, created = value.get("status"), _int(value.get("createdAt"))
    if not all(isinstance(field, str) and field for field in fields) or created is None:
        return None
    if not isinstance(status, str) or status not in {s.value for s in BookingStatus}:
        return None
    skill_id, date, slot_id, student, provider = (str(field) for field in fields)
    updated = _int(value.get("updatedAt"))
    status = BookingStatus(status)
    return Booking(booking_id, skill_id, date, slot_id, student, provider, status, created, updated)


def card_state(
    slot: AvailabilitySlot | None,
    bookings: Mapping[str, Booking],
    uid: str,
    now_ms: int,
    *,
    known: bool = True,
) -> CardState:
    """The live state of a slot to *uid*: free, someone else's, requested or confirmed by or
    from *uid* (*bookings* are *uid*'s own, by id), past, or removed (*known*: the slot's
    day has been read, so a missing slot is gone rather than unknown)."""
    if slot is None:
        return CardState.GONE if known else CardState.UNKNOWN
    booking = bookings.get(slot.booking_id) if slot.booking_id else None
    if slot.end <= now_ms:
        return CardState.PAST
    if booking is not None and booking.status is BookingStatus.CONFIRMED:
        return CardState.CONFIRMED
    if slot.available:
        return CardState.AVAILABLE
    if booking is not None or slot.booked_by == uid:
        return CardState.REQUESTED
    return CardState.TAKEN


def date_of(start_ms: int, zone: dt.tzinfo) -> str:
    """The day (``YYYY-MM-DD``) an instant falls on in *zone* (the provider's)."""
    return dt.datetime.fromtimestamp(start_ms / 1000, zone).date().isoformat()


def slot_id_for(start_ms: int) -> str:
    """A slot's id from its start: adding the same slot twice (a template applied again)
    writes the same record instead of a second slot."""
    return f"t{start_ms}"


def _slot_path(slot: Slot) -> str:
    for key in (slot.skill_id, slot.date, slot.slot_id):
        check_key(key)
    return f"skillAvailability/{slot.skill_id}/{slot.date}/{slot.slot_id}"


def new_slot(skill_id: str, start_ms: int, end_ms: int, zone: dt.tzinfo) -> Update:
    """The provider's write adding a free slot (its day in the provider's *zone*)."""
    if end_ms <= start_ms:
        raise InvalidIdError("a slot must end after it starts")
    slot = Slot(skill_id, date_of(start_ms, zone), slot_id_for(start_ms))
    record = {"start": start_ms, "end": end_ms, "available": True, "updatedAt": dict(SERVER_TIME)}
    return {_slot_path(slot): record}


def remove_slot(slot: Slot) -> Update:
    """The provider's write removing a slot."""
    return {_slot_path(slot): None}


def free_slot(slot: Slot) -> Update:
    """The fields that make a slot available again."""
    path = _slot_path(slot)
    return {
        f"{path}/available": True,
        f"{path}/bookedBy": None,
        f"{path}/bookingId": None,
        f"{path}/updatedAt": dict(SERVER_TIME),
    }


def book_slot(
    slot: AvailabilitySlot,
    student_uid: str,
    provider_uid: str,
    booking_id: str,
    *,
    student_name: str,
    skill_title: str,
    when: str,
) -> Update:
    """A student's one atomic write booking *slot*: the slot taken (``available: false``,
    ``bookedBy``, ``bookingId``), the booking created (``requested``) and the provider's
    ``booking_request`` notification. The rules accept it only while the slot is available:
    of students racing for it, exactly one write applies; the others are refused whole."""
    check_key(booking_id)
    if not is_uid(student_uid) or not is_uid(provider_uid):
        raise InvalidIdError("a booking needs a student and a provider")
    path = _slot_path(slot.slot)
    now = dict(SERVER_TIME)
    return {
        f"{path}/available": False,
        f"{path}/bookedBy": student_uid,
        f"{path}/bookingId": booking_id,
        f"{path}/updatedAt": now,
        f"bookings/{booking_id}": {
            "skillId": slot.skill_id,
            "date": slot.date,
            "slotId": slot.slot_id,
            "studentId": student_uid,
            "providerId": provider_uid,
            "status": BookingStatus.REQUESTED.value,
            "createdAt": now,
            "updatedAt": now,
        },
        f"notifications/{provider_uid}/b-{booking_id}": _note(
            "booking_request",
            f"Booking request: {skill_title}",
            f"{student_name} asked for {when}",
            student_uid,
            booking_id,
        ),
    }


def confirm_booking(booking: Booking, *, provider_name: str, skill_title: str, when: str) -> Update:
    """The provider's write confirming a requested booking, with the student's
    ``booking_confirmed`` notification."""
    path = f"bookings/{booking.booking_id}"
    return {
        f"{path}/status": BookingStatus.CONFIRMED.value,
        f"{path}/updatedAt": dict(SERVER_TIME),
        f"notifications/{booking.student_id}/c-{booking.booking_id}": _note(
            "booking_confirmed",
            f"Booking confirmed: {skill_title}",
            f"{provider_name} confirmed {when}",
            booking.provider_id,
            booking.booking_id,
        ),
    }


def release_booking(booking: Booking, status: BookingStatus) -> Update:
    """Declining (the provider) or cancelling (either side): the booking's new status and its
    slot freed, in one write."""
    if status not in (BookingStatus.DECLINED, BookingStatus.CANCELLED):
        raise InvalidIdError(f"a booking is released by declining or cancelling, not {status}")
    path = f"bookings/{booking.booking_id}"
    return {
        f"{path}/status": status.value,
        f"{path}/updatedAt": dict(SERVER_TIME),
        **free_slot(booking.slot),
    }


def _note(kind: str, title: str, body: str, sender: str, booking_id: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "title": preview(title, 200),
        "body": preview(body, MAX_NOTIFICATION_BODY),
        "senderId": sender,
        "createdAt": dict(SERVER_TIME),
        "read": False,
        "link": {"bookingId": booking_id},
    }


def active_bookings(bookings: Iterable[Booking]) -> list[Booking]:
    """The bookings still holding their slots."""
    return [booking for booking in bookings if booking.status.active]


@dataclass(frozen=True, slots=True)
class WeeklyTemplate:
    """A provider's week: for each weekday (0 Monday .. 6 Sunday) the local start times
    (minutes after midnight) of its slots, each *minutes* long."""

    starts: Mapping[int, tuple[int, ...]]
    minutes: int = 60

    def __post_init__(self) -> None:
        if not 5 <= self.minutes <= 1440:
            raise InvalidIdError("a slot lasts 5 minutes to a day")
        for weekday, starts in self.starts.items():
            bad = any(type(s) is not int or not 0 <= s < 1440 for s in starts)
            if type(weekday) is not int or weekday not in range(7) or bad:
                raise InvalidIdError(f"invalid template day {weekday}: {starts!r}")

    def instances(self, now_ms: int, days: int, zone: dt.tzinfo) -> list[tuple[int, int]]:
        """``(start, end)`` epoch ms of the slots on the next *days* days in *zone* (today
        first), future ones only; a local time a clock change skips is skipped too."""
        today = dt.datetime.fromtimestamp(now_ms / 1000, zone).date()
        found: list[tuple[int, int]] = []
        for offset in range(days):
            day = today + dt.timedelta(days=offset)
            for minute in sorted(set(self.starts.get(day.weekday(), ()))):
                local = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), zone)
                utc = local.astimezone(dt.UTC)
                if utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
                    continue  # (a time the clock jumps over)
                start = int(utc.timestamp() * 1000)
                if start > now_ms:
                    found.append((start, start + self.minutes * 60_000))
        return found
