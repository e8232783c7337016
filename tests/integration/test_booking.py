"""Booking on the real server: live slots, the atomic write, a 50-student race, the rules."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from desktop_chat.client.bookings import SlotTakenError
from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.errors import InvalidRequestError, PermissionDeniedError
from desktop_chat.client.events import AvailabilityChanged, BookingsChanged
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.core import booking as rec
from desktop_chat.core.booking import BookingStatus, CardState
from desktop_chat.core.model import MessageType, Slot
from tests.support.auth import PASSWORD
from tests.support.chat import Recorder, run, until
from tests.support.server import ServerProcess

HOUR = 3_600_000
ZONE = dt.timezone(dt.timedelta(hours=2), "UTC+02")


async def member(
    server: ServerProcess, data: Path, name: str, role: str, *, start: bool = True
) -> ChatClient:
    config = BackendConfig.from_values({"server_url": server.url, "namespace": server.namespace})
    client = await ChatClient.create(config, data / name, token_store=MemoryTokenStore())
    await client.sign_up(f"{name}@example.com", PASSWORD, name.title(), role)
    if start:
        await client.start()
    return client


async def offer(provider: ChatClient, skill_id: str, starts: list[int]) -> list[Slot]:
    """The provider's skill *skill_id* with a free one-hour slot at each of *starts*."""
    assert provider.desk is not None and provider.uid is not None
    record = {"title": "Guitar", "providerId": provider.uid, "price": 30, "durationMinutes": 60}
    await provider.db.set(f"skills/{skill_id}", record)
    return [await provider.desk.add_slot(skill_id, s, s + HOUR, ZONE) for s in starts]


def later(hours: int) -> int:
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return int(now.timestamp() * 1000) + hours * HOUR


def test_book_confirm_and_free_again_live_on_every_view(own: ServerProcess, tmp_path: Path) -> None:
    async def main() -> None:
        leo = await member(own, tmp_path, "leo", "provider")
        maya = await member(own, tmp_path, "maya", "student")
        sam = await member(own, tmp_path, "sam", "student")
        try:
            assert leo.desk and maya.desk and sam.desk and maya.uid and leo.uid
            first, second = await offer(leo, "guitar", [later(26), later(50)])
            seen = Recorder(sam)
            told = Recorder(leo)
            for desk in (maya.desk, sam.desk, leo.desk):
                desk.watch(["guitar"])
            await until(lambda: _true(sam.desk.card_state(first) is CardState.AVAILABLE), 5)

            booking = await maya.desk.book(first)
            assert booking.status is BookingStatus.REQUESTED
            # Sam's open view changes by itself, within a moment.
            await until(lambda: _true(sam.desk.card_state(first) is CardState.TAKEN), 5)
            assert any(isinstance(e, AvailabilityChanged) for e in seen.drain())
            await until(lambda: _true(maya.desk.card_state(first) is CardState.REQUESTED), 5)
            with pytest.raises(SlotTakenError, match="this slot was just taken"):
                await sam.desk.book(first)

            # The provider hears of it, and confirms: the student is told.
            await until(lambda: _true(booking.booking_id in leo.desk.bookings), 5)
            assert any(isinstance(e, BookingsChanged) for e in told.drain())
            notes = await leo.db.get(f"notifications/{leo.uid}")
            kinds = Counter(n["kind"] for n in notes.values())
            assert kinds == Counter({"booking_request": 1})
            await leo.desk.confirm(booking.booking_id)
            await until(lambda: _true(maya.desk.card_state(first) is CardState.CONFIRMED), 5)
            mine = await maya.db.get(f"notifications/{maya.uid}")
            assert [n["link"] for n in mine.values() if n["kind"] == "booking_confirmed"] == [
                {"bookingId": booking.booking_id}
            ]
            found = maya.desk.next_session(leo.uid)
            assert found is not None and found[0].booking_id == booking.booking_id

            # Cancelling frees the slot for everyone; declining a second request too.
            await maya.desk.cancel(booking.booking_id)
            await until(lambda: _true(sam.desk.card_state(first) is CardState.AVAILABLE), 5)
            assert maya.desk.next_session(leo.uid) is None
            other = await sam.desk.book(second)
            await until(lambda: _true(other.booking_id in leo.desk.bookings), 5)
            await leo.desk.decline(other.booking_id)
            await until(lambda: _true(maya.desk.card_state(second) is CardState.AVAILABLE), 5)
            await until(
                lambda: _true(sam.desk.bookings[other.booking_id].status is BookingStatus.DECLINED),
                5,
            )
        finally:
            for client in (leo, maya, sam):
                await client.close()

    run(main)


def test_fifty_students_race_for_one_slot(own: ServerProcess, tmp_path: Path) -> None:
    """Exactly one booking exists afterwards, the slot names its student, the other 49 were
    told the slot was just taken, and nothing is half-written."""

    async def main() -> None:
        leo = await member(own, tmp_path, "leo", "provider")
        students = await asyncio.gather(
            *(member(own, tmp_path, f"s{n:02d}", "student", start=False) for n in range(50))
        )
        try:
            (slot,) = await offer(leo, "guitar", [later(30)])
            outcomes = await asyncio.gather(
                *(s.desk.book(slot) for s in students if s.desk), return_exceptions=True
            )
            won = [o for o in outcomes if isinstance(o, rec.Booking)]
            lost = [o for o in outcomes if isinstance(o, SlotTakenError)]
            assert len(won) == 1 and len(lost) == 49, outcomes
            winner = won[0]
            everything = own.get("/")
            assert list(everything["bookings"]) == [winner.booking_id]
            record = everything["skillAvailability"]["guitar"][slot.date][slot.slot_id]
            assert record["available"] is False
            assert record["bookedBy"] == winner.student_id
            assert record["bookingId"] == winner.booking_id
            provider_notes = everything["notifications"][leo.uid]
            assert [n["link"] for n in provider_notes.values()] == [
                {"bookingId": winner.booking_id}
            ]
            assert all(s.uid not in everything.get("notifications", {}) for s in students)
        finally:
            for client in (leo, *students):
                await client.close()

    run(main, timeout=180)


def test_the_rules_guard_slots_bookings_and_cards(own: ServerProcess, tmp_path: Path) -> None:
    async def main() -> None:
        leo = await member(own, tmp_path, "leo", "provider", start=False)
        ana = await member(own, tmp_path, "ana", "provider", start=False)
        maya = await member(own, tmp_path, "maya", "student")  # (sends a card)
        sam = await member(own, tmp_path, "sam", "student", start=False)
        try:
            assert leo.desk and maya.desk and sam.uid and maya.uid and leo.uid and ana.uid
            free, taken = await offer(leo, "guitar", [later(30), later(31)])
            (foreign,) = await offer(ana, "piano", [later(40)])
            assert sam.desk is not None
            await sam.desk.book(taken)
            path = f"skillAvailability/guitar/{free.date}/{free.slot_id}"

            # Only the provider edits availability.
            with pytest.raises(PermissionDeniedError):
                await maya.db.update("/", {f"{path}/end": later(35)})
            with pytest.raises(PermissionDeniedError):
                await maya.db.update("/", rec.new_slot("guitar", later(60), later(61), ZONE))
            with pytest.raises(PermissionDeniedError):
                await maya.db.update("/", rec.remove_slot(free))

            # A student books only for themselves, and only an available slot.
            current = await maya.desk.read_slot(free)
            assert current is not None
            for_sam = rec.book_slot(
                current, sam.uid, leo.uid, "b-for-sam", student_name="M", skill_title="G", when="x"
            )
            with pytest.raises(PermissionDeniedError):
                await maya.db.update("/", for_sam)
            gone = await maya.desk.read_slot(taken)
            assert gone is not None and not gone.available
            forced = rec.book_slot(
                rec.AvailabilitySlot(*_key(taken), gone.start, gone.end, True),
                maya.uid,
                leo.uid,
                "b-forced",
                student_name="M",
                skill_title="G",
                when="x",
            )
            with pytest.raises(PermissionDeniedError):
                await maya.db.update("/", forced)
            with pytest.raises(SlotTakenError):
                await maya.desk.book(taken)

            # A held slot is never overwritten or removed, not even by its provider.
            held = f"skillAvailability/guitar/{taken.date}/{taken.slot_id}"
            again = rec.new_slot("guitar", gone.start, gone.end, ZONE)
            assert list(again) == [held]
            with pytest.raises(PermissionDeniedError):
                await leo.db.update("/", again)
            with pytest.raises(PermissionDeniedError):
                await leo.db.update("/", rec.remove_slot(taken))
            with pytest.raises(InvalidRequestError, match="a slot at that time already"):
                await leo.desk.add_slot("guitar", gone.start, gone.end, ZONE)
            # Booking a slot I hold already gives my booking (a double click), no error.
            assert sam.desk is not None
            mine = await sam.desk.book(taken)
            assert mine.student_id == sam.uid and mine.slot == taken

            # Only the provider confirms.
            (booking,) = [b for b in (await _bookings(sam)) if b.slot == taken]
            with pytest.raises(PermissionDeniedError):
                await sam.db.update("/", {f"bookings/{booking.booking_id}/status": "confirmed"})

            # A card binds a slot of one of the two; never another provider's.
            cid = await maya.open_conversation(leo.uid)
            mid = await maya.send_message(cid, "How about this?", slot=free)
            await until(lambda: _sent(maya, cid, mid), 10)
            msg = await leo.db.get(f"conversations/{cid}/messages/{mid}")
            assert (
                msg["type"] == MessageType.BOOKING_PROPOSAL
                and msg["slot"]["slotId"] == free.slot_id
            )
            me, other = maya.me, await maya.profile(leo.uid)
            assert me is not None and other is not None
            from desktop_chat.core import writes

            bad = writes.send_message(
                me, other, cid, "-Nbadcard0000000001", "x", MessageType.BOOKING_PROPOSAL, foreign
            )
            with pytest.raises(PermissionDeniedError):
                await maya.db.update("/", bad)
        finally:
            for client in (leo, ana, maya, sam):
                await client.close()

    run(main, timeout=120)


def _key(slot: Slot) -> tuple[str, str, str]:
    return slot.skill_id, slot.date, slot.slot_id


async def _bookings(client: ChatClient) -> list[rec.Booking]:
    from desktop_chat.client.rtdb import QuerySpec

    found = await client.db.query("bookings", QuerySpec("studentId", equal_to=client.uid))
    return [b for bid, v in found if (b := rec.booking_from(bid, v)) is not None]


async def _sent(client: ChatClient, cid: str, mid: str) -> bool:
    from desktop_chat.core.model import DeliveryState

    return await client.delivery_state(cid, mid) in (DeliveryState.SENT, DeliveryState.READ)


async def _true(value: bool) -> bool:
    return value
