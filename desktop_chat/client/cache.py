"""The per-account local cache: conversations, messages, profiles, notifications and drafts."""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from desktop_chat.client.cache_schema import (
    CACHE,
    CACHE_FILE,
    CONVERSATION_COLUMNS,
    MESSAGE_COLUMNS,
    NOTIFICATION_COLUMNS,
    UPSERT_CONVERSATION,
    UPSERT_MESSAGE,
    UPSERT_NOTIFICATION,
    UPSERT_USER,
    USER_COLUMNS,
    Cursor,
    Draft,
    conversation_from_row,
    conversation_row,
    dump_json,
    load_json,
    message_from_row,
    message_row,
    notification_from_row,
    notification_row,
    user_from_row,
    user_row,
)
from desktop_chat.client.local_db import (
    DamagedFileError,
    LocalStoreError,
    is_damage,
    open_local_file,
    remove_files,
    set_aside,
    transaction,
)
from desktop_chat.core.model import ConversationEntry, Message, Notification, UserProfile

__all__ = ["CACHE_FILE", "CacheRebuiltError", "LocalCache"]

log = logging.getLogger("desktop_chat.client")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class CacheRebuiltError(LocalStoreError):
    """The cache turned out damaged while in use: it was set aside and a fresh, empty one took
    its place (``LocalCache.rebuilt`` is now True). Resync from the server."""


class LocalCache:
    """``cache.sqlite3`` in an account's data directory (WAL).

    Synchronous and thread-safe (one lock, small statements): call it through
    ``asyncio.to_thread``. A damaged file, found at open or in use, is set aside as
    ``cache.sqlite3.damaged-<time>`` (never deleted) and a fresh one made: ``rebuilt`` tells the
    client to resync. A SQLite file of another program or of a newer schema raises
    ForeignFileError and is left alone. ``check=False`` skips ``PRAGMA quick_check`` at open.
    """

    def __init__(self, directory: Path, *, check: bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.file = self.directory / CACHE_FILE
        self.rebuilt = False
        self.set_aside_files: list[Path] = []
        self._lock = threading.Lock()
        try:
            db, self.created = open_local_file(self.file, CACHE, check=check)
        except DamagedFileError as exc:
            self._set_aside(exc)
            db, self.created = open_local_file(self.file, CACHE, check=False)
        self._db: sqlite3.Connection | None = db

    @staticmethod
    def remove(directory: Path) -> list[Path]:
        """Sign-out: delete the account's cache (close it first). The outbox, and any damaged
        copies set aside, are kept. Returns the files deleted."""
        return remove_files(Path(directory) / CACHE_FILE)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> LocalCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _set_aside(self, exc: BaseException) -> None:
        aside = set_aside(self.file)
        self.rebuilt = True
        self.set_aside_files.append(aside)
        log.warning(
            "the local cache %s is damaged (%s): set aside as %s; a fresh cache is made and "
            "will be filled from the server",
            self.file,
            exc,
            aside.name,
        )

    @contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None:
                raise LocalStoreError(f"the cache {self.file} is closed")
            try:
                yield self._db
            except sqlite3.Error as exc:
                if not is_damage(exc):
                    raise LocalStoreError(f"the cache {self.file}: {exc}") from exc
                self._db.close()
                self._db = None
                self._set_aside(exc)
                self._db, _ = open_local_file(self.file, CACHE, check=False)
                raise CacheRebuiltError(f"the cache {self.file} was damaged and rebuilt") from exc

    def _write(self, sql: str, rows: Iterable[Any]) -> None:
        with self._use() as db, transaction(db):
            db.executemany(sql, rows)

    # -- conversations -------------------------------------------------------------------------

    def upsert_conversations(self, entries: Iterable[ConversationEntry]) -> None:
        self._write(UPSERT_CONVERSATION, map(conversation_row, entries))

    def replace_conversations(self, entries: Iterable[ConversationEntry]) -> None:
        """The whole list, as a stream's first ``put`` gives it: entries not in it go."""
        rows = [conversation_row(entry) for entry in entries]
        with self._use() as db, transaction(db):
            db.execute("DELETE FROM conversations")
            db.executemany(UPSERT_CONVERSATION, rows)

    def delete_conversations(self, cids: Iterable[str]) -> None:
        self._write("DELETE FROM conversations WHERE cid = ?", ((cid,) for cid in cids))

    def conversations(self) -> list[ConversationEntry]:
        """Most recent activity first (entries without messages last)."""
        with self._use() as db:
            rows = db.execute(
                f"SELECT {CONVERSATION_COLUMNS} FROM conversations "
                "ORDER BY last_message_at DESC, cid"
            ).fetchall()
        return [conversation_from_row(row) for row in rows]

    def conversation(self, cid: str) -> ConversationEntry | None:
        with self._use() as db:
            row = db.execute(
                f"SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE cid = ?", (cid,)
            ).fetchone()
        return None if row is None else conversation_from_row(row)

    def unread_counts(self) -> dict[str, int]:
        """``{cid: unreadCount}`` of the conversations with unread messages."""
        with self._use() as db:
            rows = db.execute(
                "SELECT cid, unread_count FROM conversations WHERE unread_count > 0"
            ).fetchall()
        return dict(rows)

    def total_unread(self) -> int:
        with self._use() as db:
            total = db.execute("SELECT total(unread_count) FROM conversations").fetchone()[0]
        return int(total)

    # -- messages ------------------------------------------------------------------------------

    def upsert_messages(self, messages: Iterable[Message]) -> None:
        self._write(UPSERT_MESSAGE, map(message_row, messages))

    def delete_messages(self, cid: str, ids: Iterable[str]) -> None:
        self._write("DELETE FROM messages WHERE cid = ? AND id = ?", ((cid, mid) for mid in ids))

    def clear_messages(self, cid: str) -> None:
        with self._use() as db, transaction(db):
            db.execute("DELETE FROM messages WHERE cid = ?", (cid,))

    def search_messages(self, query: str, limit: int = 50) -> list[Message]:
        """Cached messages whose text has every word of *query* (word prefixes match,
        accents and case are ignored), newest first. Query syntax is not interpreted."""
        words = [word for word in re.findall(r"\w+", query) if word]
        if not words:
            return []
        match = " ".join('"' + word.replace('"', '""') + '"*' for word in words[:16])
        columns = ", ".join(f"m.{name.strip()}" for name in MESSAGE_COLUMNS.split(","))
        with self._use() as db:
            rows = db.execute(
                f"""SELECT {columns} FROM messages_fts f JOIN messages m ON m.rowid = f.rowid
                    WHERE messages_fts MATCH ? AND m.type != 'deleted'
                    ORDER BY m.timestamp DESC, m.id DESC LIMIT ?""",
                (match, max(0, limit)),
            ).fetchall()
        return [message_from_row(row) for row in rows]

    def newest_order(self, cid: str) -> Cursor | None:
        """The ``(timestamp, id)`` of the newest cached message of *cid*."""
        with self._use() as db:
            row = db.execute(
                "SELECT timestamp, id FROM messages WHERE cid = ? "
                "ORDER BY timestamp DESC, id DESC LIMIT 1",
                (cid,),
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def oldest_order(self, cid: str) -> Cursor | None:
        """The ``(timestamp, id)`` of the oldest cached message of *cid*."""
        with self._use() as db:
            row = db.execute(
                "SELECT timestamp, id FROM messages WHERE cid = ? ORDER BY timestamp, id LIMIT 1",
                (cid,),
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def messages(self, cid: str, limit: int = 50, before: Cursor | None = None) -> list[Message]:
        """The newest *limit* messages of *cid* older than *before* (a message's
        ``(timestamp, id)``; None: the newest of all), oldest first. The next older page is
        ``messages(cid, limit, before=page[0].order)``."""
        sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE cid = ?"
        args: tuple[Any, ...] = (cid,)
        if before is not None:
            sql += " AND (timestamp, id) < (?, ?)"
            args += (before[0], before[1])
        sql += " ORDER BY timestamp DESC, id DESC LIMIT ?"
        with self._use() as db:
            rows = db.execute(sql, (*args, max(0, limit))).fetchall()
        return [message_from_row(row) for row in reversed(rows)]

    def latest(self, cid: str, n: int = 50) -> list[Message]:
        """The last *n* messages of *cid*, oldest first."""
        return self.messages(cid, n)

    def messages_by_id(self, cid: str, ids: list[str]) -> list[Message]:
        """The cached messages of *cid* among *ids* (in no particular order)."""
        found: list[Message] = []
        with self._use() as db:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE cid = ? AND id IN ({marks})",
                    (cid, *chunk),
                ).fetchall()
                found.extend(message_from_row(row) for row in rows)
        return found

    def message(self, cid: str, message_id: str) -> Message | None:
        with self._use() as db:
            row = db.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE cid = ? AND id = ?",
                (cid, message_id),
            ).fetchone()
        return None if row is None else message_from_row(row)

    def message_count(self, cid: str) -> int:
        with self._use() as db:
            count: int = db.execute(
                "SELECT count(*) FROM messages WHERE cid = ?", (cid,)
            ).fetchone()[0]
        return count

    def mark_read(self, cid: str, reader: str) -> int:
        """Mark *reader*'s unread messages in *cid* read and zero its unread count; returns
        how many messages changed."""
        with self._use() as db, transaction(db):
            changed = db.execute(
                "UPDATE messages SET read = 1 WHERE cid = ? AND receiver_id = ? AND read = 0",
                (cid, reader),
            ).rowcount
            db.execute("UPDATE conversations SET unread_count = 0 WHERE cid = ?", (cid,))
        return changed

    # -- users ---------------------------------------------------------------------------------

    def upsert_users(self, users: Iterable[UserProfile]) -> None:
        self._write(UPSERT_USER, map(user_row, users))

    def delete_users(self, uids: Iterable[str]) -> None:
        self._write("DELETE FROM users WHERE uid = ?", ((uid,) for uid in uids))

    def user(self, uid: str) -> UserProfile | None:
        with self._use() as db:
            row = db.execute(f"SELECT {USER_COLUMNS} FROM users WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else user_from_row(row)

    def users(self) -> dict[str, UserProfile]:
        with self._use() as db:
            rows = db.execute(f"SELECT {USER_COLUMNS} FROM users").fetchall()
        return {row[0]: user_from_row(row) for row in rows}

    # -- notifications -------------------------------------------------------------------------

    def upsert_notifications(self, notifications: Iterable[Notification]) -> None:
        self._write(UPSERT_NOTIFICATION, map(notification_row, notifications))

    def replace_notifications(self, notifications: Iterable[Notification]) -> None:
        rows = [notification_row(notification) for notification in notifications]
        with self._use() as db, transaction(db):
            db.execute("DELETE FROM notifications")
            db.executemany(UPSERT_NOTIFICATION, rows)

    def delete_notifications(self, ids: Iterable[str]) -> None:
        self._write("DELETE FROM notifications WHERE id = ?", ((nid,) for nid in ids))

    def notifications(self, limit: int | None = None) -> list[Notification]:
        """Newest first."""
        with self._use() as db:
            rows = db.execute(
                f"SELECT {NOTIFICATION_COLUMNS} FROM notifications "
                "ORDER BY created_at DESC, id DESC LIMIT ?",
                (-1 if limit is None else max(0, limit),),
            ).fetchall()
        return [notification_from_row(row) for row in rows]

    def unread_notification_count(self) -> int:
        with self._use() as db:
            count: int = db.execute("SELECT count(*) FROM notifications WHERE read = 0").fetchone()[
                0
            ]
        return count

    # -- drafts --------------------------------------------------------------------------------

    def draft(self, cid: str) -> Draft | None:
        with self._use() as db:
            row = db.execute(
                "SELECT cid, text, updated_at FROM drafts WHERE cid = ?", (cid,)
            ).fetchone()
        return None if row is None else {"cid": row[0], "text": row[1], "updated_at": row[2]}

    def drafts(self) -> list[Draft]:
        with self._use() as db:
            rows = db.execute("SELECT cid, text, updated_at FROM drafts ORDER BY cid").fetchall()
        return [{"cid": cid, "text": text, "updated_at": at} for cid, text, at in rows]

    def set_draft(self, cid: str, text: str, updated_at: int | None = None) -> None:
        """Keep *text* as *cid*'s draft; an empty (or blank) text clears it."""
        if not text.strip():
            self.clear_draft(cid)
            return
        with self._use() as db, transaction(db):
            db.execute(
                "INSERT OR REPLACE INTO drafts (cid, text, updated_at) VALUES (?, ?, ?)",
                (cid, text, _now_ms() if updated_at is None else updated_at),
            )

    def clear_draft(self, cid: str) -> None:
        with self._use() as db, transaction(db):
            db.execute("DELETE FROM drafts WHERE cid = ?", (cid,))

    # -- meta ----------------------------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        """A JSON value kept under *key* (sync markers and the like), else *default*."""
        with self._use() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else load_json(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self._use() as db, transaction(db):
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, dump_json(value))
            )

    def delete_meta(self, key: str) -> None:
        with self._use() as db, transaction(db):
            db.execute("DELETE FROM meta WHERE key = ?", (key,))
