"""Our SQLite files: opened only if they are ours, created or migrated, written in transactions."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from desktop_chat.server.errors import ForeignStoreError, StoreError

__all__ = ["FileKind", "open_file", "transaction"]

log = logging.getLogger("desktop_chat.server")


@dataclass(frozen=True, slots=True)
class FileKind:
    """One kind of file of ours: its mark, its schema, and how to make and migrate it."""

    label: str  # in messages: "store", "accounts file"
    application_id: int
    schema_version: int
    create: Callable[[sqlite3.Connection], None]
    migrations: Mapping[int, Callable[[sqlite3.Connection], None]] = field(default_factory=dict)
    private: bool = False  # made readable by its owner only (password hashes)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; any error, the commit's own included, rolls back."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def open_file(file: Path, kind: FileKind, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """Open *file* in WAL mode, creating or migrating it; a file that is not ours, or is from a
    newer version, raises ForeignStoreError and is left exactly as it was."""
    existed = file.exists() and file.stat().st_size > 0
    try:
        if kind.private and not file.exists():  # SQLite's -wal and -shm files follow its mode
            os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        db = sqlite3.connect(file, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the {kind.label} {file}: {exc}") from exc
    try:
        _prepare(db, file, kind, existed, synchronous)
    except sqlite3.Error as exc:
        db.close()
        raise StoreError(f"cannot open the {kind.label} {file}: {exc}") from exc
    except BaseException:
        db.close()
        raise
    return db


_NOT_OURS = (11, 26)
"""SQLITE_CORRUPT, SQLITE_NOTADB: the file itself is the problem (not the machine)."""


def _prepare(
    db: sqlite3.Connection, file: Path, kind: FileKind, existed: bool, synchronous: str
) -> None:
    try:
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) not in _NOT_OURS:  # (no file handle, say)
            raise StoreError(f"cannot read the {kind.label} {file}: {exc}") from exc
        raise ForeignStoreError(
            f"{file} is not a desktop_chat {kind.label} ({exc}); it was left untouched"
        ) from exc
    if existed and application_id != kind.application_id:
        raise ForeignStoreError(
            f"{file} is a SQLite file of another program (application_id "
            f"{application_id:#x}); it was left untouched"
        )
    if version > kind.schema_version:
        raise ForeignStoreError(
            f"{file} was written by a newer desktop_chat ({kind.label} schema {version}, this "
            f"one reads up to {kind.schema_version}); it was left untouched"
        )
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    if not existed or (version == 0 and not tables):
        with transaction(db):
            kind.create(db)
            db.execute(f"PRAGMA application_id={kind.application_id}")
            db.execute(f"PRAGMA user_version={kind.schema_version}")
        return
    while version < kind.schema_version:
        migrate = kind.migrations.get(version)
        if migrate is None:
            raise ForeignStoreError(f"{file}: no migration from {kind.label} schema {version}")
        log.info("migrating %s from schema %d to %d", file, version, version + 1)
        with transaction(db):
            migrate(db)
            db.execute(f"PRAGMA user_version={version + 1}")
        version += 1
