"""The history list: follows the bottom, pages older history, "New messages ↓", menus, links."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QEvent, QModelIndex, QPoint, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QContextMenuEvent,
    QDesktopServices,
    QGuiApplication,
    QHelpEvent,
    QMouseEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QMenu,
    QPushButton,
    QStyleOptionViewItem,
    QToolTip,
    QWidget,
)

from desktop_chat.core.links import Link, find_links
from desktop_chat.core.model import EDIT_WINDOW_MS, DeliveryState, Message, MessageType
from desktop_chat.ui.formatting import now_ms
from desktop_chat.ui.message_delegate import MessageDelegate
from desktop_chat.ui.message_model import MessageListModel, MessageRoles
from desktop_chat.ui.theme import ACCENT

__all__ = ["BOTTOM_SLACK", "EDIT_WINDOW_MS", "HistoryView", "UrlOpener", "message_actions"]

log = logging.getLogger("desktop_chat.ui")

BOTTOM_SLACK = 24
"""Pixels from the bottom that still count as "at the bottom"."""
KEEP_ROWS = 200
"""Rows kept while following a busy conversation (QListView lays out every row on each
insert); half as many again arrive before the oldest are let go of (paging brings them back)."""
UrlOpener = Callable[[QUrl], object]
"""What opens a clicked link (``QDesktopServices.openUrl``; tests capture the URL instead)."""
_SCHEMES = frozenset({"http", "https", "mailto"})


def message_actions(message: Message, me: str | None, state: DeliveryState | None) -> list[str]:
    """What a message's context menu offers: Copy text (any with text), Edit (mine, on the
    server, within 15 minutes), Delete (mine, on the server), Retry (mine, failed)."""
    own = me is not None and message.sender_id == me
    on_server = state in (DeliveryState.SENT, DeliveryState.READ)
    actions: list[str] = []
    if message.text and not message.deleted:
        actions.append("Copy text")
    if own and on_server and not message.deleted and message.type is not MessageType.SYSTEM:
        if message.type is MessageType.TEXT and now_ms() - message.timestamp < EDIT_WINDOW_MS:
            actions.append("Edit")
        actions.append("Delete")
    if own and state is DeliveryState.FAILED:
        actions.append("Retry")
    return actions


class HistoryView(QListView):
    """A conversation's messages, oldest at the top. Follows new messages while the user is
    at the bottom; otherwise a "New messages ↓" pill appears. Reaching the top asks the model
    for older history (and keeps what was on screen in place when it arrives).

    Links the :class:`MessageDelegate` underlines open with a click (*open_url*, by default
    ``QDesktopServices.openUrl``), show a pointing hand and their URL when hovered, and add
    "Open link" / "Copy link" to the menu when right-clicked."""

    messageAction = Signal(str, object)

    def __init__(
        self,
        model: MessageListModel,
        parent: QWidget | None = None,
        *,
        open_url: UrlOpener | None = None,
    ) -> None:
        super().__init__(parent)
        self.open_url: UrlOpener = open_url or QDesktopServices.openUrl
        """Opens a clicked link (replace it to capture URLs instead of opening a browser)."""
        self._pressed: tuple[int, Link] | None = None  # the link a left press went down on
        self._menu_link: Link | None = None  # the link right-clicked (not the menu key's)
        self.loading = False
        """True while the conversation is being read: no paging then."""
        self.stick = True
        """Follow new messages (the user is at the bottom)."""
        self._anchor: tuple[int, int] | None = None
        self._adjusting = False
        self.setAccessibleName("Messages")
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setMouseTracking(True)  # hovering a link changes the cursor
        self.viewport().setMouseTracking(True)
        self.setModel(model)
        self.history = model
        model.fetch_allowed = self.at_top
        model.keep_latest = lambda: KEEP_ROWS if self.stick else None
        self.pill = QPushButton("New messages ↓", self)
        self.pill.setAccessibleName("New messages, scroll down")
        self.pill.setCursor(Qt.CursorShape.PointingHandCursor)
        self.pill.setStyleSheet(
            f"QPushButton {{ background: {ACCENT}; color: white; border: none;"
            " border-radius: 13px; padding: 0 16px; min-height: 28px; font-weight: 600; }"
        )
        self.pill.clicked.connect(self.scroll_to_bottom)
        self.pill.hide()
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)
        model.rowsAboutToBeInserted.connect(self._rows_coming)
        model.rowsInserted.connect(self._rows_inserted)
        model.modelReset.connect(self.pill.hide)
        self.customContextMenuRequested.connect(self._context_menu)

    # scrolling -----------------------------------------------------------------------------
    def scroll_to_bottom(self) -> None:
        """Go to the newest message and follow new ones again."""
        self.stick = True
        self._anchor = None
        self.pill.hide()
        self._set_scroll(self.verticalScrollBar().maximum())

    def center_on(self, row: int) -> None:
        """Show *row* in the middle, selected (a search hit); stop following new messages."""
        self.stick = False
        self._anchor = None
        index = self.history.index(row)
        self.setCurrentIndex(index)
        self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def at_top(self) -> bool:
        bar = self.verticalScrollBar()
        return not self.loading and bar.value() <= bar.minimum()

    def fetch_older(self, *, force: bool = False) -> None:
        """Ask the model for the page before the oldest shown (*force*: wherever we are)."""
        root = QModelIndex()
        if self.loading:
            return
        if force:
            self.history.fetch_allowed = None
            try:
                self.history.fetchMore(root)
            finally:
                self.history.fetch_allowed = self.at_top
        elif self.history.canFetchMore(root):
            self.history.fetchMore(root)

    def fill(self) -> None:
        """Load older history while the messages do not fill the view."""
        if self.verticalScrollBar().maximum() == 0:
            self.fetch_older()

    def _set_scroll(self, value: int) -> None:
        self._adjusting = True
        try:
            self.verticalScrollBar().setValue(value)
        finally:
            self._adjusting = False

    def _scrolled(self, value: int) -> None:
        if self._adjusting:
            return
        bar = self.verticalScrollBar()
        self._anchor = None
        self.stick = value >= bar.maximum() - BOTTOM_SLACK
        if self.stick:
            self.pill.hide()
        if value <= bar.minimum() and bar.maximum() > 0:
            self.fetch_older()

    def _range_changed(self, _low: int, high: int) -> None:
        if self._anchor is not None:  # older rows came in above: keep the view where it was
            value, old_high = self._anchor
            self._anchor = (value + high - old_high, high)
            self._set_scroll(value + high - old_high)
        elif self.stick:
            self._set_scroll(high)
        if high == 0:
            QTimer.singleShot(0, self, self.fill)  # (not after the view is gone)

    def _rows_coming(self, _parent: QModelIndex, first: int, _last: int) -> None:
        if self.stick or self.history.rowCount() == 0:
            return
        top = self.indexAt(self.viewport().rect().topLeft())
        if not top.isValid() or first <= top.row():  # above what is shown: keep it in place
            bar = self.verticalScrollBar()
            self._anchor = (bar.value(), bar.maximum())

    def _rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        if first == 0 or last < self.history.rowCount() - 1 or self.stick:
            return  # older history, an out-of-order arrival, or followed anyway
        message = self.history.message(last)
        if message is None:
            return
        if message.sender_id == self.history.me:
            self.scroll_to_bottom()
        else:
            self.place_pill()
            self.pill.show()
            self.pill.raise_()

    def place_pill(self) -> None:
        self.pill.adjustSize()
        area = self.viewport().geometry()
        x = area.x() + (area.width() - self.pill.width()) // 2
        self.pill.move(x, area.bottom() - self.pill.height() - 12)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.place_pill()

    # the message menu ----------------------------------------------------------------------
    def _context_menu(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        link, self._menu_link = self._menu_link, None
        if not index.isValid():  # the keyboard's menu key: the current message
            index = self.currentIndex()
            pos = self.visualRect(index).center()
        message = index.data(MessageRoles.Message) if index.isValid() else None
        if not isinstance(message, Message):
            return
        menu = self.build_menu(message, link)
        if not menu.isEmpty():
            menu.exec(self.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def build_menu(self, message: Message, link: Link | None = None) -> QMenu:
        """The context menu of *message*: its actions, then, right-clicked on *link*, "Open
        link" and "Copy link" (for an e-mail address: "Send email", "Copy email address"),
        else up to three of its links to open."""
        menu = QMenu(self)
        menu.setAccessibleName("Message actions")
        state = self.history.delivery(message)
        for name in message_actions(message, self.history.me, state):
            action = menu.addAction(name)
            action.triggered.connect(
                lambda _=False, n=name, m=message: self.messageAction.emit(n, m)
            )
        if message.deleted:
            return menu
        if link is not None:
            menu.addSeparator()
            url, email = link.url, link.email
            opened = menu.addAction("Send email" if email else "Open link")
            opened.triggered.connect(lambda _=False, u=url: self.open_link(u))
            copied = menu.addAction("Copy email address" if email else "Copy link")
            text = url.partition(":")[2] if email else url
            copied.triggered.connect(lambda _=False, t=text: QGuiApplication.clipboard().setText(t))
            return menu
        links = list({k.url: k for k in find_links(message.text or "")}.values())[:3]
        if links:
            menu.addSeparator()
        for each in links:
            shown = each.url.partition(":")[2] if each.email else each.url
            label = shown if len(shown) <= 48 else shown[:45] + "…"
            action = menu.addAction(f"{'Email' if each.email else 'Open'} {label}")
            action.triggered.connect(lambda _=False, u=each.url: self.open_link(u))
        return menu

    # links ---------------------------------------------------------------------------------
    def link_at(self, pos: QPoint) -> Link | None:
        """The link painted at *pos* (viewport coordinates), if any."""
        index = self.indexAt(pos)
        delegate = self.itemDelegateForIndex(index) if index.isValid() else None
        if not isinstance(delegate, MessageDelegate):
            return None
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        option.rect = self.visualRect(index)
        return delegate.link_at(option, index, pos)

    def open_link(self, url: str) -> None:
        """Open *url*, a link found in a message (http, https or mailto, nothing else)."""
        qurl = QUrl(url)
        if not qurl.isValid() or qurl.scheme().lower() not in _SCHEMES:
            log.warning("not opening a link that is not a web or e-mail address")
            return
        self.open_url(qurl)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        link = self.link_at(pos) if event.button() == Qt.MouseButton.LeftButton else None
        self._pressed = (self.indexAt(pos).row(), link) if link is not None else None
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        pressed, self._pressed = self._pressed, None
        super().mouseReleaseEvent(event)
        if pressed is None or event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position().toPoint()
        if (self.indexAt(pos).row(), self.link_at(pos)) == pressed:  # released where pressed
            self.open_link(pressed[1].url)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        super().mouseMoveEvent(event)
        if self.link_at(event.position().toPoint()) is not None:
            self.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        else:
            self.viewport().unsetCursor()

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave:
            self.viewport().unsetCursor()
        elif event.type() == QEvent.Type.ContextMenu and isinstance(event, QContextMenuEvent):
            # A right click (the keyboard's menu key goes to the view, not its viewport).
            self._menu_link = self.link_at(event.pos())
        elif event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            link = self.link_at(event.pos())
            if link is not None:  # the address itself ("www." opens as https://...)
                QToolTip.showText(event.globalPos(), link.url, self.viewport())
                return True
        return super().viewportEvent(event)
