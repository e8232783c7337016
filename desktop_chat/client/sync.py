"""The merger: what the streams bring, into the local cache and announced once each."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from desktop_chat.client.cache import LocalCache
from desktop_chat.client.events import (
    ConversationChanged,
    DeliveryStateChanged,
    EventBus,
    MessageAdded,
    MessageChanged,
    Resync,
)
from desktop_chat.client.notifications import NotificationStore
from desktop_chat.client.transport import wait_set
from desktop_chat.core.model import (
    ConversationEntry,
    DeliveryState,
    Message,
    entry_from,
    message_from,
)

__all__ = [
    "PAGE",
    "CacheWriter",
    "Merger",
    "children_of",
    "parse_messages",
]

log = logging.getLogger("desktop_chat.client")

PAGE = 50
KNOWN_PER_CONVERSATION = 2_000
KNOWN_CONVERSATIONS = 8
CACHE_WRITE_DELAY = 0.05
"""Seconds the merger's cache writes wait (gathering more) unless someone needs them sooner:
the disk then never competes with a message being sent or shown."""


def children_of(value: Any) -> list[tuple[str, Any]]:
    return list(value.items()) if isinstance(value, dict) else []


def parse_messages(cid: str, children: list[tuple[str, Any]]) -> list[Message]:
    """The well-formed messages among ``(id, record)`` pairs (malformed ones are skipped)."""
    found = (message_from(cid, mid, record) for mid, record in children)
    return [message for message in found if message is not None]


class CacheWriter:
    """The merger's message writes, in the order asked for and off the announcing path: after
    *delay* (or at once when flushed), those asked for meanwhile together in a worker thread
    (one thread hop, one transaction). A failed write goes to *failed* (the caller resyncs)."""

    def __init__(
        self,
        cache: LocalCache,
        failed: Callable[[Exception], None],
        delay: float = CACHE_WRITE_DELAY,
    ) -> None:
        self.cache = cache
        self._failed = failed
        self._delay = delay
        self._queue: list[Message | Callable[[], object]] = []
        self._task: asyncio.Task[None] | None = None
        self._now = asyncio.Event()

    def put(self, write: Iterable[Message] | Callable[[], object]) -> None:
        """Queue messages to upsert, or another cache write (a callable)."""
        self._queue.extend([write] if callable(write) else write)
        if self._task is None or self._task.done():
            self._now.clear()
            self._task = asyncio.get_running_loop().create_task(self._drain(), name="cache")

    async def flush(self) -> None:
        """Until every write queued so far has reached the cache."""
        self._now.set()
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        await wait_set(self._now, self._delay)
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await asyncio.to_thread(self._write, batch)
            except Exception as exc:  # (a damaged cache, a full disk: logged, resynced)
                self._failed(exc)

    def _write(self, batch: list[Message | Callable[[], object]]) -> None:
        messages: list[Message] = []
        for write in [*batch, None]:
            if isinstance(write, Message):
                messages.append(write)
                continue
            if messages:  # consecutive upserts: one statement, one transaction
                self.cache.upsert_messages(messages)
                messages = []
            if write is not None:
                write()


class Merger:
    """Merges what the server shows into the cache and publishes what changed.

    It remembers every message it has seen per conversation (loaded from the cache on first
    use), so each message is announced exactly once as added, later as changed. A message
    leaving a stream's window is never a deletion.
    """

    def __init__(self, cache: LocalCache, uid: str, bus: EventBus) -> None:
        self.cache = cache
        self.uid = uid
        self.bus = bus
        self._known: dict[str, dict[str, Message]] = {}
        self._bound: dict[str, tuple[int, str]] = {}
        """Per conversation: no message ordered after this is in the cache unless in memory."""
        self._high: dict[str, int] = {}
        self._entries: dict[str, ConversationEntry] | None = None
        self._lock = asyncio.Lock()
        self.notes = NotificationStore(cache, bus)
        self.writer = CacheWriter(cache, self._write_failed)

    def _write_failed(self, exc: Exception) -> None:
        log.warning("a cache write failed (%s): the cache is filled again from the server", exc)
        self._bound.clear()  # (look everything up again)
        self.bus.publish(Resync(0, f"cache write failed: {exc}"))

    def high_water(self, cid: str) -> int | None:
        """The newest server timestamp seen in *cid* this session."""
        return self._high.get(cid)

    async def _known_of(self, cid: str, messages: Iterable[Message] = ()) -> dict[str, Message]:
        """What this session knows of *cid*'s messages, with those of *messages* that may be
        cached but are not in memory looked up in the cache. Memory holds the most recently
        seen (KNOWN_PER_CONVERSATION of each of the KNOWN_CONVERSATIONS last used), not whole
        histories. Only this merger writes messages to the cache, so a message ordered after
        everything the cache held at first use and everything memory has let go of cannot be
        in the cache: a new message costs no lookup."""
        known = self._known.pop(cid, None)
        if known is None:
            known = {}
        self._known[cid] = known  # most recently used last
        while len(self._known) > KNOWN_CONVERSATIONS:  # (its bound is read again on next use)
            dropped = next(iter(self._known))
            del self._known[dropped]
            self._bound.pop(dropped, None)
        bound = self._bound.get(cid)
        if bound is None:
            await self.writer.flush()
            newest = await asyncio.to_thread(self.cache.newest_order, cid)
            bound = self._bound[cid] = newest or (-1, "")
        missing = [m.id for m in messages if m.id not in known and m.order <= bound]
        if missing:
            await self.writer.flush()
            for message in await asyncio.to_thread(self.cache.messages_by_id, cid, missing):
                known[message.id] = message
        return known

    def _trim(self, cid: str, known: dict[str, Message]) -> None:
        """Forget the longest-known messages beyond KNOWN_PER_CONVERSATION (they stay cached;
        the lookup bound rises past them)."""
        excess = len(known) - KNOWN_PER_CONVERSATION
        if excess > 0:
            gone = [known.pop(mid) for mid in list(itertools.islice(known, excess))]
            newest = max(message.order for message in gone)
            self._bound[cid] = max(self._bound.get(cid, newest), newest)

    async def merge_messages(self, cid: str, messages: list[Message]) -> None:
        """Upsert *messages* of *cid* into the cache; announce the new and the changed."""
        async with self._lock:
            self._merge_into(cid, await self._known_of(cid, messages), messages)

    def merge_now(self, cid: str, messages: list[Message]) -> bool:
        """:meth:`merge_messages` at once, when that needs no wait (no merge under way, no
        cache lookup); False, having done nothing, when it would."""
        known, bound = self._known.get(cid), self._bound.get(cid)
        if self._lock.locked() or known is None or bound is None:
            return False
        if any(m.id not in known and m.order <= bound for m in messages):
            return False
        self._known[cid] = self._known.pop(cid)  # most recently used last
        self._merge_into(cid, known, messages)
        return True

    def _merge_into(self, cid: str, known: dict[str, Message], messages: list[Message]) -> None:
        changed: list[tuple[Message | None, Message]] = []
        for incoming in sorted(messages, key=lambda item: item.order):
            message, old = incoming, known.get(incoming.id)
            if old is not None:  # the rules make read and tombstones final
                if old.read and not message.read:
                    message = replace(message, read=True)
                if old.deleted and not message.deleted:
                    continue
            self._high[cid] = max(self._high.get(cid, 0), message.timestamp)
            if old != message:
                changed.append((old, message))
                known[message.id] = message
        if not changed:
            return
        for old, new in changed:  # announced first: readers of the cache take the lock
            self.bus.publish(MessageAdded(new) if old is None else MessageChanged(new))
            if new.sender_id == self.uid and new.read and (old is None or not old.read):
                self.bus.publish(DeliveryStateChanged(cid, new.id, DeliveryState.READ))
        self.writer.put(new for _, new in changed)
        self._trim(cid, known)

    async def cached_messages(
        self, cid: str, limit: int = 1 << 62, before: tuple[int, str] | None = None
    ) -> list[Message]:
        """The cached messages of *cid* (the newest *limit*, older than *before*), oldest
        first, once every merge under way has reached the cache."""
        async with self._lock:
            await self.writer.flush()
            return await asyncio.to_thread(self.cache.messages, cid, limit, before)

    async def add_pending(self, message: Message, then: Callable[[], None]) -> None:
        """Announce my new *message* (not on the server yet) and call *then*, with no await
        between; only then queue its cache write, so that the write costs no latency."""
        cid = message.conversation_id
        known = self._known.get(cid)
        if known is None:  # a new id is in no cache: nothing to look up
            known = self._known[cid] = {}
        # No await from here to then(): the cache write is queued after it.
        fresh = message.id not in known
        if fresh:
            known[message.id] = message
            self.bus.publish(MessageAdded(message))
        then()
        if fresh:
            self.writer.put([message])

    async def mark_read_locally(self, cid: str) -> None:
        """After my mark_read write: my received messages of *cid* are read, my count 0."""
        async with self._lock:
            known = self._known.get(cid, {})
            for mid, message in list(known.items()):
                if message.receiver_id == self.uid and not message.read:
                    known[mid] = replace(message, read=True)
            self.writer.put(lambda: self.cache.mark_read(cid, self.uid))
            await self.writer.flush()

    async def merge_conversations(
        self, value: Any, *, whole: bool, touched: Iterable[str] | None = None
    ) -> None:
        """The ``userConversations/{uid}`` value; *whole* (a first put): replace the list;
        *touched*: only these entries can have changed (None: any)."""
        if self._entries is None:
            rows = await asyncio.to_thread(self.cache.conversations)
            self._entries = {entry.conversation_id: entry for entry in rows}
        before = self._entries
        if touched is None or whole:
            entries = {}
            for cid, record in children_of(value):
                entry = entry_from(cid, record)
                if entry is not None:
                    entries[cid] = entry
            changed = [entry for cid, entry in entries.items() if before.get(cid) != entry]
            gone = [cid for cid in before if cid not in entries]
        else:
            entries, changed, gone = dict(before), [], []
            for cid in touched:
                record = value.get(cid) if isinstance(value, dict) else None
                entry = entry_from(cid, record) if record is not None else None
                if entry is None:
                    if entries.pop(cid, None) is not None:
                        gone.append(cid)
                elif before.get(cid) != entry:
                    entries[cid] = entry
                    changed.append(entry)
        if whole:
            await asyncio.to_thread(self.cache.replace_conversations, list(entries.values()))
        elif changed or gone:
            await asyncio.to_thread(self._store_entries, changed, gone)
        self._entries = entries
        for entry in changed:
            self.bus.publish(ConversationChanged(entry.conversation_id, entry))
        for cid in gone:
            self.bus.publish(ConversationChanged(cid, None))

    def _store_entries(self, changed: list[ConversationEntry], gone: list[str]) -> None:
        self.cache.upsert_conversations(changed)
        self.cache.delete_conversations(gone)

    async def merge_notifications(self, children: list[tuple[str, Any]]) -> None:
        """``(id, record)`` pairs of ``notifications/{uid}``: new ones are announced once,
        whether they come from the stream or from a Socket.IO push (one at a time), and
        read ones once as changed (:class:`NotificationStore`)."""
        await self.notes.merge(children)
