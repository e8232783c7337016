"""desktop_chat.core.writes without a server: input validation and the shape of each update."""

from __future__ import annotations

import pytest

from desktop_chat.core.errors import (
    CoreError,
    InvalidIdError,
    InvalidMessageError,
    InvalidPathError,
)
from desktop_chat.core.model import MessageType, Role, Slot, UserProfile, conversation_id
from desktop_chat.core.writes import (
    SERVER_TIME,
    check_text,
    combine,
    delete_message,
    edit_message,
    increment,
    mark_read,
    message_notification_id,
    open_conversation,
    preview,
    send_message,
)

ANN = UserProfile("ann1", "Ann", Role.STUDENT, "https://p/ann.png")
BOB = UserProfile("Bob2", "Bob", Role.PROVIDER)
CID = conversation_id(ANN.uid, BOB.uid)  # "Bob2_ann1"
MID = "-NxAbCdEfGhIjKlMnOpQ"


def test_send_is_one_update_with_every_part() -> None:
    update = send_message(ANN, BOB, CID, MID, "hello")
    assert update == {
        f"conversations/{CID}/messages/{MID}": {
            "senderId": "ann1",
            "receiverId": "Bob2",
            "text": "hello",
            "timestamp": {".sv": "timestamp"},
            "read": False,
            "type": "text",
        },
        f"conversations/{CID}/metadata/lastMessageAt": SERVER_TIME,
        f"userConversations/ann1/{CID}/lastMessage": "hello",
        f"userConversations/ann1/{CID}/lastMessageAt": SERVER_TIME,
        f"userConversations/Bob2/{CID}/lastMessage": "hello",
        f"userConversations/Bob2/{CID}/lastMessageAt": SERVER_TIME,
        f"userConversations/Bob2/{CID}/unreadCount": {".sv": {"increment": 1}},
        f"notifications/Bob2/m{MID}": {
            "kind": "message",
            "title": "Ann",
            "body": "hello",
            "senderId": "ann1",
            "createdAt": SERVER_TIME,
            "read": False,
            "link": {"conversationId": CID},
        },
    }
    assert update == send_message(ANN, BOB, CID, MID, "hello")  # deterministic: safe to retry
    assert message_notification_id(MID) == "m" + MID


def test_first_message_writes_both_other_users() -> None:
    update = send_message(ANN, BOB, CID, MID, "hi", ensure_entries=True)
    assert update[f"userConversations/ann1/{CID}/otherUser"] == {"id": "Bob2", "name": "Bob"}
    assert update[f"userConversations/Bob2/{CID}/otherUser"] == {
        "id": "ann1",
        "name": "Ann",
        "photo": "https://p/ann.png",
    }
    assert update[f"userConversations/ann1/{CID}/unreadCount"] == increment(0)


def test_open_conversation() -> None:
    update = open_conversation(BOB, ANN, "skill9")
    meta = f"conversations/{CID}/metadata"
    assert update[f"{meta}/participants"] == {"ann1": True, "Bob2": True}
    assert update[f"{meta}/createdAt"] == SERVER_TIME and update[f"{meta}/skillId"] == "skill9"
    assert update[f"userConversations/ann1/{CID}/otherUser"]["id"] == "Bob2"
    assert update[f"userConversations/Bob2/{CID}/unreadCount"] == 0
    assert set(open_conversation(BOB, ANN, known=True)) == {
        f"userConversations/Bob2/{CID}/otherUser",
        f"userConversations/Bob2/{CID}/unreadCount",
    }
    with pytest.raises(InvalidIdError):
        open_conversation(ANN, ANN)
    with pytest.raises(InvalidIdError):
        open_conversation(ANN, BOB, "")


@pytest.mark.parametrize("text", ["", " ", "\n\t ", "x" * 4001, "👋" * 2001])
def test_bad_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidMessageError):
        send_message(ANN, BOB, CID, MID, text)
    with pytest.raises(InvalidMessageError):
        edit_message(CID, MID, text)


def test_text_is_kept_as_given() -> None:
    for text in ["  padded  ", "x" * 4000, "👋" * 2000]:
        assert check_text(text) == text
        assert (
            send_message(ANN, BOB, CID, MID, text)[f"userConversations/ann1/{CID}/lastMessage"]
            == text
        )


def test_notification_body_is_a_preview() -> None:
    text = "é" * 999 + "👋" + "z"
    body = send_message(ANN, BOB, CID, MID, text)[f"notifications/Bob2/m{MID}"]["body"]
    assert body == "é" * 999 + "…"
    assert preview("abc", 3) == "abc" and preview("abcd", 3) == "ab…"


@pytest.mark.parametrize("mid", ["", "a/b", "a.b", "x" * 129, "m$", "é"])
def test_bad_message_ids(mid: str) -> None:
    with pytest.raises(InvalidIdError):
        send_message(ANN, BOB, CID, mid, "hi")
    with pytest.raises(InvalidIdError):
        delete_message(CID, mid)


def test_wrong_conversation_or_type_or_slot() -> None:
    with pytest.raises(InvalidIdError):
        send_message(ANN, BOB, "ann1_Bob2", MID, "hi")  # unsorted
    with pytest.raises(InvalidMessageError):
        send_message(ANN, BOB, CID, MID, "hi", type="deleted")
    with pytest.raises(InvalidMessageError):
        send_message(ANN, BOB, CID, MID, "hi", type="video")
    with pytest.raises(InvalidMessageError):
        send_message(ANN, BOB, CID, MID, "hi", MessageType.BOOKING_PROPOSAL)
    with pytest.raises(InvalidMessageError):
        send_message(ANN, BOB, CID, MID, "hi", slot=Slot("s", "2030-01-01", "x"))
    with pytest.raises(InvalidMessageError):
        send_message(ANN, BOB, CID, MID, "hi", "booking_proposal", Slot("s", "2030-01-011", "x"))
    proposal = send_message(ANN, BOB, CID, MID, "hi", "booking_proposal", Slot("s", "d", "x"))
    message = proposal[f"conversations/{CID}/messages/{MID}"]
    assert message["type"] == "booking_proposal"
    assert message["slot"] == {"skillId": "s", "date": "d", "slotId": "x"}


def test_mark_read_edit_delete() -> None:
    assert mark_read(BOB, CID, ["a", "b"], ["ma"]) == {
        f"conversations/{CID}/messages/a/read": True,
        f"conversations/{CID}/messages/b/read": True,
        f"userConversations/Bob2/{CID}/unreadCount": 0,
        "notifications/Bob2/ma/read": True,
    }
    assert mark_read("ann1", CID, []) == {f"userConversations/ann1/{CID}/unreadCount": 0}
    with pytest.raises(CoreError):
        mark_read("carol", CID, ["a"])
    with pytest.raises(CoreError):
        mark_read("ann1", CID, [], ["a/b"])
    path = f"conversations/{CID}/messages/{MID}"
    assert edit_message(CID, MID, "new") == {f"{path}/text": "new", f"{path}/editedAt": SERVER_TIME}
    assert delete_message(CID, MID) == {f"{path}/text": None, f"{path}/type": "deleted"}
    with pytest.raises(InvalidIdError):
        edit_message("nope", MID, "new")


def test_combine() -> None:
    merged = combine(open_conversation(ANN, BOB), send_message(ANN, BOB, CID, MID, "hi"))
    assert merged[f"conversations/{CID}/metadata/lastMessageAt"] == SERVER_TIME
    assert merged[f"userConversations/Bob2/{CID}/unreadCount"] == increment(1)  # later wins
    with pytest.raises(InvalidPathError):
        combine({"a/b": 1}, {"a/b/c": 2})
    with pytest.raises(InvalidPathError):
        combine({"a/b/c": 1, "a/b": 2})
    assert combine({"a/b": 1}, {"a/bc": 2}) == {"a/b": 1, "a/bc": 2}
