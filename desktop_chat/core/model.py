"""The chat's records: profiles, conversation entries, messages, notifications and their ids."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias, TypeGuard

from desktop_chat.core.errors import InvalidIdError

__all__ = [
    "EDIT_WINDOW_MS",
    "MAX_TEXT",
    "ConversationEntry",
    "DeliveryState",
    "Link",
    "Message",
    "MessageType",
    "Notification",
    "NotificationKind",
    "Record",
    "Role",
    "Slot",
    "UserProfile",
    "conversation_id",
    "delivery_of",
    "entry_from",
    "is_uid",
    "message_from",
    "message_order",
    "notification_from",
    "other_participant",
    "participants",
    "profile_from",
    "to_record",
    "utf16_len",
]

MAX_TEXT = 4000
"""The longest message text, in UTF-16 code units (what the rules' ``.length`` counts)."""
EDIT_WINDOW_MS = 15 * 60 * 1000
"""A message's text can be changed this long after it was sent, on the server's clock (the
rules' ``now - timestamp <= 900000``)."""

_UID = re.compile(r"[A-Za-z0-9]{1,128}")
_LINK_KEYS = {"conversationId": 300, "bookingId": 128, "skillId": 128}
_CID = re.compile(r"([A-Za-z0-9]{1,128})_([A-Za-z0-9]{1,128})")


class Role(StrEnum):
    STUDENT = "student"
    PROVIDER = "provider"


class MessageType(StrEnum):
    TEXT = "text"
    BOOKING_PROPOSAL = "booking_proposal"
    SYSTEM = "system"
    DELETED = "deleted"


class NotificationKind(StrEnum):
    BOOKING_REQUEST = "booking_request"
    BOOKING_CONFIRMED = "booking_confirmed"
    MESSAGE = "message"
    REVIEW = "review"
    PAYMENT = "payment"
    SESSION_REMINDER = "session_reminder"


class DeliveryState(StrEnum):
    """Where one of my messages is: in the outbox, on the server, read, or given up on."""

    PENDING = "pending"
    SENT = "sent"
    READ = "read"
    FAILED = "failed"


def utf16_len(text: str) -> int:
    """The length the rules see: JavaScript's, in UTF-16 code units."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def is_uid(value: object) -> TypeGuard[str]:
    """True for a uid the data model allows: ``[A-Za-z0-9]{1,128}``."""
    return isinstance(value, str) and _UID.fullmatch(value) is not None


def conversation_id(a: str, b: str) -> str:
    """The conversation of *a* and *b*: their uids sorted and joined by ``_``."""
    for uid in (a, b):
        if not is_uid(uid):
            raise InvalidIdError(f"invalid uid {uid!r}: must be 1-128 ASCII letters or digits")
    if a == b:
        raise InvalidIdError("a conversation needs two different users")
    return f"{min(a, b)}_{max(a, b)}"


def participants(cid: str) -> tuple[str, str]:
    """The two uids of a conversation id, in their sorted order."""
    pair = _parse_cid(cid)
    if pair is None:
        raise InvalidIdError(f"invalid conversation id {cid!r}")
    return pair


def other_participant(cid: str, uid: str) -> str:
    """The participant of *cid* who is not *uid*."""
    first, second = participants(cid)
    if uid in (first, second):
        return second if uid == first else first
    raise InvalidIdError(f"{uid!r} is not a participant of {cid!r}")


def _parse_cid(cid: object) -> tuple[str, str] | None:
    match = _CID.fullmatch(cid) if isinstance(cid, str) else None
    if match is None or match[1] >= match[2]:
        return None
    return match[1], match[2]


@dataclass(frozen=True, slots=True)
class UserProfile:
    uid: str
    display_name: str
    role: Role
    photo_url: str | None = None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"displayName": self.display_name, "role": self.role.value}
        if self.photo_url is not None:
            record["photoURL"] = self.photo_url
        return record


@dataclass(frozen=True, slots=True)
class ConversationEntry:
    """One ``userConversations/{uid}/{cid}`` entry: a row of its owner's conversation list."""

    conversation_id: str
    other_user_id: str
    other_user_name: str
    other_user_photo: str | None
    last_message: str | None
    last_message_at: int | None
    unread_count: int

    def to_record(self) -> dict[str, Any]:
        other: dict[str, Any] = {"id": self.other_user_id, "name": self.other_user_name}
        if self.other_user_photo is not None:
            other["photo"] = self.other_user_photo
        record: dict[str, Any] = {"otherUser": other, "unreadCount": self.unread_count}
        if self.last_message is not None:
            record["lastMessage"] = self.last_message
        if self.last_message_at is not None:
            record["lastMessageAt"] = self.last_message_at
        return record


@dataclass(frozen=True, slots=True)
class Slot:
    """The availability slot a booking proposal is bound to."""

    skill_id: str
    date: str
    slot_id: str

    def to_record(self) -> dict[str, Any]:
        return {"skillId": self.skill_id, "date": self.date, "slotId": self.slot_id}


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    conversation_id: str
    sender_id: str
    receiver_id: str
    text: str | None
    timestamp: int
    read: bool
    type: MessageType
    edited_at: int | None = None
    slot: Slot | None = None

    @property
    def deleted(self) -> bool:
        return self.type is MessageType.DELETED

    @property
    def order(self) -> tuple[int, str]:
        """The sort key of a conversation's messages: (timestamp, id)."""
        return (self.timestamp, self.id)

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "senderId": self.sender_id,
            "receiverId": self.receiver_id,
            "timestamp": self.timestamp,
            "read": self.read,
            "type": self.type.value,
        }
        if self.text is not None:
            record["text"] = self.text
        if self.edited_at is not None:
            record["editedAt"] = self.edited_at
        if self.slot is not None:
            record["slot"] = self.slot.to_record()
        return record


@dataclass(frozen=True, slots=True)
class Link:
    """What a notification opens: a conversation, a booking or a skill."""

    conversation_id: str | None = None
    booking_id: str | None = None
    skill_id: str | None = None

    def to_record(self) -> dict[str, Any]:
        ids = zip(_LINK_KEYS, (self.conversation_id, self.booking_id, self.skill_id), strict=True)
        return {key: value for key, value in ids if value is not None}


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    kind: NotificationKind
    title: str
    body: str | None
    sender_id: str | None
    created_at: int
    read: bool
    link: Link | None = None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "kind": self.kind.value,
            "title": self.title,
            "createdAt": self.created_at,
            "read": self.read,
        }
        if self.body is not None:
            record["body"] = self.body
        if self.sender_id is not None:
            record["senderId"] = self.sender_id
        if self.link is not None:
            record["link"] = self.link.to_record()
        return record


Record: TypeAlias = UserProfile | ConversationEntry | Message | Notification


def to_record(item: Record) -> dict[str, Any]:
    """The JSON shape of *item* as the database holds it; the ``*_from`` parsers read it back."""
    return item.to_record()


def message_order(message: Message) -> tuple[int, str]:
    """Sort key for messages: server timestamp, then id (push ids are time-ordered)."""
    return message.order


def delivery_of(message: Message) -> DeliveryState:
    """The delivery state a message on the server shows its sender."""
    return DeliveryState.READ if message.read else DeliveryState.SENT


def _number(value: object) -> int | None:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _string(value: object, low: int, high: int) -> str | None:
    return value if isinstance(value, str) and low <= utf16_len(value) <= high else None


def _optional_string(record: dict[str, Any], key: str, high: int) -> tuple[bool, str | None]:
    """(ok, value): ok is False when *key* is present but not a string of at most *high*."""
    if key not in record or record[key] is None:
        return True, None
    value = _string(record[key], 0, high)
    return value is not None, value


def profile_from(uid: object, value: object) -> UserProfile | None:
    """A ``users/{uid}`` record, or None when it is malformed."""
    if not is_uid(uid) or not isinstance(value, dict):
        return None
    name = _string(value.get("displayName"), 1, 100)
    role = value.get("role")
    ok, photo = _optional_string(value, "photoURL", 2048)
    if name is None or role not in ("student", "provider") or not ok:
        return None
    return UserProfile(uid, name, Role(role), photo)


def entry_from(cid: object, value: object) -> ConversationEntry | None:
    """A ``userConversations/{uid}/{cid}`` record, or None when it is malformed."""
    pair = _parse_cid(cid)
    if pair is None or not isinstance(cid, str) or not isinstance(value, dict):
        return None
    other = value.get("otherUser")
    if not isinstance(other, dict) or other.get("id") not in pair:
        return None
    name = _string(other.get("name"), 0, 100)
    photo_ok, photo = _optional_string(other, "photo", 2048)
    last_ok, last = _optional_string(value, "lastMessage", MAX_TEXT)
    at = value.get("lastMessageAt")
    last_at = None if at is None else _number(at)
    unread = _number(value.get("unreadCount"))
    if name is None or not photo_ok or not last_ok or (at is not None and last_at is None):
        return None
    if unread is None or unread < 0:
        return None
    return ConversationEntry(cid, other["id"], name, photo, last, last_at, unread)


def _slot_from(value: object) -> Slot | None:
    if not isinstance(value, dict):
        return None
    skill = _string(value.get("skillId"), 0, 128)
    date = _string(value.get("date"), 0, 10)
    slot = _string(value.get("slotId"), 0, 128)
    if skill is None or date is None or slot is None:
        return None
    return Slot(skill, date, slot)


def message_from(cid: object, mid: object, value: object) -> Message | None:
    """A ``conversations/{cid}/messages/{mid}`` record, or None when it is malformed."""
    pair = _parse_cid(cid)
    if pair is None or not isinstance(cid, str) or not isinstance(mid, str) or not mid:
        return None
    if not isinstance(value, dict):
        return None
    sender, receiver = value.get("senderId"), value.get("receiverId")
    if not isinstance(sender, str) or not isinstance(receiver, str):
        return None
    if sender not in pair or receiver not in pair or sender == receiver:
        return None
    raw_type = value.get("type")
    if raw_type not in ("text", "booking_proposal", "system", "deleted"):
        return None
    kind = MessageType(raw_type)
    text = value.get("text")
    if text is not None if kind is MessageType.DELETED else _string(text, 1, MAX_TEXT) is None:
        return None  # text is absent exactly from tombstones
    timestamp = _number(value.get("timestamp"))
    read = value.get("read")
    edited = value.get("editedAt")
    edited_at = None if edited is None else _number(edited)
    raw_slot = value.get("slot")
    slot = None if raw_slot is None else _slot_from(raw_slot)
    if timestamp is None or not isinstance(read, bool):
        return None
    if (edited is not None and edited_at is None) or (raw_slot is not None and slot is None):
        return None
    return Message(mid, cid, sender, receiver, text, timestamp, read, kind, edited_at, slot)


def _link_from(value: object) -> Link | None:
    if not isinstance(value, dict) or not value:
        return None
    if any(
        key not in _LINK_KEYS or _string(item, 0, _LINK_KEYS[key]) is None
        for key, item in value.items()
    ):
        return None
    return Link(*(value.get(key) for key in _LINK_KEYS))


_KINDS = tuple(kind.value for kind in NotificationKind)


def notification_from(nid: object, value: object) -> Notification | None:
    """A ``notifications/{uid}/{nid}`` record, or None when it is malformed."""
    if not isinstance(nid, str) or not nid or not isinstance(value, dict):
        return None
    raw_kind = value.get("kind")
    if raw_kind not in _KINDS:
        return None
    title = _string(value.get("title"), 1, 200)
    body_ok, body = _optional_string(value, "body", 1000)
    sender = value.get("senderId")
    created = _number(value.get("createdAt"))
    read = value.get("read")
    raw_link = value.get("link")
    link = None if raw_link is None else _link_from(raw_link)
    if title is None or not body_ok or created is None or not isinstance(read, bool):
        return None
    if (sender is not None and not is_uid(sender)) or (raw_link is not None and link is None):
        return None
    return Notification(nid, NotificationKind(raw_kind), title, body, sender, created, read, link)
