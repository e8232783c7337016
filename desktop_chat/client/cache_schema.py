"""The local cache's tables, and its records as typed dicts: from the database's JSON and rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

import orjson

from desktop_chat.client.local_db import FileKind

__all__ = [
    "APPLICATION_ID",
    "CACHE",
    "CACHE_FILE",
    "CONVERSATION_COLUMNS",
    "MESSAGE_COLUMNS",
    "MIGRATIONS",
    "NOTIFICATION_COLUMNS",
    "SCHEMA_VERSION",
    "USER_COLUMNS",
    "CachedConversation",
    "CachedMessage",
    "CachedNotification",
    "CachedUser",
    "Cursor",
    "Draft",
    "conversation_from_row",
    "conversation_from_wire",
    "dump_json",
    "load_json",
    "message_from_row",
    "message_from_wire",
    "notification_from_row",
    "notification_from_wire",
    "user_from_row",
    "user_from_wire",
]

CACHE_FILE = "cache.sqlite3"
APPLICATION_ID = 0x44434343  # "DCCC": marks a SQLite file as a desktop_chat client cache
SCHEMA_VERSION = 1

_SCHEMA = (
    """CREATE TABLE conversations (
        cid TEXT PRIMARY KEY, other_id TEXT, other_name TEXT, other_photo TEXT,
        last_message TEXT, last_message_at INTEGER, unread_count INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX conversations_by_activity ON conversations (last_message_at DESC, cid)",
    """CREATE TABLE messages (
        cid TEXT NOT NULL, id TEXT NOT NULL, sender_id TEXT NOT NULL, receiver_id TEXT NOT NULL,
        text TEXT, timestamp INTEGER NOT NULL, read INTEGER NOT NULL, type TEXT NOT NULL,
        edited_at INTEGER, extra TEXT, PRIMARY KEY (cid, id))""",
    "CREATE INDEX messages_by_time ON messages (cid, timestamp, id)",
    """CREATE TABLE users (
        uid TEXT PRIMARY KEY, display_name TEXT, photo_url TEXT, role TEXT, extra TEXT)""",
    """CREATE TABLE notifications (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
        sender_id TEXT, created_at INTEGER NOT NULL, read INTEGER NOT NULL, link TEXT,
        extra TEXT)""",
    "CREATE INDEX notifications_by_time ON notifications (created_at DESC, id)",
    "CREATE TABLE drafts (cid TEXT PRIMARY KEY, text TEXT NOT NULL, updated_at INTEGER NOT NULL)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def _create(db: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        db.execute(statement)


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}
"""``MIGRATIONS[v]`` takes a cache from schema ``v`` to ``v + 1`` (none yet: schema 1 is the
first). Raise SCHEMA_VERSION with each new entry."""

CACHE = FileKind("cache", APPLICATION_ID, SCHEMA_VERSION, _create, MIGRATIONS)

Cursor = tuple[int, str]
"""A position in a conversation's history: a message's ``(timestamp, id)``."""


class CachedConversation(TypedDict):
    """One ``userConversations/{uid}/{cid}`` entry."""

    cid: str
    other_id: str | None
    other_name: str | None
    other_photo: str | None
    last_message: str | None
    last_message_at: int | None
    unread_count: int


class CachedMessage(TypedDict):
    """One ``conversations/{cid}/messages/{id}``; ``text`` is None for a tombstone, ``extra``
    holds every other field (a booking proposal's ``slot``)."""

    cid: str
    id: str
    sender_id: str
    receiver_id: str
    text: str | None
    timestamp: int
    read: bool
    type: str
    edited_at: int | None
    extra: dict[str, Any]


class CachedUser(TypedDict):
    """One ``users/{uid}`` profile."""

    uid: str
    display_name: str | None
    photo_url: str | None
    role: str | None
    extra: dict[str, Any]


class CachedNotification(TypedDict):
    """One ``notifications/{uid}/{id}``."""

    id: str
    kind: str
    title: str
    body: str
    sender_id: str | None
    created_at: int
    read: bool
    link: dict[str, Any] | None
    extra: dict[str, Any]


class Draft(TypedDict):
    """Text typed into a conversation and not sent yet."""

    cid: str
    text: str
    updated_at: int


def dump_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def load_json(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _extra(value: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    return {key: item for key, item in value.items() if key not in known}


def conversation_from_wire(cid: str, value: Mapping[str, Any]) -> CachedConversation:
    """A userConversations entry as the database sends it; missing or mistyped fields are None."""
    other = _mapping(value.get("otherUser"))
    return {
        "cid": cid,
        "other_id": _str(other.get("id")),
        "other_name": _str(other.get("name")),
        "other_photo": _str(other.get("photo")),
        "last_message": _str(value.get("lastMessage")),
        "last_message_at": _int(value.get("lastMessageAt")),
        "unread_count": max(0, _int(value.get("unreadCount")) or 0),
    }


_MESSAGE_FIELDS = frozenset(
    {"senderId", "receiverId", "text", "timestamp", "read", "type", "editedAt"}
)


def message_from_wire(cid: str, message_id: str, value: Mapping[str, Any]) -> CachedMessage:
    """A message as the database sends it; ValueError when it has no numeric timestamp or
    participants (it cannot be placed in the history)."""
    timestamp = _int(value.get("timestamp"))
    sender, receiver = _str(value.get("senderId")), _str(value.get("receiverId"))
    if timestamp is None or sender is None or receiver is None:
        raise ValueError(f"message {cid}/{message_id} lacks a timestamp or its participants")
    return {
        "cid": cid,
        "id": message_id,
        "sender_id": sender,
        "receiver_id": receiver,
        "text": _str(value.get("text")),
        "timestamp": timestamp,
        "read": value.get("read") is True,
        "type": _str(value.get("type")) or "text",
        "edited_at": _int(value.get("editedAt")),
        "extra": _extra(value, _MESSAGE_FIELDS),
    }


_USER_FIELDS = frozenset({"displayName", "photoURL", "role"})


def user_from_wire(uid: str, value: Mapping[str, Any]) -> CachedUser:
    return {
        "uid": uid,
        "display_name": _str(value.get("displayName")),
        "photo_url": _str(value.get("photoURL")),
        "role": _str(value.get("role")),
        "extra": _extra(value, _USER_FIELDS),
    }


_NOTIFICATION_FIELDS = frozenset({"kind", "title", "body", "senderId", "createdAt", "read", "link"})


def notification_from_wire(notification_id: str, value: Mapping[str, Any]) -> CachedNotification:
    link = value.get("link")
    return {
        "id": notification_id,
        "kind": _str(value.get("kind")) or "",
        "title": _str(value.get("title")) or "",
        "body": _str(value.get("body")) or "",
        "sender_id": _str(value.get("senderId")),
        "created_at": _int(value.get("createdAt")) or 0,
        "read": value.get("read") is True,
        "link": dict(link) if isinstance(link, Mapping) else None,
        "extra": _extra(value, _NOTIFICATION_FIELDS),
    }


CONVERSATION_COLUMNS = (
    "cid, other_id, other_name, other_photo, last_message, last_message_at, unread_count"
)
MESSAGE_COLUMNS = "cid, id, sender_id, receiver_id, text, timestamp, read, type, edited_at, extra"
USER_COLUMNS = "uid, display_name, photo_url, role, extra"
NOTIFICATION_COLUMNS = "id, kind, title, body, sender_id, created_at, read, link, extra"


def conversation_from_row(row: tuple[Any, ...]) -> CachedConversation:
    cid, other_id, other_name, other_photo, last_message, last_at, unread = row
    return {
        "cid": cid,
        "other_id": other_id,
        "other_name": other_name,
        "other_photo": other_photo,
        "last_message": last_message,
        "last_message_at": last_at,
        "unread_count": unread,
    }


def message_from_row(row: tuple[Any, ...]) -> CachedMessage:
    cid, message_id, sender, receiver, text, timestamp, read, kind, edited_at, extra = row
    return {
        "cid": cid,
        "id": message_id,
        "sender_id": sender,
        "receiver_id": receiver,
        "text": text,
        "timestamp": timestamp,
        "read": bool(read),
        "type": kind,
        "edited_at": edited_at,
        "extra": load_json(extra) or {},
    }


def user_from_row(row: tuple[Any, ...]) -> CachedUser:
    uid, name, photo, role, extra = row
    return {
        "uid": uid,
        "display_name": name,
        "photo_url": photo,
        "role": role,
        "extra": load_json(extra) or {},
    }


def notification_from_row(row: tuple[Any, ...]) -> CachedNotification:
    nid, kind, title, body, sender, created_at, read, link, extra = row
    return {
        "id": nid,
        "kind": kind,
        "title": title,
        "body": body,
        "sender_id": sender,
        "created_at": created_at,
        "read": bool(read),
        "link": load_json(link),
        "extra": load_json(extra) or {},
    }
