"""MemoryPresence: counts per user on one node, transitions reported once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from desktop_chat.server.errors import ServerError
from desktop_chat.server.presence import MemoryPresence, Presence, PresenceError


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


def test_first_connect_and_last_disconnect_are_the_transitions() -> None:
    async def main() -> None:
        presence: Presence = MemoryPresence()
        await presence.start()
        assert await presence.connected("ann") is True
        assert await presence.connected("ann") is False  # a second device
        assert await presence.connected("bob") is True
        assert await presence.online(["ann", "bob", "cid"]) == {"ann", "bob"}
        assert await presence.disconnected("ann") is False
        assert await presence.online(["ann"]) == {"ann"}
        assert await presence.disconnected("ann") is True
        assert await presence.online(["ann", "bob"]) == {"bob"}
        assert await presence.close() == ["bob"]
        assert await presence.online(["bob"]) == set()

    run(main)


def test_disconnect_never_goes_below_zero() -> None:
    async def main() -> None:
        presence = MemoryPresence()
        assert await presence.disconnected("ann") is False
        assert await presence.connected("ann") is True  # still a 0 -> 1 transition
        assert await presence.disconnected("ann") is True
        assert await presence.disconnected("ann") is False
        assert await presence.online(["ann"]) == set()
        assert await presence.close() == []

    run(main)


def test_bad_uids_are_refused() -> None:
    async def main() -> None:
        presence = MemoryPresence()
        for bad in ("", None, 7):
            with pytest.raises(ValueError, match="uid"):
                await presence.connected(bad)  # type: ignore[arg-type]
        assert await presence.online([]) == set()

    run(main)


def test_presence_error_is_a_server_error() -> None:
    assert issubclass(PresenceError, ServerError)
    assert MemoryPresence().on_lost is None
