"""Checks on inbound Socket.IO events: payload shapes, and the per-socket rate limit."""

from __future__ import annotations

from typing import Any

import pytest

from desktop_chat.server.realtime_events import (
    MAX_ID,
    EventError,
    RateLimiter,
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
