"""The client's outbox: durable before sending, ordered per conversation, bounded retries,
surviving kill -9 and its own damage."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from desktop_chat.client.cache import CACHE_FILE, LocalCache
from desktop_chat.client.errors import InvalidRequestError
from desktop_chat.client.local_db import ForeignFileError
from desktop_chat.client.outbox import OUTBOX_FILE, NewOutboxItem, Outbox, OutboxError

REPO = Path(__file__).resolve().parents[2]


def _body(cid: str, mid: str) -> dict[str, Any]:
    return {
        f"conversations/{cid}/messages/{mid}": {"text": "hi", "timestamp": {".sv": "timestamp"}},
        f"userConversations/bob/{cid}/unreadCount": {".sv": {"increment": 1}},
    }


def _new(outbox: Outbox, cid: str, created_at: int | None = None) -> NewOutboxItem:
    mid = outbox.new_id()
    item: NewOutboxItem = {"id": mid, "cid": cid, "body": _body(cid, mid)}
    if created_at is not None:
        item["created_at"] = created_at
    return item


def test_enqueue_stores_the_whole_item(tmp_path: Path) -> None:
    with Outbox(tmp_path, clock_ms=lambda: 1234) as outbox:
        new = _new(outbox, "a_b")
        item = outbox.enqueue(new)
        assert item == {
            "id": new["id"],
            "cid": "a_b",
            "created_at": 1234,
            "body": new["body"],
            "attempts": 0,
            "last_error": None,
            "state": "pending",
            "next_attempt_at": 0,
            "sent_at": None,
        }
        assert outbox.get(new["id"]) == item and outbox.get("nope") is None
        assert outbox.enqueue(new) == item  # the same item again: nothing new
        with pytest.raises(OutboxError, match="another body"):
            outbox.enqueue({**new, "body": {"x": 1}})
        with pytest.raises(InvalidRequestError):
            outbox.enqueue({"id": "bad/id", "cid": "a_b", "body": {}})
        with pytest.raises(InvalidRequestError):
            outbox.enqueue({"id": "ok", "cid": "a_b", "body": {"x": object()}})
        assert outbox.unsent_count() == 1


def test_pending_is_in_order_per_conversation(tmp_path: Path) -> None:
    with Outbox(tmp_path) as outbox:
        queued = [
            outbox.enqueue(_new(outbox, cid, created_at))
            for cid, created_at in [("a_b", 5), ("a_c", 1), ("a_b", 5), ("a_b", 2), ("a_c", 9)]
        ]
        ids = [item["id"] for item in queued]
        assert [i["id"] for i in outbox.pending("a_b")] == [ids[3], ids[0], ids[2]]
        assert [i["id"] for i in outbox.pending("a_c")] == [ids[1], ids[4]]
        assert [i["id"] for i in outbox.pending()] == [ids[1], ids[3], ids[0], ids[2], ids[4]]
    with Outbox(tmp_path) as outbox:  # and so after a restart
        assert [i["id"] for i in outbox.pending("a_b")] == [ids[3], ids[0], ids[2]]


def test_attempts_are_bounded_and_a_manual_retry_resets(tmp_path: Path) -> None:
    with Outbox(tmp_path, max_attempts=3) as outbox:
        mid = outbox.enqueue(_new(outbox, "a_b"))["id"]
        item = outbox.mark_attempt(mid, "timeout", 1_000)
        assert (item["state"], item["attempts"], item["last_error"]) == ("pending", 1, "timeout")
        assert item["next_attempt_at"] == 1_000
        outbox.mark_attempt(mid, "timeout", 2_000)
        item = outbox.mark_attempt(mid, "503", 4_000)
        assert (item["state"], item["attempts"], item["last_error"]) == ("failed", 3, "503")
        assert outbox.pending() == [] and [i["id"] for i in outbox.failed("a_b")] == [mid]
        assert outbox.mark_attempt(mid, "late", 9)["attempts"] == 3  # failed: not counted
        assert outbox.unsent_count() == 1

        item = outbox.retry(mid)
        assert (item["state"], item["attempts"], item["last_error"]) == ("pending", 0, None)
        assert item["next_attempt_at"] == 0
        assert outbox.mark_failed(mid, "permission denied")["state"] == "failed"
        assert outbox.retry(mid)["state"] == "pending"
        with pytest.raises(OutboxError, match="no outbox item"):
            outbox.retry("unknown")
    with Outbox(tmp_path) as outbox:
        assert outbox.pending()[0]["id"] == mid


def test_sent_items_stay_sent_and_are_removed_later(tmp_path: Path) -> None:
    now = [100]
    with Outbox(tmp_path, clock_ms=lambda: now[0]) as outbox:
        first = outbox.enqueue(_new(outbox, "a_b"))["id"]
        second = outbox.enqueue(_new(outbox, "a_b"))["id"]
        item = outbox.mark_sent(first)
        assert item["state"] == "sent" and item["sent_at"] == 100
        now[0] = 200
        assert outbox.mark_sent(first)["sent_at"] == 100  # marking twice changes nothing
        assert outbox.mark_failed(first)["state"] == "sent"
        assert outbox.retry(first)["state"] == "sent"
        outbox.mark_failed(second)
        assert outbox.mark_sent(second)["state"] == "sent"  # read back: it had landed
        assert [i["id"] for i in outbox.pending()] == [] and outbox.unsent_count() == 0
        assert outbox.remove_sent(150) == 1
        assert outbox.get(first) is None and outbox.get(second) is not None
        assert outbox.remove_sent(201) == 1


def test_many_items_are_marked_sent_in_one_go(tmp_path: Path) -> None:
    now = [100]
    with Outbox(tmp_path, clock_ms=lambda: now[0]) as outbox:
        ids = [outbox.enqueue(_new(outbox, cid))["id"] for cid in ("a_b", "a_b", "a_c", "a_c")]
        outbox.mark_sent(ids[0])
        now[0] = 300
        outbox.mark_sent_many(ids[:3])
        assert [outbox.get(mid)["sent_at"] for mid in ids[:3]] == [100, 300, 300]  # type: ignore[index]
        assert [i["id"] for i in outbox.pending()] == ids[3:] and outbox.unsent_count() == 1
        outbox.mark_sent_many([])


_KILLED_CHILD = """
import os, sys, time
from pathlib import Path
from desktop_chat.client.outbox import Outbox
outbox = Outbox(Path(sys.argv[1]))
for n in range(int(sys.argv[2])):
    mid = outbox.new_id()
    outbox.enqueue({"id": mid, "cid": "a_b", "body": {"n": n}})
print(mid, flush=True)
time.sleep(60)
"""


def test_an_enqueued_item_survives_kill_9(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_KILLED_CHILD), str(tmp_path), "20"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            last_id = child.stdout.readline().strip()  # enqueue has returned
            os.kill(child.pid, signal.SIGKILL)
        finally:
            if child.poll() is None:
                child.kill()
            child.wait(10)
    assert child.returncode == -signal.SIGKILL and last_id
    with Outbox(tmp_path) as outbox:
        assert not outbox.rebuilt
        pending = outbox.pending("a_b")
        assert [item["body"] for item in pending] == [{"n": n} for n in range(20)]
        assert pending[-1]["id"] == last_id


def test_threads_share_one_outbox(tmp_path: Path) -> None:
    with Outbox(tmp_path) as outbox:

        def work(cid: str) -> None:
            for _ in range(25):
                outbox.enqueue(_new(outbox, cid))

        threads = [threading.Thread(target=work, args=(f"a_{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(outbox.pending()) == 100
        assert len({item["id"] for item in outbox.pending()}) == 100


def test_a_garbage_outbox_is_set_aside_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / OUTBOX_FILE).write_bytes(b"definitely not SQLite " * 300)
    with caplog.at_level(logging.ERROR, "desktop_chat.client"), Outbox(tmp_path) as outbox:
        assert outbox.rebuilt and outbox.recovered == 0 and outbox.pending() == []
        [aside] = outbox.set_aside_files
    assert aside.read_bytes() == b"definitely not SQLite " * 300
    assert "THE OUTBOX" in caplog.text and "DAMAGED" in caplog.text


def test_unsent_items_are_recovered_from_a_damaged_outbox(tmp_path: Path) -> None:
    with Outbox(tmp_path, max_attempts=2) as outbox:
        items = [outbox.enqueue(_new(outbox, "a_b", n)) for n in range(30)]
        outbox.mark_sent(items[0]["id"])
        outbox.mark_attempt(items[1]["id"], "e", 1)
        outbox.mark_attempt(items[1]["id"], "e", 2)
    with LocalCache(tmp_path) as cache:
        cache.set_draft("a_b", "kept")
    file = tmp_path / OUTBOX_FILE
    db = sqlite3.connect(file)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    [root] = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'outbox_order'").fetchone()
    db.close()
    with file.open("r+b") as handle:  # the index turns to noise; the table is intact
        handle.seek((root - 1) * page_size)
        handle.write(b"\xff" * page_size)
    with Outbox(tmp_path) as outbox:
        assert outbox.rebuilt and outbox.recovered == 29
        pending = outbox.pending("a_b")
        assert [i["id"] for i in pending] == [i["id"] for i in items[2:]]
        assert pending[0]["body"] == items[2]["body"]
        [failed] = outbox.failed()
        assert (failed["id"], failed["attempts"]) == (items[1]["id"], 2)
    assert len(list(tmp_path.glob(f"{OUTBOX_FILE}.damaged-*"))) == 1
    with LocalCache(tmp_path) as cache:  # the cache was none of its business
        assert not cache.rebuilt and cache.draft("a_b") is not None


def test_a_foreign_outbox_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / OUTBOX_FILE)
    db.execute("PRAGMA application_id = 7")
    db.execute("CREATE TABLE x (y)")
    db.commit()
    db.close()
    with pytest.raises(ForeignFileError):
        Outbox(tmp_path)
    real = tmp_path / "real"
    with Outbox(real) as outbox:
        outbox.enqueue(_new(outbox, "a_b"))
    (real / OUTBOX_FILE).rename(real / CACHE_FILE)
    with pytest.raises(ForeignFileError):  # an outbox is not a cache, nor a cache an outbox
        LocalCache(real)


def test_remove_refuses_while_messages_are_unsent(tmp_path: Path) -> None:
    with Outbox(tmp_path) as outbox:
        mid = outbox.enqueue(_new(outbox, "a_b"))["id"]
    with pytest.raises(OutboxError, match="unsent"):
        Outbox.remove(tmp_path)
    with Outbox(tmp_path) as outbox:
        outbox.mark_sent(mid)
    assert tmp_path / OUTBOX_FILE in Outbox.remove(tmp_path)
    assert not (tmp_path / OUTBOX_FILE).exists()
    with Outbox(tmp_path) as outbox:
        outbox.enqueue(_new(outbox, "a_b"))
    assert Outbox.remove(tmp_path, force=True)


def test_syncs_after_enqueue_are_shared_and_none_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asks made before a WAL sync begins share it; one made while it runs gets its own; a
    caller that goes away leaves the sync to the others."""
    from desktop_chat.client import local_db

    synced: list[float] = []
    real = local_db.sync_wal

    def spy(file: Path) -> None:  # (the real sync, counted)
        synced.append(time.monotonic())
        real(file)
        time.sleep(0.05)  # (a slow disk: a commit lands while the sync runs)

    monkeypatch.setattr(local_db, "sync_wal", spy)

    async def main() -> None:
        with Outbox(tmp_path) as outbox:
            for _ in range(3):
                await asyncio.to_thread(outbox.enqueue, _new(outbox, "a_b"))
            left = asyncio.ensure_future(outbox.synced())
            waiting = [asyncio.ensure_future(outbox.synced()) for _ in range(2)]
            await asyncio.sleep(0)
            left.cancel()
            await asyncio.gather(*waiting)
            assert len(synced) == 1
            first = asyncio.ensure_future(outbox.synced())  # before the next sync begins
            await asyncio.sleep(outbox.synced.delay * 3)  # it began, and runs
            await asyncio.to_thread(outbox.enqueue, _new(outbox, "a_b"))
            await outbox.synced()  # committed while it ran: a sync of its own
            await first
            assert len(synced) == 3

    asyncio.run(main())


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_the_outbox_and_cache_are_the_users_alone(tmp_path: Path) -> None:
    old = os.umask(0o022)  # (a usual umask: what is not set explicitly is world-readable)
    try:
        account = tmp_path / "uid"
        with Outbox(account) as outbox, LocalCache(account):
            outbox.enqueue(_new(outbox, "a_b"))
            files = [p for p in account.iterdir() if p.is_file()]
            assert {p.name for p in files} >= {OUTBOX_FILE, CACHE_FILE, f"{OUTBOX_FILE}-wal"}
            for path in files:
                assert path.stat().st_mode & 0o777 == 0o600, path
            assert account.stat().st_mode & 0o777 == 0o700
    finally:
        os.umask(old)
