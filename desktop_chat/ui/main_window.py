"""The main window: conversations and skills on the left, the open chat on the right."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QModelIndex,
    QPoint,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QCloseEvent, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QMainWindow,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.core.links import DeepLink, LinkKind
from desktop_chat.core.model import ConversationEntry, Message, Notification
from desktop_chat.ui.account_menu import AccountButton
from desktop_chat.ui.app_settings import AppSettings, mute_menu, offer_mute
from desktop_chat.ui.avatars import AvatarCache
from desktop_chat.ui.bridge import ChatBridge, Skill
from desktop_chat.ui.conversation_delegate import ConversationDelegate
from desktop_chat.ui.conversation_model import ConversationListModel, Roles
from desktop_chat.ui.indicators import StatusLine
from desktop_chat.ui.market_pages import BookingList, MarketPages
from desktop_chat.ui.notification_bell import NotificationBell
from desktop_chat.ui.search_hits import MessageHits, SearchBox
from desktop_chat.ui.skills_panel import SkillList

if TYPE_CHECKING:
    from desktop_chat.ui.chat_view import ChatView

__all__ = ["MainWindow"]

log = logging.getLogger("desktop_chat.ui")

TIMES_REFRESH_MS = 60_000
FRAME_SECONDS = 0.02


class MainWindow(QMainWindow):
    """Search, the conversation list and the Skills panel on the left; the open conversation
    (or a skill's page) on the right; the connection state at the bottom; my account (and
    Sign out) and the notification bell above the search."""

    signOutRequested = Signal()
    """The person confirmed Sign out (the app closes this window and ends the session)."""

    def __init__(
        self,
        bridge: ChatBridge,
        avatars: AvatarCache | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.avatars = avatars if avatars is not None else AvatarCache(bridge.photo_loader)
        self._listed: asyncio.Future[None] | None = None  # the first list read, by start()
        self.setWindowTitle("Desktop Chat")
        self.setAccessibleName("Desktop Chat")
        self.resize(1000, 680)

        self.search = SearchBox(self)
        self.search.setPlaceholderText("Search (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        for button in self.search.findChildren(QToolButton):  # Qt's clear button
            button.setAccessibleName("Clear search")
        self.search.setAccessibleName("Search conversations and messages")
        self.search.textChanged.connect(self._search_changed)
        self.search.toList.connect(self.focus_list)
        self.search.chooseFirst.connect(self._choose_first)
        self.conversations = ConversationListModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.conversations)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterRole(Qt.ItemDataRole.DisplayRole)
        self.list = QListView(self)
        self.list.setAccessibleName("Conversations")
        self.list.setModel(self.proxy)
        self.list.setItemDelegate(ConversationDelegate(self.avatars, self.list))
        self.list.setUniformItemSizes(True)
        self.list.setFrameShape(QListView.Shape.NoFrame)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.clicked.connect(self._row_chosen)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._list_menu)
        self.app_settings: AppSettings | None = None  # the desktop settings (use_settings)
        self.list.activated.connect(self._row_chosen)
        self.empty = QLabel("No conversations yet", self)
        self.empty.setAccessibleName("No conversations")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setAutoFillBackground(True)
        self.empty.setBackgroundRole(QPalette.ColorRole.Base)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.list_stack = QStackedWidget(self)
        self.list_stack.setAccessibleName("Conversation list")
        self.list_stack.addWidget(self.list)
        self.list_stack.addWidget(self.empty)
        self.hits = MessageHits(bridge, self)
        self.hits.hitChosen.connect(self.show_hit)
        chats = QWidget(self)
        chats.setAccessibleName("Chats")
        chats_layout = QVBoxLayout(chats)
        chats_layout.setContentsMargins(0, 0, 0, 0)
        chats_layout.addWidget(self.list_stack, 3)
        chats_layout.addWidget(self.hits.label)
        chats_layout.addWidget(self.hits, 2)
        self.hits.changed.connect(self._update_empty)
        self.skills = SkillList(bridge, self)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.setAccessibleName("Sections")
        self.tabs.addTab(chats, "Chats")
        self.tabs.addTab(self.skills, "Skills")
        self.tabs.currentChanged.connect(self._tab_changed)
        left = QWidget(self)
        left.setAccessibleName("Conversations and skills")
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(8, 8, 0, 0)
        left_layout.addWidget(self.search)
        left_layout.addWidget(self.tabs, 1)

        self._chat: ChatView | None = None
        self.right = QStackedWidget(self)
        self.right.setAccessibleName("Conversation or skill")
        self.no_chat = QLabel("Select a conversation", self.right)  # until `chat` is built
        self.no_chat.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_chat.setAccessibleName("No conversation open")
        self.no_chat.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.right.addWidget(self.no_chat)
        self.pages = MarketPages(self)  # a skill, its booking view, my bookings
        self.skill_page = self.pages.skill_page
        self.skills.skillChosen.connect(self.pages.show_skill)
        self.tabs.addTab(BookingList(self.pages, self), "Bookings")
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setAccessibleName("Main area")
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([320, 680])
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)
        self.status = StatusLine(bridge, self)
        self.statusBar().addWidget(self.status, 1)
        self.statusBar().setSizeGripEnabled(False)

        self._times = QTimer(self)
        self._times.setInterval(TIMES_REFRESH_MS)
        self._times.timeout.connect(self.conversations.refresh_times)
        self._times.start()
        for keys, slot in (
            (QKeySequence("Ctrl+F"), self.focus_search),
            (QKeySequence("Ctrl+K"), self.focus_list),
        ):
            QShortcut(keys, self, slot)
        for signal in (
            self.proxy.rowsInserted,
            self.proxy.rowsRemoved,
            self.proxy.modelReset,
            self.proxy.layoutChanged,
        ):
            signal.connect(self._update_empty)

        bridge.conversationsLoaded.connect(self.conversations.load)
        bridge.conversationsLoaded.connect(self._list_loaded)
        bridge.conversationChanged.connect(self._entry_changed)
        bridge.presenceChanged.connect(self._presence_changed)
        bridge.typingChanged.connect(self.conversations.set_typing)
        bridge.conversationOpened.connect(self._conversation_opened)
        bridge.error.connect(self._error)
        bridge.resync.connect(lambda _reason: bridge.load_conversations())
        # made last: first in the column, last in the focus chain (Shift+Tab from the search)
        self.bell = NotificationBell(bridge, left)  # right of the account, before it in the chain
        self.account = AccountButton(bridge, self.avatars, left)
        self.account.signOutConfirmed.connect(self.signOutRequested)
        top = QHBoxLayout()
        top.addWidget(self.account, 1)
        top.addWidget(self.bell, 0, Qt.AlignmentFlag.AlignVCenter)
        left_layout.insertLayout(0, top)

    def start(self) -> None:
        """Show skeleton rows and read the conversation list."""
        self.conversations.loading = True
        self._update_empty()
        self._listed = asyncio.get_running_loop().create_future()
        self.bridge.conversationsLoaded.connect(self._first_list)
        self.bridge.load_conversations()

    def _first_list(self, _entries: object) -> None:
        self.bridge.conversationsLoaded.disconnect(self._first_list)
        if self._listed is not None and not self._listed.done():
            self._listed.set_result(None)

    async def painted(self, limit: float = 1.0) -> None:
        """Once the list read by :meth:`start` is on screen (a frame after it came; at most
        *limit* seconds): what loads next (the network stack) does not hold up that paint."""
        if self._listed is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(limit):
                    await asyncio.shield(self._listed)
        await asyncio.sleep(FRAME_SECONDS)

    @property
    def chat(self) -> ChatView:
        """The open conversation's view, built when first needed: not before the list paints."""
        if self._chat is None:
            from desktop_chat.ui.booking_card import ChatBooking
            from desktop_chat.ui.chat_view import ChatView

            chat = self._chat = ChatView(self.bridge, self.avatars, self)
            chat.backRequested.connect(self.focus_list)
            self.chat_booking = ChatBooking(chat, self.pages.bookings)  # cards, proposals
            offer_mute(chat.header.menu, lambda: self.app_settings, self._open_cid)
            showing = self.right.currentWidget() is self.no_chat
            self.right.insertWidget(0, chat)
            if showing:
                self.right.setCurrentWidget(chat)
            self.right.removeWidget(self.no_chat)
            self.no_chat.setParent(None)  # (out of the focus chain now)
            self.no_chat.deleteLater()
            # the bell and the account stay last in the focus chain: Shift+Tab from the search
            # reaches the account, then the bell
            last = self.previousInFocusChain()  # (the chain wraps: this is its end)
            while last is not self and not last.focusPolicy() & Qt.FocusPolicy.TabFocus:
                last = last.previousInFocusChain()
            if last not in (self, self.account, self.bell):
                QWidget.setTabOrder(last, self.bell)
                QWidget.setTabOrder(self.bell, self.account)
        return self._chat

    def _open_cid(self) -> str | None:
        return self._chat.cid if self._chat is not None else None

    # the conversation list -----------------------------------------------------------------
    def _entry_changed(self, cid: str, entry: ConversationEntry | None) -> None:
        if entry is None:
            self.conversations.remove(cid)
        else:
            self.conversations.upsert(entry)
        if cid == self._open_cid():
            self._select_row(cid)

    def _list_loaded(self, _entries: list[ConversationEntry]) -> None:
        self._update_empty()
        if (cid := self._open_cid()) is not None:
            self._select_row(cid)

    def _presence_changed(self, uid: str, online: bool, last_seen: int) -> None:
        self.conversations.set_presence(uid, online, None if last_seen < 0 else last_seen)

    def _update_empty(self) -> None:
        searching = bool(self.search.text().strip())
        empty = not self.conversations.loading and self.proxy.rowCount() == 0
        if empty:
            filtered = searching and self.conversations.rowCount() > 0
            self.empty.setText("No matching conversations" if filtered else "No conversations yet")
        self.list_stack.setCurrentWidget(self.empty if empty else self.list)
        # searching: messages found under no matching name take the whole column
        self.list_stack.setHidden(searching and empty and self.hits.count() > 0)

    def _row_chosen(self, index: QModelIndex) -> None:
        cid = index.data(Roles.ConversationId)
        if isinstance(cid, str):
            self.open_conversation(cid)

    def open_conversation(self, cid: str, entry: ConversationEntry | None = None) -> None:
        """Open *cid* on the right (and select its row)."""
        self.pages.chat_to_stack()
        self.right.setCurrentWidget(self.chat)
        self.chat.open(cid, self.known_entry(cid) or entry)
        self._select_row(cid)
        self.chat.focus_input()

    def _select_row(self, cid: str) -> None:
        row = self.conversations.row_of(cid)
        if row is None:
            return
        index = self.proxy.mapFromSource(self.conversations.index(row))
        if index.isValid() and self.list.currentIndex() != index:
            self.list.setCurrentIndex(index)

    def focus_list(self) -> None:
        """Ctrl+K, Esc: the conversation list gets the keyboard (Up/Down, Enter opens)."""
        self.tabs.setCurrentIndex(0)
        self.list.setFocus()
        if not self.list.currentIndex().isValid() and self.proxy.rowCount() > 0:
            self.list.setCurrentIndex(self.proxy.index(0, 0))

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # searching -----------------------------------------------------------------------------
    def _search_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        self._update_empty()
        if self.tabs.currentIndex() != 0:
            self.tabs.setCurrentIndex(0)
        self.hits.search(text)

    def show_hit(self, cid: str, message: Message) -> None:
        """Open *cid* and scroll to *message* (a search hit)."""
        self.open_conversation(cid)
        self.chat.show_message(message.id)

    def _choose_first(self) -> None:
        if self.proxy.rowCount() > 0:
            self._row_chosen(self.proxy.index(0, 0))

    # skills --------------------------------------------------------------------------------
    def _tab_changed(self, tab: int) -> None:
        if tab == 1:  # read each time the panel is shown: skills come and go
            self.skills.load()

    def show_skill(self, skill: Skill) -> None:
        self.pages.show_skill(skill)

    def _conversation_opened(self, cid: str) -> None:
        self.pages.conversation_opened(cid)

    def known_entry(self, cid: str) -> ConversationEntry | None:
        row = self.conversations.row_of(cid)
        return self.conversations.entry(row) if row is not None else None

    # desktop notifications (ui/tray.py) ----------------------------------------------------
    def use_settings(self, settings: AppSettings) -> None:
        self.app_settings = settings

    def _list_menu(self, pos: QPoint) -> None:
        cid = self.list.indexAt(pos).data(Roles.ConversationId)
        if isinstance(cid, str) and self.app_settings is not None:
            mute_menu(self.app_settings, cid, self).exec(self.list.viewport().mapToGlobal(pos))

    def visible_conversation(self) -> str | None:
        """The conversation on screen (None: none, or the window is hidden or minimised)."""
        shown = self.isVisible() and not self.isMinimized() and self._chat is not None
        return self._open_cid() if shown and self.chat.isVisibleTo(self) else None

    def conversation_name(self, cid: str) -> str | None:
        entry = self.known_entry(cid)
        return entry.other_user_name if entry is not None else None

    def open_link(self, link: DeepLink) -> str | None:
        """Open what a desktopchat:// link names; a sentence if it cannot be opened here."""
        if link.kind is LinkKind.CONVERSATION:
            if self.bridge.other_of(link.id) is None:
                return "This link names a conversation that is not one of yours."
            self.tabs.setCurrentIndex(0)
            self.open_conversation(link.id)
        elif link.kind is LinkKind.BOOKING:
            self.pages.open_booking(link.id)
        else:
            self.pages.open_skill(link.id)
        return None

    def open_notification(self, item: Notification) -> None:
        self.bell.open_notification(item)

    # errors and closing --------------------------------------------------------------------
    def _error(self, _sentence: str) -> None:
        self.pages.failed()

    def flush_draft(self) -> None:
        if self._chat is not None:
            self._chat.input.flush_draft()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.flush_draft()
        super().closeEvent(event)
