"""Helpers for ChatClient tests: bounded runs, waiting for conditions, recording events."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.events import (
    ChatEvent,
    DeliveryStateChanged,
    EventStream,
    MessageAdded,
    NotificationReceived,
)
from desktop_chat.core.model import DeliveryState

FAST = ["--scrypt-n", "16"]
"""Server arguments for tests: cheap password hashing, so sign-ups take milliseconds."""


def run(main: Callable[[], Awaitable[None]], timeout: float = 60) -> None:
    """Run a test's async body on a fresh loop, bounded in time."""

    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await main()

    asyncio.run(bounded())


async def until(predicate: Callable[[], Awaitable[bool]], seconds: float = 20) -> None:
    """Poll *predicate* until it holds; TimeoutError after *seconds*."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


async def unread(client: ChatClient, cid: str) -> int | None:
    """The unread count the client shows for a conversation (None if it has no entry)."""
    for entry in await client.conversations():
        if entry.conversation_id == cid:
            return entry.unread_count
    return None


class Recorder:
    """Keeps every event a client published since it was made."""

    def __init__(self, client: ChatClient) -> None:
        self.stream: EventStream = client.events()
        self.events: list[ChatEvent] = []

    def drain(self) -> list[ChatEvent]:
        while (event := self.stream.get_nowait()) is not None:
            self.events.append(event)
        return self.events

    def added(self, cid: str) -> list[str]:
        """Ids of the messages announced as added in *cid*, in announcement order."""
        return [
            e.message.id
            for e in self.drain()
            if isinstance(e, MessageAdded) and e.message.conversation_id == cid
        ]

    def notified(self) -> Counter[str]:
        return Counter(
            e.notification.id for e in self.drain() if isinstance(e, NotificationReceived)
        )

    def states(self, state: DeliveryState) -> Counter[str]:
        return Counter(
            e.message_id
            for e in self.drain()
            if isinstance(e, DeliveryStateChanged) and e.state is state
        )
