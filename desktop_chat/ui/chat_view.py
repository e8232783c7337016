"""One open conversation: header, history that pages upwards, typing line, and the input."""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import (
    QGuiApplication,
    QPalette,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QLabel,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.core.model import ConversationEntry, DeliveryState, Message
from desktop_chat.ui.avatars import AvatarCache
from desktop_chat.ui.bridge import ChatBridge, OpenedConversation
from desktop_chat.ui.history_view import HistoryView
from desktop_chat.ui.indicators import ChatHeader, TypingLine
from desktop_chat.ui.message_delegate import MessageDelegate
from desktop_chat.ui.message_input import MessageInput
from desktop_chat.ui.message_model import MessageListModel

__all__ = ["ChatView"]

log = logging.getLogger("desktop_chat.ui")

READ_DELAY_MS = 150


class ChatView(QWidget):
    """The open conversation, or a "Select a conversation" placeholder when none is."""

    backRequested = Signal()

    def __init__(
        self, bridge: ChatBridge, avatars: AvatarCache, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.cid: str | None = None
        self.other: str | None = None
        self._loading = False
        self._early: list[tuple[bool, Message]] = []
        self._target: str | None = None
        self._asked: tuple[str, str | None] | None = None
        """The older page asked for and not answered yet: (conversation, before id)."""
        self._needs_read = False
        self._focus_wanted = False
        self._refreshing = False
        """A :meth:`refresh` is on its way: its answer updates rows instead of resetting."""
        self.delete_box: QMessageBox | None = None
        """The last "Delete message?" question asked (tests answer it)."""
        self.setAccessibleName("Conversation")

        self.stack = QStackedWidget(self)
        self.placeholder = QLabel("Select a conversation", self.stack)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setAccessibleName("No conversation open")
        self.placeholder.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.page = QWidget(self.stack)
        self.page.setAccessibleName("Open conversation")
        self.header = ChatHeader(avatars, self.page)
        self.header.blockRequested.connect(self._block)
        self.banner = QLabel(self.page)
        self.banner.setAccessibleName("Blocked notice")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setContentsMargins(8, 6, 8, 6)
        self.banner.hide()
        self.model = MessageListModel(bridge.uid or "", self._request_older, self)
        self.history = HistoryView(self.model, self.page)
        self.delegate = MessageDelegate(self.history)
        self.history.setItemDelegate(self.delegate)
        self.history.messageAction.connect(self.act)
        self.typing_line = TypingLine(self.page)
        self.input = MessageInput(bridge, self.page)
        self.input.sent.connect(lambda _text: self.history.scroll_to_bottom())
        self.input.escapePressed.connect(self.backRequested)
        column = QVBoxLayout(self.page)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        for widget in (self.header, self.banner, self.history, self.typing_line, self.input):
            column.addWidget(widget, 1 if widget is self.history else 0)
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.page)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)

        self._read_timer = QTimer(self)
        self._read_timer.setSingleShot(True)
        self._read_timer.setInterval(READ_DELAY_MS)
        self._read_timer.timeout.connect(self._mark_read_now)

        bridge.conversationLoaded.connect(self._loaded)
        bridge.messageAdded.connect(self._message_added)
        bridge.messageChanged.connect(self._message_changed)
        bridge.deliveryChanged.connect(self._delivery_changed)
        bridge.olderLoaded.connect(self._older_loaded)
        bridge.typingChanged.connect(self._typing_changed)
        bridge.presenceChanged.connect(self._presence_changed)
        bridge.conversationChanged.connect(self._entry_changed)
        bridge.blockedChanged.connect(self._blocked_changed)
        bridge.resync.connect(lambda _reason: self.refresh())

    # opening -------------------------------------------------------------------------------
    def open(self, cid: str, entry: ConversationEntry | None = None) -> None:
        """Show conversation *cid* (its cached history, draft and the other's presence)."""
        if cid == self.cid:
            return
        self.input.flush_draft()
        self.cid = cid
        self.other = self.bridge.other_of(cid)
        name = entry.other_user_name if entry is not None else ""
        photo = entry.other_user_photo if entry is not None else None
        self.header.show_person(self.other or "", name, photo)
        self.model.other_name = name
        presence = self.bridge.presence(self.other) if self.other else None
        self.header.set_presence(
            presence is not None and presence.online,
            presence.last_seen if presence is not None else None,
        )
        self.typing_line.stop()
        self.history.pill.hide()
        self._needs_read = entry is not None and entry.unread_count > 0
        self._set_loading(True)
        self._asked = self._target = None
        self.model.me = self.bridge.uid or ""
        self.model.reset_to(cid, [])
        self.input.set_conversation(None)
        self.stack.setCurrentWidget(self.page)
        self.bridge.select(cid)
        self.reload()

    def reload(self) -> None:
        """Read the open conversation again from scratch (opening it)."""
        if self.cid is None:
            return
        self._refreshing = False
        self._set_loading(True)
        self._early = []
        self.bridge.load_conversation(self.cid)

    def refresh(self) -> None:
        """After a resync (events may have been missed): read the open conversation again and
        bring the rows in place up to date; the scroll position and older pages stay."""
        if self.cid is None or self._loading:
            self.reload()
            return
        self._refreshing = True
        self.bridge.load_conversation(self.cid)

    def focus_input(self) -> None:
        """Put the keyboard in the input (once the conversation has loaded)."""
        if self.input.isEnabled():
            self.input.text.setFocus()
        else:
            self._focus_wanted = True

    def _set_loading(self, loading: bool) -> None:
        self._loading = loading
        self.history.loading = loading

    def close_conversation(self) -> None:
        """Back to the placeholder; nothing is open."""
        self.input.flush_draft()
        self.input.set_conversation(None)
        self.cid = self.other = None
        self._asked = self._target = None
        self._needs_read = False
        self._set_loading(False)
        self.bridge.select(None)
        self.model.reset_to("", [])
        self.typing_line.stop()
        self.stack.setCurrentWidget(self.placeholder)

    def _loaded(self, opened: OpenedConversation) -> None:
        if opened.conversation_id != self.cid:
            return
        if self._refreshing:
            self._refreshed(opened)
            return
        self._set_loading(False)
        self._asked = None  # the reset forgets a page asked for before it
        self.history.stick = True
        self.model.reset_to(opened.conversation_id, opened.messages)
        me = self.bridge.uid
        for added, message in self._early:
            if not added:
                self.model.change(message)
            elif self._belongs(message):
                self.model.add(message)
                self._needs_read |= message.sender_id != me and not message.read
        self._early = []
        for mid, (state, error) in opened.states.items():
            self.model.set_delivery(mid, state, error)
        if self.input.cid != self.cid:
            self.input.set_conversation(self.cid, opened.draft)
            if self._focus_wanted:
                self.input.text.setFocus()
        self._focus_wanted = False
        self._show_blocked(opened.blocked)
        if any(m.sender_id != me and not m.read for m in opened.messages):
            self._needs_read = True
        self.history.scroll_to_bottom()
        if self._target is not None:
            self.show_message(self._target)
        QTimer.singleShot(0, self.history, self.history.fill)  # (not after it is gone)
        self.maybe_mark_read()

    def _refreshed(self, opened: OpenedConversation) -> None:
        self._refreshing = False
        for message in opened.messages:  # known rows change in place, missed ones are added
            self.model.change(message)
        for mid, (state, error) in opened.states.items():
            self.model.set_delivery(mid, state, error)
        self._show_blocked(opened.blocked)
        me = self.bridge.uid
        if any(m.sender_id != me and not m.read for m in opened.messages):
            self._needs_read = True
            self.maybe_mark_read()

    def show_message(self, mid: str) -> None:
        """Scroll to message *mid*, loading older history until it is found."""
        row = self.model.row_of(mid)
        if row is None:
            self._target = mid
            if not self._loading and not self.model.at_beginning:
                self.history.fetch_older(force=True)
            return
        self._target = None
        self.history.center_on(row)

    def _request_older(self, before: str | None) -> None:
        if self.cid is not None:
            self._asked = (self.cid, before)
            self.bridge.load_older(self.cid, before)

    # events --------------------------------------------------------------------------------
    def _message_added(self, message: Message) -> None:
        if message.conversation_id != self.cid:
            return
        if self._loading:
            self._early.append((True, message))
            return
        if not self._belongs(message):
            return  # older than the history shown: paging brings it, in one insert
        self.model.add(message)
        if message.sender_id != self.bridge.uid and not message.read:
            self._needs_read = True
            self.maybe_mark_read()

    def _belongs(self, message: Message) -> bool:
        """Whether *message* goes into the rows shown now (not into history before them)."""
        first = self.model.message(0)
        return first is None or self.model.at_beginning or message.order > first.order

    def _message_changed(self, message: Message) -> None:
        if message.conversation_id != self.cid:
            return
        if self._loading:
            self._early.append((False, message))
        else:
            self.model.change(message)

    def _delivery_changed(
        self, cid: str, mid: str, state: DeliveryState, error: str | None
    ) -> None:
        if cid == self.cid:
            self.model.set_delivery(mid, state, error)

    def _older_loaded(self, cid: str, before: str | None, page: list[Message] | None) -> None:
        if (cid, before) != self._asked:
            return  # for a conversation (or a page) no longer shown
        self._asked = None
        if page is None:  # failed: allow another try
            self.model.finish_fetch(1)
            return
        self.model.prepend(page)
        self.model.finish_fetch(len(page))
        if self._target is not None:
            if self.model.row_of(self._target) is not None or self.model.at_beginning:
                QTimer.singleShot(0, lambda t=self._target: self.show_message(t))
            else:
                self.history.fetch_older(force=True)

    def _typing_changed(self, cid: str, uid: str, typing: bool) -> None:
        if cid != self.cid or uid != self.other:
            return
        if typing:
            self.typing_line.start(self.header.name)
        else:
            self.typing_line.stop()

    def _presence_changed(self, uid: str, online: bool, last_seen: int) -> None:
        if uid == self.other:
            self.header.set_presence(online, None if last_seen < 0 else last_seen)

    def _entry_changed(self, cid: str, entry: ConversationEntry | None) -> None:
        if cid != self.cid or entry is None:
            return
        if entry.other_user_name and entry.other_user_name != self.header.name:
            self.header.show_person(
                entry.other_user_id, entry.other_user_name, entry.other_user_photo
            )
            self.model.other_name = entry.other_user_name
        if entry.unread_count > 0:
            self._needs_read = True
            self.maybe_mark_read()

    # reading -------------------------------------------------------------------------------
    def shown_to_user(self) -> bool:
        """True when the conversation is on screen in the active window (not hidden,
        minimised or in the background)."""
        window = self.window()
        return (
            self.cid is not None
            and not self._loading
            and self.isVisible()
            and self.stack.currentWidget() is self.page
            and window.isActiveWindow()
            and not window.isMinimized()
        )

    def maybe_mark_read(self) -> None:
        if self._needs_read and self.shown_to_user():
            self._read_timer.start()

    def _mark_read_now(self) -> None:
        if self._needs_read and self.shown_to_user() and self.cid is not None:
            self._needs_read = False
            self.bridge.mark_read(self.cid)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.WindowActivate:  # the window's, passed down to us
            self.maybe_mark_read()
        return super().event(event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.maybe_mark_read()

    # blocking ------------------------------------------------------------------------------
    def _block(self, block: bool) -> None:
        if self.other is not None:
            (self.bridge.block if block else self.bridge.unblock)(self.other)

    def _blocked_changed(self, uid: str, blocked: bool) -> None:
        if uid == self.other:
            self._show_blocked(blocked)

    def _show_blocked(self, blocked: bool) -> None:
        self.header.set_blocked(blocked)
        self.input.set_blocked(blocked)
        self.banner.setText(
            f"You blocked {self.header.name}. They cannot write to you." if blocked else ""
        )
        self.banner.setVisible(blocked)

    # the message menu --------------------------------------------------------------------
    def act(self, name: str, message: Message) -> None:
        """Do *name* (Copy text, Edit, Delete, Retry) to *message*."""
        if name == "Copy text":
            QGuiApplication.clipboard().setText(message.text or "")
        elif name == "Edit":
            self.input.begin_edit(message.id, message.text or "", message.timestamp)
        elif name == "Delete":
            self.confirm_delete(message)
        elif name == "Retry":
            self.bridge.retry(message.id)

    def confirm_delete(self, message: Message) -> QMessageBox:
        """Ask before deleting *message* for both sides (a window-modal question, answered
        asynchronously; Cancel is the default, so a stray Enter deletes nothing)."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete message",
            "Delete this message for everyone? It will show as “message deleted” for both of you.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered() -> None:
            if box.clickedButton() is delete:
                self.bridge.delete(message.conversation_id, message.id)

        box.finished.connect(answered)
        self.delete_box = box
        box.open()
        return box
