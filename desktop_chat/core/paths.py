"""Keys and paths of the data tree: validating, parsing, joining, and making push IDs."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable

from desktop_chat.core.errors import InvalidPathError

__all__ = [
    "MAX_DEPTH",
    "MAX_KEY_BYTES",
    "PUSH_CHARS",
    "Path",
    "PushIdGenerator",
    "admin_proof",
    "check_key",
    "is_prefix",
    "join",
    "parse_path",
    "push_id_time",
    "relative",
]

Path = tuple[str, ...]
"""A location in the tree: the keys from the root, ``()`` being the root itself."""

MAX_KEY_BYTES = 768
MAX_DEPTH = 32
_FORBIDDEN = frozenset(".$#[]/") | frozenset(chr(c) for c in range(0x20)) | {"\x7f"}


def check_key(key: str) -> None:
    """Raise InvalidPathError unless *key* is a valid Firebase key."""
    if not key:
        raise InvalidPathError("Invalid key: keys must be non-empty strings")
    if not _FORBIDDEN.isdisjoint(key):
        raise InvalidPathError(
            f"Invalid key {key!r}: keys must not contain '.', '$', '#', '[', ']', '/' "
            "or control characters"
        )
    try:
        if len(key) * 4 > MAX_KEY_BYTES and len(key.encode("utf-8")) > MAX_KEY_BYTES:
            raise InvalidPathError(f"Invalid key: longer than {MAX_KEY_BYTES} bytes")
    except UnicodeEncodeError:  # (a lone surrogate, as a lenient JSON parser lets through)
        raise InvalidPathError("Invalid key: not valid Unicode text") from None


def parse_path(raw: str) -> Path:
    """Split a slash path (``/a/b``, ``a/b/``, ``/``) into validated keys."""
    parts = tuple(part for part in raw.split("/") if part)
    if len(parts) > MAX_DEPTH:
        raise InvalidPathError(f"Invalid path: deeper than {MAX_DEPTH} levels")
    for part in parts:
        check_key(part)
    return parts


def join(path: Path) -> str:
    """Render a path the way Firebase shows it: ``/a/b``, or ``/`` for the root."""
    return "/" + "/".join(path)


def is_prefix(prefix: Path, path: Path) -> bool:
    """True when *prefix* is *path* or one of its ancestors."""
    return len(prefix) <= len(path) and path[: len(prefix)] == prefix


def relative(base: Path, path: Path) -> Path:
    """The part of *path* below *base*; *base* must be a prefix of *path*."""
    if not is_prefix(base, path):
        raise InvalidPathError(f"{join(path)} is not under {join(base)}")
    return path[len(base) :]


PUSH_CHARS = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_INDEX = {char: index for index, char in enumerate(PUSH_CHARS)}


class PushIdGenerator:
    """Makes push IDs; one generator per process keeps IDs rising within a millisecond."""

    def __init__(
        self,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        random_bits: Callable[[int], int] = secrets.randbits,
    ) -> None:
        self._clock_ms = clock_ms
        self._random_bits = random_bits
        self._last_ms = -1
        self._last_random = [0] * 12

    def __call__(self) -> str:
        now = self._clock_ms()
        if now <= self._last_ms:
            # Same (or an earlier) millisecond: keep the time part, add one to the random part.
            now = self._last_ms
            for index in range(11, -1, -1):
                if self._last_random[index] != 63:
                    self._last_random[index] += 1
                    break
                self._last_random[index] = 0
            else:  # every random digit rolled over: borrow the next millisecond to keep rising
                now += 1
        else:
            bits = self._random_bits(72)
            self._last_random = [(bits >> (6 * (11 - index))) & 63 for index in range(12)]
        self._last_ms = now
        stamp = []
        for _ in range(8):
            stamp.append(PUSH_CHARS[now % 64])
            now //= 64
        return "".join(reversed(stamp)) + "".join(PUSH_CHARS[i] for i in self._last_random)


def push_id_time(push_id: str) -> int:
    """The millisecond timestamp encoded in a push ID's first 8 characters."""
    if len(push_id) != 20 or any(char not in _INDEX for char in push_id):
        raise ValueError(f"not a push id: {push_id!r}")
    stamp = 0
    for char in push_id[:8]:
        stamp = stamp * 64 + _INDEX[char]
    return stamp


def admin_proof(secret: str, nonce: str) -> str:
    """What a server answers to *nonce* to show it holds the admin *secret* without showing
    it: a client sends the secret only to a server that answered this right."""
    digest = hmac.new(secret.encode(), b"desktop-chat-admin-proof:" + nonce.encode(), "sha256")
    return digest.hexdigest()
