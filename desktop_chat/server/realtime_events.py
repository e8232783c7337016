"""Checks on what Socket.IO clients send: payload shapes and sizes, and a per-socket rate."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from desktop_chat.core.errors import CoreError
from desktop_chat.core.paths import check_key
from desktop_chat.server.errors import ServerError

__all__ = ["MAX_ID", "EventError", "RateLimiter", "conversation_payload", "typing_payload"]

MAX_ID = 768
"""The longest conversation id taken (two uids of at most 128 characters fit easily)."""


class EventError(ServerError):
    """An inbound event refused: *code* (400 malformed, 403, 429) goes back in the ack."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def conversation_payload(data: Any) -> str:
    """The ``conversationId`` of ``{conversationId}``; EventError 400 if malformed."""
    if not isinstance(data, dict):
        raise EventError(400, "expected an object with conversationId")
    cid = data.get("conversationId")
    if not isinstance(cid, str) or not cid or len(cid) > MAX_ID:
        raise EventError(400, f"conversationId must be a string of 1 to {MAX_ID} characters")
    try:
        check_key(cid)
    except CoreError as exc:
        raise EventError(400, f"bad conversationId: {exc}") from None
    return cid


def typing_payload(data: Any) -> tuple[str, bool]:
    """``(conversationId, isTyping)`` of a ``typing`` event; EventError 400 if malformed."""
    cid = conversation_payload(data)
    is_typing = data.get("isTyping")
    if not isinstance(is_typing, bool):
        raise EventError(400, "isTyping must be true or false")
    return cid, is_typing


class RateLimiter:
    """A token bucket: *rate* events per second on average, bursts up to *burst*."""

    __slots__ = ("_clock", "_stamp", "_tokens")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: float | None = None
        self._stamp = 0.0

    def allow(self, rate: float, burst: int) -> bool:
        """Take one token if there is one."""
        now = self._clock()
        if self._tokens is None:
            self._tokens = float(burst)
        else:
            self._tokens = min(float(burst), self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
