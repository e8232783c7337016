"""Session reminders of a real server: once per confirmed booking and person, and only then."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.support.chat import FAST
from tests.support.server import ServerProcess

LEAD_MINUTES = 10
LEAD_MS = LEAD_MINUTES * 60_000
ARGS = [*FAST, "--reminder-minutes", str(LEAD_MINUTES)]
STUDENT, PROVIDER = "stud1", "prov1"


def _server(data_dir: Path) -> ServerProcess:
    """The shipped rules; the emulator owner (an admin) sets up skills, slots and bookings."""
    return ServerProcess(data_dir, ARGS, rules=None).start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = _server(tmp_path / "d")
    yield process
    process.kill()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _book(server: ServerProcess, booking_id: str, start_ms: int, status: str) -> None:
    """A skill, a slot starting at *start_ms* and a booking of it with *status*, in one write."""
    date = time.strftime("%Y-%m-%d", time.gmtime(start_ms / 1000))
    slot = {"start": start_ms, "end": start_ms + 3_600_000, "available": False}
    booking = {
        "skillId": "piano",
        "date": date,
        "slotId": booking_id,
        "studentId": STUDENT,
        "providerId": PROVIDER,
        "status": status,
        "createdAt": {".sv": "timestamp"},
    }
    response = server.request(
        "PATCH",
        "",
        {
            "skills/piano": {"title": "Piano", "providerId": PROVIDER, "price": 20},
            f"skillAvailability/piano/{date}/{booking_id}": {**slot, "bookingId": booking_id},
            f"bookings/{booking_id}": booking,
        },
    )
    response.raise_for_status()


def _reminder(server: ServerProcess, uid: str, booking_id: str) -> Any:
    return server.get(f"notifications/{uid}/sessionReminder_{booking_id}")


def _wait_for(found: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = found()
        if value is not None:
            return value
        time.sleep(0.1)
    raise AssertionError("not there in time")


def _reminders(server: ServerProcess, uid: str) -> dict[str, Any]:
    return server.get(f"notifications/{uid}") or {}


def _both(server: ServerProcess, booking_id: str) -> list[Any]:
    """Wait for the student's and the provider's reminder of *booking_id*; both values."""
    return [_wait_for(partial(_reminder, server, uid, booking_id)) for uid in (STUDENT, PROVIDER)]


def test_confirmed_booking_within_the_lead_time_is_reminded_at_once(server: ServerProcess) -> None:
    start = _now_ms() + 5 * 60_000  # less than the lead time away: due already
    _book(server, "cancelled1", start, "cancelled")
    _book(server, "requested1", start, "requested")
    _book(server, "confirmed1", start, "confirmed")
    student, provider = _both(server, "confirmed1")
    for value in (student, provider):
        created = value.pop("createdAt")
        assert isinstance(created, int)
        assert value["kind"] == "session_reminder" and value["read"] is False
        assert value["link"] == {"bookingId": "confirmed1"} and "senderId" not in value
        assert value["title"] == "Session starting soon"
        assert "Piano" in value["body"] and "minutes" in value["body"]
    # A later booking's reminders come from a later scan, which saw the other two again.
    _book(server, "confirmed2", _now_ms() + 60_000, "confirmed")
    _both(server, "confirmed2")
    for uid in (STUDENT, PROVIDER):
        wanted = {"sessionReminder_confirmed1", "sessionReminder_confirmed2"}
        assert set(_reminders(server, uid)) == wanted


def test_a_reminder_waits_for_its_time_and_skips_a_cancellation(server: ServerProcess) -> None:
    soon = _now_ms() + LEAD_MS
    _book(server, "later", soon + 3_000, "confirmed")  # due in about 3 s
    _book(server, "called_off", soon + 4_000, "confirmed")  # due in about 4 s, but ...
    server.put("bookings/called_off/status", "cancelled")  # ... cancelled right away
    _book(server, "last", soon + 6_000, "confirmed")  # due after the cancelled one was
    _both(server, "last")
    later = _both(server, "later")
    for value in later:  # sent when due on the server's clock, not before
        assert value["createdAt"] >= soon + 3_000 - LEAD_MS
    assert _reminder(server, STUDENT, "called_off") is None
    assert _reminder(server, PROVIDER, "called_off") is None


def test_no_second_reminder_after_a_restart(tmp_path: Path) -> None:
    first = _server(tmp_path / "d")
    try:
        _book(first, "b1", _now_ms() + 5 * 60_000, "confirmed")
        sent = _both(first, "b1")
        first.put(
            f"notifications/{STUDENT}/sessionReminder_b1/read", True
        )  # the student has seen it
    finally:
        first.stop()
    log = "".join(first.stderr_lines)
    assert "session reminders 10 minutes before each session" in log
    assert "Traceback" not in log
    second = _server(tmp_path / "d")
    try:
        _book(second, "b2", _now_ms() + 5 * 60_000, "confirmed")
        _both(second, "b2")  # the new server has scanned every booking since it started
        sent[0]["read"] = True
        assert [_reminder(second, uid, "b1") for uid in (STUDENT, PROVIDER)] == sent
        for uid in (STUDENT, PROVIDER):
            assert set(_reminders(second, uid)) == {"sessionReminder_b1", "sessionReminder_b2"}
    finally:
        second.kill()


def test_a_reminder_its_owner_deleted_is_not_sent_again_after_a_restart(tmp_path: Path) -> None:
    first = _server(tmp_path / "d")
    try:
        _book(first, "b1", _now_ms() + 5 * 60_000, "confirmed")
        _both(first, "b1")
        marks = first.get(f"sentReminders/{STUDENT}")
        assert set(marks) == {"sessionReminder_b1"}  # (the session's start)
        first.request("DELETE", f"notifications/{STUDENT}/sessionReminder_b1").raise_for_status()
    finally:
        first.stop()
    second = _server(tmp_path / "d")
    try:
        _book(second, "b2", _now_ms() + 5 * 60_000, "confirmed")
        _both(second, "b2")  # the new server has scanned every booking since it started
        assert _reminder(second, STUDENT, "b1") is None  # deleted stays deleted
        assert _reminder(second, PROVIDER, "b1") is not None
    finally:
        second.kill()


def test_a_reminder_already_present_is_not_rewritten(server: ServerProcess) -> None:
    """As if another node sent it first: the create-if-absent write leaves it alone."""
    there = {
        "kind": "session_reminder",
        "title": "From another node",
        "body": "sent elsewhere",
        "createdAt": 1,
        "read": True,
        "link": {"bookingId": "shared"},
    }
    server.put(f"notifications/{STUDENT}/sessionReminder_shared", there)
    _book(server, "shared", _now_ms() + 5 * 60_000, "confirmed")
    _wait_for(lambda: _reminder(server, PROVIDER, "shared"))  # this scan also saw the student
    assert _reminder(server, STUDENT, "shared") == there


def test_zero_minutes_turns_reminders_off_and_bad_values_are_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "desktop_chat.server", "serve", "--reminder-minutes", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "--reminder-minutes" in result.stderr
    off = ServerProcess(tmp_path / "off", [*FAST, "--reminder-minutes", "0"], rules=None).start()
    try:
        off.stop()
        assert "session reminders" not in "".join(off.stderr_lines)
    finally:
        off.kill()
