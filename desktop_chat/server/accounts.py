"""User accounts and refresh tokens in their own SQLite file (``accounts.sqlite3``)."""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from desktop_chat.server.account_records import (
    Account,
    RefreshGrant,
    account_from_record,
    account_to_record,
)
from desktop_chat.server.credentials import (
    AuthError,
    ScryptParams,
    check_password,
    hash_params,
    hash_password,
    new_uid,
    normalize_email,
    validate_password,
)
from desktop_chat.server.errors import StoreError
from desktop_chat.server.sqlite_file import FileKind, open_file, transaction

__all__ = ["ACCOUNTS_FILE", "APPLICATION_ID", "SCHEMA_VERSION", "AccountStore", "RefreshGrant"]

log = logging.getLogger("desktop_chat.server")

ACCOUNTS_FILE = "accounts.sqlite3"
APPLICATION_ID = 0x44434155  # "DCAU": marks a SQLite file as desktop_chat accounts
SCHEMA_VERSION = 1
MAX_ACTIVE_REFRESH_TOKENS = 50  # per account; more sign-ins revoke the oldest sessions
REVOKED_TOKEN_RETENTION_MS = 30 * 86_400_000  # to answer TOKEN_EXPIRED, not INVALID_...

_COLUMNS = (
    "uid, email, display_name, photo_url, password_hash, password_updated_at, disabled, "
    "created_at, last_login_at, valid_since"
)
_SCHEMA = (
    """CREATE TABLE accounts (
        uid TEXT PRIMARY KEY NOT NULL,
        email TEXT NOT NULL UNIQUE,
        display_name TEXT,
        photo_url TEXT,
        password_hash TEXT NOT NULL,
        password_updated_at INTEGER NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        last_login_at INTEGER,
        valid_since INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE refresh_tokens (
        token_hash BLOB PRIMARY KEY NOT NULL,
        uid TEXT NOT NULL,
        auth_time INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID""",
    "CREATE INDEX refresh_tokens_by_uid ON refresh_tokens (uid, revoked, created_at)",
)


def _create(db: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        db.execute(statement)


ACCOUNTS = FileKind("accounts file", APPLICATION_ID, SCHEMA_VERSION, _create, private=True)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class AccountStore:
    """The accounts file. Thread-safe: every method may run in ``asyncio.to_thread``."""

    def __init__(self, file: Path, params: ScryptParams | None = None) -> None:
        self.file = file
        self.params = params or ScryptParams()
        self._lock = threading.Lock()
        self._states: dict[str, tuple[int, bool]] = {}
        """uid -> (valid_since, disabled): every request's ID token is checked without I/O."""
        self._db = open_file(file, ACCOUNTS, "FULL")
        try:
            self._load()
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(f"cannot read the accounts file {file}: {exc}") from exc
        except BaseException:
            self._db.close()
            raise

    def _load(self) -> None:
        db = self._db
        with self._transaction():
            db.execute(
                "DELETE FROM refresh_tokens WHERE revoked = 1 AND created_at < ?",
                (_now_ms() - REVOKED_TOKEN_RETENTION_MS,),
            )
        self._states = {
            uid: (valid_since, bool(disabled))
            for uid, valid_since, disabled in db.execute(
                "SELECT uid, valid_since, disabled FROM accounts"
            )
        }

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db)

    # reading
    def _one(self, column: str, value: str) -> Account | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM accounts WHERE {column} = ?", (value,)
            ).fetchone()
        return None if row is None else Account.from_row(row)

    def get(self, uid: str) -> Account | None:
        return self._one("uid", uid)

    def get_by_email(self, email: str) -> Account | None:
        return self._one("email", email.lower())

    def list_accounts(self) -> list[Account]:
        """Every account, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM accounts ORDER BY created_at, uid"
            ).fetchall()
        return [Account.from_row(row) for row in rows]

    def _require(self, uid: str) -> Account:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM accounts WHERE uid = ?", (uid,)).fetchone()
        if row is None:
            raise AuthError("USER_NOT_FOUND")
        return Account.from_row(row)

    # writing
    def create(
        self,
        email: str,
        password: str,
        display_name: str | None = None,
        photo_url: str | None = None,
    ) -> Account:
        """A new account, or AuthError (INVALID_EMAIL, EMAIL_EXISTS, WEAK_PASSWORD ...)."""
        email = normalize_email(email)
        validate_password(password)
        if self.get_by_email(email) is not None:
            raise AuthError("EMAIL_EXISTS")
        hashed = hash_password(password, self.params)  # slow: outside the lock
        now = _now_ms()
        account = Account(
            uid=new_uid(),
            email=email,
            display_name=display_name or None,
            photo_url=photo_url or None,
            password_hash=hashed,
            password_updated_at=now,
            disabled=False,
            created_at=now,
            last_login_at=None,
            valid_since=now // 1000,
        )
        with self._lock:
            try:
                with self._transaction() as db:
                    db.execute(
                        f"INSERT INTO accounts ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        account.to_row(),
                    )
            except sqlite3.IntegrityError as exc:
                raise AuthError("EMAIL_EXISTS") from exc
            self._remember(account)
        return account

    def update_profile(
        self,
        uid: str,
        *,
        display_name: str | None = None,
        photo_url: str | None = None,
        clear: Sequence[str] = (),
    ) -> Account:
        """Set the given fields (None: unchanged); *clear* names fields to remove
        (``display_name``, ``photo_url``). An empty string also removes a field."""
        with self._lock, self._transaction() as db:
            account = self._require(uid)
            if display_name is not None:
                account = replace(account, display_name=display_name or None)
            if photo_url is not None:
                account = replace(account, photo_url=photo_url or None)
            if "display_name" in clear:
                account = replace(account, display_name=None)
            if "photo_url" in clear:
                account = replace(account, photo_url=None)
            db.execute(
                "UPDATE accounts SET display_name = ?, photo_url = ? WHERE uid = ?",
                (account.display_name, account.photo_url, uid),
            )
        return account

    def set_password(self, uid: str, password: str) -> Account:
        """Change the password: every refresh token is revoked and older ID tokens too."""
        validate_password(password)
        if self.get(uid) is None:
            raise AuthError("USER_NOT_FOUND")
        hashed = hash_password(password, self.params)
        with self._lock:
            with self._transaction() as db:
                self._require(uid)
                db.execute(
                    "UPDATE accounts SET password_hash = ?, password_updated_at = ? WHERE uid = ?",
                    (hashed, _now_ms(), uid),
                )
                account = self._revoke(db, uid)
            return self._remember(account)

    def set_disabled(self, uid: str, disabled: bool) -> Account:
        """Disable (revoking every session) or enable an account."""
        with self._lock:
            with self._transaction() as db:
                account = self._require(uid)
                db.execute("UPDATE accounts SET disabled = ? WHERE uid = ?", (int(disabled), uid))
                account = self._revoke(db, uid) if disabled else replace(account, disabled=False)
            return self._remember(account)

    def revoke_refresh_tokens(self, uid: str) -> Account:
        """Sign the account out everywhere: refresh tokens revoked, valid_since bumped."""
        with self._lock:
            with self._transaction() as db:
                account = self._revoke(db, uid)
            return self._remember(account)

    def _remember(self, account: Account) -> Account:
        self._states[account.uid] = (account.valid_since, account.disabled)
        return account

    def token_state(self, uid: str) -> tuple[int, bool] | None:
        """(valid_since, disabled) of an account, or None: from memory, no I/O."""
        return self._states.get(uid)

    def _revoke(self, db: sqlite3.Connection, uid: str) -> Account:
        current = self._require(uid)
        valid_since = max(current.valid_since, int(time.time()))
        db.execute("UPDATE accounts SET valid_since = ? WHERE uid = ?", (valid_since, uid))
        db.execute("UPDATE refresh_tokens SET revoked = 1 WHERE uid = ? AND revoked = 0", (uid,))
        return self._require(uid)

    def verify_password(self, account: Account, password: str) -> bool:
        """Check *password* (constant time). A hash made with other scrypt parameters than
        the store's is remade with the store's on success (the password itself is unchanged)."""
        if not check_password(password, account.password_hash):
            return False
        if hash_params(account.password_hash) != self.params:
            rehashed = hash_password(password, self.params)
            with self._lock, self._transaction() as db:
                db.execute(
                    "UPDATE accounts SET password_hash = ? WHERE uid = ? AND password_hash = ?",
                    (rehashed, account.uid, account.password_hash),
                )
        return True

    def record_sign_in(self, uid: str) -> Account:
        with self._lock, self._transaction() as db:
            db.execute("UPDATE accounts SET last_login_at = ? WHERE uid = ?", (_now_ms(), uid))
            return self._require(uid)

    # refresh tokens
    def issue_refresh_token(self, uid: str, auth_time: int) -> str:
        """A new opaque refresh token for *uid*; only its SHA-256 is stored."""
        token = secrets.token_urlsafe(48)
        with self._lock, self._transaction() as db:
            self._require(uid)
            db.execute(
                "INSERT INTO refresh_tokens (token_hash, uid, auth_time, created_at) "
                "VALUES (?, ?, ?, ?)",
                (_digest(token), uid, auth_time, _now_ms()),
            )
            db.execute(
                "UPDATE refresh_tokens SET revoked = 1 WHERE uid = ? AND revoked = 0 AND "
                "token_hash NOT IN (SELECT token_hash FROM refresh_tokens WHERE uid = ? AND "
                "revoked = 0 ORDER BY created_at DESC LIMIT ?)",
                (uid, uid, MAX_ACTIVE_REFRESH_TOKENS),
            )
        return token

    def redeem_refresh_token(self, token: str) -> RefreshGrant | None:
        """What *token* stands for, or None if it was never issued here."""
        with self._lock:
            row = self._db.execute(
                "SELECT uid, auth_time, revoked FROM refresh_tokens WHERE token_hash = ?",
                (_digest(token),),
            ).fetchone()
            if row is None:
                return None
            found = self._db.execute(
                f"SELECT {_COLUMNS} FROM accounts WHERE uid = ?", (row[0],)
            ).fetchone()
        return RefreshGrant(
            row[0], row[1], bool(row[2]), None if found is None else Account.from_row(found)
        )

    # export / import
    def export(self) -> list[dict[str, Any]]:
        """Every account as a JSON record, uid and password hash included."""
        return [account_to_record(account) for account in self.list_accounts()]

    def import_accounts(self, records: Sequence[Any]) -> int:
        """Add or replace (by uid) the accounts in *records*: all of them or none.

        Replaced accounts lose their refresh tokens. An email that belongs to another uid is
        refused.
        """
        accounts = [account_from_record(record, index) for index, record in enumerate(records)]
        seen: dict[str, str] = {}
        for account in accounts:
            other = seen.setdefault(account.email, account.uid)
            if other != account.uid:
                raise AuthError(f"EMAIL_EXISTS : {account.email} is given to two uids")
        with self._lock:
            try:
                with self._transaction() as db:
                    for account in accounts:
                        db.execute("DELETE FROM accounts WHERE uid = ?", (account.uid,))
                        db.execute(
                            "UPDATE refresh_tokens SET revoked = 1 WHERE uid = ?", (account.uid,)
                        )
                        db.execute(
                            f"INSERT INTO accounts ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                            account.to_row(),
                        )
            except sqlite3.IntegrityError as exc:
                raise AuthError(
                    "EMAIL_EXISTS : an imported email belongs to another account here; "
                    "nothing was imported"
                ) from exc
            for account in accounts:
                self._remember(account)
        return len(accounts)

    def close(self) -> None:
        """Checkpoint the WAL and close the file."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("could not checkpoint %s: %s", self.file, exc)
            self._db.close()
