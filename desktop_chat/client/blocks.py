"""The block list: the uids I blocked, cached; it hides every event that concerns them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from desktop_chat.client.cache import LocalCache
from desktop_chat.client.events import (
    BlocksChanged,
    ChatEvent,
    ConversationChanged,
    DeliveryStateChanged,
    EventBus,
    MessageAdded,
    MessageChanged,
    NotificationChanged,
    NotificationReceived,
    PresenceChanged,
    TypingChanged,
)
from desktop_chat.core.errors import CoreError
from desktop_chat.core.model import Notification, other_participant

__all__ = ["BLOCKS_META", "BlockList"]

BLOCKS_META = "blocked"
"""The cache's meta key for the uids I blocked (so an offline start hides them too)."""


class BlockList:
    """The uids I blocked (``blocks/{uid}``), cached; hides every event that concerns them."""

    def __init__(self, cache: LocalCache, uid: str, bus: EventBus) -> None:
        self.cache = cache
        self.uid = uid
        self.bus = bus
        self.uids: frozenset[str] = frozenset()
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """The list as last cached."""
        stored = await asyncio.to_thread(self.cache.get_meta, BLOCKS_META, [])
        self.uids = frozenset(u for u in stored if isinstance(u, str)) if stored else frozenset()

    async def replace(self, uids: Iterable[str]) -> None:
        """Make *uids* the block list: cache it and announce the rows hidden or shown."""
        new = frozenset(uids)
        async with self._lock:  # my own write and the stream's echo of it: announced once
            if new == self.uids:
                return
            added, removed = new - self.uids, self.uids - new
            entries = await asyncio.to_thread(self.cache.conversations)
            for entry in entries:
                if entry.other_user_id in added:
                    self.bus.publish(ConversationChanged(entry.conversation_id, None))
            await asyncio.to_thread(self.cache.set_meta, BLOCKS_META, sorted(new))
            self.uids = new
            for entry in entries:
                if entry.other_user_id in removed:
                    self.bus.publish(ConversationChanged(entry.conversation_id, entry))
            self.bus.publish(BlocksChanged(added, removed))

    def hides_conversation(self, cid: str) -> bool:
        """Whether *cid* is a conversation with someone I blocked."""
        if not self.uids:
            return False
        try:
            return other_participant(cid, self.uid) in self.uids
        except CoreError:
            return False

    def hides(self, event: ChatEvent) -> bool:
        """Whether *event* concerns someone I blocked."""
        if not self.uids:
            return False
        if isinstance(event, ConversationChanged | DeliveryStateChanged | TypingChanged):
            return self.hides_conversation(event.conversation_id) or (
                isinstance(event, TypingChanged) and event.uid in self.uids
            )
        if isinstance(event, MessageAdded | MessageChanged):
            return self.hides_conversation(event.message.conversation_id)
        if isinstance(event, NotificationReceived | NotificationChanged):
            return self.hides_notification(event.notification)
        if isinstance(event, PresenceChanged):
            return event.uid in self.uids
        return False

    def hides_notification(self, notification: Notification) -> bool:
        """Whether *notification* came from, or links a conversation with, a blocked user."""
        link = notification.link
        return notification.sender_id in self.uids or (
            link is not None
            and link.conversation_id is not None
            and self.hides_conversation(link.conversation_id)
        )
