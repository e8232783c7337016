"""Sign-in credentials: Firebase Auth errors, email / password / uid rules, scrypt hashes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

from desktop_chat.server.errors import ServerError

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "WEAK_PASSWORD",
    "AuthError",
    "ScryptParams",
    "check_password",
    "hash_params",
    "hash_password",
    "new_uid",
    "normalize_email",
    "validate_password",
    "validate_uid",
]

MIN_PASSWORD_LENGTH = 6
WEAK_PASSWORD = f"WEAK_PASSWORD : Password should be at least {MIN_PASSWORD_LENGTH} characters"
MAX_EMAIL_LENGTH = 254
MAX_PASSWORD_LENGTH = 4096
UID_LENGTH = 28
MAX_UID_LENGTH = 128
_UID_ALPHABET = string.ascii_letters + string.digits
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)*")
_UID = re.compile(r"[A-Za-z0-9_-]+")
_SCHEME = "scrypt"
_SALT_BYTES = 16
_KEY_BYTES = 32
_MAX_SCRYPT_MEMORY = 1 << 30


class AuthError(ServerError):
    """A request refused with a Firebase Auth error message, e.g. ``EMAIL_EXISTS`` or
    ``WEAK_PASSWORD : Password should be at least 6 characters`` (the code comes first)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    @property
    def code(self) -> str:
        """The part before `` : ``, which clients switch on."""
        return self.message.split(" : ", 1)[0]


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost parameters; they are stored with every hash, so they can change later."""

    n: int = 2**15
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1):
            raise ServerError(f"scrypt n must be a power of two of at least 2, not {self.n}")
        if self.r < 1 or self.p < 1:
            raise ServerError(f"scrypt r and p must be at least 1, not r={self.r} p={self.p}")
        if self.memory > _MAX_SCRYPT_MEMORY:
            raise ServerError(f"scrypt n={self.n} r={self.r} needs more than 1 GiB of memory")

    @property
    def memory(self) -> int:
        """Bytes one hash needs (OpenSSL's B and V arrays)."""
        return 128 * self.r * (self.n + self.p + 2)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, params: ScryptParams, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=params.n,
        r=params.r,
        p=params.p,
        dklen=length,
        maxmem=params.memory + (1 << 20),
    )


def hash_password(password: str, params: ScryptParams) -> str:
    """``scrypt$n$r$p$salt$key`` (salt and key base64url): all it takes to check it later."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, params, _KEY_BYTES)
    return f"{_SCHEME}${params.n}${params.r}${params.p}${_b64(salt)}${_b64(key)}"


def _parse(encoded: str) -> tuple[ScryptParams, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        raise ServerError("not a scrypt$n$r$p$salt$key password hash")
    try:
        params = ScryptParams(int(parts[1]), int(parts[2]), int(parts[3]))
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error) as exc:
        raise ServerError(f"bad password hash: {exc}") from exc
    if len(salt) < 8 or len(key) < 16:
        raise ServerError("bad password hash: salt or key too short")
    return params, salt, key


def hash_params(encoded: str) -> ScryptParams:
    """The parameters a hash was made with; raises ServerError if it is not one of ours."""
    return _parse(encoded)[0]


def check_password(password: str, encoded: str) -> bool:
    """Whether *password* matches the hash, compared in constant time."""
    try:
        params, salt, key = _parse(encoded)
    except ServerError:
        return False
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    return hmac.compare_digest(_scrypt(password, salt, params, len(key)), key)


def normalize_email(email: Any) -> str:
    """The stored form of an email (lowercase), or AuthError ``INVALID_EMAIL``."""
    if not isinstance(email, str) or len(email) > MAX_EMAIL_LENGTH:
        raise AuthError("INVALID_EMAIL")
    if not _EMAIL.fullmatch(email):
        raise AuthError("INVALID_EMAIL")
    return email.lower()


def validate_password(password: Any) -> str:
    """A password good enough to set, or AuthError (``MISSING_PASSWORD``, ``WEAK_PASSWORD``)."""
    if password is None or password == "":
        raise AuthError("MISSING_PASSWORD")
    if not isinstance(password, str):
        raise AuthError("INVALID_JSON : password must be a string")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(WEAK_PASSWORD)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AuthError(
            f"WEAK_PASSWORD : Password should be at most {MAX_PASSWORD_LENGTH} characters"
        )
    return password


def new_uid() -> str:
    """A random uid like Firebase's: 28 letters and digits."""
    return "".join(secrets.choice(_UID_ALPHABET) for _ in range(UID_LENGTH))


def validate_uid(uid: Any) -> str:
    """An imported uid: 1 to 128 URL-safe characters."""
    if not isinstance(uid, str) or not 0 < len(uid) <= MAX_UID_LENGTH or not _UID.fullmatch(uid):
        raise ServerError(f"bad uid {uid!r}: 1 to {MAX_UID_LENGTH} of A-Z a-z 0-9 _ -")
    return uid
