"""The client's own SQLite files: marked, versioned, migrated, checked, set aside when damaged."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_chat.client.errors import ClientError

__all__ = [
    "SIDE_FILES",
    "WAL_SYNC_DELAY",
    "DamagedFileError",
    "FileKind",
    "ForeignFileError",
    "LocalStoreError",
    "NewerFileError",
    "WalSync",
    "is_damage",
    "open_local_file",
    "open_read_only",
    "remove_files",
    "salvage_rows",
    "set_aside",
    "sync_wal",
    "transaction",
]

log = logging.getLogger("desktop_chat.client")

SIDE_FILES = ("-wal", "-shm", "-journal")
"""The files SQLite keeps next to a database; they belong to it and move with it."""

_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


class LocalStoreError(ClientError):
    """A local SQLite file (the cache, the outbox) could not be opened, read or written."""


class ForeignFileError(LocalStoreError):
    """The file is a SQLite file of another program; it was left exactly as it was."""


class NewerFileError(ForeignFileError):
    """The file was written by a newer desktop_chat (a schema this one cannot read)."""


class DamagedFileError(LocalStoreError):
    """The file is not a database at all, or SQLite finds it corrupt."""


@dataclass(frozen=True, slots=True)
class FileKind:
    """One kind of local file: its mark, its schema, and how to make and migrate it.

    ``migrations[v]`` takes a file at schema ``v`` to ``v + 1``, inside one transaction.
    """

    label: str  # in messages: "cache", "outbox"
    application_id: int
    schema_version: int
    create: Callable[[sqlite3.Connection], None]
    migrations: Mapping[int, Callable[[sqlite3.Connection], None]] = field(default_factory=dict)


def is_damage(exc: BaseException) -> bool:
    """True when *exc* is SQLite saying the file is corrupt or not a database."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


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


def private(file: Path) -> None:
    """Make *file*'s folder (0700) and *file* (0600) the user's alone, creating them if need
    be: messages are nobody else's business on a shared machine. SQLite gives its side files
    (WAL, shared memory) the database file's mode."""
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name != "posix":
        return  # (Windows: the profile folder's ACL already keeps others out)
    os.chmod(file.parent, 0o700)
    os.close(os.open(file, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(file, 0o600)


def open_local_file(
    file: Path, kind: FileKind, *, synchronous: str = "NORMAL", check: bool = True
) -> tuple[sqlite3.Connection, bool]:
    """Open *file* in WAL mode, creating or migrating it; returns the connection and whether
    the file was created now.

    A SQLite file of another program, or of a newer schema, raises ForeignFileError and is left
    untouched; a file that is not a database, or fails ``PRAGMA quick_check`` (when *check*),
    raises DamagedFileError (and is left too: the caller decides to set it aside).
    """
    existed = file.exists() and file.stat().st_size > 0
    try:
        private(file)
        db = sqlite3.connect(file, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise LocalStoreError(f"cannot open the {kind.label} {file}: {exc}") from exc
    try:
        created = _prepare(db, file, kind, existed, synchronous, check)
    except sqlite3.Error as exc:
        db.close()
        if is_damage(exc):
            raise DamagedFileError(f"the {kind.label} {file} is damaged: {exc}") from exc
        raise LocalStoreError(f"cannot open the {kind.label} {file}: {exc}") from exc
    except BaseException:
        db.close()
        raise
    return db, created


def _prepare(
    db: sqlite3.Connection, file: Path, kind: FileKind, existed: bool, synchronous: str, check: bool
) -> bool:
    application_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    blank = application_id == 0 and version == 0 and tables == 0  # made, never written
    if existed and not blank and application_id != kind.application_id:
        raise ForeignFileError(
            f"{file} is a SQLite file of another program (application_id "
            f"{application_id:#x}), not a desktop_chat {kind.label}; it was left untouched"
        )
    if version > kind.schema_version:
        raise NewerFileError(
            f"{file} was written by a newer desktop_chat ({kind.label} schema {version}, this "
            f"one reads up to {kind.schema_version}); it was left untouched"
        )
    if check and existed and not blank:
        problems = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise DamagedFileError(
                f"the {kind.label} {file} is damaged: quick_check says {'; '.join(problems)}"
            )
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA foreign_keys=ON")
    if blank:
        with transaction(db):
            kind.create(db)
            db.execute(f"PRAGMA application_id={kind.application_id}")
            db.execute(f"PRAGMA user_version={kind.schema_version}")
        return True
    while version < kind.schema_version:
        migrate = kind.migrations.get(version)
        if migrate is None:
            raise NewerFileError(f"{file}: no migration from {kind.label} schema {version}")
        log.info("migrating the %s %s from schema %d to %d", kind.label, file, version, version + 1)
        with transaction(db):
            migrate(db)
            db.execute(f"PRAGMA user_version={version + 1}")
        version += 1
    return False


def set_aside(file: Path) -> Path:
    """Rename *file* (and its -wal / -shm / -journal) to ``<name>.damaged-<UTC time>``, never
    overwriting an earlier one; returns the new path of the main file. Nothing is deleted."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = file.with_name(f"{file.name}.damaged-{stamp}")
    n = 1
    while any(target.with_name(target.name + s).exists() for s in ("", *SIDE_FILES)):
        n += 1
        target = file.with_name(f"{file.name}.damaged-{stamp}-{n}")
    for suffix in SIDE_FILES:  # the side files first: a main file must not meet a stranger's WAL
        side = file.with_name(file.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    if file.exists():
        file.rename(target)
    return target


def remove_files(file: Path) -> list[Path]:
    """Delete *file* and its side files; returns what was deleted."""
    removed: list[Path] = []
    for path in (file, *(file.with_name(file.name + s) for s in SIDE_FILES)):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def open_read_only(file: Path) -> sqlite3.Connection:
    """Best effort at reading a damaged file without changing it: read-only, with its WAL if it
    has one and SQLite can, else as an immutable file (no WAL, no side files made)."""
    errors: list[str] = []
    with_wal = file.with_name(file.name + "-wal").exists()  # immutable=1 would ignore it
    for query in ("mode=ro", "immutable=1") if with_wal else ("immutable=1", "mode=ro"):
        try:
            db = sqlite3.connect(f"{file.resolve().as_uri()}?{query}", uri=True)
        except sqlite3.Error as exc:
            errors.append(f"{query}: {exc}")
            continue
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            db.close()
            errors.append(f"{query}: {exc}")
            continue
        return db
    raise LocalStoreError(f"cannot read {file}: {'; '.join(errors)}")


def sync_wal(file: Path) -> None:
    """Bring *file*'s WAL (every change committed so far) to disk, as ``synchronous=FULL``
    would at each commit; a failure is logged (the commits outlive the app, if not a power
    cut)."""
    try:
        fd = os.open(file.with_name(file.name + "-wal"), os.O_RDWR)
    except FileNotFoundError:
        return  # not in WAL mode: the rollback journal synced each commit itself
    except OSError as exc:
        log.error("%s could not be synced: %s", file, exc)
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        log.error("%s could not be synced: %s", file, exc)
    finally:
        os.close(fd)


WAL_SYNC_DELAY = 0.004
"""Seconds a WAL sync waits after the first commit asking for it (see :class:`WalSync`)."""


class WalSync:
    """Brings *file*'s WAL to disk soon after a commit, off the path of what the commit lets go.

    The first ask waits *delay*, so that what follows the commit (a message's request) runs
    first, without a worker thread taking the GIL from it; then one ``fsync``, in a worker
    thread, serves every ask made before it began. Never raises (see :func:`sync_wal`)."""

    def __init__(self, file: Path, delay: float = WAL_SYNC_DELAY) -> None:
        self.file = file
        self.delay = delay
        self._next: asyncio.Future[None] | None = None

    async def __call__(self) -> None:
        """Until every change committed before this call is on disk."""
        if self._next is None:
            self._next = asyncio.ensure_future(self._sync())
        await asyncio.shield(self._next)  # (a cancelled caller leaves it to the others)

    async def _sync(self) -> None:
        await asyncio.sleep(self.delay)
        self._next = None  # a commit from now on may come after the fsync began: its own
        await asyncio.to_thread(sync_wal, self.file)


def salvage_rows(file: Path, select: str) -> list[tuple[Any, ...]]:
    """Best effort: the rows of *select* (ending in ``ORDER BY rowid``) SQLite can still read
    from the damaged *file*, read from both ends so one bad page loses only its own rows (a
    row may come twice)."""
    try:
        db = open_read_only(file)
    except LocalStoreError as exc:
        log.error("nothing could be recovered from the damaged %s: %s", file, exc)
        return []
    rows: list[tuple[Any, ...]] = []
    try:
        for order in ("ASC", "DESC"):
            try:
                rows.extend(db.execute(f"{select} {order}"))
            except sqlite3.Error as exc:
                log.warning("reading the damaged %s (%s): stopped at %s", file, order, exc)
    finally:
        db.close()
    return rows
