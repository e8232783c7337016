"""Typing indicators' rules: when my typing is announced and when another's is hidden again."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from desktop_chat.client.events import TypingChanged
from desktop_chat.core.errors import CoreError
from desktop_chat.core.model import is_uid, other_participant

__all__ = [
    "IDLE_STOP",
    "RENEW_EVERY",
    "SHOWN_FOR",
    "InboundTyping",
    "OutboundTyping",
    "TypingSignal",
    "parse_user_typing",
]

RENEW_EVERY = 2.0
"""While I type, ``isTyping: true`` goes out at most once per this many seconds."""
IDLE_STOP = 3.0
"""Seconds without a keystroke after which ``isTyping: false`` goes out."""
SHOWN_FOR = 6.0
"""Seconds a received typing state stays shown without a renewal."""


@dataclass(frozen=True, slots=True)
class TypingSignal:
    """One outbound ``typing`` event."""

    conversation_id: str
    is_typing: bool

    def payload(self) -> dict[str, Any]:
        return {"conversationId": self.conversation_id, "isTyping": self.is_typing}


class OutboundTyping:
    """My typing, one conversation at a time: keystrokes in, start and stop signals out.

    A keystroke starts typing (a signal ``True``), renewed at most every *renew_every*
    seconds while keystrokes go on. It stops (a signal ``False``) on :meth:`stop` (a send, or
    leaving the conversation), on a keystroke in another conversation, and on :meth:`expire`
    once *idle_stop* seconds passed without a keystroke. Nothing here does I/O or sleeps:
    the caller sends the signals and calls :meth:`expire` at :meth:`deadline`.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        renew_every: float = RENEW_EVERY,
        idle_stop: float = IDLE_STOP,
    ) -> None:
        if renew_every <= 0 or idle_stop <= 0:
            raise ValueError("renew_every and idle_stop must be positive")
        self._clock = clock
        self.renew_every = renew_every
        self.idle_stop = idle_stop
        self.active: str | None = None
        """The conversation I am typing in (as last announced), or None."""
        self._last_key = 0.0
        self._last_start = 0.0

    def keystroke(self, cid: str) -> list[TypingSignal]:
        """A keystroke in *cid*: the signals to send now (maybe none: throttled)."""
        now = self._clock()
        signals = self.stop() if self.active not in (None, cid) else []
        self._last_key = now
        if self.active is None or now - self._last_start >= self.renew_every:
            self.active = cid
            self._last_start = now
            signals.append(TypingSignal(cid, True))
        return signals

    def stop(self, cid: str | None = None) -> list[TypingSignal]:
        """Stop typing in *cid* (None: wherever I type): the stop to send, if I was typing."""
        active = self.active
        if active is None or (cid is not None and cid != active):
            return []
        self.active = None
        return [TypingSignal(active, False)]

    def deadline(self) -> float | None:
        """When :meth:`expire` has something to do (clock time), or None."""
        return None if self.active is None else self._last_key + self.idle_stop

    def expire(self) -> list[TypingSignal]:
        """The stop to send if the keystrokes paused for *idle_stop* seconds."""
        due = self.deadline()
        if due is None or self._clock() < due:
            return []
        return self.stop()

    def reset(self) -> None:
        """Forget my typing without a signal (the connection went away: the server ends it)."""
        self.active = None


class InboundTyping:
    """The other participants' typing as shown: each state hides after *shown_for* seconds
    without a renewal, so that a lost stop never leaves "is typing" on screen. My own typing
    (from my other devices) is never shown."""

    def __init__(
        self, me: str, clock: Callable[[], float] = time.monotonic, *, shown_for: float = SHOWN_FOR
    ) -> None:
        if shown_for <= 0:
            raise ValueError("shown_for must be positive")
        self.me = me
        self._clock = clock
        self.shown_for = shown_for
        self._until: dict[tuple[str, str], float] = {}
        """(conversation, uid) shown as typing -> when it hides unless renewed."""

    def received(self, cid: str, uid: str, typing: bool) -> list[TypingChanged]:
        """A ``user-typing`` state: the changes to publish (none for a mere renewal)."""
        if uid == self.me:
            return []
        key = (cid, uid)
        if typing:
            shown = key in self._until
            self._until[key] = self._clock() + self.shown_for
            return [] if shown else [TypingChanged(cid, uid, True)]
        if self._until.pop(key, None) is None:
            return []
        return [TypingChanged(cid, uid, False)]

    def is_typing(self, cid: str, uid: str) -> bool:
        return (cid, uid) in self._until

    def deadline(self) -> float | None:
        """When the next shown state hides unless renewed (clock time), or None."""
        return min(self._until.values(), default=None)

    def expire(self) -> list[TypingChanged]:
        """The states not renewed in time: hidden now."""
        now = self._clock()
        gone = [key for key, until in self._until.items() if until <= now]
        for key in gone:
            del self._until[key]
        return [TypingChanged(cid, uid, False) for cid, uid in sorted(gone)]

    def clear(self) -> list[TypingChanged]:
        """Hide every shown state (the connection went away)."""
        gone = sorted(self._until)
        self._until.clear()
        return [TypingChanged(cid, uid, False) for cid, uid in gone]


def parse_user_typing(me: str, data: Any) -> tuple[str, str, bool] | None:
    """A ``user-typing`` payload ``{conversationId, userId, isTyping}`` as (cid, uid, typing),
    or None when it is malformed or not about the other participant of a conversation of
    mine."""
    if not isinstance(data, dict):
        return None
    cid, uid, typing = data.get("conversationId"), data.get("userId"), data.get("isTyping")
    if not isinstance(cid, str) or not is_uid(uid) or not isinstance(typing, bool):
        return None
    try:
        if other_participant(cid, me) != uid:
            return None
    except CoreError:
        return None
    return cid, uid, typing
