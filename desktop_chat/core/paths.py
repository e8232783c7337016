"""Data-tree paths: parsing, validating and joining Firebase Realtime Database keys."""

from __future__ import annotations

from desktop_chat.core.errors import InvalidPathError

__all__ = [
    "MAX_DEPTH",
    "MAX_KEY_BYTES",
    "Path",
    "check_key",
    "is_prefix",
    "join",
    "parse_path",
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
    if len(key) * 4 > MAX_KEY_BYTES and len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidPathError(f"Invalid key: longer than {MAX_KEY_BYTES} bytes")


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
