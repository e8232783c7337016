"""My notifications as a Qt model: newest first, with exact row inserts and changes."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
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

from desktop_chat.core.model import Notification, NotificationKind
from desktop_chat.ui.conversation_model import role_names
from desktop_chat.ui.formatting import now_ms, one_line, relative_time

__all__ = ["KIND_NAMES", "NotificationListModel", "NotificationRoles", "badge_count"]

log = logging.getLogger("desktop_chat.ui")

_Index = QModelIndex | QPersistentModelIndex

KIND_NAMES = {
    NotificationKind.BOOKING_REQUEST: "Booking request",
    NotificationKind.BOOKING_CONFIRMED: "Booking confirmed",
    NotificationKind.MESSAGE: "Message",
    NotificationKind.REVIEW: "Review",
    NotificationKind.PAYMENT: "Payment",
    NotificationKind.SESSION_REMINDER: "Session reminder",
}
"""What a screen reader says a notification is."""


def badge_count(unread: int) -> str:
    """The bell's badge: the count, "9+" above nine ("" for none)."""
    if unread <= 0:
        return ""
    return "9+" if unread > 9 else str(unread)


class NotificationRoles(IntEnum):
    NotificationId = Qt.ItemDataRole.UserRole + 1
    Notification = Qt.ItemDataRole.UserRole + 2
    Kind = Qt.ItemDataRole.UserRole + 3
    Read = Qt.ItemDataRole.UserRole + 4
    Time = Qt.ItemDataRole.UserRole + 5
    """The relative time, "5 min ago"."""


def _key(item: Notification) -> tuple[int, str]:
    """Newest ``createdAt`` first; the id breaks ties."""
    return (-item.created_at, item.id)


def _read(item: Notification) -> Notification:
    return replace(item, read=True)


class NotificationListModel(QAbstractListModel):
    """Rows of :class:`Notification`, newest first: :meth:`load` once (a reset), then
    :meth:`add` (one ``rowsInserted``) and :meth:`change` (``dataChanged`` on that row).
    Read is final: a late copy of an unread state does not highlight a row again."""

    unreadChanged = Signal(int)

    def __init__(self, parent: QObject | None = None, *, now: Callable[[], int] = now_ms) -> None:
        super().__init__(parent)
        self._now = now
        self._items: list[Notification] = []
        self._keys: list[tuple[int, str]] = []
        self._unread = 0

    # reading -----------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def roleNames(self) -> dict[int, QByteArray]:
        return role_names(super().roleNames(), NotificationRoles)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.title
        if role == NotificationRoles.NotificationId:
            return item.id
        if role == NotificationRoles.Notification:
            return item
        if role == NotificationRoles.Kind:
            return item.kind
        if role == NotificationRoles.Read:
            return item.read
        if role == NotificationRoles.Time:
            return relative_time(item.created_at, self._now())
        if role == Qt.ItemDataRole.ToolTipRole:
            return item.body or item.title
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self.spoken(item)
        if role == Qt.ItemDataRole.AccessibleDescriptionRole:
            return "Opens what it is about and marks it read"
        return None

    def spoken(self, item: Notification) -> str:
        """What a screen reader says for a row: "Unread, Message: Ann, hi there, 5 min ago"."""
        parts = ["" if item.read else "Unread", f"{KIND_NAMES[item.kind]}: {item.title}"]
        parts += [one_line(item.body), relative_time(item.created_at, self._now())]
        return ", ".join(part for part in parts if part)

    @property
    def unread(self) -> int:
        """How many rows are unread."""
        return self._unread

    def row_of(self, nid: str) -> int | None:
        for row, item in enumerate(self._items):
            if item.id == nid:
                return row
        return None

    def notification(self, row: int) -> Notification | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    # changing ----------------------------------------------------------------------------
    def load(self, items: Iterable[Notification]) -> None:
        """The whole list (the cached notifications): one reset. A row already read here
        stays read."""
        read = {item.id for item in self._items if item.read}
        fresh = {item.id: item for item in items}
        rows = [
            item if item.read or nid not in read else _read(item) for nid, item in fresh.items()
        ]
        rows.sort(key=_key)
        self.beginResetModel()
        self._items = rows
        self._keys = [_key(item) for item in rows]
        self.endResetModel()
        self._count()

    def add(self, item: Notification) -> None:
        """A new notification: inserted at its place; one already listed is changed."""
        if self.row_of(item.id) is not None:
            self.change(item)
            return
        key = _key(item)
        row = bisect.bisect_left(self._keys, key)
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.insert(row, item)
        self._keys.insert(row, key)
        self.endInsertRows()
        self._count()

    def change(self, item: Notification) -> None:
        """A listed notification changed (it was read): ``dataChanged`` on its row only."""
        row = self.row_of(item.id)
        if row is None:
            self.add(item)
            return
        old = self._items[row]
        if old.read and not item.read:
            item = _read(item)
        if old == item:
            return
        self._items[row] = item
        index = self.index(row)
        self.dataChanged.emit(index, index, [])
        self._count()

    def refresh_times(self) -> None:
        """Repaint every row's relative time; call once a minute (or when shown)."""
        if self._items:
            top, bottom = self.index(0), self.index(len(self._items) - 1)
            roles = [int(NotificationRoles.Time), int(Qt.ItemDataRole.AccessibleTextRole)]
            self.dataChanged.emit(top, bottom, roles)

    def _count(self) -> None:
        unread = sum(not item.read for item in self._items)
        if unread != self._unread:
            self._unread = unread
            self.unreadChanged.emit(unread)
