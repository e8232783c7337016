"""Booking cards in the chat: live state lines, one-click booking, proposals, the header line."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QLabel, QMenu, QToolButton, QVBoxLayout

from desktop_chat.core.booking import AvailabilitySlot, Booking, CardState
from desktop_chat.core.model import Message, MessageType, Slot
from desktop_chat.ui.booking_bridge import BookingBridge
from desktop_chat.ui.bridge import Skill
from desktop_chat.ui.bubble_layout import Fonts
from desktop_chat.ui.formatting import now_ms
from desktop_chat.ui.message_model import MessageListModel
from desktop_chat.ui.theme import Theme

if TYPE_CHECKING:
    from desktop_chat.ui.chat_view import ChatView

__all__ = [
    "CardLine",
    "ChatBooking",
    "card_height",
    "card_width",
    "draw_card_line",
    "is_card",
    "state_label",
]

log = logging.getLogger("desktop_chat.ui")

PROPOSALS = 8  # free slots offered by "Propose a time"
NOTICE_MS = 6000
_PAD_H, _PAD_V, _GAP = 8.0, 3.0, 4.0
_COLOURS = {  # chip fill per state (text is white on all but the greys)
    CardState.AVAILABLE: "#1E8E3E",
    CardState.REQUESTED: "#B26A00",
    CardState.CONFIRMED: "#1565C0",
}
CardLine = tuple[str, CardState]

_LABELS = {
    CardState.AVAILABLE: "Free",
    CardState.TAKEN: "Taken",
    CardState.REQUESTED: "Requested",
    CardState.CONFIRMED: "Confirmed",
    CardState.PAST: "Past",
    CardState.GONE: "No longer offered",
    CardState.UNKNOWN: "Loading…",
}


def state_label(state: CardState, *, provider: bool = False) -> str:
    """A slot's state in words, as the student or the provider sees it."""
    if provider and state is CardState.TAKEN:
        return "Booked"
    if state is CardState.REQUESTED:
        return "Asks you to confirm" if provider else "Requested by you"
    return _LABELS[state]


def is_card(message: Message) -> bool:
    return message.type is MessageType.BOOKING_PROPOSAL and message.slot is not None


def card_height(fonts: Fonts) -> float:
    """The room a card's state line takes under its text."""
    return fonts.small_fm.height() + 2 * _PAD_V + 2 * _GAP


def card_width(fonts: Fonts) -> float:
    """The narrowest a card is, so every state line fits."""
    return fonts.small_fm.horizontalAdvance("Wed 30 Sep, 09:00 CEST · Free · click to book") + 30


def draw_card_line(
    painter: QPainter, fonts: Fonts, theme: Theme, top_left: QPointF, line: CardLine
) -> None:
    """The state chip of a card (a rounded label, coloured by state)."""
    text, state = line
    fm = fonts.small_fm
    rect = QRectF(
        top_left.x(),
        top_left.y() + _GAP,
        fm.horizontalAdvance(text) + 2 * _PAD_H,
        fm.height() + 2 * _PAD_V,
    )
    fill = _COLOURS.get(state)
    painter.save()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(fill or theme.separator))
    painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
    painter.setPen(QColor("#FFFFFF" if fill else theme.separator_text))
    painter.setFont(fonts.small)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


class ChatBooking(QObject):
    """Booking inside one chat view: the cards' skills stream while the conversation is
    open, a click on a free card books it (as the student), "Propose a time" sends a card
    bound to one of the provider's free slots, and the header shows the skill last
    discussed and the next confirmed session between the two."""

    def __init__(self, chat: ChatView, bookings: BookingBridge) -> None:
        super().__init__(chat)
        self.chat = chat
        self.bookings = bookings
        self.skill_id: str | None = None  # the skill last discussed
        self.provider: str | None = None  # its provider
        self.title = ""
        self._about: dict[str, str | None] = {}  # conversation -> its metadata's skillId
        self._reading: set[str] = set()  # skills asked for (their providers)
        self.notice = QLabel(chat.page)
        self.notice.setAccessibleName("Booking notice")
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setWordWrap(True)
        self.notice.hide()
        column = chat.page.layout()
        if isinstance(column, QVBoxLayout):
            column.insertWidget(column.indexOf(chat.typing_line), self.notice)
        self._hide = QTimer(self)
        self._hide.setSingleShot(True)
        self._hide.setInterval(NOTICE_MS)
        self._hide.timeout.connect(self.notice.hide)
        chat.delegate.cards = self.line_for
        self.propose = QToolButton(chat.input)
        self.propose.setText("\N{CALENDAR}")
        self.propose.setAutoRaise(True)
        self.propose.setToolTip("Propose a time")
        self.propose.setAccessibleName("Propose a time")
        self.propose.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu = QMenu(self.propose)
        self.menu.aboutToShow.connect(self._fill_menu)
        self.propose.setMenu(self.menu)
        chat.input.add_tool(self.propose)
        chat.history.clicked.connect(self._clicked)
        chat.installEventFilter(self)  # (on screen or not: its skills stream only while shown)
        for signal in (chat.model.rowsInserted, chat.model.modelReset, chat.model.rowsRemoved):
            signal.connect(self.follow)
        bookings.slotsChanged.connect(lambda *_: self.refresh())
        bookings.bookingsChanged.connect(lambda _: self.follow())
        bookings.skillRead.connect(self._skill_read)
        bookings.slotTaken.connect(self._taken)
        bookings.booked.connect(self._booked)
        bookings.error.connect(self._failed)
        bookings.conversationSkill.connect(self._about_read)

    # what the conversation is about ------------------------------------------------------
    def _cards(self) -> list[Message]:
        model = self.chat.model
        found = (model.message(row) for row in range(model.rowCount()))
        return [m for m in found if m is not None and is_card(m)]

    def follow(self, *_: object) -> None:
        """Stream the skills the open conversation's cards (and its skillId) are about."""
        cards = self._cards()
        cid = self.chat.cid
        if cid is not None and cid not in self._about:
            self._about[cid] = None
            self.bookings.read_conversation_skill(cid)
        skill = cards[-1].slot.skill_id if cards and cards[-1].slot else None
        skill = skill or (self._about.get(cid) if cid is not None else None)
        if skill != self.skill_id:
            self.skill_id, self.provider = skill, None
            if skill is not None:
                self.bookings.read_skill(skill)  # (its title and provider, for the header)
        wanted = {m.slot.skill_id for m in cards if m.slot is not None}
        for card_skill in wanted - {skill} - self._reading:
            if self.bookings.provider_of(card_skill) is None:
                self._reading.add(card_skill)
                self.bookings.read_skill(card_skill)  # (who its provider is: who books)
        other = self.chat.other
        sessions = {
            b.skill_id
            for b in self.bookings.bookings()
            if other and b.party(self.bookings.uid or "") == other and b.status.active
        }
        if self.chat.isVisible():
            self.bookings.want(self, wanted | sessions | ({skill} if skill else set()))
        self.refresh()

    def leave(self) -> None:
        self.bookings.want(self, [])

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.chat and event.type() == QEvent.Type.Hide:
            self.leave()
        elif watched is self.chat and event.type() == QEvent.Type.Show:
            self.follow()
        return False

    def _about_read(self, cid: str, skill_id: str) -> None:
        self._about[cid] = skill_id
        if cid == self.chat.cid:
            self.follow()

    def _skill_read(self, skill: Skill) -> None:
        if skill.id == self.skill_id:
            self.provider, self.title = skill.provider_id, skill.title
            self.refresh()

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.show()
        self._hide.start()

    def refresh(self) -> None:
        """Repaint the cards (their states live) and the header's booking line."""
        self.chat.history.viewport().update()
        self.chat.header.set_booking_line(self.header_line())
        other = self.chat.other
        self.propose.setVisible(other is not None and self.provider in (other, self.bookings.uid))

    def header_line(self) -> str:
        parts = []
        if self.skill_id is not None and self.provider is not None:
            parts.append(self.title)
        other = self.chat.other
        found = self.bookings.next_session(other) if other is not None else None
        if found is not None:
            booking, slot = found
            when = self.bookings.when(slot.start) if slot is not None else booking.date
            parts.append(f"Next session {when}")
        return " · ".join(part for part in parts if part)

    # cards -------------------------------------------------------------------------------
    def line_for(self, message: Message) -> CardLine:
        assert message.slot is not None
        state = self.bookings.card_state(message.slot)
        provider = self.bookings.provider_of(message.slot.skill_id) == self.bookings.uid
        text = state_label(state, provider=provider)
        if state is CardState.AVAILABLE and not provider:
            text = "Free · click to book"
        slot = self.bookings.slot(message.slot)
        return (f"{self.bookings.when(slot.start)} · {text}" if slot else text), state

    def _clicked(self, index: QModelIndex) -> None:
        model = self.chat.model
        message = model.message(index.row()) if isinstance(model, MessageListModel) else None
        if message is None or not is_card(message) or message.slot is None:
            return
        if self.bookings.provider_of(message.slot.skill_id) in (None, self.bookings.uid):
            return  # (not known yet, or my own slot: managed from the booking view)
        if self.bookings.card_state(message.slot) is CardState.AVAILABLE:
            self.bookings.book(message.slot, origin=self)

    def _booked(self, _booking: Booking, origin: object) -> None:
        if origin is self:
            self.show_notice("Requested: the provider has been asked to confirm.")

    def _taken(self, _slot: Slot | None, origin: object) -> None:
        if origin is self:
            self.show_notice("This slot was just taken. Please pick another time.")
        self.refresh()

    def _failed(self, sentence: str, origin: object) -> None:
        if origin is self:
            self.show_notice(sentence)

    # proposing ---------------------------------------------------------------------------
    def free_slots(self) -> list[AvailabilitySlot]:
        """The next free slots of the skill discussed (what "Propose a time" offers)."""
        if self.skill_id is None:
            return []
        now = now_ms()
        slots = self.bookings.slots(self.skill_id) or []
        return [s for s in slots if s.available and s.start > now][:PROPOSALS]

    def _fill_menu(self) -> None:
        self.menu.clear()
        cid = self.chat.cid
        free = self.free_slots()
        if cid is None or not free:
            self.menu.addAction("No free times to propose").setEnabled(False)
            return
        for slot in free:
            self.menu.addAction(self.bookings.when(slot.start), partial(self._propose, cid, slot))

    def _propose(self, cid: str, slot: AvailabilitySlot) -> None:
        self.bookings.propose(cid, slot, origin=self)
