"""Session reminders in process: which are due, their ids, the task's sleeps and writes."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from desktop_chat.core.tree import get
from desktop_chat.core.values import normalize
from desktop_chat.server import reminders as reminders_module
from desktop_chat.server.database import Database, SetOp, WriteRequest
from desktop_chat.server.notifications import NotificationError, system_notification
from desktop_chat.server.reminders import Reminder, Reminders, due_reminders, reminder_id
from desktop_chat.server.store import Store
from desktop_chat.server.streams import Hub

NOW = 1_800_000_000_000
LEAD = 15 * 60_000


def _tree(bookings: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """bookings: id -> (status, slot start)."""
    slots: dict[str, Any] = {}
    records: dict[str, Any] = {}
    for booking_id, (status, start) in bookings.items():
        slots[booking_id] = {"start": start, "end": 1, "available": False}
        records[booking_id] = {
            "skillId": "s1",
            "date": "2027-01-15",
            "slotId": booking_id,
            "studentId": "stu",
            "providerId": "pro",
            "status": status,
        }
    return {"bookings": records, "skillAvailability": {"s1": {"2027-01-15": slots}}}


def test_only_confirmed_upcoming_sessions_without_a_reminder_are_due() -> None:
    root = _tree(
        {
            "soon": ("confirmed", NOW + 60_000),
            "later": ("confirmed", NOW + 2 * LEAD),
            "started": ("confirmed", NOW),
            "cancelled": ("cancelled", NOW + 60_000),
            "requested": ("requested", NOW + 60_000),
            "no_start": ("confirmed", "tomorrow"),
            "priority": ("confirmed", {".value": NOW + 1000, ".priority": 1}),
        }
    )
    root["notifications"] = {"stu": {reminder_id("soon", "stu"): {"kind": "session_reminder"}}}
    found = due_reminders(partial(get, root), LEAD, NOW)
    assert found == [
        Reminder("soon", "pro", NOW + 60_000, NOW + 60_000 - LEAD),
        Reminder("later", "pro", NOW + 2 * LEAD, NOW + LEAD),
        Reminder("later", "stu", NOW + 2 * LEAD, NOW + LEAD),
        Reminder("priority", "pro", NOW + 1000, NOW + 1000 - LEAD),
        Reminder("priority", "stu", NOW + 1000, NOW + 1000 - LEAD),
    ]
    assert due_reminders(partial(get, {"bookings": "junk"}), LEAD, NOW) == []
    assert due_reminders(partial(get, None), LEAD, NOW) == []


def test_reminder_ids_are_deterministic_keys() -> None:
    assert reminder_id("b1", "u1") == reminder_id("b1", "u1") == "sessionReminder_b1"
    long_id = "b" * 800
    hashed = reminder_id(long_id, "u1")
    assert hashed == reminder_id(long_id, "u1") != reminder_id(long_id, "u2")
    assert len(hashed.encode()) <= 768


def test_system_notifications_are_checked() -> None:
    value = system_notification("review", "T", "B", {"skillId": "s1"})
    assert value["read"] is False and "senderId" not in value
    for kind, title, body, link, message in [
        ("message", "T", "B", None, "unknown kind"),
        ("review", "", "B", None, "title is missing"),
        ("review", "T", None, None, "body is missing"),
        ("review", "T", "B", {"skillId": "a", "bookingId": "b"}, "exactly one"),
        ("review", "T", "B", {"userId": "a"}, "unknown link"),
        ("review", "T", "B", {"bookingId": "x" * 129}, "at most 128"),
    ]:
        with pytest.raises(NotificationError, match=message):
            system_notification(kind, title, body, link)


def test_the_task_sleeps_until_due_and_writes_each_reminder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans: list[int] = []
    real_scan = reminders_module.due_reminders

    def counting(root: Any, lead_ms: int, now_ms: int) -> list[Reminder]:
        scans.append(now_ms)
        return real_scan(root, lead_ms, now_ms)

    monkeypatch.setattr(reminders_module, "due_reminders", counting)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()

        def clock() -> int:  # the server clock, moving with the loop's own clock
            return NOW + int((loop.time() - started) * 1000)

        db = Database(Store(tmp_path / "store.sqlite3"), Hub(), clock_ms=clock)
        await db.start()
        written = asyncio.Event()
        db.commit_hooks.append(lambda changes: written.set())
        task = Reminders(db, LEAD)
        task.start()
        try:
            start = NOW + LEAD + 300  # due in 0.3 s
            tree = normalize(_tree({"b1": ("confirmed", start)})).value
            await db.write(WriteRequest([SetOp(("bookings",), tree["bookings"])]))
            await db.write(WriteRequest([SetOp(("skillAvailability",), tree["skillAvailability"])]))
            async with asyncio.timeout(20):
                while len(db.root.get("notifications", {})) < 2:
                    written.clear()
                    await written.wait()
            sent = db.root["notifications"]
            for uid in ("stu", "pro"):
                value = sent[uid]["sessionReminder_b1"]
                assert value["createdAt"] >= start - LEAD
                assert value["link"] == {"bookingId": "b1"}
            # Unrelated writes do not wake it; nothing is sent twice.
            await db.write(WriteRequest([SetOp(("other",), 1)]))
            await db.write(WriteRequest([SetOp(("bookings", "b1", "note"), "x")]))
            await asyncio.sleep(0.1)
            assert db.root["notifications"] == sent
        finally:
            await task.close()
            await db.close()
        assert not task._task and task.on_commit not in db.commit_hooks

    asyncio.run(main())
    # Woken by two writes, by the due time, and by the note: a handful of scans, no polling.
    assert 2 <= len(scans) <= 8, scans


def test_a_booking_cancelled_by_a_write_queued_first_gets_no_reminder(tmp_path: Path) -> None:
    """The reminder's write checks, in write order, that its booking is still confirmed for
    the same session: a cancellation queued just before it wins."""

    async def main() -> None:
        db = Database(Store(tmp_path / "store.sqlite3"), Hub(), clock_ms=lambda: NOW)
        await db.start()
        task = Reminders(db, LEAD)  # (not started: driven by hand)
        try:
            tree = normalize(_tree({"b1": ("confirmed", NOW + 60_000)})).value
            await db.write(WriteRequest([SetOp((key,), tree[key]) for key in sorted(tree)]))
            due = due_reminders(db.view, LEAD, NOW)
            assert [r.uid for r in due] == ["pro", "stu"]
            cancel = WriteRequest([SetOp(("bookings", "b1", "status"), "cancelled")])
            cancelling = asyncio.ensure_future(db.write(cancel))
            await asyncio.sleep(0)  # queued, not applied yet
            assert db.root["bookings"]["b1"]["status"] == "confirmed"
            await task._send(due[0])
            await cancelling
            assert "notifications" not in db.root and "sentReminders" not in db.root
            assert due[0].key not in task._sent  # (the next scan sees the cancellation)
            await db.write(WriteRequest([SetOp(("bookings", "b1", "status"), "confirmed")]))
            await task._send(due[0])  # confirmed again: sent, and marked
            assert set(db.root["notifications"]) == {"pro"}
            assert db.root["sentReminders"]["pro"] == {"sessionReminder_b1": NOW + 60_000}
            await task._send(due[0])  # once only
            assert len(db.root["notifications"]["pro"]) == 1
        finally:
            await db.close()

    asyncio.run(main())
