"""desktop_chat.core.model: ids, parsing good and malformed records, ordering and round trips."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_chat.core.errors import CoreError, InvalidIdError
from desktop_chat.core.model import (
    ConversationEntry,
    DeliveryState,
    Link,
    Message,
    MessageType,
    Notification,
    NotificationKind,
    Role,
    Slot,
    UserProfile,
    conversation_id,
    delivery_of,
    entry_from,
    is_uid,
    message_from,
    message_order,
    notification_from,
    other_participant,
    participants,
    profile_from,
    to_record,
    utf16_len,
)
from desktop_chat.core.paths import PushIdGenerator

A, B = "Zed9", "alice1"  # "Zed9" < "alice1": string order, uppercase first
CID = f"{A}_{B}"


def good_message(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "senderId": A,
        "receiverId": B,
        "text": "hi",
        "timestamp": 1_700_000_000_000,
        "read": False,
        "type": "text",
    }
    record.update(changes)
    return {key: value for key, value in record.items() if value is not None}


# --- ids --------------------------------------------------------------------------------------


def test_conversation_id_sorts_and_validates() -> None:
    assert conversation_id(B, A) == conversation_id(A, B) == CID
    assert participants(CID) == (A, B)
    assert other_participant(CID, A) == B and other_participant(CID, B) == A
    assert conversation_id("x" * 128, "y") == "x" * 128 + "_y"


@pytest.mark.parametrize(
    ("a", "b"),
    [(A, A), ("", B), (A, "a_b"), (A, "a-b"), ("x" * 129, B), (A, "é"), (A, "a b"), (A, "a/b")],
)
def test_conversation_id_refuses(a: str, b: str) -> None:
    with pytest.raises(InvalidIdError):
        conversation_id(a, b)


@pytest.mark.parametrize("cid", [f"{B}_{A}", A, f"{A}_", f"_{A}", f"{A}_{A}", f"{A}_{B}_c", ""])
def test_bad_conversation_ids(cid: str) -> None:
    with pytest.raises(InvalidIdError):
        participants(cid)
    assert message_from(cid, "m1", good_message()) is None


def test_other_participant_refuses_an_outsider() -> None:
    with pytest.raises(CoreError):
        other_participant(CID, "carol")


def test_is_uid() -> None:
    assert is_uid("abcXYZ019") and not is_uid(None) and not is_uid(7) and not is_uid("a\n")


def test_utf16_len_counts_like_javascript() -> None:
    assert utf16_len("abc") == 3 and utf16_len("é") == 1 and utf16_len("👋") == 2


# --- parsing ----------------------------------------------------------------------------------


def test_message_parses() -> None:
    message = message_from(CID, "-Nabc", good_message(editedAt=5.0))
    assert message == Message(
        "-Nabc", CID, A, B, "hi", 1_700_000_000_000, False, MessageType.TEXT, edited_at=5
    )
    assert isinstance(message.edited_at, int)
    whole = message_from(CID, "m", good_message(timestamp=5.0))
    assert whole is not None and whole.timestamp == 5 and isinstance(whole.timestamp, int)
    assert delivery_of(message) is DeliveryState.SENT
    read = message_from(CID, "m", good_message(read=True))
    assert read is not None and delivery_of(read) is DeliveryState.READ
    tomb = message_from(CID, "m", good_message(text=None, type="deleted"))
    assert tomb is not None and tomb.deleted and tomb.text is None
    proposal = good_message(
        type="booking_proposal", slot={"skillId": "s", "date": "2030-01-15", "slotId": "x"}
    )
    parsed = message_from(CID, "m", proposal)
    assert parsed is not None and parsed.slot == Slot("s", "2030-01-15", "x")


@pytest.mark.parametrize(
    "changes",
    [
        {"senderId": "carol"},
        {"receiverId": A},
        {"senderId": None},
        {"text": None},
        {"text": ""},
        {"text": "x" * 4001},
        {"text": "👋" * 2001},
        {"text": 5},
        {"type": "deleted"},  # a tombstone keeps no text
        {"type": "video"},
        {"type": ["text"]},
        {"timestamp": None},
        {"timestamp": "now"},
        {"timestamp": {".sv": "timestamp"}},  # a local write's placeholder: not yet placeable
        {"timestamp": True},
        {"timestamp": 1.5},
        {"timestamp": float("nan")},
        {"read": 0},
        {"read": None},
        {"editedAt": "yesterday"},
        {"slot": "s1"},
        {"slot": {"skillId": "s", "date": "2030-01-15"}},
    ],
)
def test_malformed_messages_are_skipped(changes: dict[str, Any]) -> None:
    record = good_message()
    record.update(changes)
    record = {key: value for key, value in record.items() if value is not None}
    assert message_from(CID, "m1", record) is None


def test_message_ids_and_values_of_the_wrong_kind() -> None:
    assert message_from(CID, "", good_message()) is None
    assert message_from(CID, 3, good_message()) is None
    assert message_from(CID, "m", [good_message()]) is None
    assert message_from(None, "m", good_message()) is None
    assert message_from(CID, "m", "hi") is None


def test_messages_order_by_timestamp_then_id() -> None:
    ids = PushIdGenerator(clock_ms=lambda: 1_000)
    first, second, third = ids(), ids(), ids()
    assert first < second < third  # push ids of one millisecond still rise
    records = [(third, 10), (first, 20), (second, 10)]
    messages = [message_from(CID, mid, good_message(timestamp=at)) for mid, at in records]
    ordered = sorted((m for m in messages if m is not None), key=message_order)
    assert [m.id for m in ordered] == [second, third, first]
    assert ordered[0].order == (10, second)


def test_entry_parses() -> None:
    value = {
        "otherUser": {"id": B, "name": "Alice", "photo": "https://p/a.png"},
        "lastMessage": "see you",
        "lastMessageAt": 12,
        "unreadCount": 3,
    }
    assert entry_from(CID, value) == ConversationEntry(
        CID, B, "Alice", "https://p/a.png", "see you", 12, 3
    )
    bare = entry_from(CID, {"otherUser": {"id": A, "name": "Zed"}, "unreadCount": 0})
    assert bare == ConversationEntry(CID, A, "Zed", None, None, None, 0)


@pytest.mark.parametrize(
    "value",
    [
        {"otherUser": {"id": "carol", "name": "C"}, "unreadCount": 0},
        {"otherUser": {"id": B}, "unreadCount": 0},
        {"otherUser": {"id": B, "name": "x" * 101}, "unreadCount": 0},
        {"otherUser": {"id": B, "name": "B", "photo": 3}, "unreadCount": 0},
        {"otherUser": [B], "unreadCount": 0},
        {"otherUser": {"id": B, "name": "B"}},
        {"otherUser": {"id": B, "name": "B"}, "unreadCount": -1},
        {"otherUser": {"id": B, "name": "B"}, "unreadCount": "1"},
        {"otherUser": {"id": B, "name": "B"}, "unreadCount": 0, "lastMessageAt": "x"},
        {"otherUser": {"id": B, "name": "B"}, "unreadCount": 0, "lastMessage": {}},
        None,
        "entry",
    ],
)
def test_malformed_entries_are_skipped(value: Any) -> None:
    assert entry_from(CID, value) is None


def test_notification_parses() -> None:
    value = {
        "kind": "message",
        "title": "Ann",
        "body": "hello",
        "senderId": A,
        "createdAt": 7,
        "read": False,
        "link": {"conversationId": CID},
    }
    expected = Notification(
        "mX", NotificationKind.MESSAGE, "Ann", "hello", A, 7, False, Link(conversation_id=CID)
    )
    assert notification_from("mX", value) == expected
    system = {"kind": "review", "title": "Rate it", "createdAt": 1, "read": True}
    parsed = notification_from("n", system)
    assert parsed is not None and parsed.sender_id is None and parsed.link is None


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "gossip"},
        {"kind": None},
        {"title": ""},
        {"title": "t" * 201},
        {"body": "b" * 1001},
        {"senderId": "not a uid"},
        {"createdAt": None},
        {"read": "no"},
        {"link": {}},
        {"link": {"chatId": CID}},
        {"link": {"bookingId": 5}},
        {"link": "c"},
    ],
)
def test_malformed_notifications_are_skipped(changes: dict[str, Any]) -> None:
    value: dict[str, Any] = {"kind": "payment", "title": "Paid", "createdAt": 1, "read": False}
    value.update(changes)
    value = {key: item for key, item in value.items() if item is not None}
    assert notification_from("n1", value) is None


def test_profiles() -> None:
    assert profile_from(A, {"displayName": "Zed", "role": "provider"}) == UserProfile(
        A, "Zed", Role.PROVIDER
    )
    with_photo = profile_from(B, {"displayName": "Al", "role": "student", "photoURL": "u"})
    assert with_photo is not None and with_photo.photo_url == "u"
    for bad in [
        {"displayName": "", "role": "student"},
        {"displayName": "Zed", "role": "admin"},
        {"displayName": "Zed", "role": ["student"]},
        {"displayName": "Zed", "role": "student", "photoURL": "x" * 2049},
        {"role": "student"},
        "Zed",
    ]:
        assert profile_from(A, bad) is None
    assert profile_from("a_b", {"displayName": "Zed", "role": "student"}) is None


# --- round trips and arbitrary JSON -----------------------------------------------------------


def test_records_round_trip() -> None:
    message = Message(
        "m1", CID, B, A, None, 9, True, MessageType.DELETED, 8, Slot("s", "2030-01-01", "x")
    )
    assert message_from(CID, "m1", to_record(message)) == message
    entry = ConversationEntry(CID, A, "Zed", "p", "last", 5, 2)
    assert entry_from(CID, to_record(entry)) == entry
    note = Notification(
        "n", NotificationKind.BOOKING_REQUEST, "T", None, B, 3, False, Link(None, "b")
    )
    assert notification_from("n", to_record(note)) == note
    profile = UserProfile(A, "Zed", Role.STUDENT, "https://p")
    assert profile_from(A, to_record(profile)) == profile
    assert to_record(message)["type"] == "deleted" and "text" not in to_record(message)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "senderId", "receiverId", "text", "timestamp", "read", "type", "editedAt", "slot",
    "otherUser", "lastMessage", "lastMessageAt", "unreadCount", "kind", "title", "body",
    "createdAt", "link", "displayName", "role", "photoURL", "id", "name", "photo",
]  # fmt: skip
NEAR = st.dictionaries(
    st.sampled_from(FIELDS),
    JSON | st.sampled_from([A, B, "text", "deleted", "message", "student", 0, 1, True, False]),
)
IDS = st.sampled_from([CID, A, "m1", "", f"{B}_{A}"]) | JSON


@settings(max_examples=400, deadline=None)
@given(IDS, IDS, JSON | NEAR)
def test_parsers_never_raise(first: Any, second: Any, value: Any) -> None:
    message = message_from(first, second, value)
    if message is not None:
        assert message_from(first, second, to_record(message)) == message
    entry = entry_from(first, value)
    if entry is not None:
        assert entry_from(first, to_record(entry)) == entry
    note = notification_from(first, value)
    if note is not None:
        assert notification_from(first, to_record(note)) == note
    profile = profile_from(first, value)
    if profile is not None:
        assert profile_from(first, to_record(profile)) == profile


UIDS = st.sampled_from([A, B])
TEXT = st.text(min_size=1, max_size=20)
MESSAGES = st.builds(
    lambda sender, text, at, read, edited, deleted: Message(
        "m1",
        CID,
        sender,
        B if sender == A else A,
        None if deleted else text,
        at,
        read,
        MessageType.DELETED if deleted else MessageType.TEXT,
        edited,
    ),
    UIDS,
    TEXT,
    st.integers(),
    st.booleans(),
    st.none() | st.integers(),
    st.booleans(),
)


@given(MESSAGES)
def test_messages_round_trip(message: Message) -> None:
    assert message_from(CID, "m1", to_record(message)) == message
