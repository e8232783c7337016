"""Builders of the chat's atomic multi-path updates, shaped exactly as the database rules accept."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any, TypeAlias

from desktop_chat.core.errors import InvalidIdError, InvalidMessageError, InvalidPathError
from desktop_chat.core.model import (
    MAX_TEXT,
    MessageType,
    Slot,
    UserProfile,
    conversation_id,
    other_participant,
    participants,
    utf16_len,
)
from desktop_chat.core.paths import check_key

__all__ = [
    "MAX_NOTIFICATION_BODY",
    "SERVER_TIME",
    "Update",
    "check_message_id",
    "check_text",
    "combine",
    "delete_message",
    "edit_message",
    "increment",
    "mark_read",
    "message_notification_id",
    "open_conversation",
    "preview",
    "send_message",
]

Update: TypeAlias = dict[str, Any]
"""A multi-path update: slash paths relative to the root, each set to its value (None deletes);
apply it as one ``PATCH`` at the root so the rules check it as one write, all or nothing."""

SERVER_TIME: Mapping[str, str] = {".sv": "timestamp"}
MAX_NOTIFICATION_BODY = 1000
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_CREATABLE = (MessageType.TEXT, MessageType.BOOKING_PROPOSAL, MessageType.SYSTEM)


def _now() -> dict[str, str]:
    return dict(SERVER_TIME)


def increment(delta: int) -> dict[str, Any]:
    """The server value adding *delta* to a number (a missing one counts as 0)."""
    return {".sv": {"increment": delta}}


def check_text(text: str) -> str:
    """*text* unchanged, or InvalidMessageError when it is blank or over 4,000 characters."""
    if not isinstance(text, str):
        raise InvalidMessageError(f"message text must be a string, not {type(text).__name__}")
    if not text.strip():
        raise InvalidMessageError("message text is empty")
    if utf16_len(text) > MAX_TEXT:
        raise InvalidMessageError(f"message text is longer than {MAX_TEXT} characters")
    return text


def check_message_id(message_id: str) -> str:
    """*message_id* unchanged if it is a push-id-like key (``[A-Za-z0-9_-]{1,128}``)."""
    if not isinstance(message_id, str) or _MESSAGE_ID.fullmatch(message_id) is None:
        raise InvalidIdError(f"invalid message id {message_id!r}")
    return message_id


def message_notification_id(message_id: str) -> str:
    """The id of the receiver's notification of a message: derived from the message id, so a
    retried send names the same notification and cannot create a second one."""
    return "m" + check_message_id(message_id)


def preview(text: str, limit: int) -> str:
    """*text* cut to at most *limit* UTF-16 code units, ending in an ellipsis when cut."""
    if utf16_len(text) <= limit:
        return text
    cut, units = [], 0
    for char in text:
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit - 1:
            break
        cut.append(char)
    return "".join(cut) + "…"


def _cid_of(me: UserProfile, other: UserProfile, cid: str | None = None) -> str:
    expected = conversation_id(me.uid, other.uid)
    if cid is not None and cid != expected:
        raise InvalidIdError(f"{cid!r} is not the conversation of {me.uid!r} and {other.uid!r}")
    return expected


def _describe(profile: UserProfile) -> dict[str, Any]:
    """A userConversations ``otherUser`` describing *profile*."""
    other: dict[str, Any] = {"id": profile.uid, "name": profile.display_name}
    if profile.photo_url is not None:
        other["photo"] = profile.photo_url
    return other


def _uid(me: UserProfile | str) -> str:
    return me.uid if isinstance(me, UserProfile) else me


def open_conversation(
    me: UserProfile, other: UserProfile, skill_id: str | None = None, *, known: bool = False
) -> Update:
    """Create the conversation of *me* and *other*: its metadata and both list entries.

    With *known* False (the conversation is not on the server yet) this writes the metadata
    (participants, ``createdAt`` server time, *skill_id*) and both entries with ``unreadCount`` 0,
    the other's entry describing *me*. If someone created the conversation first the rules
    refuse it as a whole (``createdAt`` never changes): retry with *known* True, which only
    (re)creates my own entry, keeping its count and last message.
    """
    cid = _cid_of(me, other)
    mine, theirs = f"userConversations/{me.uid}/{cid}", f"userConversations/{other.uid}/{cid}"
    if known:
        return {f"{mine}/otherUser": _describe(other), f"{mine}/unreadCount": increment(0)}
    meta = f"conversations/{cid}/metadata"
    update: Update = {
        f"{meta}/participants": {me.uid: True, other.uid: True},
        f"{meta}/createdAt": _now(),
        f"{mine}/otherUser": _describe(other),
        f"{mine}/unreadCount": 0,
        f"{theirs}/otherUser": _describe(me),
        f"{theirs}/unreadCount": 0,
    }
    if skill_id is not None:
        if not isinstance(skill_id, str) or not 1 <= len(skill_id) <= 128:
            raise InvalidIdError(f"invalid skill id {skill_id!r}")
        update[f"{meta}/skillId"] = skill_id
    return update


def _check_slot(kind: MessageType, slot: Slot | None) -> None:
    if (kind is MessageType.BOOKING_PROPOSAL) != (slot is not None):
        raise InvalidMessageError("a slot goes with a booking_proposal, and only with one")
    if slot is not None:
        for value, high in ((slot.skill_id, 128), (slot.date, 10), (slot.slot_id, 128)):
            if not isinstance(value, str) or utf16_len(value) > high:
                raise InvalidMessageError(f"invalid slot {slot!r}")


def send_message(
    me: UserProfile,
    other: UserProfile,
    cid: str,
    message_id: str,
    text: str,
    type: MessageType | str = MessageType.TEXT,
    slot: Slot | None = None,
    *,
    ensure_entries: bool = False,
) -> Update:
    """The one atomic write of a message *message_id* (a client-made push id) from *me*.

    It creates the message (refused as a whole if the id exists, so a retry counts nothing
    twice), sets ``metadata/lastMessageAt``, both entries' last message, raises the receiver's
    ``unreadCount`` by one and creates their ``message`` notification (id
    :func:`message_notification_id`). The conversation's metadata must exist.

    With *ensure_entries* (the first message, or when an entry may be missing) it also writes
    both entries' ``otherUser``, so missing entries are created: the rules then require the
    receiver's existing entry, if any, to describe me with my current name and photo.
    """
    cid = _cid_of(me, other, cid)
    check_message_id(message_id)
    check_text(text)
    if type not in _CREATABLE:
        raise InvalidMessageError(f"cannot send a message of type {type!r}")
    kind = MessageType(type)
    _check_slot(kind, slot)
    message: dict[str, Any] = {
        "senderId": me.uid,
        "receiverId": other.uid,
        "text": text,
        "timestamp": _now(),
        "read": False,
        "type": kind.value,
    }
    if slot is not None:
        message["slot"] = slot.to_record()
    mine, theirs = f"userConversations/{me.uid}/{cid}", f"userConversations/{other.uid}/{cid}"
    update: Update = {
        f"conversations/{cid}/messages/{message_id}": message,
        f"conversations/{cid}/metadata/lastMessageAt": _now(),
        f"{mine}/lastMessage": text,
        f"{mine}/lastMessageAt": _now(),
        f"{theirs}/lastMessage": text,
        f"{theirs}/lastMessageAt": _now(),
        f"{theirs}/unreadCount": increment(1),
        f"notifications/{other.uid}/{message_notification_id(message_id)}": {
            "kind": "message",
            "title": preview(me.display_name, 200) if me.display_name else "New message",
            "body": preview(text, MAX_NOTIFICATION_BODY),
            "senderId": me.uid,
            "createdAt": _now(),
            "read": False,
            "link": {"conversationId": cid},
        },
    }
    if ensure_entries:
        update[f"{mine}/otherUser"] = _describe(other)
        update[f"{mine}/unreadCount"] = increment(0)  # keeps my count; a new entry starts at 0
        update[f"{theirs}/otherUser"] = _describe(me)
    return update


def mark_read(
    me: UserProfile | str,
    cid: str,
    unread_message_ids: Iterable[str],
    notification_ids: Iterable[str] = (),
) -> Update:
    """Mark *me*'s received messages read, reset my ``unreadCount`` to 0, and mark read my
    notifications *notification_ids* (those of this conversation). Every id must exist: the
    rules refuse creating a message or notification through this write."""
    uid = _uid(me)
    other_participant(cid, uid)  # validates cid and that *me* takes part
    update: Update = {}
    for message_id in unread_message_ids:
        update[f"conversations/{cid}/messages/{check_message_id(message_id)}/read"] = True
    update[f"userConversations/{uid}/{cid}/unreadCount"] = 0
    for notification_id in notification_ids:
        check_key(notification_id)
        update[f"notifications/{uid}/{notification_id}/read"] = True
    return update


def edit_message(cid: str, message_id: str, text: str) -> Update:
    """The sender's edit of a message (within 15 minutes of it): new text, ``editedAt`` now."""
    message = _message_path(cid, message_id)
    return {f"{message}/text": check_text(text), f"{message}/editedAt": _now()}


def delete_message(cid: str, message_id: str) -> Update:
    """The sender's delete of a message: the tombstone, text removed and ``type: deleted``."""
    message = _message_path(cid, message_id)
    return {f"{message}/text": None, f"{message}/type": MessageType.DELETED.value}


def _message_path(cid: str, message_id: str) -> str:
    participants(cid)  # validates the conversation id
    return f"conversations/{cid}/messages/{check_message_id(message_id)}"


def combine(*updates: Mapping[str, Any]) -> Update:
    """Several updates as one atomic write (e.g. :func:`open_conversation` with the first
    :func:`send_message`); a later update wins on an equal path. Raises InvalidPathError when
    one path is below another, which a multi-path update cannot hold."""
    merged: Update = {}
    for update in updates:
        merged.update(update)
    keys = sorted(tuple(key.split("/")) for key in merged)
    for shorter, longer in pairwise(keys):
        if longer[: len(shorter)] == shorter:
            raise InvalidPathError(f"{'/'.join(shorter)} is above {'/'.join(longer)}")
    return merged
