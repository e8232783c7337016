"""Checks on inbound Socket.IO events: payload shapes, and the per-socket rate limit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from desktop_chat.server.limits import RateLimiter
from desktop_chat.server.metrics import Metrics
from desktop_chat.server.presence import MemoryPresence
from desktop_chat.server.realtime import Realtime
from desktop_chat.server.realtime_auth import LocalVerifier
from desktop_chat.server.realtime_data import RestData
from desktop_chat.server.realtime_events import (
    MAX_ID,
    EventError,
    conversation_payload,
    typing_payload,
)


@pytest.mark.parametrize(
    "data",
    [
        None,
        1,
        "a_b",
        [],
        {},
        {"conversationId": None},
        {"conversationId": 3},
        {"conversationId": ""},
        {"conversationId": "a/b"},
        {"conversationId": "a.b"},
        {"conversationId": "x" * (MAX_ID + 1)},
    ],
)
def test_malformed_conversation_payloads_are_400(data: Any) -> None:
    with pytest.raises(EventError) as caught:
        conversation_payload(data)
    assert caught.value.code == 400 and caught.value.message


def test_typing_payloads() -> None:
    assert typing_payload({"conversationId": "a_b", "isTyping": True}) == ("a_b", True)
    assert typing_payload({"conversationId": "a_b", "isTyping": False, "x": 1}) == ("a_b", False)
    for bad in ({"conversationId": "a_b"}, {"conversationId": "a_b", "isTyping": 1}):
        with pytest.raises(EventError):
            typing_payload(bad)


def test_the_rate_limiter_allows_a_burst_then_the_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(lambda: now[0])
    assert [limiter.allow(5.0, 10) for _ in range(12)] == [True] * 10 + [False] * 2
    now[0] += 0.2  # one token back at 5 per second
    assert limiter.allow(5.0, 10) and not limiter.allow(5.0, 10)
    now[0] += 60.0  # never more than the burst
    assert sum(limiter.allow(5.0, 10) for _ in range(20)) == 10


def test_per_user_presence_locks_serialise_and_are_not_kept() -> None:
    """Presence changes of one user run one at a time; a node keeps no lock for users whose
    changes are done (a long-running node must not grow with every user it has seen)."""

    async def no_tokens(token: str) -> dict[str, Any]:
        raise AssertionError("not used")

    async def main() -> None:
        realtime = Realtime(
            LocalVerifier(no_tokens),
            RestData("http://127.0.0.1:9", "unused"),
            MemoryPresence(),
            Metrics("test"),
        )
        order: list[str] = []

        async def change(uid: str, name: str) -> None:
            async with realtime._lock(uid):
                order.append(f"{name} in")
                await asyncio.sleep(0.01)
                order.append(f"{name} out")

        await asyncio.gather(change("ann", "a1"), change("ann", "a2"), change("bob", "b1"))
        assert order.index("a1 out") < order.index("a2 in")  # one at a time per user
        assert order.index("b1 in") < order.index("a1 out")  # users do not wait for each other
        assert len(realtime._user_locks) == 0
        await realtime.data.close()

    asyncio.run(main())
