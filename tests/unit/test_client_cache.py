"""The client's local cache: records, order, paging, drafts, schema, and damaged files set aside."""

from __future__ import annotations

import logging
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_chat.client.cache import CACHE_FILE, CacheRebuiltError, LocalCache
from desktop_chat.client.cache_schema import APPLICATION_ID, SCHEMA_VERSION
from desktop_chat.client.local_db import FileKind, ForeignFileError, NewerFileError, open_local_file
from desktop_chat.client.outbox import OUTBOX_FILE, Outbox
from desktop_chat.core.model import (
    ConversationEntry,
    Link,
    Message,
    MessageType,
    Notification,
    NotificationKind,
    Role,
    Slot,
    UserProfile,
    message_from,
    other_participant,
)

CID = "alice_bob"
OTHER = "alice_carol"


def _message(mid: str, timestamp: int, cid: str = CID, **fields: Any) -> Message:
    """A message as the client gets it: wire JSON through core.model's parser."""
    receiver = other_participant(cid, "alice")
    value = {"senderId": "alice", "receiverId": receiver, "text": f"text {mid}", "read": False}
    value.update({"timestamp": timestamp, "type": "text", **fields})
    value = {key: item for key, item in value.items() if item is not None}
    message = message_from(cid, mid, value)
    assert message is not None
    return message


def _entry(cid: str, last_at: int | None, unread: int = 0, name: str = "") -> ConversationEntry:
    return ConversationEntry(cid, cid[2:], name, None, None, last_at, unread)


def _fill(cache: LocalCache, count: int) -> None:
    cache.upsert_messages(_message(f"m{i:05d}", 1_000 + i, text="x" * 300) for i in range(count))


def test_conversations_sorted_by_activity_with_unread_counts(tmp_path: Path) -> None:
    with LocalCache(tmp_path) as cache:
        assert cache.created and not cache.rebuilt
        bob = ConversationEntry("a_b", "b", "Bob", "http://p", "hi", 10, 0)
        cache.upsert_conversations(
            [bob, _entry("a_c", 30, 2), _entry("a_d", None), _entry("a_e", 20, 5)]
        )  # a_d: no message yet
        cids = [c.conversation_id for c in cache.conversations()]
        assert cids == ["a_c", "a_e", "a_b", "a_d"]
        assert cache.conversation("a_b") == bob and cache.conversation("a_x") is None
        assert cache.unread_counts() == {"a_c": 2, "a_e": 5}
        assert cache.total_unread() == 7
        cache.upsert_conversations([_entry("a_b", 40)])
        assert cache.conversations()[0] == _entry("a_b", 40)
        cache.replace_conversations([_entry("a_c", 1)])
        assert [c.conversation_id for c in cache.conversations()] == ["a_c"]
        cache.delete_conversations(["a_c", "missing"])
        assert cache.conversations() == [] and cache.total_unread() == 0


def test_messages_upsert_page_and_mark_read(tmp_path: Path) -> None:
    with LocalCache(tmp_path) as cache:
        cache.upsert_messages(
            [_message("m3", 300), _message("m1", 100), _message("m2", 200), _message("m0", 200)]
        )
        cache.upsert_messages([_message("z", 1, cid=OTHER)])
        assert [m.id for m in cache.latest(CID, 10)] == ["m1", "m0", "m2", "m3"]
        assert [m.id for m in cache.latest(CID, 2)] == ["m2", "m3"]
        assert [m.id for m in cache.messages(CID, 2, before=(200, "m2"))] == ["m1", "m0"]
        assert [m.id for m in cache.messages(CID, 5, before=(100, "m1"))] == []
        assert cache.message_count(CID) == 4
        assert cache.message(CID, "m1") == _message("m1", 100)
        assert cache.mark_read(CID, "bob") == 4
        assert cache.mark_read(CID, "bob") == 0
        assert all(m.read for m in cache.latest(CID))
        cache.delete_messages(CID, ["m0", "m3"])
        assert [m.id for m in cache.latest(CID)] == ["m1", "m2"]
        cache.clear_messages(CID)
        assert cache.latest(CID) == [] and cache.message_count(OTHER) == 1


def test_stale_copies_never_undo_read_or_a_tombstone(tmp_path: Path) -> None:
    with LocalCache(tmp_path) as cache:
        slot = {"skillId": "s", "date": "2025-01-01", "slotId": "x"}
        proposal = _message("m1", 1, read=True, type="booking_proposal", slot=slot)
        cache.upsert_messages([proposal])
        stored = cache.message(CID, "m1")
        assert stored == proposal and stored.slot == Slot("s", "2025-01-01", "x")
        assert stored.type is MessageType.BOOKING_PROPOSAL
        cache.upsert_messages([_message("m1", 1, read=False, text="edited", editedAt=5)])
        stored = cache.message(CID, "m1")
        assert stored is not None and stored.read and stored.text == "edited"
        assert stored.edited_at == 5
        cache.upsert_messages([_message("m1", 1, type="deleted", text=None)])  # the tombstone
        cache.upsert_messages([_message("m1", 1, text="stale")])
        stored = cache.message(CID, "m1")
        assert stored is not None and stored.deleted and stored.text is None


def test_users_notifications_drafts_and_meta(tmp_path: Path) -> None:
    with LocalCache(tmp_path) as cache:
        ann = UserProfile("u1", "Ann", Role.STUDENT)
        bo = UserProfile("u2", "Bo", Role.PROVIDER, "http://p")
        cache.upsert_users([ann, bo])
        assert cache.user("u1") == ann and cache.users() == {"u1": ann, "u2": bo}
        assert cache.user("nobody") is None
        cache.delete_users(["u2"])
        assert set(cache.users()) == {"u1"}

        link = Link(conversation_id=CID)
        notes = [
            Notification(f"n{i}", NotificationKind.MESSAGE, "t", "b", "u1", i, i == 1, link)
            for i in range(3)
        ]
        notes.append(Notification("n3", NotificationKind.REVIEW, "r", None, None, 3, True))
        cache.upsert_notifications(notes)
        assert cache.notifications() == notes[::-1]
        assert cache.notifications(2) == [notes[3], notes[2]]
        assert cache.unread_notification_count() == 2
        cache.delete_notifications(["n2"])
        cache.replace_notifications(notes[:1])
        assert cache.notifications() == notes[:1]

        assert cache.draft(CID) is None
        cache.set_draft(CID, "half a thought", updated_at=7)
        cache.set_draft("x_y", "other")
        assert cache.draft(CID) == {"cid": CID, "text": "half a thought", "updated_at": 7}
        assert [d["cid"] for d in cache.drafts()] == [CID, "x_y"]
        cache.set_draft(CID, "   ")
        cache.clear_draft("x_y")
        assert cache.drafts() == []

        cache.set_meta("sync", {"conversations": 123})
        assert cache.get_meta("sync") == {"conversations": 123}
        cache.delete_meta("sync")
        assert cache.get_meta("sync", 0) == 0


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    with LocalCache(tmp_path) as cache:
        _fill(cache, 10)
        cache.set_draft(CID, "draft")
    with LocalCache(tmp_path) as cache:
        assert not cache.created and not cache.rebuilt
        assert cache.message_count(CID) == 10 and cache.draft(CID) is not None
    with pytest.raises(Exception, match="closed"):
        cache.latest(CID)


def test_foreign_and_newer_files_are_refused_untouched(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    db = sqlite3.connect(foreign / CACHE_FILE)
    db.execute("CREATE TABLE theirs (x)")
    db.commit()
    db.close()
    before = (foreign / CACHE_FILE).read_bytes()
    with pytest.raises(ForeignFileError, match="another program"):
        LocalCache(foreign)
    assert (foreign / CACHE_FILE).read_bytes() == before

    with LocalCache(tmp_path) as cache:
        _fill(cache, 3)
    db = sqlite3.connect(tmp_path / CACHE_FILE)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(NewerFileError, match="newer"):
        LocalCache(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [CACHE_FILE]


def test_a_schema_1_cache_drops_its_records_and_keeps_drafts(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / CACHE_FILE)
    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
    db.execute("PRAGMA user_version=1")
    for table in ("conversations (cid)", "messages (cid, id)", "users (uid)", "notifications (id)"):
        db.execute(f"CREATE TABLE {table}")
    db.execute("INSERT INTO messages VALUES ('alice_bob', 'm1')")  # a record of the old shape
    db.execute("CREATE TABLE drafts (cid TEXT PRIMARY KEY, text TEXT, updated_at INTEGER)")
    db.execute("INSERT INTO drafts VALUES ('alice_bob', 'kept', 1)")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('sync', '1')")
    db.commit()
    db.close()
    with LocalCache(tmp_path) as cache:
        assert not cache.created and not cache.rebuilt
        assert cache.latest(CID) == [] and cache.get_meta("sync") is None
        assert cache.draft(CID) == {"cid": CID, "text": "kept", "updated_at": 1}
        cache.upsert_messages([_message("m1", 1)])
        assert cache.latest(CID) == [_message("m1", 1)]


def _kind(version: int, migrations: dict[int, Any] | None = None) -> FileKind:
    def create(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE t (a TEXT)")
        if version >= 2:
            db.execute("ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'new'")

    return FileKind("test file", 0x54455354, version, create, migrations or {})


def test_migration_takes_an_older_file_forward(tmp_path: Path) -> None:
    file = tmp_path / "f.sqlite3"
    db, created = open_local_file(file, _kind(1))
    assert created
    db.execute("INSERT INTO t (a) VALUES ('kept')")
    db.close()

    def to_2(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'migrated'")

    with pytest.raises(NewerFileError, match="no migration"):
        open_local_file(file, _kind(2))
    db, created = open_local_file(file, _kind(2, {1: to_2}))
    assert not created
    assert db.execute("SELECT a, b FROM t").fetchall() == [("kept", "migrated")]
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()
    with pytest.raises(NewerFileError):
        open_local_file(file, _kind(1))


def _damaged_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if ".damaged-" in p.name)


def _damage_check(tmp_path: Path, damage: Any, caplog: pytest.LogCaptureFixture) -> None:
    with LocalCache(tmp_path) as cache:
        _fill(cache, 2_000)
    with Outbox(tmp_path) as outbox:
        outbox.enqueue({"id": "-Mpending000000000001", "cid": CID, "body": {"a": 1}})
    damage(tmp_path / CACHE_FILE)
    damaged_bytes = (tmp_path / CACHE_FILE).read_bytes()
    with caplog.at_level(logging.WARNING, "desktop_chat.client"), LocalCache(tmp_path) as cache:
        assert cache.rebuilt
        assert cache.latest(CID) == []
        _fill(cache, 1)
        assert [p.name for p in cache.set_aside_files] == [p.name for p in _damaged_files(tmp_path)]
    assert "damaged" in caplog.text
    [aside] = _damaged_files(tmp_path)
    assert aside.name.startswith(f"{CACHE_FILE}.damaged-")
    assert aside.read_bytes() == damaged_bytes  # set aside as it was, never deleted
    with Outbox(tmp_path) as outbox:
        assert not outbox.rebuilt
        assert [item["id"] for item in outbox.pending()] == ["-Mpending000000000001"]
    with LocalCache(tmp_path) as cache:
        assert not cache.rebuilt and cache.message_count(CID) == 1


def test_garbage_cache_is_set_aside_and_outbox_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _damage_check(tmp_path, lambda file: file.write_bytes(b"\x00garbage, not SQLite" * 500), caplog)


def test_cache_truncated_mid_page_is_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def truncate(file: Path) -> None:
        size = file.stat().st_size
        with file.open("r+b") as handle:
            handle.truncate(size // 2 + 1234)

    _damage_check(tmp_path, truncate, caplog)


def test_damage_found_in_use_rebuilds(tmp_path: Path) -> None:
    with LocalCache(tmp_path) as cache:
        _fill(cache, 2_000)
    file = tmp_path / CACHE_FILE
    with file.open("r+b") as handle:  # a page in the middle of the messages turns to noise
        handle.seek((file.stat().st_size // 2) // 4096 * 4096)
        handle.write(b"\xff" * 4096)
    cache = LocalCache(tmp_path, check=False)  # no quick_check: a query finds the damage
    with cache:
        assert cache.set_aside_files == []
        with pytest.raises(CacheRebuiltError):
            cache.latest(CID, 5_000)
        assert cache.rebuilt and len(_damaged_files(tmp_path)) == 1
        assert cache.latest(CID) == []


def test_remove_deletes_the_cache_and_keeps_the_outbox(tmp_path: Path) -> None:
    with LocalCache(tmp_path) as cache:
        _fill(cache, 3)
    with Outbox(tmp_path) as outbox:
        outbox.enqueue({"id": "-Mpending000000000001", "cid": CID, "body": {}})
    removed = LocalCache.remove(tmp_path)
    assert tmp_path / CACHE_FILE in removed
    assert not any(p.name.startswith(CACHE_FILE) for p in tmp_path.iterdir())
    assert (tmp_path / OUTBOX_FILE).exists()
    assert LocalCache.remove(tmp_path) == []


@settings(max_examples=40, deadline=None)
@given(
    stamps=st.lists(st.integers(0, 6), max_size=40),
    limit=st.integers(1, 7),
)
def test_pages_concatenated_are_the_history(stamps: list[int], limit: int) -> None:
    with tempfile.TemporaryDirectory() as directory, LocalCache(Path(directory)) as cache:
        # Ids out of time order and many equal timestamps: (timestamp, id) is the order.
        messages = [_message(f"id{(i * 7919) % 1000:04d}", stamp) for i, stamp in enumerate(stamps)]
        cache.upsert_messages(messages)
        pages: list[list[Message]] = []
        page = cache.latest(CID, limit)
        while page:
            assert len(page) <= limit
            pages.append(page)
            page = cache.messages(CID, limit, before=page[0].order)
        history = [m for page in reversed(pages) for m in page]
        expected = sorted(messages, key=lambda m: m.order)
        assert history == expected
        assert len({m.id for m in history}) == len(history)
        assert all(len(page) == limit for page in pages[:-1])


def test_message_text_search(tmp_path: Path) -> None:
    """Full-text search over cached messages: every word, prefixes, accents and case folded,
    edits and tombstones followed, query syntax never interpreted."""
    with LocalCache(tmp_path) as cache:

        def message(
            mid: str, text: str | None, ts: int, kind: MessageType = MessageType.TEXT
        ) -> Message:
            return Message(mid, "a_b", "a", "b", text, ts, False, kind)

        cache.upsert_messages(
            [
                message("m1", "Guitar lesson on Thursday?", 1),
                message("m2", "Café at six, then the guitar", 2),
                message("m3", "see you", 3),
            ]
        )
        assert [m.id for m in cache.search_messages("guitar")] == ["m2", "m1"]
        assert [m.id for m in cache.search_messages("GUIT thurs")] == ["m1"]
        assert [m.id for m in cache.search_messages("cafe")] == ["m2"]
        for odd in ('"', "NEAR(", "a OR", "*", "", "   ", "-x", "col:guitar"):
            cache.search_messages(odd)  # never a syntax error
        cache.upsert_messages([message("m1", "Piano instead", 1)])
        assert [m.id for m in cache.search_messages("guitar")] == ["m2"]
        assert [m.id for m in cache.search_messages("piano")] == ["m1"]
        cache.upsert_messages([message("m2", None, 2, MessageType.DELETED)])
        assert cache.search_messages("guitar") == []
        cache.clear_messages("a_b")
        assert cache.search_messages("piano") == []


def test_a_schema_2_cache_gains_search_over_what_it_holds(tmp_path: Path) -> None:
    with LocalCache(tmp_path) as cache:
        cache.upsert_messages(
            [Message("m1", "a_b", "a", "b", "kept history", 1, False, MessageType.TEXT)]
        )
    db = sqlite3.connect(tmp_path / CACHE_FILE)
    for name in ("messages_fts_insert", "messages_fts_delete", "messages_fts_update"):
        db.execute(f"DROP TRIGGER {name}")
    db.execute("DROP TABLE messages_fts")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    with LocalCache(tmp_path) as cache:
        assert not cache.rebuilt
        assert [m.id for m in cache.search_messages("history")] == ["m1"]
