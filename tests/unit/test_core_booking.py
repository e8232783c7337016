"""desktop_chat.core.booking without a server: parsing slots and bookings, card states, writes."""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_chat.core.booking import (
    AvailabilitySlot,
    Booking,
    BookingStatus,
    CardState,
    WeeklyTemplate,
    active_bookings,
    book_slot,
    booking_from,
    card_state,
    confirm_booking,
    date_of,
    free_slot,
    new_slot,
    release_booking,
    remove_slot,
    slot_id_for,
    slots_from,
)
from desktop_chat.core.errors import CoreError, InvalidIdError, InvalidPathError
from desktop_chat.core.model import Slot
from desktop_chat.core.writes import MAX_NOTIFICATION_BODY, SERVER_TIME

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))
PLUS14 = dt.timezone(dt.timedelta(hours=14))
MINUS10 = dt.timezone(dt.timedelta(hours=-10))

STUDENT, PROVIDER, OTHER = "ann1", "Bob2", "cat3"
SKILL = "skill7"
NOW = 1_767_268_800_000  # 2026-01-01T12:00:00Z
HOUR = 3_600_000
_MISSING = object()


def _ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, zone: Any = UTC) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=zone).timestamp() * 1000)


def _slot(
    start: int = NOW + HOUR,
    end: int | None = None,
    *,
    available: bool = True,
    booked_by: str | None = None,
    booking_id: str | None = None,
) -> AvailabilitySlot:
    return AvailabilitySlot(
        SKILL,
        "2026-01-01",
        slot_id_for(start),
        start,
        start + HOUR if end is None else end,
        available,
        booked_by,
        booking_id,
    )


def _booking(status: BookingStatus = BookingStatus.REQUESTED, booking_id: str = "bk1") -> Booking:
    return Booking(booking_id, SKILL, "2026-01-01", "t1", STUDENT, PROVIDER, status, 100, 200)


def _record(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "skillId": SKILL,
        "date": "2026-01-01",
        "slotId": "t1",
        "studentId": STUDENT,
        "providerId": PROVIDER,
        "status": "requested",
        "createdAt": 100,
        "updatedAt": 200,
    }
    for key, value in changes.items():
        if value is _MISSING:
            del record[key]
        else:
            record[key] = value
    return record


# --- slots_from -----------------------------------------------------------------------------


def test_slots_from_sorts_across_dates_by_start_then_id() -> None:
    value = {
        "2026-01-02": {
            "t300": {"start": 300, "end": 400, "available": True},
            "b": {"start": 100, "end": 150, "available": True},
        },
        "2026-01-01": {
            "a": {"start": 100, "end": 200, "available": True},
            "z": {"start": 50, "end": 60, "available": False, "bookedBy": OTHER, "bookingId": "k"},
        },
    }
    slots = slots_from(SKILL, value)
    assert [(slot.date, slot.slot_id) for slot in slots] == [
        ("2026-01-01", "z"),
        ("2026-01-01", "a"),
        ("2026-01-02", "b"),
        ("2026-01-02", "t300"),
    ]
    assert slots[0] == AvailabilitySlot(SKILL, "2026-01-01", "z", 50, 60, False, OTHER, "k")
    assert slots[1] == AvailabilitySlot(SKILL, "2026-01-01", "a", 100, 200, True, None, None)
    assert slots[0].slot == Slot(SKILL, "2026-01-01", "z")
    assert slots[0].path == f"skillAvailability/{SKILL}/2026-01-01/z"


@pytest.mark.parametrize("value", [None, [], "x", 5, True])
def test_slots_from_non_dict_value_is_empty(value: object) -> None:
    assert slots_from(SKILL, value) == []


@pytest.mark.parametrize(
    "record",
    [
        None,
        "slot",
        ["start", 1],
        42,
        {"start": 100, "end": 100, "available": True},  # end == start
        {"start": 100, "end": 99, "available": True},  # end < start
        {"end": 200, "available": True},  # no start
        {"start": 100, "available": True},  # no end
        {"start": 100, "end": 200},  # no available
        {"start": 100, "end": 200, "available": "true"},
        {"start": 100, "end": 200, "available": 1},
        {"start": 100, "end": 200, "available": None},
        {"start": math.nan, "end": 200, "available": True},
        {"start": 100, "end": math.inf, "available": True},
        {"start": -math.inf, "end": 200, "available": True},
        {"start": True, "end": 200, "available": True},
        {"start": 0, "end": True, "available": True},
        {"start": "100", "end": 200, "available": True},
        {"start": 100, "end": 2**53, "available": True},  # past the exact-integer range
        {"start": 100, "end": {".sv": "timestamp"}, "available": True},
    ],
)
def test_slots_from_skips_malformed_slots(record: object) -> None:
    good = {"start": 1000, "end": 2000, "available": True}
    value = {"2026-01-01": {"bad": record, "good": good}}
    assert [slot.slot_id for slot in slots_from(SKILL, value)] == ["good"]


@pytest.mark.parametrize("day", [None, "x", 3, ["a"], True])
def test_slots_from_skips_non_dict_days(day: object) -> None:
    value = {"2026-01-01": day, "2026-01-02": {"s": {"start": 1, "end": 2, "available": True}}}
    assert [(slot.date, slot.slot_id) for slot in slots_from(SKILL, value)] == [("2026-01-02", "s")]


def test_slots_from_skips_non_string_dates_and_stringifies_slot_ids() -> None:
    value: dict[object, object] = {
        20260101: {"a": {"start": 1, "end": 2, "available": True}},
        "2026-01-02": {7: {"start": 5, "end": 6, "available": True}},
    }
    assert [(slot.date, slot.slot_id) for slot in slots_from(SKILL, value)] == [("2026-01-02", "7")]


def test_slots_from_takes_whole_floats_as_ints() -> None:
    value = {"d": {"s": {"start": 1000.0, "end": 2000.9, "available": True}}}
    (slot,) = slots_from(SKILL, value)
    assert (slot.start, slot.end) == (1000, 2000)
    assert type(slot.start) is int and type(slot.end) is int


def test_slots_from_ignores_holder_of_available_slot() -> None:
    value = {
        "d": {
            "free": {"start": 1, "end": 2, "available": True, "bookedBy": OTHER, "bookingId": "k"},
            "held": {"start": 3, "end": 4, "available": False, "bookedBy": OTHER, "bookingId": "k"},
            "odd": {"start": 5, "end": 6, "available": False, "bookedBy": 7, "bookingId": ["k"]},
        }
    }
    free, held, odd = slots_from(SKILL, value)
    assert (free.available, free.booked_by, free.booking_id) == (True, None, None)
    assert (held.available, held.booked_by, held.booking_id) == (False, OTHER, "k")
    assert (odd.available, odd.booked_by, odd.booking_id) == (False, None, None)


# --- booking_from ---------------------------------------------------------------------------


def test_booking_from_good_record() -> None:
    booking = booking_from("bk1", _record())
    assert booking == Booking(
        "bk1", SKILL, "2026-01-01", "t1", STUDENT, PROVIDER, BookingStatus.REQUESTED, 100, 200
    )
    assert booking is not None and booking.status is BookingStatus.REQUESTED
    assert booking.slot == Slot(SKILL, "2026-01-01", "t1")


@pytest.mark.parametrize("status", list(BookingStatus))
def test_booking_from_every_status(status: BookingStatus) -> None:
    booking = booking_from("bk1", _record(status=status.value))
    assert booking is not None and booking.status is status


def test_booking_from_optional_updated_at() -> None:
    no_update = booking_from("bk1", _record(updatedAt=_MISSING))
    bad_update = booking_from("bk1", _record(updatedAt="later"))
    float_times = booking_from("bk1", _record(createdAt=100.0, updatedAt=250.0))
    assert no_update is not None and no_update.updated_at is None
    assert bad_update is not None and bad_update.updated_at is None
    assert float_times is not None
    assert (float_times.created_at, float_times.updated_at) == (100, 250)


@pytest.mark.parametrize("value", [None, "x", 5, [], ["requested"]])
def test_booking_from_non_dict_is_none(value: object) -> None:
    assert booking_from("bk1", value) is None


@pytest.mark.parametrize(
    "field", ["skillId", "date", "slotId", "studentId", "providerId", "status", "createdAt"]
)
def test_booking_from_missing_field_is_none(field: str) -> None:
    assert booking_from("bk1", _record(**{field: _MISSING})) is None


@pytest.mark.parametrize("field", ["skillId", "date", "slotId", "studentId", "providerId"])
@pytest.mark.parametrize("bad", ["", 5, None, True])
def test_booking_from_invalid_string_field_is_none(field: str, bad: object) -> None:
    assert booking_from("bk1", _record(**{field: bad})) is None


@pytest.mark.parametrize(
    "created", [None, "100", True, False, math.nan, math.inf, -math.inf, 2**53, {".sv": "x"}]
)
def test_booking_from_invalid_created_at_is_none(created: object) -> None:
    assert booking_from("bk1", _record(createdAt=created)) is None


@pytest.mark.parametrize("status", ["pending", "Requested", "CONFIRMED", "", None, 1, True])
def test_booking_from_unknown_status_is_none(status: object) -> None:
    assert booking_from("bk1", _record(status=status)) is None


@pytest.mark.parametrize("status", [["requested"], {"a": 1}])
def test_booking_from_unhashable_status_is_none(status: object) -> None:
    assert booking_from("bk1", _record(status=status)) is None


# --- BookingStatus, Booking.party, active_bookings ------------------------------------------


def test_booking_status_active() -> None:
    assert {status: status.active for status in BookingStatus} == {
        BookingStatus.REQUESTED: True,
        BookingStatus.CONFIRMED: True,
        BookingStatus.DECLINED: False,
        BookingStatus.CANCELLED: False,
    }


def test_booking_party_is_the_other_side() -> None:
    booking = _booking()
    assert booking.party(STUDENT) == PROVIDER
    assert booking.party(PROVIDER) == STUDENT


def test_active_bookings_keeps_order_and_drops_released() -> None:
    bookings = [
        _booking(BookingStatus.CANCELLED, "a"),
        _booking(BookingStatus.CONFIRMED, "b"),
        _booking(BookingStatus.DECLINED, "c"),
        _booking(BookingStatus.REQUESTED, "d"),
    ]
    assert [booking.booking_id for booking in active_bookings(bookings)] == ["b", "d"]
    assert active_bookings(iter(bookings)) == [bookings[1], bookings[3]]
    assert active_bookings([]) == []


# --- card_state -----------------------------------------------------------------------------


def test_card_state_available() -> None:
    assert card_state(_slot(), {}, STUDENT, NOW) is CardState.AVAILABLE
    assert card_state(_slot(), {}, PROVIDER, NOW) is CardState.AVAILABLE


def test_card_state_taken_by_another_uid() -> None:
    slot = _slot(available=False, booked_by=OTHER, booking_id="bk9")
    assert card_state(slot, {"bk1": _booking()}, STUDENT, NOW) is CardState.TAKEN


def test_card_state_requested_for_the_booker() -> None:
    slot = _slot(available=False, booked_by=STUDENT, booking_id="bk1")
    # before the student's bookings are read: bookedBy says it is theirs
    assert card_state(slot, {}, STUDENT, NOW) is CardState.REQUESTED
    assert card_state(slot, {"bk1": _booking()}, STUDENT, NOW) is CardState.REQUESTED


def test_card_state_requested_for_the_provider_holding_the_booking() -> None:
    slot = _slot(available=False, booked_by=STUDENT, booking_id="bk1")
    assert card_state(slot, {"bk1": _booking()}, PROVIDER, NOW) is CardState.REQUESTED
    # the provider's bookings not read (or not holding it): someone else's
    assert card_state(slot, {}, PROVIDER, NOW) is CardState.TAKEN
    assert card_state(slot, {"bk2": _booking(booking_id="bk2")}, PROVIDER, NOW) is CardState.TAKEN


def test_card_state_confirmed() -> None:
    slot = _slot(available=False, booked_by=STUDENT, booking_id="bk1")
    bookings = {"bk1": _booking(BookingStatus.CONFIRMED)}
    assert card_state(slot, bookings, STUDENT, NOW) is CardState.CONFIRMED
    assert card_state(slot, bookings, PROVIDER, NOW) is CardState.CONFIRMED


def test_card_state_past() -> None:
    start = NOW - 2 * HOUR
    assert card_state(_slot(start, NOW), {}, STUDENT, NOW) is CardState.PAST  # end == now
    assert card_state(_slot(start, NOW + 1), {}, STUDENT, NOW) is CardState.AVAILABLE
    requested = _slot(start, NOW - 1, available=False, booked_by=STUDENT, booking_id="bk1")
    assert card_state(requested, {"bk1": _booking()}, STUDENT, NOW) is CardState.PAST
    taken = _slot(start, NOW - 1, available=False, booked_by=OTHER, booking_id="bk9")
    assert card_state(taken, {}, STUDENT, NOW) is CardState.PAST


def test_card_state_past_wins_over_confirmed() -> None:
    slot = _slot(NOW - 2 * HOUR, NOW - HOUR, available=False, booked_by=STUDENT, booking_id="bk1")
    bookings = {"bk1": _booking(BookingStatus.CONFIRMED)}
    assert card_state(slot, bookings, STUDENT, NOW) is CardState.PAST  # (a session held)
    assert card_state(slot, {"bk1": _booking()}, STUDENT, NOW) is CardState.PAST


def test_card_state_missing_slot_gone_or_unknown() -> None:
    assert card_state(None, {}, STUDENT, NOW) is CardState.GONE
    assert card_state(None, {}, STUDENT, NOW, known=True) is CardState.GONE
    assert card_state(None, {"bk1": _booking()}, STUDENT, NOW, known=False) is CardState.UNKNOWN
    # *known* only matters when the slot is missing
    assert card_state(_slot(), {}, STUDENT, NOW, known=False) is CardState.AVAILABLE


# --- date_of, slot_id_for -------------------------------------------------------------------


def test_date_of_depends_on_zone() -> None:
    midnight_plus14 = _ms(2026, 1, 1, 10)  # 2026-01-02 00:00 at UTC+14, 00:00 on the 1st at -10
    assert date_of(midnight_plus14, UTC) == "2026-01-01"
    assert date_of(midnight_plus14, PLUS14) == "2026-01-02"
    assert date_of(midnight_plus14, MINUS10) == "2026-01-01"
    just_before = midnight_plus14 - 1
    assert date_of(just_before, PLUS14) == "2026-01-01"
    assert date_of(just_before, MINUS10) == "2025-12-31"
    assert date_of(just_before, UTC) == "2026-01-01"


def test_slot_id_for_is_deterministic() -> None:
    assert slot_id_for(NOW) == "t1767268800000"
    assert slot_id_for(NOW) == slot_id_for(NOW)
    assert slot_id_for(NOW) != slot_id_for(NOW + 1)
    assert slot_id_for(0) == "t0"


# --- new_slot, remove_slot, free_slot -------------------------------------------------------


def test_new_slot_path_and_record() -> None:
    start = _ms(2026, 1, 1, 10)
    update = new_slot(SKILL, start, start + HOUR, PLUS14)
    assert update == {
        f"skillAvailability/{SKILL}/2026-01-02/t{start}": {
            "start": start,
            "end": start + HOUR,
            "available": True,
            "updatedAt": {".sv": "timestamp"},
        }
    }
    record = next(iter(update.values()))
    assert record["updatedAt"] == SERVER_TIME and record["updatedAt"] is not SERVER_TIME
    assert new_slot(SKILL, start, start + HOUR, MINUS10) == {
        f"skillAvailability/{SKILL}/2026-01-01/t{start}": record
    }
    assert new_slot(SKILL, start, start + HOUR, PLUS14) == update  # the same slot twice: one


@pytest.mark.parametrize("end", [NOW, NOW - 1, 0])
def test_new_slot_refuses_end_not_after_start(end: int) -> None:
    with pytest.raises(InvalidIdError):
        new_slot(SKILL, NOW, end, UTC)


@pytest.mark.parametrize("skill", ["a/b", "", "a.b", "a$b", "a#b", "a[b", "a]b"])
def test_new_slot_refuses_bad_skill_key(skill: str) -> None:
    with pytest.raises(CoreError) as raised:
        new_slot(skill, NOW, NOW + HOUR, UTC)
    assert isinstance(raised.value, InvalidPathError)


def test_remove_slot() -> None:
    assert remove_slot(Slot(SKILL, "2026-01-01", "t5")) == {
        f"skillAvailability/{SKILL}/2026-01-01/t5": None
    }
    with pytest.raises(InvalidPathError):
        remove_slot(Slot(SKILL, "2026/01/01", "t5"))
    with pytest.raises(InvalidPathError):
        remove_slot(Slot(SKILL, "2026-01-01", ""))


def test_free_slot() -> None:
    path = f"skillAvailability/{SKILL}/2026-01-01/t5"
    assert free_slot(Slot(SKILL, "2026-01-01", "t5")) == {
        f"{path}/available": True,
        f"{path}/bookedBy": None,
        f"{path}/bookingId": None,
        f"{path}/updatedAt": {".sv": "timestamp"},
    }
    with pytest.raises(InvalidPathError):
        free_slot(Slot("a/b", "2026-01-01", "t5"))


# --- book_slot, confirm_booking, release_booking --------------------------------------------


def test_book_slot_writes_every_part() -> None:
    slot = _slot(NOW, NOW + HOUR)
    update = book_slot(
        slot,
        STUDENT,
        PROVIDER,
        "bk1",
        student_name="Ann",
        skill_title="Guitar",
        when="Thu 1 Jan 13:00",
    )
    path = f"skillAvailability/{SKILL}/2026-01-01/t{NOW}"
    assert update == {
        f"{path}/available": False,
        f"{path}/bookedBy": STUDENT,
        f"{path}/bookingId": "bk1",
        f"{path}/updatedAt": {".sv": "timestamp"},
        "bookings/bk1": {
            "skillId": SKILL,
            "date": "2026-01-01",
            "slotId": f"t{NOW}",
            "studentId": STUDENT,
            "providerId": PROVIDER,
            "status": "requested",
            "createdAt": {".sv": "timestamp"},
            "updatedAt": {".sv": "timestamp"},
        },
        f"notifications/{PROVIDER}/b-bk1": {
            "kind": "booking_request",
            "title": "Booking request: Guitar",
            "body": "Ann asked for Thu 1 Jan 13:00",
            "senderId": STUDENT,
            "createdAt": {".sv": "timestamp"},
            "read": False,
            "link": {"bookingId": "bk1"},
        },
    }
    # the booking record reads back as the requested booking of that slot
    record = dict(update["bookings/bk1"])
    record["createdAt"] = record["updatedAt"] = 5
    booking = booking_from("bk1", record)
    assert booking is not None and booking.slot == slot.slot
    assert booking.status is BookingStatus.REQUESTED
    assert (booking.student_id, booking.provider_id) == (STUDENT, PROVIDER)


def test_book_slot_notification_is_trimmed() -> None:
    update = book_slot(
        _slot(),
        STUDENT,
        PROVIDER,
        "bk1",
        student_name="A" * 2000,
        skill_title="G" * 500,
        when="now",
    )
    note = update[f"notifications/{PROVIDER}/b-bk1"]
    assert len(note["title"]) == 200 and note["title"].endswith("…")
    assert note["title"].startswith("Booking request: GGG")
    assert len(note["body"]) == MAX_NOTIFICATION_BODY and note["body"].endswith("…")


@pytest.mark.parametrize("booking_id", ["a/b", "", "a.b", "a[0]"])
def test_book_slot_refuses_bad_booking_id(booking_id: str) -> None:
    with pytest.raises(InvalidPathError):
        book_slot(
            _slot(), STUDENT, PROVIDER, booking_id, student_name="A", skill_title="G", when="w"
        )


@pytest.mark.parametrize(
    ("student", "provider"), [("", PROVIDER), ("a_b", PROVIDER), (STUDENT, "x/y"), (STUDENT, "")]
)
def test_book_slot_refuses_bad_uids(student: str, provider: str) -> None:
    with pytest.raises(InvalidIdError):
        book_slot(_slot(), student, provider, "bk1", student_name="A", skill_title="G", when="w")


def test_book_slot_refuses_bad_slot_key() -> None:
    slot = AvailabilitySlot(SKILL, "2026/01/01", "t1", 1, 2, True)
    with pytest.raises(InvalidPathError):
        book_slot(slot, STUDENT, PROVIDER, "bk1", student_name="A", skill_title="G", when="w")


def test_confirm_booking() -> None:
    update = confirm_booking(_booking(), provider_name="Bob", skill_title="Guitar", when="Thu")
    assert update == {
        "bookings/bk1/status": "confirmed",
        "bookings/bk1/updatedAt": {".sv": "timestamp"},
        f"notifications/{STUDENT}/c-bk1": {
            "kind": "booking_confirmed",
            "title": "Booking confirmed: Guitar",
            "body": "Bob confirmed Thu",
            "senderId": PROVIDER,
            "createdAt": {".sv": "timestamp"},
            "read": False,
            "link": {"bookingId": "bk1"},
        },
    }


@pytest.mark.parametrize("status", [BookingStatus.DECLINED, BookingStatus.CANCELLED])
def test_release_booking_sets_status_and_frees_slot(status: BookingStatus) -> None:
    update = release_booking(_booking(), status)
    path = f"skillAvailability/{SKILL}/2026-01-01/t1"
    assert update == {
        "bookings/bk1/status": status.value,
        "bookings/bk1/updatedAt": {".sv": "timestamp"},
        f"{path}/available": True,
        f"{path}/bookedBy": None,
        f"{path}/bookingId": None,
        f"{path}/updatedAt": {".sv": "timestamp"},
    }


@pytest.mark.parametrize("status", [BookingStatus.CONFIRMED, BookingStatus.REQUESTED])
def test_release_booking_refuses_active_status(status: BookingStatus) -> None:
    with pytest.raises(InvalidIdError):
        release_booking(_booking(), status)


# --- WeeklyTemplate -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts", "minutes"),
    [
        ({7: (600,)}, 60),
        ({-1: (600,)}, 60),
        ({0: (1440,)}, 60),
        ({0: (-1,)}, 60),
        ({0: (600, 1440)}, 60),
        ({0: (600,)}, 4),
        ({0: (600,)}, 1441),
        ({0: (600,)}, 0),
    ],
)
def test_weekly_template_validation(starts: dict[int, tuple[int, ...]], minutes: int) -> None:
    with pytest.raises(InvalidIdError):
        WeeklyTemplate(starts, minutes)


def test_weekly_template_bounds_accepted() -> None:
    assert WeeklyTemplate({0: (0, 1439), 6: ()}, 5).minutes == 5
    assert WeeklyTemplate({}, 1440).instances(NOW, 14, UTC) == []


def test_instances_fixed_offset_future_only() -> None:
    now = _ms(2026, 1, 5, 12, 0, PLUS2)  # Monday 12:00 at UTC+2
    template = WeeklyTemplate({0: (13 * 60, 9 * 60), 2: (600, 600)}, minutes=30)
    found = template.instances(now, 14, PLUS2)
    expected_local = [(5, 13), (7, 10), (12, 9), (12, 13), (14, 10)]
    assert found == [
        (_ms(2026, 1, day, hour, 0, PLUS2), _ms(2026, 1, day, hour, 30, PLUS2))
        for day, hour in expected_local
    ]
    # the UTC instants are two hours earlier than the local times
    assert found[0] == (_ms(2026, 1, 5, 11), _ms(2026, 1, 5, 11, 30))
    assert all(start > now for start, _ in found)


def test_instances_every_day_over_14_days() -> None:
    now = _ms(2026, 1, 5, 12)  # Monday 12:00 UTC
    template = WeeklyTemplate({day: (8 * 60, 18 * 60) for day in range(7)})
    found = template.instances(now, 14, UTC)
    assert len(found) == 14 * 2 - 1  # today's 08:00 has passed
    assert found[0] == (_ms(2026, 1, 5, 18), _ms(2026, 1, 5, 19))
    assert found[-1] == (_ms(2026, 1, 18, 18), _ms(2026, 1, 18, 19))
    assert [start for start, _ in found] == sorted(start for start, _ in found)
    assert {date_of(start, UTC) for start, _ in found} == {
        f"2026-01-{day:02d}" for day in range(5, 19)
    }
    assert template.instances(now, 0, UTC) == []


def test_instances_start_at_now_is_not_future() -> None:
    now = _ms(2026, 1, 5, 12)
    assert WeeklyTemplate({0: (12 * 60,)}).instances(now, 1, UTC) == []
    assert WeeklyTemplate({0: (12 * 60,)}).instances(now - 1, 1, UTC) == [(now, now + HOUR)]


def test_instances_today_is_the_zones_day() -> None:
    now = _ms(2026, 1, 5, 11)  # Monday 11:00 UTC is Tuesday 01:00 at UTC+14
    template = WeeklyTemplate({0: (720,), 1: (720,)})
    assert template.instances(now, 1, UTC) == [(_ms(2026, 1, 5, 12), _ms(2026, 1, 5, 13))]
    assert template.instances(now, 1, PLUS14) == [
        (_ms(2026, 1, 6, 12, 0, PLUS14), _ms(2026, 1, 6, 13, 0, PLUS14))
    ]


def _berlin() -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo("Europe/Berlin")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone data for Europe/Berlin on this machine")


def test_instances_skip_spring_forward_gap() -> None:
    berlin = _berlin()
    now = _ms(2026, 3, 28, 0, 0, berlin)  # Saturday; Sunday 2026-03-29 02:00 jumps to 03:00
    template = WeeklyTemplate({day: (150, 600) for day in range(7)})  # 02:30 and 10:00
    found = template.instances(now, 3, berlin)
    local = [dt.datetime.fromtimestamp(start / 1000, berlin) for start, _ in found]
    assert [(moment.day, moment.hour, moment.minute) for moment in local] == [
        (28, 2, 30),
        (28, 10, 0),
        (29, 10, 0),
        (30, 2, 30),
        (30, 10, 0),
    ]
    assert found[1][0] == _ms(2026, 3, 28, 9)  # CET, UTC+1
    assert found[2][0] == _ms(2026, 3, 29, 8)  # CEST, UTC+2
    assert found[3][0] == _ms(2026, 3, 30, 0, 30)
    assert all(end - start == HOUR for start, end in found)


def test_instances_fall_back_keeps_one_instance() -> None:
    berlin = _berlin()
    now = _ms(2026, 10, 25, 0, 0, berlin)  # Sunday; 03:00 CEST falls back to 02:00 CET
    found = WeeklyTemplate({6: (150,)}).instances(now, 1, berlin)
    assert found == [(_ms(2026, 10, 25, 0, 30), _ms(2026, 10, 25, 1, 30))]  # the first 02:30
    assert dt.datetime.fromtimestamp(found[0][0] / 1000, berlin).hour == 2


# --- property -------------------------------------------------------------------------------

_ZONES = st.sampled_from([UTC, PLUS2, PLUS14, MINUS10, dt.timezone(dt.timedelta(hours=5.5))])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4_102_444_800_000), st.integers(1, 10 * 24 * HOUR)),
        unique_by=lambda pair: pair[0],
        max_size=30,
    ),
    _ZONES,
)
def test_slots_from_new_slot_records_sorted_and_complete(
    pairs: list[tuple[int, int]], zone: dt.tzinfo
) -> None:
    tree: dict[str, dict[str, dict[str, Any]]] = {}
    for start, duration in pairs:
        for path, record in new_slot(SKILL, start, start + duration, zone).items():
            root, skill, date, slot_id = path.split("/")
            assert (root, skill) == ("skillAvailability", SKILL)
            tree.setdefault(date, {})[slot_id] = record
    slots = slots_from(SKILL, tree)
    assert [(slot.start, slot.end) for slot in slots] == sorted(
        (start, start + duration) for start, duration in pairs
    )
    for slot in slots:
        assert slot.available and slot.booked_by is None and slot.booking_id is None
        assert slot.slot_id == slot_id_for(slot.start)
        assert slot.date == date_of(slot.start, zone)
