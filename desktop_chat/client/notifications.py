"""My notifications: what this session knows of them, marking them read, the unread tally."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from desktop_chat.client.cache import LocalCache
from desktop_chat.client.errors import InvalidRequestError, PermissionDeniedError
from desktop_chat.client.events import EventBus, NotificationChanged, NotificationReceived
from desktop_chat.client.rtdb import Database
from desktop_chat.core import writes
from desktop_chat.core.errors import CoreError
from desktop_chat.core.model import Notification, NotificationKind, notification_from
from desktop_chat.core.paths import check_key

__all__ = [
    "NotificationStore",
    "UnreadTally",
    "mark_conversation_read",
    "mark_notifications_read",
    "read_update",
]

log = logging.getLogger("desktop_chat.client")


def _newest_first(item: Notification) -> tuple[int, str]:
    return (-item.created_at, item.id)


class NotificationStore:
    """What this session knows of ``notifications/{uid}`` (loaded from the cache on first
    use). It merges what the server shows and announces each notification once as
    :class:`NotificationReceived`, then each change (being read) as
    :class:`NotificationChanged`. Read is final, as the rules make it: a late copy of an
    older state never makes a notification unread again."""

    def __init__(self, cache: LocalCache, bus: EventBus) -> None:
        self.cache = cache
        self.bus = bus
        self._known: dict[str, Notification] | None = None
        self._lock = asyncio.Lock()

    async def _load(self) -> dict[str, Notification]:
        if self._known is None:
            rows = await asyncio.to_thread(self.cache.notifications)
            self._known = {item.id: item for item in rows}
        return self._known

    async def merge(self, children: Iterable[tuple[str, Any]]) -> None:
        """``(id, record)`` pairs of ``notifications/{uid}``, from the stream or a Socket.IO
        push (one merge at a time): cached, then the new and the changed announced."""
        async with self._lock:
            known = await self._load()
            fresh: list[Notification] = []
            changed: list[Notification] = []
            for nid, record in children:
                item = notification_from(nid, record)
                if item is None:
                    continue
                old = known.get(nid)
                if old is not None and old.read and not item.read:
                    item = replace(item, read=True)
                if old == item:
                    continue
                (fresh if old is None else changed).append(item)
                known[nid] = item
            await self._announce(fresh, changed)

    async def mark_read_locally(self, ids: Iterable[str]) -> list[Notification]:
        """After my write of their ``read``: the known ones of *ids* are read here too
        (cached, announced); returns those that changed."""
        async with self._lock:
            known = await self._load()
            changed = [
                replace(known[nid], read=True)
                for nid in dict.fromkeys(ids)
                if nid in known and not known[nid].read
            ]
            for item in changed:
                known[item.id] = item
            await self._announce([], changed)
            return changed

    async def _announce(self, fresh: list[Notification], changed: list[Notification]) -> None:
        if not fresh and not changed:
            return
        await asyncio.to_thread(self.cache.upsert_notifications, fresh + changed)
        for item in sorted(fresh, key=lambda n: (n.created_at, n.id)):
            self.bus.publish(NotificationReceived(item))
        for item in changed:
            self.bus.publish(NotificationChanged(item))

    async def unread(self) -> list[Notification]:
        """The unread notifications known, newest first."""
        async with self._lock:
            known = await self._load()
            return sorted((n for n in known.values() if not n.read), key=_newest_first)

    async def message_notes(self, cid: str) -> list[str]:
        """The ids of the unread ``message`` notifications known that link *cid*."""
        return [
            item.id
            for item in await self.unread()
            if item.kind is NotificationKind.MESSAGE
            and item.link is not None
            and item.link.conversation_id == cid
        ]


def read_update(uid: str, ids: Iterable[str]) -> writes.Update:
    """One multi-path update setting ``read`` of my notifications *ids* (the rules let the
    owner turn an existing notification's ``read`` from false to true, nothing else)."""
    update: writes.Update = {}
    for nid in ids:
        try:
            check_key(nid)
        except CoreError as exc:
            raise InvalidRequestError(f"not a notification id: {exc}") from exc
        update[f"notifications/{uid}/{nid}/read"] = True
    return update


async def mark_notifications_read(
    db: Database, uid: str, store: NotificationStore, ids: Iterable[str]
) -> list[str]:
    """Mark my notifications *ids* read: one write for all of them, then here. Should the
    server refuse it (one of several went away meanwhile), each is written alone and those
    refused are left out; a single one refused raises PermissionDeniedError. Returns the
    ids written."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    update = read_update(uid, wanted)
    try:
        await db.update("/", update)
        done = wanted
    except PermissionDeniedError:
        if len(wanted) == 1:
            raise
        done = []
        for nid in wanted:
            with contextlib.suppress(PermissionDeniedError):
                await db.update("/", read_update(uid, [nid]))
                done.append(nid)
    await store.mark_read_locally(done)
    return done


async def mark_conversation_read(
    db: Database, uid: str, cid: str, unread_message_ids: list[str], store: NotificationStore
) -> None:
    """One multi-path write: my received *unread_message_ids* of *cid* read, my unread count
    0, and the conversation's ``message`` notifications read — those known, and those of the
    unread messages (a message and its notification are created in one write, under an id
    derived from the message's, so one not streamed here yet is read too). Should the server
    refuse (a notification went away: the rules refuse creating one), the notifications
    still there are looked up and the write made again with them, then with none."""
    known = await store.message_notes(cid)
    derived = [writes.message_notification_id(mid) for mid in unread_message_ids]
    notes = list(dict.fromkeys(known + derived))
    for attempt in range(3):
        try:
            await db.update("/", writes.mark_read(uid, cid, unread_message_ids, notes))
        except PermissionDeniedError:
            if not notes:
                raise
            log.info("marking %s read: a notification went away (attempt %d)", cid, attempt)
            notes = [] if attempt else await _existing(db, uid, notes)
            continue
        await store.mark_read_locally(notes)
        return


async def _existing(db: Database, uid: str, ids: list[str]) -> list[str]:
    """Those of my notifications *ids* that the server holds."""
    found = await asyncio.gather(*(db.get(f"notifications/{uid}/{nid}/read") for nid in ids))
    return [nid for nid, read in zip(ids, found, strict=True) if read is not None]


class UnreadTally:
    """The unread count a view shows, kept from a first list and the events after it. Read
    is final here too, so an event already reflected in the list changes nothing."""

    def __init__(self) -> None:
        self._unread: set[str] = set()
        self._read: set[str] = set()

    @property
    def count(self) -> int:
        return len(self._unread)

    def reset(self, items: Iterable[Notification]) -> bool:
        """Start again from *items* (the cached notifications); True if the count changed."""
        before, items = self.count, list(items)
        self._unread = {item.id for item in items if not item.read}
        self._read = {item.id for item in items if item.read}
        return self.count != before

    def apply(self, item: Notification) -> bool:
        """A notification received or changed; True if the count changed."""
        before = self.count
        if item.read or item.id in self._read:
            self._unread.discard(item.id)
            self._read.add(item.id)
        else:
            self._unread.add(item.id)
        return self.count != before
