"""The conversation list as a Qt model: newest first, with exact row inserts, moves and changes."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from desktop_chat.core.model import ConversationEntry
from desktop_chat.ui.formatting import last_seen_text, now_ms, one_line, relative_time

__all__ = ["SKELETON_ROWS", "ConversationListModel", "Roles", "role_names"]

log = logging.getLogger("desktop_chat.ui")

SKELETON_ROWS = 6
"""Placeholder rows shown (and painted as skeletons) while the list is loading."""

_Index = QModelIndex | QPersistentModelIndex


def role_names(names: dict[int, QByteArray], roles: Iterable[IntEnum]) -> dict[int, QByteArray]:
    """*names* (Qt's) with each of *roles* named in camelCase (``LastSeen`` -> ``lastSeen``)."""
    for role in roles:
        names[int(role)] = QByteArray((role.name[0].lower() + role.name[1:]).encode())
    return names


class Roles(IntEnum):
    ConversationId = Qt.ItemDataRole.UserRole + 1
    Entry = Qt.ItemDataRole.UserRole + 2
    Online = Qt.ItemDataRole.UserRole + 3
    LastSeen = Qt.ItemDataRole.UserRole + 4
    Typing = Qt.ItemDataRole.UserRole + 5
    Unread = Qt.ItemDataRole.UserRole + 6


def _key(entry: ConversationEntry) -> tuple[int, int, str]:
    """Sort key: newest ``lastMessageAt`` first, conversations without a message last."""
    at = entry.last_message_at
    return (0, -at, entry.conversation_id) if at is not None else (1, 0, entry.conversation_id)


class ConversationListModel(QAbstractListModel):
    """Rows of :class:`ConversationEntry`; presence and typing are kept beside them.

    While :attr:`loading` is True the model shows :data:`SKELETON_ROWS` disabled placeholder
    rows (``Roles.Entry`` is None, :meth:`entry` returns None) that the delegate paints as
    skeletons; entries upserted meanwhile are kept and appear when loading ends."""

    loadingChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None, *, now: Callable[[], int] = now_ms) -> None:
        super().__init__(parent)
        self._now = now
        self._entries: list[ConversationEntry] = []
        self._keys: list[tuple[int, int, str]] = []
        self._by_cid: dict[str, ConversationEntry] = {}
        self._presence: dict[str, tuple[bool, int | None]] = {}
        self._typing: dict[str, set[str]] = {}
        self._loading = False

    # reading -----------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid():
            return 0
        return SKELETON_ROWS if self._loading else len(self._entries)

    def roleNames(self) -> dict[int, QByteArray]:
        return role_names(super().roleNames(), Roles)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid() or self._loading:
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def row_of(self, cid: str) -> int | None:
        """The row showing *cid*, or None."""
        entry = self._by_cid.get(cid)
        if entry is None or self._loading:
            return None
        return bisect.bisect_left(self._keys, _key(entry))

    def entry(self, row: int) -> ConversationEntry | None:
        """The entry shown at *row* (None: no such row, or a loading placeholder)."""
        if self._loading or not 0 <= row < len(self._entries):
            return None
        return self._entries[row]

    def entries(self) -> list[ConversationEntry]:
        """Every entry, in display order."""
        return list(self._entries)

    def presence(self, uid: str) -> tuple[bool, int | None]:
        """(online, last seen ms) of *uid* as last told; (False, None) when unknown."""
        return self._presence.get(uid, (False, None))

    def is_typing(self, cid: str) -> bool:
        return bool(self._typing.get(cid))

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        entry = self.entry(index.row()) if index.isValid() else None
        if entry is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.other_user_name or "Unknown user"
        if role == Roles.ConversationId:
            return entry.conversation_id
        if role == Roles.Entry:
            return entry
        if role == Roles.Online:
            return self.presence(entry.other_user_id)[0]
        if role == Roles.LastSeen:
            return self.presence(entry.other_user_id)[1]
        if role == Roles.Typing:
            return self.is_typing(entry.conversation_id)
        if role == Roles.Unread:
            return entry.unread_count
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self._spoken(entry)
        if role == Qt.ItemDataRole.AccessibleDescriptionRole:
            return self._state(entry)
        if role == Qt.ItemDataRole.ToolTipRole:
            return entry.last_message or None
        return None

    def _spoken(self, entry: ConversationEntry) -> str:
        parts = [entry.other_user_name or "Unknown user"]
        if entry.unread_count:
            parts.append(f"{entry.unread_count} unread")
        if self.is_typing(entry.conversation_id):
            parts.append("typing")
        if entry.last_message:
            parts.append(f"last message: {one_line(entry.last_message)}")
        if entry.last_message_at is not None:
            parts.append(relative_time(entry.last_message_at, self._now()))
        return ", ".join(parts)

    def _state(self, entry: ConversationEntry) -> str:
        if self.is_typing(entry.conversation_id):
            return "typing"
        online, last_seen = self.presence(entry.other_user_id)
        return last_seen_text(online, last_seen, self._now())

    # loading -----------------------------------------------------------------------------
    @property
    def loading(self) -> bool:
        """True: the list is being fetched; skeleton rows are shown."""
        return self._loading

    @loading.setter
    def loading(self, value: bool) -> None:
        if value == self._loading:
            return
        self.beginResetModel()
        self._loading = value
        self.endResetModel()
        self.loadingChanged.emit(value)

    def load(self, entries: Iterable[ConversationEntry]) -> None:
        """The first fill (one reset); ends :attr:`loading`."""
        unique = {entry.conversation_id: entry for entry in entries}
        was_loading = self._loading
        self.beginResetModel()
        self._entries = sorted(unique.values(), key=_key)
        self._keys = [_key(entry) for entry in self._entries]
        self._by_cid = dict(unique)
        self._loading = False
        self.endResetModel()
        if was_loading:
            self.loadingChanged.emit(False)

    # changing ----------------------------------------------------------------------------
    def upsert(self, entry: ConversationEntry) -> None:
        """Insert *entry* at its place, or change its row in place, moving the row when its
        ``lastMessageAt`` moved it."""
        cid = entry.conversation_id
        old = self._by_cid.get(cid)
        if old == entry:
            return
        self._by_cid[cid] = entry
        if old is None:
            row = bisect.bisect_left(self._keys, _key(entry))
            self._silently(self.beginInsertRows, QModelIndex(), row, row)
            self._entries.insert(row, entry)
            self._keys.insert(row, _key(entry))
            self._silently(self.endInsertRows)
            return
        row = bisect.bisect_left(self._keys, _key(old))
        del self._entries[row], self._keys[row]
        new_row = bisect.bisect_left(self._keys, _key(entry))
        if new_row != row:
            # beginMoveRows counts the destination before the row leaves.
            destination = new_row if new_row < row else new_row + 1
            self._entries.insert(row, old)  # back, for the duration of the begin call
            self._keys.insert(row, _key(old))
            self._silently(self.beginMoveRows, QModelIndex(), row, row, QModelIndex(), destination)
            del self._entries[row], self._keys[row]
        self._entries.insert(new_row, entry)
        self._keys.insert(new_row, _key(entry))
        if new_row != row:
            self._silently(self.endMoveRows)
        self._changed(new_row)

    def remove(self, cid: str) -> None:
        """Drop *cid*'s row (the conversation went away, or its user was blocked)."""
        entry = self._by_cid.pop(cid, None)
        self._typing.pop(cid, None)
        if entry is None:
            return
        row = bisect.bisect_left(self._keys, _key(entry))
        self._silently(self.beginRemoveRows, QModelIndex(), row, row)
        del self._entries[row], self._keys[row]
        self._silently(self.endRemoveRows)

    def set_presence(self, uid: str, online: bool, last_seen: int | None) -> None:
        """*uid* came online or went offline: repaint its rows only."""
        seen = None if last_seen is None or last_seen < 0 else last_seen
        if self._presence.get(uid) == (online, seen):
            return
        self._presence[uid] = (online, seen)
        for row, entry in enumerate(self._entries):
            if entry.other_user_id == uid:
                self._changed(row, [Roles.Online, Roles.LastSeen])

    def set_typing(self, cid: str, uid: str, typing: bool) -> None:
        """*uid* started or stopped typing in *cid*: repaint that row only."""
        typers = self._typing.setdefault(cid, set())
        was = bool(typers)
        if typing:
            typers.add(uid)
        else:
            typers.discard(uid)
        if not typers:
            del self._typing[cid]
        row = self.row_of(cid)
        if row is not None and was != bool(typers):
            self._changed(row, [Roles.Typing])

    def refresh_times(self) -> None:
        """Repaint every row's relative time ("5 min ago"); call once a minute."""
        if self._entries and not self._loading:
            top, bottom = self.index(0), self.index(len(self._entries) - 1)
            self.dataChanged.emit(top, bottom, [Qt.ItemDataRole.AccessibleTextRole])

    def _changed(self, row: int, roles: list[int] | None = None) -> None:
        if self._loading:
            return
        index = self.index(row)
        self.dataChanged.emit(index, index, [int(role) for role in roles or []])

    def _silently(self, call: Callable[..., Any], *args: Any) -> None:
        """Row signals are not sent while placeholders are shown (the rows do not exist)."""
        if not self._loading:
            call(*args)
