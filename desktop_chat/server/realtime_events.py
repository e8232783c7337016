"""The Socket.IO layer's settings, socket state and acks, and checks on what clients send."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from desktop_chat.core.errors import CoreError
from desktop_chat.core.paths import Path, check_key
from desktop_chat.core.values import Node
from desktop_chat.server.errors import ServerError
from desktop_chat.server.limits import LimitError, RateLimiter

__all__ = [
    "MAX_ID",
    "OK",
    "Ack",
    "EventError",
    "RealtimeSettings",
    "SocketState",
    "UserLocks",
    "conversation_payload",
    "error_ack",
    "is_environ",
    "limited",
    "notifications_in",
    "typing_payload",
]

Ack = dict[str, Any]
OK: Ack = {"ok": True}


def error_ack(code: int, message: str) -> Ack:
    return {"ok": False, "error": {"code": code, "message": message}}


@dataclass(frozen=True, slots=True)
class RealtimeSettings:
    typing_timeout: float = 6.0
    """A typing state not renewed for this long is ended by the server."""
    typing_rate: float = 5.0
    typing_burst: int = 10
    max_payload: int = 64 * 1024
    """The largest Socket.IO packet accepted."""


@dataclass(slots=True)
class SocketState:
    """What the server keeps of one connected socket."""

    uid: str
    address: str
    token: str = ""
    """The ID token it connected with (checked then; see ``Realtime.revoke``)."""
    joined: set[str] = field(default_factory=set)
    typing: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    limiter: RateLimiter = field(default_factory=RateLimiter)


Handler = Callable[[str, Any], Awaitable[Ack]]


def limited(event: str, handler: Handler, refuse: Callable[[str, int, str], Ack]) -> Handler:
    """*handler*, answering a :class:`LimitError` (too many events) with *refuse*'s 429 ack."""

    async def guarded(sid: str, data: Any = None, *extra: Any) -> Ack:
        if extra:
            return refuse(event, 400, f"{event} takes one argument, not {1 + len(extra)}")
        try:
            return await handler(sid, data)
        except LimitError as exc:
            return refuse(event, 429, exc.message)

    return guarded


def notifications_in(changes: list[tuple[Path, Node]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The notifications a committed write created or replaced: ``(owner, push payload)``."""
    for path, value in changes:
        if not path or path[0] != "notifications" or not isinstance(value, dict):
            continue
        if len(path) == 3:
            yield path[1], {**value, "id": path[2]}
        elif len(path) == 2:
            for nid, record in value.items():
                if isinstance(record, dict):
                    yield path[1], {**record, "id": nid}


class UserLocks:
    """One lock per user, kept only while someone holds or awaits it (a long-running node
    keeps none for users long gone)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, uid: str) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(uid, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[uid]


def is_environ(value: object) -> bool:
    """Whether *value* is the environ of a real handshake (a client's own event named
    ``connect`` passes its data instead: no JSON makes an aiohttp request)."""
    return isinstance(value, dict) and "aiohttp.request" in value


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
