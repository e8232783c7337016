"""The domain core: data-tree paths, values, ordering and queries, with no Qt and no I/O."""

from __future__ import annotations

from desktop_chat.core.errors import (
    CoreError,
    InvalidDataError,
    InvalidPathError,
    InvalidQueryError,
)

__all__ = ["CoreError", "InvalidDataError", "InvalidPathError", "InvalidQueryError"]
