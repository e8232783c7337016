"""The streams a signed-in client follows: the conversation list, the open conversation
(caught up on each connect), the notifications and the block list."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from desktop_chat.client.blocks import BlockList
from desktop_chat.client.errors import ClientError, NetworkError
from desktop_chat.client.events import ConnectionStateChanged
from desktop_chat.client.rtdb import Database, QuerySpec
from desktop_chat.client.streams import StreamEvent, Subscription
from desktop_chat.client.sync import Merger, children_of, parse_messages
from desktop_chat.core.model import Message

__all__ = [
    "MESSAGE_WINDOW",
    "NOTIFICATION_WINDOW",
    "PREFETCH",
    "catch_up",
    "changed_children",
    "consume",
    "fetch_messages",
    "follow_blocks",
    "follow_conversations",
    "follow_messages",
    "follow_notifications",
    "touched_keys",
]

log = logging.getLogger("desktop_chat.client")

MESSAGE_WINDOW = 50
"""The open conversation's stream: its latest messages (``limitToLast``)."""
PREFETCH = 500
"""Opening a conversation fetches its latest messages into the cache."""
NOTIFICATION_WINDOW = 50
"""The notifications stream: the latest (``limitToLast`` by ``createdAt``)."""


def touched_keys(event: StreamEvent) -> list[str] | None:
    """The children of the location that *event* wrote (set, changed or removed); None when
    it may have touched all of them (a first ``put``, a ``put`` of the whole value)."""
    if event.resync or (not event.path and event.kind == "put"):
        return None
    if event.path:
        return [event.path[0]]
    if isinstance(event.data, dict):
        return list(dict.fromkeys(key.strip("/").split("/", 1)[0] for key in event.data))
    return None


def changed_children(event: StreamEvent) -> list[tuple[str, Any]]:
    """The children of the location that *event* changed, as they are now (a child the event
    removed is left out); all of them for a first ``put`` or a ``put`` of the whole value."""
    value = event.value
    if not isinstance(value, dict):
        return []
    keys = touched_keys(event)
    if keys is None:
        return list(value.items())
    return [(key, value[key]) for key in keys if key in value]


async def consume(
    subscription: Subscription, handle: Callable[[StreamEvent], Awaitable[None]], what: str
) -> None:
    try:
        async for event in subscription:
            try:
                await handle(event)
            except NetworkError as exc:  # a catch-up read failed: the stream will resync
                log.info("%s: %s; reconnecting", what, exc)
                subscription.reconnect_now()
    except ClientError as exc:
        log.warning("%s ended: %s", what, exc)
        raise
    finally:
        await subscription.close()


async def follow_conversations(
    db: Database, merger: Merger, on_state: Callable[[bool], None]
) -> None:
    """ONE stream of ``userConversations/{uid}`` into the cache, until cancelled."""
    subscription = db.listen(f"userConversations/{merger.uid}")

    def state(connected: bool) -> None:
        merger.bus.publish(ConnectionStateChanged(connected))
        on_state(connected)

    subscription.add_state_listener(state)

    async def handle(event: StreamEvent) -> None:
        touched = touched_keys(event)  # (one message touches one entry of hundreds)
        await merger.merge_conversations(event.value, whole=event.resync, touched=touched)

    await consume(subscription, handle, "conversation list")


async def fetch_messages(db: Database, cid: str, spec: QuerySpec) -> list[Message]:
    """One query of *cid*'s messages."""
    return parse_messages(cid, await db.query(f"conversations/{cid}/messages", spec))


async def catch_up(db: Database, merger: Merger, cid: str) -> None:
    """Everything of *cid* since the newest message seen; the latest PREFETCH at first."""
    high = merger.high_water(cid)
    if high is None:
        spec = QuerySpec("timestamp", limit_to_last=PREFETCH)
        await merger.merge_messages(cid, await fetch_messages(db, cid, spec))
        return
    page = 1000
    while True:
        spec = QuerySpec("timestamp", start_at=high, limit_to_first=page)
        found = await fetch_messages(db, cid, spec)
        await merger.merge_messages(cid, found)
        newest = max((message.timestamp for message in found), default=high)
        if len(found) < page or newest == high:
            return
        high = newest


async def follow_messages(db: Database, merger: Merger, cid: str) -> None:
    """The open conversation: its latest MESSAGE_WINDOW streamed, catching up on each
    (re)connect so that nothing sent while the stream was down is missed."""
    spec = QuerySpec("timestamp", limit_to_last=MESSAGE_WINDOW)
    subscription = db.listen(f"conversations/{cid}/messages", spec)

    async def handle(event: StreamEvent) -> None:
        if event.resync:
            await catch_up(db, merger, cid)
        await merger.merge_messages(cid, parse_messages(cid, changed_children(event)))

    def at_once(event: StreamEvent) -> bool:  # a new message: announced from the reader
        if event.resync:
            return False
        return merger.merge_now(cid, parse_messages(cid, changed_children(event)))

    subscription.deliver_inline(at_once)
    await consume(subscription, handle, f"conversation {cid}")


async def follow_notifications(db: Database, merger: Merger) -> None:
    """The latest NOTIFICATION_WINDOW of ``notifications/{uid}``, by ``createdAt``, and on
    each (re)connect every unread one beyond them."""
    spec = QuerySpec("createdAt", limit_to_last=NOTIFICATION_WINDOW)
    path = f"notifications/{merger.uid}"
    subscription = db.listen(path, spec)

    async def handle(event: StreamEvent) -> None:
        children = changed_children(event)
        if event.resync:  # unread ones older than the window count too (the bell's number)
            shown = {nid for nid, _ in children}
            unread = await db.query(path, QuerySpec("read", equal_to=False))
            children += [(nid, record) for nid, record in unread if nid not in shown]
        await merger.merge_notifications(children)

    await consume(subscription, handle, "notifications")


async def follow_blocks(db: Database, blocks: BlockList) -> None:
    """ONE small stream of ``blocks/{uid}``: the block list, kept current until cancelled."""
    subscription = db.listen(f"blocks/{blocks.uid}")

    async def handle(event: StreamEvent) -> None:
        await blocks.replace(uid for uid, flag in children_of(event.value) if flag is True)

    await consume(subscription, handle, "block list")
