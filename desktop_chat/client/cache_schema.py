"""The local cache's tables, and core.model's records as its rows and back."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypedDict

import orjson

from desktop_chat.client.local_db import FileKind
from desktop_chat.core.model import (
    ConversationEntry,
    Link,
    Message,
    MessageType,
    Notification,
    NotificationKind,
    Role,
    Slot,
    UserProfile,
)

__all__ = [
    "APPLICATION_ID",
    "CACHE",
    "CACHE_FILE",
    "CONVERSATION_COLUMNS",
    "MESSAGE_COLUMNS",
    "MIGRATIONS",
    "NOTIFICATION_COLUMNS",
    "SCHEMA_VERSION",
    "UPSERT_CONVERSATION",
    "UPSERT_MESSAGE",
    "UPSERT_NOTIFICATION",
    "UPSERT_USER",
    "USER_COLUMNS",
    "Cursor",
    "Draft",
    "conversation_from_row",
    "conversation_row",
    "dump_json",
    "load_json",
    "message_from_row",
    "message_row",
    "notification_from_row",
    "notification_row",
    "user_from_row",
    "user_row",
]

CACHE_FILE = "cache.sqlite3"
APPLICATION_ID = 0x44434343  # "DCCC": marks a SQLite file as a desktop_chat client cache
SCHEMA_VERSION = 3

_RECORD_TABLES = ("conversations", "messages", "users", "notifications")
_RECORD_SCHEMA = (
    """CREATE TABLE conversations (
        cid TEXT PRIMARY KEY, other_id TEXT NOT NULL, other_name TEXT NOT NULL, other_photo TEXT,
        last_message TEXT, last_message_at INTEGER, unread_count INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX conversations_by_activity ON conversations (last_message_at DESC, cid)",
    """CREATE TABLE messages (
        cid TEXT NOT NULL, id TEXT NOT NULL, sender_id TEXT NOT NULL, receiver_id TEXT NOT NULL,
        text TEXT, timestamp INTEGER NOT NULL, read INTEGER NOT NULL, type TEXT NOT NULL,
        edited_at INTEGER, slot TEXT, PRIMARY KEY (cid, id))""",
    "CREATE INDEX messages_by_time ON messages (cid, timestamp, id)",
    """CREATE TABLE users (
        uid TEXT PRIMARY KEY, display_name TEXT NOT NULL, photo_url TEXT, role TEXT NOT NULL)""",
    """CREATE TABLE notifications (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, title TEXT NOT NULL, body TEXT,
        sender_id TEXT, created_at INTEGER NOT NULL, read INTEGER NOT NULL, link TEXT)""",
    "CREATE INDEX notifications_by_time ON notifications (created_at DESC, id)",
)
_SEARCH_SCHEMA = (
    # Full-text search over the cached messages' text (an external-content FTS5 index that
    # triggers keep in step with the messages table).
    """CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages',
        content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.text IS NOT NULL
        BEGIN INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, new.text); END""",
    """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.text IS NOT NULL
        BEGIN INSERT INTO messages_fts (messages_fts, rowid, text)
            VALUES ('delete', old.rowid, old.text); END""",
    """CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
        WHEN old.text IS NOT new.text BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, text)
                SELECT 'delete', old.rowid, old.text WHERE old.text IS NOT NULL;
            INSERT INTO messages_fts (rowid, text)
                SELECT new.rowid, new.text WHERE new.text IS NOT NULL;
        END""",
)
_SCHEMA = (
    *_RECORD_SCHEMA,
    *_SEARCH_SCHEMA,
    "CREATE TABLE drafts (cid TEXT PRIMARY KEY, text TEXT NOT NULL, updated_at INTEGER NOT NULL)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def _create(db: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        db.execute(statement)


def _records_as_core_model(db: sqlite3.Connection) -> None:
    """Schema 1 to 2: records became core.model's, so the copies (and the sync markers that
    vouch for them) go and are fetched again; drafts stay."""
    for table in _RECORD_TABLES:
        db.execute(f"DROP TABLE {table}")
    db.execute("DELETE FROM meta")
    for statement in _RECORD_SCHEMA:
        db.execute(statement)


def _add_search(db: sqlite3.Connection) -> None:
    """Schema 2 to 3: full-text search over the cached messages, indexed from what is there."""
    for statement in _SEARCH_SCHEMA:
        db.execute(statement)
    db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _records_as_core_model,
    2: _add_search,
}
"""``MIGRATIONS[v]`` takes a cache from schema ``v`` to ``v + 1``. Raise SCHEMA_VERSION with
each new entry."""

CACHE = FileKind("cache", APPLICATION_ID, SCHEMA_VERSION, _create, MIGRATIONS)

Cursor = tuple[int, str]
"""A position in a conversation's history: a message's ``(timestamp, id)``."""


class Draft(TypedDict):
    """Text typed into a conversation and not sent yet."""

    cid: str
    text: str
    updated_at: int


def dump_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def load_json(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)


CONVERSATION_COLUMNS = (
    "cid, other_id, other_name, other_photo, last_message, last_message_at, unread_count"
)
MESSAGE_COLUMNS = "cid, id, sender_id, receiver_id, text, timestamp, read, type, edited_at, slot"
USER_COLUMNS = "uid, display_name, photo_url, role"
NOTIFICATION_COLUMNS = "id, kind, title, body, sender_id, created_at, read, link"


def conversation_row(entry: ConversationEntry) -> dict[str, Any]:
    return {
        "cid": entry.conversation_id,
        "other_id": entry.other_user_id,
        "other_name": entry.other_user_name,
        "other_photo": entry.other_user_photo,
        "last_message": entry.last_message,
        "last_message_at": entry.last_message_at,
        "unread_count": entry.unread_count,
    }


def conversation_from_row(row: tuple[Any, ...]) -> ConversationEntry:
    cid, other_id, other_name, other_photo, last_message, last_at, unread = row
    return ConversationEntry(cid, other_id, other_name, other_photo, last_message, last_at, unread)


def message_row(message: Message) -> dict[str, Any]:
    return {
        "cid": message.conversation_id,
        "id": message.id,
        "sender_id": message.sender_id,
        "receiver_id": message.receiver_id,
        "text": message.text,
        "timestamp": message.timestamp,
        "read": message.read,
        "type": message.type.value,
        "edited_at": message.edited_at,
        "slot": None if message.slot is None else dump_json(message.slot.to_record()),
    }


def message_from_row(row: tuple[Any, ...]) -> Message:
    cid, message_id, sender, receiver, text, timestamp, read, kind, edited_at, slot = row
    return Message(
        message_id,
        cid,
        sender,
        receiver,
        text,
        timestamp,
        bool(read),
        MessageType(kind),
        edited_at,
        None if slot is None else _slot(load_json(slot)),
    )


def _slot(record: dict[str, str]) -> Slot:
    return Slot(record["skillId"], record["date"], record["slotId"])


def user_row(user: UserProfile) -> dict[str, Any]:
    return {
        "uid": user.uid,
        "display_name": user.display_name,
        "photo_url": user.photo_url,
        "role": user.role.value,
    }


def user_from_row(row: tuple[Any, ...]) -> UserProfile:
    uid, name, photo, role = row
    return UserProfile(uid, name, Role(role), photo)


def notification_row(notification: Notification) -> dict[str, Any]:
    link = notification.link
    return {
        "id": notification.id,
        "kind": notification.kind.value,
        "title": notification.title,
        "body": notification.body,
        "sender_id": notification.sender_id,
        "created_at": notification.created_at,
        "read": notification.read,
        "link": None if link is None else dump_json(link.to_record()),
    }


def notification_from_row(row: tuple[Any, ...]) -> Notification:
    nid, kind, title, body, sender, created_at, read, link = row
    return Notification(
        nid,
        NotificationKind(kind),
        title,
        body,
        sender,
        created_at,
        bool(read),
        None if link is None else _link(load_json(link)),
    )


def _link(record: dict[str, str]) -> Link:
    return Link(record.get("conversationId"), record.get("bookingId"), record.get("skillId"))


UPSERT_CONVERSATION = f"""INSERT INTO conversations ({CONVERSATION_COLUMNS})
    VALUES (:cid, :other_id, :other_name, :other_photo, :last_message, :last_message_at,
            :unread_count)
    ON CONFLICT (cid) DO UPDATE SET other_id = excluded.other_id,
        other_name = excluded.other_name, other_photo = excluded.other_photo,
        last_message = excluded.last_message, last_message_at = excluded.last_message_at,
        unread_count = excluded.unread_count"""

# The rules make `read` go only false -> true and a tombstone final: a stale copy never undoes them.
UPSERT_MESSAGE = f"""INSERT INTO messages ({MESSAGE_COLUMNS})
    VALUES (:cid, :id, :sender_id, :receiver_id, :text, :timestamp, :read, :type, :edited_at,
            :slot)
    ON CONFLICT (cid, id) DO UPDATE SET sender_id = excluded.sender_id,
        receiver_id = excluded.receiver_id, timestamp = excluded.timestamp,
        read = max(read, excluded.read),
        text = CASE WHEN type = 'deleted' THEN NULL ELSE excluded.text END,
        type = CASE WHEN type = 'deleted' THEN 'deleted' ELSE excluded.type END,
        edited_at = excluded.edited_at, slot = excluded.slot"""

UPSERT_USER = f"""INSERT OR REPLACE INTO users ({USER_COLUMNS})
    VALUES (:uid, :display_name, :photo_url, :role)"""

UPSERT_NOTIFICATION = f"""INSERT OR REPLACE INTO notifications ({NOTIFICATION_COLUMNS})
    VALUES (:id, :kind, :title, :body, :sender_id, :created_at, :read, :link)"""
