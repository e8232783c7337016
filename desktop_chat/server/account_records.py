"""An account, and its JSON forms: Firebase's user info and our export / import record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from desktop_chat.server.credentials import AuthError, hash_params, normalize_email, validate_uid
from desktop_chat.server.errors import ServerError

__all__ = ["Account", "RefreshGrant", "account_from_record", "account_to_record", "user_info"]

_MAX_TEXT = 4096

_RECORD_KEYS = frozenset(
    {
        "localId",
        "email",
        "displayName",
        "photoUrl",
        "passwordHash",
        "passwordUpdatedAt",
        "disabled",
        "createdAt",
        "lastLoginAt",
        "validSince",
    }
)


@dataclass(frozen=True, slots=True)
class Account:
    """One email / password account. Times in epoch milliseconds, except valid_since
    (epoch seconds: ID tokens issued before it are no longer accepted)."""

    uid: str
    email: str
    display_name: str | None
    photo_url: str | None
    password_hash: str
    password_updated_at: int
    disabled: bool
    created_at: int
    last_login_at: int | None
    valid_since: int

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Account:
        """From the columns of the accounts table, in field order."""
        return cls(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), *row[7:10])

    def to_row(self) -> tuple[Any, ...]:
        """The columns of the accounts table, in field order."""
        return (
            self.uid,
            self.email,
            self.display_name,
            self.photo_url,
            self.password_hash,
            self.password_updated_at,
            int(self.disabled),
            self.created_at,
            self.last_login_at,
            self.valid_since,
        )


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """What a refresh token stands for: its account (None if gone) and the sign-in time."""

    uid: str
    auth_time: int
    revoked: bool
    account: Account | None


def user_info(account: Account) -> dict[str, Any]:
    """The account as Firebase's ``accounts:lookup`` describes a user (no password hash)."""
    provider: dict[str, Any] = {
        "providerId": "password",
        "federatedId": account.email,
        "email": account.email,
        "rawId": account.email,
    }
    info: dict[str, Any] = {"localId": account.uid, "email": account.email}
    if account.display_name is not None:
        info["displayName"] = provider["displayName"] = account.display_name
    if account.photo_url is not None:
        info["photoUrl"] = provider["photoUrl"] = account.photo_url
    info.update(
        {
            "emailVerified": False,
            "passwordUpdatedAt": account.password_updated_at,
            "providerUserInfo": [provider],
            "validSince": str(account.valid_since),
            "disabled": account.disabled,
            "createdAt": str(account.created_at),
        }
    )
    if account.last_login_at is not None:
        info["lastLoginAt"] = str(account.last_login_at)
    return info


def account_to_record(account: Account) -> dict[str, Any]:
    """The export record: everything needed to bring the account back, uid and hash kept."""
    return {
        "localId": account.uid,
        "email": account.email,
        "displayName": account.display_name,
        "photoUrl": account.photo_url,
        "passwordHash": account.password_hash,
        "passwordUpdatedAt": account.password_updated_at,
        "disabled": account.disabled,
        "createdAt": account.created_at,
        "lastLoginAt": account.last_login_at,
        "validSince": account.valid_since,
    }


def _text(record: dict[str, Any], key: str, where: str) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise ServerError(f"{where}: {key} must be a string of at most {_MAX_TEXT} characters")
    return value


def _number(record: dict[str, Any], key: str, where: str, default: int | None) -> int | None:
    value = record.get(key, default)
    if value is None:
        return default
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ServerError(f"{where}: {key} must be a non-negative integer")
    return value


def account_from_record(record: Any, index: int = 0) -> Account:
    """Parse one export record strictly; raises ServerError naming the bad field."""
    where = f"users[{index}]"
    if not isinstance(record, dict):
        raise ServerError(f"{where} must be an object")
    unknown = set(record) - _RECORD_KEYS
    if unknown:
        raise ServerError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        uid = validate_uid(record.get("localId"))
        email = normalize_email(record.get("email"))
    except AuthError as exc:
        raise ServerError(f"{where}: {exc.message.lower()}") from exc
    except ServerError as exc:
        raise ServerError(f"{where}: {exc}") from exc
    password_hash = record.get("passwordHash")
    if not isinstance(password_hash, str):
        raise ServerError(f"{where}: passwordHash is missing")
    try:
        hash_params(password_hash)
    except ServerError as exc:
        raise ServerError(f"{where}: passwordHash: {exc}") from exc
    disabled = record.get("disabled", False)
    if not isinstance(disabled, bool):
        raise ServerError(f"{where}: disabled must be true or false")
    created_at = _number(record, "createdAt", where, 0) or 0
    return Account(
        uid=uid,
        email=email,
        display_name=_text(record, "displayName", where),
        photo_url=_text(record, "photoUrl", where),
        password_hash=password_hash,
        password_updated_at=_number(record, "passwordUpdatedAt", where, created_at) or 0,
        disabled=disabled,
        created_at=created_at,
        last_login_at=_number(record, "lastLoginAt", where, None),
        valid_since=_number(record, "validSince", where, created_at // 1000) or 0,
    )
