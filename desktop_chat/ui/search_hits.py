"""Search: the search box, and the messages found in the local cache, listed under the
conversations."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QWidget

from desktop_chat.ui.bridge import ChatBridge, SearchHit
from desktop_chat.ui.formatting import now_ms, relative_time
from desktop_chat.ui.theme import SIZES, scaled_font

__all__ = ["HIT_ROLE", "MIN_QUERY", "SEARCH_DELAY_MS", "MessageHits", "SearchBox"]

SEARCH_DELAY_MS = 250
"""How long typing must pause before the messages are searched."""
MIN_QUERY = 2
"""Characters a search needs before messages are searched (names filter from the first)."""
HIT_ROLE = Qt.ItemDataRole.UserRole + 1


class SearchBox(QLineEdit):
    """The search field. Down and Up go to the list, Return opens its first row, Escape
    clears and goes to the list: its own keys (an event filter on it would be asked about
    its last events while the window owning the filter is being destroyed)."""

    toList = Signal()
    chooseFirst = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            self.toList.emit()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.chooseFirst.emit()
        elif key == Qt.Key.Key_Escape:
            self.clear()
            self.toList.emit()
        else:
            super().keyPressEvent(event)
            return
        event.accept()


class MessageHits(QListWidget):
    """The messages whose text matches the search box (SQLite FTS5 in the cache, through the
    bridge): "Name · when" and a snippet each, newest first; choosing one emits
    :attr:`hitChosen`. Its :attr:`label` ("Messages (3)", "No messages found") goes above it."""

    hitChosen = Signal(str, object)
    """A hit was chosen: its conversation id and its Message."""
    changed = Signal()
    """Shown, hidden or filled (the list column may rearrange)."""

    def __init__(self, bridge: ChatBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.query = ""
        """What the search box says (stripped): hits for another query are dropped."""
        self.label = QLabel("Messages", parent)
        self.label.setAccessibleName("Message results")
        self.label.setContentsMargins(10, 8, 10, 2)
        self.label.setFont(scaled_font(self.font(), SIZES.small_font, bold=True))
        self.setAccessibleName("Messages found")
        self.setFrameShape(QListWidget.Shape.NoFrame)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSpacing(3)
        self.itemActivated.connect(self._chosen)
        self.itemClicked.connect(self._chosen)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(lambda: self.bridge.search(self.query))
        bridge.searchFinished.connect(self._finished)
        self.show_results(False)

    def search(self, text: str) -> None:
        """The search box now says *text*: search its messages once typing pauses (or hide
        the hits, for fewer than :data:`MIN_QUERY` characters)."""
        self.query = text.strip()
        if len(self.query) >= MIN_QUERY:
            self._timer.start()
        else:
            self._timer.stop()
            self.show_results(False)

    def _finished(self, query: str, hits: list[SearchHit]) -> None:
        if query != self.query:
            return  # an older query
        self.clear()
        now = now_ms()
        for hit in hits:
            when = relative_time(hit.message.timestamp, now)
            item = QListWidgetItem(f"{hit.name} · {when}\n{hit.snippet}")
            item.setData(HIT_ROLE, hit)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{hit.name}, {when}: {hit.snippet}")
            item.setToolTip(hit.message.text or "")
            self.addItem(item)
        self.label.setText(f"Messages ({len(hits)})" if hits else "No messages found")
        self.show_results(True)

    def show_results(self, shown: bool) -> None:
        """Show the label and the hits (if any), or hide and empty both."""
        if not shown:
            self.clear()
        self.label.setVisible(shown)
        self.setVisible(shown and self.count() > 0)
        self.changed.emit()

    def _chosen(self, item: QListWidgetItem) -> None:
        hit = item.data(HIT_ROLE)
        if isinstance(hit, SearchHit):
            self.hitChosen.emit(hit.conversation_id, hit.message)
