"""One conversation's history as a Qt model: oldest first, exact row inserts, paging upwards."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import Any, NamedTuple

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from desktop_chat.core.model import DeliveryState, Message, MessageType, delivery_of
from desktop_chat.ui.conversation_model import role_names
from desktop_chat.ui.formatting import clock, day_label, local_date, now_ms

__all__ = ["MessageListModel", "MessageRoles", "RowData"]

log = logging.getLogger("desktop_chat.ui")

_Index = QModelIndex | QPersistentModelIndex
_Key = tuple[int, str]


class MessageRoles(IntEnum):
    """The model's roles. ``Delivery`` holds a :class:`DeliveryState` (a StrEnum, which reaches
    Python through Qt as its plain ``str`` value: compare with ``==`` or wrap it in
    ``DeliveryState(...)``), or None for the other participant's messages."""

    MessageId = Qt.ItemDataRole.UserRole + 1
    Message = Qt.ItemDataRole.UserRole + 2
    Own = Qt.ItemDataRole.UserRole + 3
    Delivery = Qt.ItemDataRole.UserRole + 4
    DayBreak = Qt.ItemDataRole.UserRole + 5
    Edited = Qt.ItemDataRole.UserRole + 6
    Deleted = Qt.ItemDataRole.UserRole + 7
    DeliveryError = Qt.ItemDataRole.UserRole + 8
    Version = Qt.ItemDataRole.UserRole + 9
    """Grows each time the message's content changes (the delegate's cache key)."""


Roles = MessageRoles


class RowData(NamedTuple):
    """What the delegate needs of a row, in one call."""

    message: Message
    own: bool
    day_break: str
    version: int
    delivery: DeliveryState | None


class MessageListModel(QAbstractListModel):
    """The messages of one conversation in ``(timestamp, id)`` order. Rows live in a sorted
    list of keys beside a dict by id, so finding a row is a bisection: O(log n).

    *fetch_older* (the bridge's ``load_older`` bound to the conversation) is called with the
    oldest message id by :meth:`fetchMore`; :meth:`finish_fetch` re-arms it. Optionally
    :attr:`fetch_allowed` gates :meth:`canFetchMore` (QListView asks for more whenever its
    *last* row is visible, which in a chat is the newest one; gate it on the scroll position)."""

    def __init__(
        self,
        me: str,
        fetch_older: Callable[[str | None], None] | None = None,
        parent: QObject | None = None,
        *,
        now: Callable[[], int] = now_ms,
    ) -> None:
        super().__init__(parent)
        self.me = me
        self.other_name = ""
        """The other participant's name, for screen readers ("Ann, 14:05: ...")."""
        self.fetch_allowed: Callable[[], bool] | None = None
        self.keep_latest: Callable[[], int | None] | None = None
        """How many rows to keep while new ones arrive at the end (None: all); see
        :meth:`let_go_of_oldest`. The view says: a number while it follows the newest."""
        self._fetch_older = fetch_older
        self._now = now
        self._cid: str | None = None
        self._keys: list[_Key] = []
        self._messages: dict[str, Message] = {}
        self._delivery: dict[str, tuple[DeliveryState, str | None]] = {}
        self._versions: dict[str, int] = {}
        self._fetching = False
        self._at_beginning = False

    @property
    def conversation_id(self) -> str | None:
        return self._cid

    @property
    def at_beginning(self) -> bool:
        """True once paging reached the conversation's first message."""
        return self._at_beginning

    # reading -----------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._keys)

    def roleNames(self) -> dict[int, QByteArray]:
        return role_names(super().roleNames(), MessageRoles)

    def row_of(self, mid: str) -> int | None:
        """The row of message *mid*, or None."""
        message = self._messages.get(mid)
        return None if message is None else bisect.bisect_left(self._keys, message.order)

    def message(self, row: int) -> Message | None:
        if not 0 <= row < len(self._keys):
            return None
        return self._messages[self._keys[row][1]]

    def messages(self) -> list[Message]:
        """Every message, oldest first."""
        return [self._messages[mid] for _, mid in self._keys]

    def day_break(self, row: int) -> str:
        """The day label when *row* starts a new day (the first row always does), else ""."""
        timestamp = self._keys[row][0]
        if row > 0 and local_date(self._keys[row - 1][0]) == local_date(timestamp):
            return ""
        return day_label(timestamp, self._now())

    def delivery(self, message: Message) -> DeliveryState | None:
        """Where my *message* is (None for the other participant's)."""
        if message.sender_id != self.me:
            return None
        if message.read:
            return DeliveryState.READ
        told = self._delivery.get(message.id)
        return told[0] if told is not None else delivery_of(message)

    def size_key(self, row: int) -> tuple[str, int, bool]:
        """(id, version, starts a day) of *row*: what a row's height depends on."""
        if row < 0:
            raise IndexError(row)
        timestamp, mid = self._keys[row]
        starts_day = row == 0 or local_date(self._keys[row - 1][0]) != local_date(timestamp)
        return mid, self._versions.get(mid, 0), starts_day

    def row_data(self, row: int) -> RowData:
        """Message, own, day break, version and delivery of *row* (the delegate's fast path);
        IndexError when there is no such row."""
        if row < 0:
            raise IndexError(row)
        message = self._messages[self._keys[row][1]]
        return RowData(
            message,
            message.sender_id == self.me,
            self.day_break(row),
            self._versions.get(message.id, 0),
            self.delivery(message),
        )

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        message = self.message(index.row()) if index.isValid() else None
        if message is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return message.text or ""
        if role == MessageRoles.MessageId:
            return message.id
        if role == MessageRoles.Message:
            return message
        if role == MessageRoles.Own:
            return message.sender_id == self.me
        if role == MessageRoles.Delivery:
            return self.delivery(message)
        if role == MessageRoles.DayBreak:
            return self.day_break(index.row())
        if role == MessageRoles.Edited:
            return message.edited_at is not None and not message.deleted
        if role == MessageRoles.Deleted:
            return message.deleted
        if role == MessageRoles.DeliveryError:
            told = self._delivery.get(message.id)
            return told[1] if told is not None else None
        if role == MessageRoles.Version:
            return self._versions.get(message.id, 0)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self._spoken(message)
        if role == Qt.ItemDataRole.ToolTipRole:
            told = self._delivery.get(message.id)
            if told is not None and told[0] is DeliveryState.FAILED:
                return f"Not sent: {told[1] or 'unknown error'}"
            return None
        if role == Qt.ItemDataRole.AccessibleDescriptionRole:
            state = self.delivery(message)
            return "" if state is None else state.value
        return None

    def _spoken(self, message: Message) -> str:
        who = "You" if message.sender_id == self.me else (self.other_name or "They")
        if message.deleted:
            body = "message deleted"
        elif message.type is MessageType.BOOKING_PROPOSAL:
            body = f"booking proposal: {message.text or ''}"
        else:
            body = message.text or ""
        text = f"{who}, {clock(message.timestamp)}: {body}"
        if message.edited_at is not None and not message.deleted:
            text += " (edited)"
        state = self.delivery(message)
        return text if state is None else f"{text}. {state.value.capitalize()}"

    # filling -----------------------------------------------------------------------------
    def reset_to(self, cid: str, messages: Iterable[Message]) -> None:
        """Show conversation *cid* (one reset): its latest page of messages."""
        self.beginResetModel()
        self._cid = cid
        self._messages = {m.id: m for m in messages if m.conversation_id == cid}
        self._keys = sorted(m.order for m in self._messages.values())
        self._delivery.clear()
        self._versions.clear()
        self._fetching = False
        self._at_beginning = False
        self.endResetModel()

    def add(self, message: Message) -> None:
        """A new message: one row inserted at its ``(timestamp, id)`` place (a message
        already shown is a :meth:`change`). Other conversations' messages are ignored."""
        if self._cid is not None and message.conversation_id != self._cid:
            return
        if message.id in self._messages:
            self.change(message)
            return
        key = message.order
        row = bisect.bisect_left(self._keys, key)
        before = self._breaks([row])
        self.beginInsertRows(QModelIndex(), row, row)
        self._keys.insert(row, key)
        self._messages[message.id] = message
        self.endInsertRows()
        self._breaks_changed(before)
        keep = self.keep_latest() if self.keep_latest is not None else None
        if keep is not None and row == len(self._keys) - 1 and len(self._keys) > keep * 3 // 2:
            self.let_go_of_oldest(keep)

    def change(self, message: Message) -> None:
        """A known message changed (edited, deleted, read, or its server timestamp): that row
        only, moved if its timestamp moved it. An unknown one is added unless it belongs to
        history not loaded yet."""
        if self._cid is not None and message.conversation_id != self._cid:
            return
        old = self._messages.get(message.id)
        if old == message:
            return  # nothing new (every dataChanged costs a QListView a layout pass)
        if old is None:
            older = bool(self._keys) and message.order < self._keys[0]
            if not older or self._at_beginning:
                self.add(message)
            return
        row = bisect.bisect_left(self._keys, old.order)
        before: dict[str, str] = {}
        if old.order != message.order:
            before, row = self._move(row, old, message)
        self._messages[message.id] = message
        roles: list[int] = []
        if _content(old) == _content(message):  # only ``read``: the ticks and the words
            roles = [int(MessageRoles.Message), int(MessageRoles.Delivery)]
            roles.append(int(Qt.ItemDataRole.AccessibleTextRole))
        else:
            self._versions[message.id] = self._versions.get(message.id, 0) + 1
        index = self.index(row)
        self.dataChanged.emit(index, index, roles)
        self._breaks_changed(before)

    def _move(self, row: int, old: Message, new: Message) -> tuple[dict[str, str], int]:
        """Re-key the message at *row* to *new*'s order (a row move if it moves); the day
        separators of its old and new followers before the move, and its new row."""
        del self._keys[row]
        new_row = bisect.bisect_left(self._keys, new.order)
        self._keys.insert(row, old.order)
        if new_row == row:
            self._keys[row] = new.order
            return self._breaks([row, row + 1]), row
        before = self._breaks([row + 1, new_row + (new_row > row)])
        destination = new_row if new_row < row else new_row + 1
        self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), destination)
        del self._keys[row]
        self._keys.insert(new_row, new.order)
        self.endMoveRows()
        return before, new_row

    def set_delivery(self, mid: str, state: DeliveryState, error: str | None = None) -> None:
        """My message *mid* moved (pending, sent, read, failed): that row's dataChanged only."""
        row = self.row_of(mid)
        if row is None:
            return
        if self._delivery.get(mid) == (state, error):
            return
        self._delivery[mid] = (state, error)
        index = self.index(row)
        roles = [int(MessageRoles.Delivery), int(MessageRoles.DeliveryError)]
        roles.append(int(Qt.ItemDataRole.AccessibleTextRole))
        self.dataChanged.emit(index, index, roles)

    def prepend(self, older: Iterable[Message]) -> None:
        """Older history: one insert at the top (messages not older than the oldest shown,
        or already shown, are added one by one, or skipped)."""
        fresh = {m.id: m for m in older if m.id not in self._messages}
        if self._cid is not None:
            fresh = {mid: m for mid, m in fresh.items() if m.conversation_id == self._cid}
        first = self._keys[0] if self._keys else None
        top = sorted(m.order for m in fresh.values() if first is None or m.order < first)
        if top:
            before = self._breaks([0])
            self.beginInsertRows(QModelIndex(), 0, len(top) - 1)
            self._keys[0:0] = top
            for _, mid in top:
                self._messages[mid] = fresh[mid]
            self.endInsertRows()
            self._breaks_changed(before)
        for mid, message in fresh.items():
            if mid not in self._messages:
                self.add(message)

    def let_go_of_oldest(self, keep: int) -> int:
        """Keep only the newest *keep* rows (one remove at the top): a view following a busy
        conversation lays out every row on each insert, so rows scrolled far away are let go
        of (paging brings them back). Not while a page is being fetched: it would leave a
        gap. How many rows went."""
        count = len(self._keys) - keep
        if count <= 0 or self._fetching:
            return 0
        self.beginRemoveRows(QModelIndex(), 0, count - 1)
        gone = self._keys[:count]
        del self._keys[:count]
        for _, mid in gone:
            del self._messages[mid]
            self._delivery.pop(mid, None)
            self._versions.pop(mid, None)
        self._at_beginning = False
        self.endRemoveRows()
        if self._keys:  # the new first row always starts a day
            first = self.index(0)
            self.dataChanged.emit(first, first, [int(MessageRoles.DayBreak)])
        return count

    # paging ------------------------------------------------------------------------------
    def canFetchMore(self, parent: _Index) -> bool:
        if parent.isValid() or self._fetch_older is None or self._cid is None:
            return False
        if self._fetching or self._at_beginning:
            return False
        return self.fetch_allowed is None or self.fetch_allowed()

    def fetchMore(self, parent: _Index) -> None:
        if not self.canFetchMore(parent):
            return
        assert self._fetch_older is not None
        self._fetching = True
        oldest = self._keys[0][1] if self._keys else None
        self._fetch_older(oldest)

    def finish_fetch(self, count: int) -> None:
        """The older page arrived (*count* messages; 0: the beginning was reached)."""
        self._fetching = False
        if count == 0:
            self._at_beginning = True

    # helpers -----------------------------------------------------------------------------
    def _breaks(self, rows: Iterable[int]) -> dict[str, str]:
        """The day separators of the messages at *rows* now, by id (to compare after)."""
        count = len(self._keys)
        return {self._keys[row][1]: self.day_break(row) for row in rows if 0 <= row < count}

    def _breaks_changed(self, before: dict[str, str]) -> None:
        """dataChanged(DayBreak) for the messages whose separator came or went."""
        for mid, label in before.items():
            row = self.row_of(mid)
            if row is not None and bool(self.day_break(row)) != bool(label):
                index = self.index(row)
                self.dataChanged.emit(index, index, [int(MessageRoles.DayBreak)])


def _content(message: Message) -> tuple[Any, ...]:
    """What changes a bubble's size or text (not ``read``, which only changes the ticks)."""
    return (message.text, message.type, message.edited_at, message.slot, message.timestamp)
