"""History on disk: old children of append-only collections leave memory and come back on demand."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from desktop_chat.core.paths import Path
from desktop_chat.core.tree import get, storage_key
from desktop_chat.core.values import Node
from desktop_chat.server.errors import StoreError

__all__ = ["GRACE", "HISTORY_IN_MEMORY", "HISTORY_PATTERNS", "Cold", "History"]

log = logging.getLogger("desktop_chat.server")

HISTORY_PATTERNS: tuple[Path, ...] = (("conversations", "*", "messages"), ("notifications", "*"))
"""The collections that only grow: a conversation's messages, a user's notifications."""
HISTORY_IN_MEMORY = 16
"""The default ``keep``: a conversation's newest messages, a user's newest notifications."""
GRACE = 10.0
"""Seconds a collection brought back from disk stays whole before it may be trimmed again."""


@dataclass(frozen=True, slots=True)
class Cold:
    """A collection partly on disk: every child whose key sorts below *horizon* is on disk
    only; every child at or above it is in memory."""

    horizon: str


class History:
    """Which collections are partly on disk, and the rules for touching them.

    A history collection holding more than twice *keep* children in memory keeps its newest
    *keep* (push IDs sort by time) and leaves the rest on disk, where they already are. A
    lookup that needs a collection whole, or a child of it that is on disk, raises PageFaultError:
    the database reads the collection back (:meth:`restore`) and tries again. Trimming happens
    only between write batches, when everything in memory is committed. ``keep`` 0 keeps
    everything in memory.
    """

    def __init__(
        self, keep: int, patterns: tuple[Path, ...] = HISTORY_PATTERNS, grace: float = GRACE
    ) -> None:
        self.keep = keep
        self.patterns = patterns
        self.grace = grace
        self._cold: dict[Path, Cold] = {}
        self._under: dict[Path, int] = {}  # every prefix of a cold collection -> how many
        self._touched: dict[Path, None] = {}
        self._restored_at: dict[Path, float] = {}
        self.restores = 0
        """Collections read back from disk so far (for tests and /healthz)."""

    @property
    def cold(self) -> int:
        """How many collections are partly on disk."""
        return len(self._cold)

    @property
    def pending(self) -> bool:
        """Whether some collection may need trimming."""
        return bool(self._touched)

    def collection_of(self, path: Path) -> Path | None:
        """The history collection *path* is strictly below, if any."""
        for pattern in self.patterns:
            if len(path) > len(pattern) and all(
                want in ("*", key) for want, key in zip(pattern, path, strict=False)
            ):
                return path[: len(pattern)]
        return None

    def collections(self, root: Node, path: Path = ()) -> Iterator[Path]:
        """The history collections present at or below *path* in *root*."""
        for pattern in self.patterns:
            if len(path) > len(pattern):
                continue
            if not all(want in ("*", key) for want, key in zip(pattern, path, strict=False)):
                continue
            yield from _walk(get(root, path), path, pattern[len(path) :])

    def faults(self, path: Path) -> list[Path]:
        """The cold collections a lookup of *path* needs whole (none: memory has it)."""
        if not self._cold:
            return []
        if path in self._under:  # at or above cold collections: each of them, whole
            if path in self._cold and self._under[path] == 1:
                return [path]  # (the usual case: a stream on one conversation's messages)
            depth = len(path)
            return [at for at in self._cold if at[:depth] == path]
        collection = self.collection_of(path)
        cold = self._cold.get(collection) if collection is not None else None
        if cold is not None and collection is not None and path[len(collection)] < cold.horizon:
            return [collection]
        return []

    def write_faults(self, path: Path, value: Node) -> list[Path]:
        """The cold collections a write of *value* at *path* needs whole first: those it
        overwrites or reads, or the one it deletes from (a delete may empty what memory
        holds, and an emptied parent is cut: that must see the children on disk)."""
        needed = self.faults(path)
        if needed or value is not None or not self._cold:
            return needed
        collection = self.collection_of(path)
        return [collection] if collection is not None and collection in self._cold else []

    def note(self, root: Node, path: Path) -> None:
        """A write at *path* was applied: the collections it grew may need trimming."""
        if not self.keep:
            return
        collection = self.collection_of(path)
        if collection is not None:
            self._touched[collection] = None
        else:
            self._touched.update(dict.fromkeys(self.collections(root, path)))

    def trim(self, root: Node) -> None:
        """Leave on disk the oldest children of every touched collection that holds too many;
        call only when memory holds nothing uncommitted."""
        if not self._touched:
            return
        now = time.monotonic()
        waiting: dict[Path, None] = {}
        for path in self._touched:
            if now - self._restored_at.get(path, -self.grace) < self.grace:
                waiting[path] = None  # just read back for someone: keep it a while
                continue
            self._restored_at.pop(path, None)
            self._trim_one(root, path)
        self._touched = waiting

    def trim_all(self, root: Node) -> None:
        """Trim every history collection in *root* (a tree being loaded, say)."""
        if self.keep:
            self._touched.update(dict.fromkeys(self.collections(root)))
            self.trim(root)

    def _trim_one(self, root: Node, path: Path) -> None:
        node = get(root, path)
        if not isinstance(node, dict) or ".value" in node or len(node) <= 2 * self.keep:
            return
        keys = sorted(key for key in node if not key.startswith("."))
        if len(keys) <= 2 * self.keep:
            return
        for key in keys[: -self.keep]:
            del node[key]
        if path not in self._cold:
            for depth in range(len(path) + 1):
                self._under[path[:depth]] = self._under.get(path[:depth], 0) + 1
        self._cold[path] = Cold(keys[-self.keep])

    def coldness(self, path: Path) -> Cold | None:
        return self._cold.get(path)

    def restore(self, root: Node, path: Path, cold: Cold, children: dict[str, Node]) -> None:
        """Put back into memory the *children* read from disk of the collection at *path*
        (those below its horizon), unless it changed while they were read (*cold* is gone)."""
        if self._cold.get(path) is not cold:
            return  # brought back, or trimmed further, while the rows were read
        node = get(root, path)
        if not isinstance(node, dict):  # (a cold collection is never emptied without a restore)
            raise StoreError(f"the history of {storage_key(path)} is inconsistent")
        node.update(children)
        del self._cold[path]
        for depth in range(len(path) + 1):
            prefix = path[:depth]
            self._under[prefix] -= 1
            if not self._under[prefix]:
                del self._under[prefix]
        self._restored_at[path] = time.monotonic()
        self._touched[path] = None
        self.restores += 1
        log.debug("read back %d children of %s from disk", len(children), storage_key(path))


def _walk(node: Node, at: Path, rest: Path) -> Iterator[Path]:
    if not isinstance(node, dict) or ".value" in node:
        return
    if not rest:
        yield at
        return
    want = rest[0]
    keys = [key for key in node if not key.startswith(".")] if want == "*" else [want]
    for key in keys:
        yield from _walk(node.get(key), (*at, key), rest[1:])
