"""The Socket.IO wire contract of docs/realtime.md, client side: event names and payloads."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from desktop_chat.client.events import PresenceChanged
from desktop_chat.core.model import is_uid, notification_from

__all__ = [
    "JOIN",
    "LEAVE",
    "NOTIFICATION",
    "PRESENCE",
    "TYPING",
    "USER_TYPING",
    "Ack",
    "PresenceBook",
    "PushHandler",
    "conversation_payload",
    "guarded",
    "parse_ack",
    "parse_notification",
    "parse_presence",
    "parse_refusal",
]

log = logging.getLogger("desktop_chat.client")

JOIN = "join"
"""Client -> server ``{conversationId}``, acked: join the conversation's room."""
LEAVE = "leave"
"""Client -> server ``{conversationId}``, acked: leave it (ends my typing there)."""
TYPING = "typing"
"""Client -> server ``{conversationId, isTyping}``, acked: only in a joined room."""
USER_TYPING = "user-typing"
"""Server -> client ``{conversationId, userId, isTyping}``: the other participant types."""
PRESENCE = "presence"
"""Server -> client ``{userId, online, lastSeen}``: a contact came online or went offline."""
NOTIFICATION = "notification"
"""Server -> client ``{id, ...record}``: a notification of mine was created."""

PushHandler = Callable[[list[tuple[str, Any]]], Awaitable[None]]
"""Takes pushed notifications as ``(id, record)`` pairs (the Merger's notification path)."""


@dataclass(frozen=True, slots=True)
class Ack:
    """The server's answer to an event: ok, or refused with its code (0: no answer at all:
    not connected, disconnected meanwhile, or timed out)."""

    ok: bool
    code: int = 0
    message: str = ""

    def __str__(self) -> str:
        if self.ok:
            return "ok"
        return f"{self.code} {self.message}" if self.code else f"no answer ({self.message})"


def _code(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def conversation_payload(cid: str) -> dict[str, Any]:
    """The payload of ``join`` and ``leave``."""
    return {"conversationId": cid}


def parse_ack(args: tuple[Any, ...]) -> Ack:
    """An ack's arguments: ``{"ok": true}`` or ``{"ok": false, "error": {code, message}}``."""
    data = args[0] if args else None
    if isinstance(data, dict):
        if data.get("ok") is True:
            return Ack(True)
        error = data.get("error")
        if data.get("ok") is False and isinstance(error, dict):
            message = error.get("message")
            return Ack(False, _code(error.get("code")), message if isinstance(message, str) else "")
    return Ack(False, 0, f"malformed answer: {str(data)[:80]!r}")


def parse_refusal(data: Any) -> tuple[int, str]:
    """A ``connect_error``'s ``{message, data: {code}}`` as (code, message); code 0 when it
    has none (the transport failed: no server, say)."""
    if not isinstance(data, dict):
        return 0, str(data)[:200]
    message, extra = data.get("message"), data.get("data")
    code = _code(extra.get("code")) if isinstance(extra, dict) else 0
    return code, message if isinstance(message, str) else str(data)[:200]


def parse_presence(data: Any) -> PresenceChanged | None:
    """A ``presence`` payload ``{userId, online, lastSeen}`` (``lastSeen`` epoch ms or null),
    or None when it is malformed."""
    if not isinstance(data, dict):
        return None
    uid, online, last = data.get("userId"), data.get("online"), data.get("lastSeen")
    if not is_uid(uid) or not isinstance(online, bool):
        return None
    if last is None:
        return PresenceChanged(uid, online, None)
    if isinstance(last, float) and last.is_integer():
        last = int(last)
    if isinstance(last, bool) or not isinstance(last, int) or last < 0:
        return None
    return PresenceChanged(uid, online, last)


def parse_notification(data: Any) -> tuple[str, dict[str, Any]] | None:
    """A ``notification`` payload ``{id, ...record}`` as (id, record) for the Merger, or None
    when the id or the record is malformed."""
    if not isinstance(data, dict):
        return None
    record = dict(data)
    nid = record.pop("id", None)
    if not isinstance(nid, str) or notification_from(nid, record) is None:
        return None
    return nid, record


class PresenceBook:
    """The latest presence received per user (kept across reconnects: the snapshot a
    connect brings replaces it)."""

    def __init__(self) -> None:
        self._latest: dict[str, PresenceChanged] = {}

    def update(self, presence: PresenceChanged) -> bool:
        """Keep *presence* unless it is older than what is known; True if it changed what is
        known (worth announcing). ``lastSeen`` orders them: a snapshot read before a contact
        went away must not undo the push that says so, whichever arrives last."""
        known = self._latest.get(presence.uid)
        if known == presence:
            return False
        newest = known.last_seen if known is not None else None
        if newest is not None and (presence.last_seen is None or presence.last_seen < newest):
            return False
        self._latest[presence.uid] = presence
        return True

    def get(self, uid: str) -> PresenceChanged | None:
        return self._latest.get(uid)

    def __contains__(self, uid: object) -> bool:
        return uid in self._latest


def guarded(event: str, handler: Callable[..., None]) -> Callable[..., None]:
    """*handler* made safe for python-socketio, which runs it in a task of its own: it never
    raises (an exception there would only reach asyncio's "never retrieved" warning)."""

    def run(*args: Any) -> None:
        try:
            handler(*args)
        except Exception:
            log.exception("realtime: the %s handler failed", event)

    return run
