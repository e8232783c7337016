"""The durable store: the tree's leaves in SQLite (WAL), with schema versions and migrations."""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path as FsPath
from typing import Literal

import orjson

from desktop_chat.core.paths import Path
from desktop_chat.core.tree import set_in
from desktop_chat.core.values import Node
from desktop_chat.server.errors import StoreError
from desktop_chat.server.sqlite_file import FileKind, open_file, transaction

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "LeafOp", "Store"]

log = logging.getLogger("desktop_chat.server")

APPLICATION_ID = 0x44434854  # "DCHT": marks a SQLite file as a desktop_chat store
SCHEMA_VERSION = 2
LOAD_STEP = 20_000
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


STORE_FILE = FileKind("store", APPLICATION_ID, SCHEMA_VERSION, _create, _MIGRATIONS, private=True)


UPSERT = (
    "INSERT INTO nodes (path, value) VALUES (?, ?) "
    "ON CONFLICT(path) DO UPDATE SET value = excluded.value"
)


class Store:
    """One SQLite file holding a tree. Not thread-safe: one caller at a time."""

    def __init__(self, file: FsPath, durability: Durability = "normal") -> None:
        self.file = file
        self._db = open_file(file, STORE_FILE, durability.upper())
        self._reader: sqlite3.Connection | None = None
        """A second, read-only connection: reads back history while the writer commits."""
        self._reading = threading.Lock()  # (one read at a time: a read holds its snapshot)

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db)

    def load(self, every: Callable[[Node], None] | None = None) -> Node:
        """Read the whole tree; StoreError if the file is damaged (it is left as it is).
        *every*, if given, sees the tree as loaded so far every LOAD_STEP rows (and may take
        the parts it does not want in memory out of it)."""
        root: Node = None
        try:
            rows = self._db.execute("SELECT path, value FROM nodes ORDER BY path")
            for count, (key, raw) in enumerate(rows, 1):
                path: Path = tuple(key.split("/")) if key else ()
                root = set_in(root, path, orjson.loads(raw)).root
                if every is not None and count % LOAD_STEP == 0:
                    every(root)
        except (sqlite3.Error, orjson.JSONDecodeError, AttributeError, TypeError) as exc:
            raise StoreError(
                f"{self.file} is damaged ({exc}) and was left untouched: move it aside, or "
                "put back a copy, to start the server"
            ) from exc
        return root

    def commit(self, ops: Sequence[LeafOp]) -> None:
        """Apply *ops* in one transaction: all of them or, on any error, none. Consecutive
        puts go in one statement (a message's send writes some twenty leaves)."""
        db = self._db
        try:
            with self._transaction():
                for kind, group in itertools.groupby(ops, key=lambda op: op[0]):
                    if kind == "put":
                        db.executemany(UPSERT, [(key, value) for _, key, value in group])
                        continue
                    for _, key, _ in group:
                        if kind == "del":
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

    def read_children(self, key: str, before: str) -> dict[str, Node]:
        """The children of the location *key* whose keys sort below *before*, as stored
        (committed writes only). Safe to call from another thread than :meth:`commit`'s, one
        call at a time: it reads on a connection of its own."""
        children: Node = None
        start = len(key) + 1
        try:
            with self._reading:
                if self._reader is None:
                    self._reader = sqlite3.connect(
                        f"{self.file.resolve().as_uri()}?mode=ro",
                        uri=True,
                        isolation_level=None,
                        check_same_thread=False,
                    )
                rows = self._reader.execute(
                    "SELECT path, value FROM nodes WHERE path >= ? AND path < ? ORDER BY path",
                    (key + "/", key + "0"),
                ).fetchall()  # (all of it now: the snapshot ends with the statement)
            for path, raw in rows:
                relative = tuple(path[start:].split("/"))
                if relative[0] < before:
                    children = set_in(children, relative, orjson.loads(raw)).root
        except (sqlite3.Error, orjson.JSONDecodeError) as exc:
            raise StoreError(f"cannot read {key} back from the store: {exc}") from exc
        return children if isinstance(children, dict) else {}

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
        with self._reading:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.warning("could not checkpoint %s: %s", self.file, exc)
        self._db.close()
