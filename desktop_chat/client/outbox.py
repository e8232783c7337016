"""The outbox: each message kept durably, before anything is sent, until the server has it."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

import orjson

from desktop_chat.client.errors import InvalidRequestError
from desktop_chat.client.local_db import (
    DamagedFileError,
    FileKind,
    LocalStoreError,
    WalSync,
    is_damage,
    open_local_file,
    remove_files,
    salvage_rows,
    set_aside,
    transaction,
)
from desktop_chat.core.errors import InvalidPathError
from desktop_chat.core.paths import PushIdGenerator, check_key

__all__ = [
    "APPLICATION_ID",
    "DEFAULT_MAX_ATTEMPTS",
    "OUTBOX_FILE",
    "SCHEMA_VERSION",
    "NewOutboxItem",
    "Outbox",
    "OutboxError",
    "OutboxItem",
    "OutboxRebuiltError",
    "OutboxState",
]

log = logging.getLogger("desktop_chat.client")

OUTBOX_FILE = "outbox.sqlite3"
APPLICATION_ID = 0x4443424F  # "DCBO": marks a SQLite file as a desktop_chat client outbox
SCHEMA_VERSION = 1
DEFAULT_MAX_ATTEMPTS = 8

OutboxState = Literal["pending", "sent", "failed"]
_STATES = ("pending", "sent", "failed")


def _create(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE outbox (
            id TEXT PRIMARY KEY, cid TEXT NOT NULL, created_at INTEGER NOT NULL,
            body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
            state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
            next_attempt_at INTEGER NOT NULL DEFAULT 0, sent_at INTEGER)"""
    )
    db.execute("CREATE INDEX outbox_order ON outbox (state, cid, created_at, id)")


OUTBOX = FileKind("outbox", APPLICATION_ID, SCHEMA_VERSION, _create)

_COLUMNS = "id, cid, created_at, body, attempts, last_error, state, next_attempt_at, sent_at"


class NewOutboxItem(TypedDict):
    """A message to queue: its client-made push id, its conversation, and the whole multi-path
    update that sends it (JSON)."""

    id: str
    cid: str
    body: dict[str, Any]
    created_at: NotRequired[int]  # epoch ms; now when absent


class OutboxItem(TypedDict):
    id: str
    cid: str
    created_at: int
    body: dict[str, Any]
    attempts: int
    last_error: str | None
    state: OutboxState
    next_attempt_at: int  # epoch ms; 0: at once
    sent_at: int | None


class OutboxError(LocalStoreError):
    """The outbox refused an operation (an unknown id, a clashing id) or could not do it."""


class OutboxRebuiltError(OutboxError):
    """The outbox turned out damaged while in use: it was set aside, what could be read of it
    was carried into a fresh one. Reload the pending items."""


def _item(row: tuple[Any, ...]) -> OutboxItem:
    mid, cid, created_at, body, attempts, last_error, state, next_at, sent_at = row
    if state not in _STATES:
        raise ValueError(f"unknown outbox state {state!r}")
    return {
        "id": mid,
        "cid": cid,
        "created_at": created_at,
        "body": orjson.loads(body),
        "attempts": attempts,
        "last_error": last_error,
        "state": state,
        "next_attempt_at": next_at,
        "sent_at": sent_at,
    }


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Outbox:
    """``outbox.sqlite3`` in an account's data directory: its own file (a damaged cache never
    takes unsent messages with it), WAL with ``synchronous=NORMAL``. ``enqueue`` commits the item
    (from then on it outlives the app: it may be sent); ``await outbox.synced()`` then brings
    the WAL to disk (it outlives the machine too), soon after and off the sending path. Other
    changes reach the disk with the next sync or checkpoint: losing one to a power cut costs
    at most a read-back. Synchronous and thread-safe: call it through ``asyncio.to_thread``.

    A damaged outbox is set aside as ``outbox.sqlite3.damaged-<time>`` (never deleted), a fresh
    one made, and the unsent items that can still be read from the damaged copy carried over;
    ``rebuilt``, ``set_aside_files`` and ``recovered`` say so, and it is logged as an error.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        new_id: Callable[[], str] | None = None,
        clock_ms: Callable[[], int] = _now_ms,
        check: bool = True,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.file = self.directory / OUTBOX_FILE
        self.max_attempts = max_attempts
        self.rebuilt = False
        self.set_aside_files: list[Path] = []
        self.recovered = 0
        self._new_id = new_id or PushIdGenerator()
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._id_lock = threading.Lock()  # (not the file's: an id never waits for a write)
        self.synced = WalSync(self.file)
        """Await it after :meth:`enqueue`: until the item is on disk."""
        self._db: sqlite3.Connection | None = None
        try:
            self._db, self.created = open_local_file(
                self.file, OUTBOX, synchronous="NORMAL", check=check
            )
        except DamagedFileError as exc:
            self._db = self._rebuild(exc)
            self.created = True

    @staticmethod
    def remove(directory: Path, *, force: bool = False) -> list[Path]:
        """Delete the account's outbox (close it first); refused while it holds unsent items
        unless *force*. Returns the files deleted."""
        file = Path(directory) / OUTBOX_FILE
        if not force and file.exists():
            with Outbox(directory) as outbox:
                unsent = outbox.unsent_count()
            if unsent:
                raise OutboxError(f"{file} holds {unsent} unsent messages; not removed")
        return remove_files(file)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def new_id(self) -> str:
        """A fresh push id for a message to queue."""
        with self._id_lock:
            return self._new_id()

    def pending_item(self, item: NewOutboxItem) -> OutboxItem:
        """*item* as :meth:`enqueue` stores it; no I/O (sending starts while it is stored)."""
        created_at = item.get("created_at", self._clock_ms())
        row = (item["id"], item["cid"], created_at, "null", 0, None, "pending", 0, None)
        return {**_item(row), "body": item["body"]}

    def _rebuild(self, exc: BaseException) -> sqlite3.Connection:
        aside = set_aside(self.file)
        self.rebuilt = True
        self.set_aside_files.append(aside)
        log.error(
            "THE OUTBOX %s IS DAMAGED (%s): set aside as %s; unsent messages are being "
            "recovered from it",
            self.file,
            exc,
            aside.name,
        )
        items = _read_damaged(aside)
        db, _ = open_local_file(self.file, OUTBOX, synchronous="NORMAL", check=False)
        rows = [{**item, "body": orjson.dumps(item["body"]).decode()} for item in items]
        with transaction(db):
            db.executemany(
                f"INSERT OR IGNORE INTO outbox ({_COLUMNS}) VALUES (:id, :cid, :created_at, "
                ":body, :attempts, :last_error, :state, :next_attempt_at, :sent_at)",
                rows,
            )
        self.recovered += len(rows)
        log.error("recovered %d unsent messages from the damaged outbox %s", len(rows), aside)
        return db

    @contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None:
                raise OutboxError(f"the outbox {self.file} is closed")
            try:
                yield self._db
            except sqlite3.Error as exc:
                if not is_damage(exc):
                    raise OutboxError(f"the outbox {self.file}: {exc}") from exc
                self._db.close()
                self._db = None
                self._db = self._rebuild(exc)
                raise OutboxRebuiltError(f"the outbox {self.file} was damaged") from exc

    def _get(self, db: sqlite3.Connection, message_id: str) -> OutboxItem:
        row = db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise OutboxError(f"no outbox item {message_id!r}")
        return _item(row)

    def enqueue(self, item: NewOutboxItem) -> OutboxItem:
        """Store *item* as pending (committed: from then on it outlives the app, and it may be
        sent); :attr:`synced` brings it to disk. Queuing the same id again with the same
        conversation and body returns the stored item; another body is refused."""
        try:
            check_key(item["id"])
            check_key(item["cid"])
            body = orjson.dumps(item["body"]).decode()
        except (InvalidPathError, TypeError) as exc:
            raise InvalidRequestError(f"cannot queue message {item.get('id')!r}: {exc}") from exc
        created_at = item.get("created_at", self._clock_ms())
        with self._use() as db:
            inserted = db.execute(  # (one statement, its own transaction: the usual case)
                f"INSERT INTO outbox ({_COLUMNS}) VALUES (?, ?, ?, ?, 0, NULL, 'pending', 0, NULL) "
                "ON CONFLICT (id) DO NOTHING",
                (item["id"], item["cid"], created_at, body),
            ).rowcount
            if inserted:
                return self.pending_item({**item, "created_at": created_at})
            stored = self._get(db, item["id"])
        if stored["cid"] != item["cid"] or stored["body"] != orjson.loads(body):
            raise OutboxError(f"outbox item {item['id']!r} exists with another body")
        return stored

    def get(self, message_id: str) -> OutboxItem | None:
        with self._use() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (message_id,)
            ).fetchone()
        return None if row is None else _item(row)

    def _list(self, state: OutboxState, cid: str | None) -> list[OutboxItem]:
        sql = f"SELECT {_COLUMNS} FROM outbox WHERE state = ?"
        args: tuple[str, ...] = (state,)
        if cid is not None:
            sql += " AND cid = ?"
            args += (cid,)
        with self._use() as db:
            rows = db.execute(sql + " ORDER BY created_at, id", args).fetchall()
        return [_item(row) for row in rows]

    def pending(self, cid: str | None = None) -> list[OutboxItem]:
        """The pending items (of *cid*, or all), in send order: ``(created_at, id)``, which is
        each conversation's order too."""
        return self._list("pending", cid)

    def failed(self, cid: str | None = None) -> list[OutboxItem]:
        return self._list("failed", cid)

    def unsent_count(self) -> int:
        with self._use() as db:
            count: int = db.execute("SELECT count(*) FROM outbox WHERE state != 'sent'").fetchone()[
                0
            ]
        return count

    def mark_attempt(self, message_id: str, error: str, next_at: int) -> OutboxItem:
        """Record a failed attempt at a pending item: count it, keep *error*, retry at
        *next_at* (epoch ms). At ``max_attempts`` attempts the item becomes failed."""
        with self._use() as db, transaction(db):
            db.execute(
                """UPDATE outbox SET attempts = attempts + 1, last_error = ?,
                       next_attempt_at = ?,
                       state = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE 'pending' END
                   WHERE id = ? AND state = 'pending'""",
                (error, next_at, self.max_attempts, message_id),
            )
            return self._get(db, message_id)

    def mark_sent(self, message_id: str) -> OutboxItem:
        """The server has the message (the write succeeded, or reading it back found it)."""
        with self._use() as db, transaction(db):
            db.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ? WHERE id = ? AND state != 'sent'",
                (self._clock_ms(), message_id),
            )
            return self._get(db, message_id)

    def mark_sent_many(self, message_ids: list[str]) -> None:
        """:meth:`mark_sent` for many items in one transaction."""
        now = self._clock_ms()
        with self._use() as db, transaction(db):
            db.executemany(
                "UPDATE outbox SET state = 'sent', sent_at = ? WHERE id = ? AND state != 'sent'",
                [(now, message_id) for message_id in message_ids],
            )

    def mark_failed(self, message_id: str, error: str | None = None) -> OutboxItem:
        """Give up on an unsent item (a refusal no retry can change), until a manual retry."""
        with self._use() as db, transaction(db):
            db.execute(
                """UPDATE outbox SET state = 'failed', last_error = coalesce(?, last_error)
                   WHERE id = ? AND state != 'sent'""",
                (error, message_id),
            )
            return self._get(db, message_id)

    def retry(self, message_id: str) -> OutboxItem:
        """Manual retry: an unsent item becomes pending again, due at once, attempts reset."""
        with self._use() as db, transaction(db):
            db.execute(
                """UPDATE outbox SET state = 'pending', attempts = 0, last_error = NULL,
                       next_attempt_at = 0
                   WHERE id = ? AND state != 'sent'""",
                (message_id,),
            )
            return self._get(db, message_id)

    def remove_sent(self, older_than: int) -> int:
        """Forget items sent before *older_than* (epoch ms); returns how many."""
        with self._use() as db, transaction(db):
            removed: int = db.execute(
                "DELETE FROM outbox WHERE state = 'sent' AND sent_at < ?", (older_than,)
            ).rowcount
        return removed


def _well_formed(item: OutboxItem) -> bool:
    texts = (item["id"], item["cid"])
    numbers = (item["created_at"], item["attempts"], item["next_attempt_at"])
    return (
        all(isinstance(text, str) and text for text in texts)
        and all(isinstance(number, int) for number in numbers)
        and isinstance(item["body"], dict)
    )


def _read_damaged(file: Path) -> list[OutboxItem]:
    """Best effort: the unsent items SQLite can still read from a damaged outbox."""
    found: dict[str, OutboxItem] = {}
    for row in salvage_rows(file, f"SELECT {_COLUMNS} FROM outbox ORDER BY rowid"):
        try:
            item = _item(row)
        except (ValueError, TypeError):
            continue
        if item["state"] != "sent" and _well_formed(item):
            found.setdefault(item["id"], item)
    return sorted(found.values(), key=lambda item: (item["created_at"], item["id"]))
