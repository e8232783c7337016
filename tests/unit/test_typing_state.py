"""Typing indicators' rules with a fake clock: throttled starts, idle and explicit stops, expiry."""

from __future__ import annotations

import pytest

from desktop_chat.client.events import PresenceChanged, TypingChanged
from desktop_chat.client.realtime_wire import PresenceBook
from desktop_chat.client.typing_state import (
    IDLE_STOP,
    RENEW_EVERY,
    SHOWN_FOR,
    InboundTyping,
    OutboundTyping,
    TypingSignal,
    parse_user_typing,
)

ME, YOU, THEM = "a" * 28, "b" * 28, "c" * 28
CID = f"{ME}_{YOU}"
OTHER = f"{ME}_{THEM}"


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def start(cid: str = CID) -> TypingSignal:
    return TypingSignal(cid, True)


def stop(cid: str = CID) -> TypingSignal:
    return TypingSignal(cid, False)


def test_the_contract_numbers() -> None:
    assert (RENEW_EVERY, IDLE_STOP, SHOWN_FOR) == (2.0, 3.0, 6.0)
    assert start().payload() == {"conversationId": CID, "isTyping": True}


def test_starts_at_once_then_at_most_every_two_seconds() -> None:
    clock = Clock()
    typing = OutboundTyping(clock)
    assert typing.keystroke(CID) == [start()]
    sent = 0
    for _ in range(40):  # 10 s of typing, a key every 0.25 s
        clock.advance(0.25)
        sent += len(typing.keystroke(CID))
    assert sent == 5  # renewals at +2, +4, +6, +8, +10 s
    assert typing.active == CID


def test_idle_for_three_seconds_stops() -> None:
    clock = Clock()
    typing = OutboundTyping(clock)
    typing.keystroke(CID)
    clock.advance(1.0)
    typing.keystroke(CID)
    assert typing.deadline() == clock.now + 3.0
    clock.advance(2.9)
    assert typing.expire() == []  # not yet: counted from the last keystroke
    clock.advance(0.1)
    assert typing.expire() == [stop()]
    assert typing.active is None and typing.deadline() is None
    assert typing.expire() == []  # once
    assert typing.keystroke(CID) == [start()]  # typing again starts again at once


def test_explicit_stop_on_send_or_leaving() -> None:
    clock = Clock()
    typing = OutboundTyping(clock)
    assert typing.stop() == []  # not typing: nothing to stop
    typing.keystroke(CID)
    assert typing.stop(OTHER) == []  # another conversation: not mine to stop
    assert typing.stop(CID) == [stop()]
    assert typing.stop(CID) == []
    clock.advance(0.1)
    assert typing.keystroke(CID) == [start()]  # a new message begins: no throttle
    assert typing.stop() == [stop()]  # None: wherever I type


def test_typing_elsewhere_stops_the_first_conversation() -> None:
    clock = Clock()
    typing = OutboundTyping(clock)
    typing.keystroke(CID)
    clock.advance(0.5)
    assert typing.keystroke(OTHER) == [stop(CID), start(OTHER)]
    assert typing.active == OTHER


def test_reset_forgets_without_a_signal() -> None:
    clock = Clock()
    typing = OutboundTyping(clock)
    typing.keystroke(CID)
    typing.reset()
    assert typing.active is None and typing.expire() == [] and typing.stop() == []
    clock.advance(0.5)
    assert typing.keystroke(CID) == [start()]


def test_shown_until_six_seconds_without_renewal() -> None:
    clock = Clock()
    shown = InboundTyping(ME, clock)
    assert shown.received(CID, YOU, True) == [TypingChanged(CID, YOU, True)]
    assert shown.is_typing(CID, YOU)
    for _ in range(5):  # renewals keep it shown, announced once
        clock.advance(2.0)
        assert shown.received(CID, YOU, True) == []
        assert shown.expire() == []
    assert shown.deadline() == clock.now + 6.0
    clock.advance(5.9)
    assert shown.expire() == []
    clock.advance(0.1)
    assert shown.expire() == [TypingChanged(CID, YOU, False)]  # the stop was lost: hidden
    assert not shown.is_typing(CID, YOU) and shown.deadline() is None
    assert shown.expire() == []


def test_a_received_stop_hides_once() -> None:
    clock = Clock()
    shown = InboundTyping(ME, clock)
    assert shown.received(CID, YOU, False) == []  # not shown: nothing to hide
    shown.received(CID, YOU, True)
    assert shown.received(CID, YOU, False) == [TypingChanged(CID, YOU, False)]
    assert shown.received(CID, YOU, False) == []
    clock.advance(10)
    assert shown.expire() == []


def test_my_own_typing_is_never_shown() -> None:
    shown = InboundTyping(ME, Clock())
    assert shown.received(CID, ME, True) == []
    assert shown.deadline() is None


def test_each_conversation_and_user_expires_on_its_own() -> None:
    clock = Clock()
    shown = InboundTyping(ME, clock)
    shown.received(CID, YOU, True)
    clock.advance(3)
    shown.received(OTHER, THEM, True)
    assert shown.deadline() == clock.now + 3
    clock.advance(3)
    assert shown.expire() == [TypingChanged(CID, YOU, False)]
    assert shown.is_typing(OTHER, THEM)
    assert shown.clear() == [TypingChanged(OTHER, THEM, False)]  # the connection dropped
    assert shown.clear() == []


@pytest.mark.parametrize("seconds", [0, -1])
def test_durations_must_be_positive(seconds: float) -> None:
    with pytest.raises(ValueError):
        OutboundTyping(renew_every=seconds)
    with pytest.raises(ValueError):
        OutboundTyping(idle_stop=seconds)
    with pytest.raises(ValueError):
        InboundTyping(ME, shown_for=seconds)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"conversationId": CID, "userId": YOU, "isTyping": True}, (CID, YOU, True)),
        ({"conversationId": CID, "userId": YOU, "isTyping": False}, (CID, YOU, False)),
        ({"conversationId": CID, "userId": YOU, "isTyping": 1}, None),  # not a bool
        ({"conversationId": CID, "userId": ME, "isTyping": True}, None),  # myself
        ({"conversationId": CID, "userId": THEM, "isTyping": True}, None),  # not in it
        ({"conversationId": f"{YOU}_{THEM}", "userId": YOU, "isTyping": True}, None),
        ({"conversationId": "nope", "userId": YOU, "isTyping": True}, None),
        ({"conversationId": CID, "userId": "x/y", "isTyping": True}, None),
        ({"conversationId": CID, "isTyping": True}, None),
        ([CID, YOU, True], None),
        (None, None),
    ],
)
def test_parse_user_typing(data: object, expected: tuple[str, str, bool] | None) -> None:
    assert parse_user_typing(ME, data) == expected


def test_presence_never_goes_back_in_time() -> None:
    """A snapshot read before a contact went away must not undo the push that says so."""
    book = PresenceBook()
    assert book.update(PresenceChanged("bob", True, None))
    assert book.update(PresenceChanged("bob", True, 100))
    assert book.update(PresenceChanged("bob", False, 200))  # the push: gone at 200
    assert not book.update(PresenceChanged("bob", True, 100))  # the stale snapshot, late
    assert not book.update(PresenceChanged("bob", True, None))
    assert book.get("bob") == PresenceChanged("bob", False, 200)
    assert book.update(PresenceChanged("bob", True, 300))  # back again
    assert "bob" in book and "eve" not in book
