"""The durable store: the tree's leaves in SQLite (WAL), with schema versions and migrations."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path as FsPath
from typing import Literal

import orjson

from desktop_chat.core.paths import Path
from desktop_chat.core.tree import set_in
from desktop_chat.core.values import Node
from desktop_chat.server.errors import ForeignStoreError, StoreError

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "LeafOp", "Store"]

log = logging.getLogger("desktop_chat.server")

APPLICATION_ID = 0x44434854  # "DCHT": marks a SQLite file as a desktop_chat store
SCHEMA_VERSION = 2
Durability = Literal["normal", "full"]

LeafOp = tuple[str, str, bytes | None]
"""One change to the rows: ("put", key, json) upserts a leaf, ("del", key, None) removes one
row, ("del_tree", key, None) removes a location and everything below it."""


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    # Version 1 kept leaves in a rowid table; version 2 clusters them by path (WITHOUT ROWID),
    # which halves the size and makes subtree range scans and deletes a single index walk.
    db.execute(
        "CREATE TABLE nodes_v2 (path TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID"
    )
    db.execute("INSERT INTO nodes_v2 (path, value) SELECT path, value FROM nodes")
    db.execute("DROP TABLE nodes")
    db.execute("ALTER TABLE nodes_v2 RENAME TO nodes")


_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_to_2}


def _create(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE nodes (path TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID"
    )


class Store:
    """One SQLite file holding a tree. Not thread-safe: one caller at a time."""

    def __init__(self, file: FsPath, durability: Durability = "normal") -> None:
        self.file = file
        existed = file.exists() and file.stat().st_size > 0
        try:
            self._db = sqlite3.connect(file, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {file}: {exc}") from exc
        try:
            self._open(existed, durability)
        except BaseException:
            self._db.close()
            raise

    def _open(self, existed: bool, durability: Durability) -> None:
        db = self._db
        try:
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            raise ForeignStoreError(
                f"{self.file} is not a desktop_chat store ({exc}); it was left untouched"
            ) from exc
        if existed and application_id != APPLICATION_ID:
            raise ForeignStoreError(
                f"{self.file} is a SQLite file of another program (application_id "
                f"{application_id:#x}); it was left untouched"
            )
        if version > SCHEMA_VERSION:
            raise ForeignStoreError(
                f"{self.file} was written by a newer desktop_chat (schema {version}, this one "
                f"reads up to {SCHEMA_VERSION}); it was left untouched"
            )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={durability.upper()}")
        if not existed or (version == 0 and not tables):
            with self._transaction():
                _create(db)
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            return
        while version < SCHEMA_VERSION:
            migrate = _MIGRATIONS.get(version)
            if migrate is None:
                raise ForeignStoreError(f"{self.file}: no migration from schema {version}")
            log.info("migrating %s from schema %d to %d", self.file, version, version + 1)
            with self._transaction():
                migrate(db)
                db.execute(f"PRAGMA user_version={version + 1}")
            version += 1

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def load(self) -> Node:
        """Read the whole tree."""
        root: Node = None
        for key, raw in self._db.execute("SELECT path, value FROM nodes ORDER BY path"):
            path: Path = tuple(key.split("/")) if key else ()
            root = set_in(root, path, orjson.loads(raw)).root
        return root

    def commit(self, ops: Sequence[LeafOp]) -> None:
        """Apply *ops* in one transaction: all of them or, on any error, none."""
        db = self._db
        try:
            with self._transaction():
                for kind, key, value in ops:
                    if kind == "put":
                        db.execute(
                            "INSERT INTO nodes (path, value) VALUES (?, ?) "
                            "ON CONFLICT(path) DO UPDATE SET value = excluded.value",
                            (key, value),
                        )
                    elif kind == "del":
                        db.execute("DELETE FROM nodes WHERE path = ?", (key,))
                    elif key:
                        db.execute(
                            "DELETE FROM nodes WHERE path = ? OR (path >= ? AND path < ?)",
                            (key, key + "/", key + "0"),
                        )
                    else:
                        db.execute("DELETE FROM nodes")
        except sqlite3.Error as exc:
            raise StoreError(f"write failed: {exc}") from exc

    def replace_all(self, leaves: Iterable[tuple[str, bytes]]) -> None:
        """Replace the whole tree with *leaves* in one transaction (used by import)."""
        try:
            with self._transaction():
                self._db.execute("DELETE FROM nodes")
                self._db.executemany("INSERT INTO nodes (path, value) VALUES (?, ?)", leaves)
        except sqlite3.Error as exc:
            raise StoreError(f"import failed: {exc}") from exc

    def close(self) -> None:
        """Checkpoint the WAL and close the file."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.warning("could not checkpoint %s: %s", self.file, exc)
        self._db.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        elif self._db.in_transaction:
            self._db.execute("ROLLBACK")
