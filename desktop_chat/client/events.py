"""The ChatClient's typed events and the bounded, drop-oldest queues that deliver them."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from desktop_chat.core.booking import AvailabilitySlot, Booking
from desktop_chat.core.model import ConversationEntry, DeliveryState, Message, Notification

__all__ = [
    "DEFAULT_QUEUE_SIZE",
    "AvailabilityChanged",
    "BlocksChanged",
    "BookingsChanged",
    "ChatEvent",
    "ConnectionStateChanged",
    "ConversationChanged",
    "DeliveryStateChanged",
    "EventBus",
    "EventStream",
    "MessageAdded",
    "MessageChanged",
    "NotificationChanged",
    "NotificationReceived",
    "PresenceChanged",
    "Resync",
    "TypingChanged",
]

log = logging.getLogger("desktop_chat.client")

DEFAULT_QUEUE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class ConversationChanged:
    """A row of the conversation list changed; ``entry`` None: it went away."""

    conversation_id: str
    entry: ConversationEntry | None


@dataclass(frozen=True, slots=True)
class MessageAdded:
    """A message the client had not seen before (its own pending ones included)."""

    message: Message


@dataclass(frozen=True, slots=True)
class MessageChanged:
    """A known message changed: edited, deleted (tombstone), read, or its server timestamp."""

    message: Message


@dataclass(frozen=True, slots=True)
class DeliveryStateChanged:
    """One of my messages moved: pending -> sent -> read, or failed."""

    conversation_id: str
    message_id: str
    state: DeliveryState
    error: str | None = None


@dataclass(frozen=True, slots=True)
class NotificationReceived:
    """A notification the client had not seen before (read or not, as it is now)."""

    notification: Notification


@dataclass(frozen=True, slots=True)
class NotificationChanged:
    """A known notification changed: it was read (here, on another device or by reading
    its conversation)."""

    notification: Notification


@dataclass(frozen=True, slots=True)
class ConnectionStateChanged:
    """A connection went up or down: the database streams (``"database"``) or the Socket.IO
    connection for typing, presence and pushes (``"realtime"``)."""

    connected: bool
    channel: str = "database"


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    """A contact came online or went offline (``last_seen``: epoch ms, None if never seen)."""

    uid: str
    online: bool
    last_seen: int | None = None


@dataclass(frozen=True, slots=True)
class TypingChanged:
    """The other participant of a conversation started or stopped typing."""

    conversation_id: str
    uid: str
    typing: bool


@dataclass(frozen=True, slots=True)
class BlocksChanged:
    """My block list changed (here or on another device of mine): whom it now hides, and
    whom it no longer does."""

    blocked: frozenset[str]
    unblocked: frozenset[str]


@dataclass(frozen=True, slots=True)
class Resync:
    """Re-read the state shown: ``dropped`` events were lost, or the client woke up."""

    dropped: int
    reason: str = "lagged"


@dataclass(frozen=True, slots=True)
class AvailabilityChanged:
    """A followed skill's slots changed (all of them, by start time)."""

    skill_id: str
    slots: tuple[AvailabilitySlot, ...]


@dataclass(frozen=True, slots=True)
class BookingsChanged:
    """My bookings (as student and as provider) changed: all of them."""

    bookings: tuple[Booking, ...]


ChatEvent: TypeAlias = (
    ConversationChanged
    | MessageAdded
    | MessageChanged
    | DeliveryStateChanged
    | NotificationReceived
    | NotificationChanged
    | ConnectionStateChanged
    | PresenceChanged
    | TypingChanged
    | BlocksChanged
    | AvailabilityChanged
    | BookingsChanged
    | Resync
)


class EventStream:
    """One consumer's queue: ``async for event in stream``; bounded, dropping the oldest."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._items: deque[ChatEvent] = deque()
        self._maxsize = maxsize
        self._ready = asyncio.Event()
        self._closed = False
        self._pending_drops = 0
        self.dropped = 0
        """Events dropped over this stream's life (a lagging consumer)."""

    def put(self, event: ChatEvent) -> None:
        if self._closed:
            return
        if len(self._items) >= self._maxsize:
            self._items.popleft()
            self._pending_drops += 1
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("event consumer lags: %d events dropped so far", self.dropped)
        self._items.append(event)
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()
        self._bus.discard(self)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ChatEvent:
        while True:
            if self._pending_drops:
                dropped, self._pending_drops = self._pending_drops, 0
                return Resync(dropped)
            if self._items:
                return self._items.popleft()
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()

    def get_nowait(self) -> ChatEvent | None:
        """The next event if one is queued (for tests and polling UIs)."""
        if self._pending_drops:
            dropped, self._pending_drops = self._pending_drops, 0
            return Resync(dropped)
        return self._items.popleft() if self._items else None


class EventBus:
    """Fans each published event out to every open :class:`EventStream`."""

    def __init__(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError("the event queue needs room for at least one event")
        self.maxsize = maxsize
        self.hide: Callable[[ChatEvent], bool] | None = None
        """Events for which this returns True are not published (blocked users' ones)."""
        self._streams: set[EventStream] = set()

    def stream(self) -> EventStream:
        """A new consumer queue, receiving every event published from now on."""
        stream = EventStream(self, self.maxsize)
        self._streams.add(stream)
        return stream

    def discard(self, stream: EventStream) -> None:
        self._streams.discard(stream)

    def publish(self, event: ChatEvent) -> None:
        """Hand *event* to every stream, unless :attr:`hide` says it is hidden."""
        if self.hide is not None and self.hide(event):
            return
        for stream in list(self._streams):
            stream.put(event)

    def close(self) -> None:
        """End every stream (their iteration stops once drained)."""
        for stream in list(self._streams):
            stream.close()
