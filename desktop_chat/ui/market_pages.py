"""The marketplace pages of the main window: a skill, its booking view, and my bookings."""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QListWidgetItem,
    QMenu,
    QWidget,
)

from desktop_chat.core.booking import Booking
from desktop_chat.core.model import ConversationEntry
from desktop_chat.ui.booking_bridge import BookingBridge
from desktop_chat.ui.bridge import Skill
from desktop_chat.ui.provider_tools import booking_actions
from desktop_chat.ui.skills_panel import ListPanel, SkillPage

if TYPE_CHECKING:
    from desktop_chat.ui.booking_view import BookingPage
    from desktop_chat.ui.main_window import MainWindow

__all__ = ["BookingList", "MarketPages"]

log = logging.getLogger("desktop_chat.ui")

BOOKING_ROLE = Qt.ItemDataRole.UserRole + 2


class MarketPages(QObject):
    """Routes the main window's right side between a skill, its booking view (built when
    first needed) and the chat; the chat moves beside the booking view while it shows a
    skill of someone else's, and back when a conversation is opened from the list."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = weakref.ref(window)  # (no cycle: a closed window goes at once)
        self.bookings = BookingBridge(window.bridge, self)
        self.skill_page = SkillPage(window.bridge, window)
        self.skill_page.messageProvider.connect(self._message_provider)
        self.skill_page.bookRequested.connect(self.show_booking)
        window.right.addWidget(self.skill_page)
        window.right.currentChanged.connect(self._page_changed)
        self.bookings.bookingOpened.connect(self.show_booking)
        self.bookings.skillOpened.connect(self.show_skill)
        self._booking_page: BookingPage | None = None
        self._pending: Skill | None = None  # the skill whose provider's chat is being opened
        self._beside = False  # the chat opening goes beside the booking view

    @property
    def window(self) -> MainWindow:
        window = self._window()
        assert window is not None, "the main window is gone"
        return window

    @property
    def booking_page(self) -> BookingPage:
        if self._booking_page is None:
            from desktop_chat.ui.booking_view import BookingPage

            page = self._booking_page = BookingPage(self.bookings, self.window.right)
            page.closeRequested.connect(lambda: self.show_skill(page.skill) if page.skill else None)
            self.window.right.addWidget(page)
        return self._booking_page

    def show_skill(self, skill: Skill) -> None:
        self.skill_page.show_skill(skill)
        self.window.right.setCurrentWidget(self.skill_page)

    def show_booking(self, skill: Skill) -> None:
        """*skill*'s booking view; for someone else's skill, with the chat with its provider."""
        page = self.booking_page
        if skill.provider_id == self.window.bridge.uid:
            self.chat_to_stack()  # (no chat beside my own slots)
        page.show_skill(skill)
        self.window.right.setCurrentWidget(page)
        if not page.mine:
            self._beside = True
            self._message_provider(skill)

    def open_skill(self, skill_id: str) -> None:
        """A skill's page, by id (a link)."""
        self.bookings.open_skill(skill_id)

    def open_booking(self, booking_id: str) -> None:
        """The booking view of one of my bookings (a notification's link)."""
        self.bookings.open_booking(booking_id)

    def _message_provider(self, skill: Skill) -> None:
        self._pending = skill
        self.window.bridge.open_conversation(skill.provider_id, skill.id)

    def conversation_opened(self, cid: str) -> None:
        """Place a conversation just opened: beside the booking view that asked for it, else
        on the right side (the Chats tab chosen)."""
        skill, self._pending = self._pending, None
        self.skill_page.opened()
        entry = None
        if skill is not None:
            entry = ConversationEntry(
                cid, skill.provider_id, skill.provider_name, None, None, None, 0
            )
        page = self._booking_page
        if self._beside and page is not None and self.window.right.currentWidget() is page:
            self.window.chat.open(cid, self.window.known_entry(cid) or entry)
            page.place_chat(self.window.chat)
            return
        self._beside = False
        self.window.tabs.setCurrentIndex(0)
        self.window.open_conversation(cid, entry)

    def chat_to_stack(self) -> None:
        """Put the chat back on the right side's stack (before showing it there)."""
        chat = self.window.chat
        if chat.parent() is not self.window.right:
            self.window.right.addWidget(chat)

    def _page_changed(self, _index: int) -> None:
        page = self._booking_page
        if page is not None and self.window.right.currentWidget() is not page:
            page.leave()
            self._beside = False

    def failed(self) -> None:
        """A command failed (maybe the opening of a conversation): nothing is pending."""
        self.skill_page.opened()
        self._pending, self._beside = None, False


class BookingList(ListPanel):
    """The Bookings tab: my bookings as student and as provider, live, newest first; a click
    opens the booking view, the context menu confirms, declines or cancels."""

    def __init__(self, pages: MarketPages, parent: QWidget | None = None) -> None:
        empty = "No bookings yet. Book a session from a skill's page."
        super().__init__("Bookings", empty, parent)
        self.pages = pages
        self.bookings = pages.bookings
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.bookings.bookingsChanged.connect(lambda _: self.refresh())
        self.bookings.slotsChanged.connect(lambda *_: self.refresh())
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._want()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.bookings.want(self, [])

    def _want(self) -> None:  # the slots of my active bookings say when they are
        active = [b for b in self.bookings.bookings() if b.status.active]
        self.bookings.want(self, {booking.skill_id for booking in active})

    def refresh(self) -> None:
        """Rebuild the rows (a handful) from the live bookings."""
        if self.isVisible():
            self._want()
        current = self.list.currentItem()
        chosen = current.data(BOOKING_ROLE).booking_id if current is not None else None
        self.list.clear()
        for booking in self.bookings.bookings():
            item = QListWidgetItem(self.describe(booking))
            item.setData(BOOKING_ROLE, booking)
            self.list.addItem(item)
            if booking.booking_id == chosen:
                self.list.setCurrentItem(item)
        self.stack.setCurrentWidget(self.list if self.list.count() else self.empty)

    def describe(self, booking: Booking) -> str:
        """``Guitar with Leo`` / ``Tue 3 Dec, 09:00 CET · confirmed``."""
        mine = booking.student_id == self.bookings.uid
        who = self.bookings.name_of(booking.party(self.bookings.uid or ""))
        slot = self.bookings.slot(booking.slot)
        when = self.bookings.when(slot.start) if slot is not None else booking.date
        role = f"with {who}" if mine else f"for {who}"
        return f"Session {role}\n{when} · {self.bookings.status_text(booking)}"

    def chosen(self, item: QListWidgetItem) -> None:
        booking = item.data(BOOKING_ROLE)
        if isinstance(booking, Booking):
            self.pages.open_booking(booking.booking_id)

    def _menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        booking = item.data(BOOKING_ROLE) if item is not None else None
        if not isinstance(booking, Booking):
            return
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        booking_actions(menu, self.bookings, booking)  # (errors: the status line)
        if not menu.isEmpty():
            menu.popup(self.list.viewport().mapToGlobal(pos))
