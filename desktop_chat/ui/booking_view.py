"""The booking view: a skill's dates and live slots to book or manage, the chat beside it."""

from __future__ import annotations

import datetime as dt
import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.core.booking import AvailabilitySlot, Booking, CardState
from desktop_chat.core.model import Slot
from desktop_chat.ui.booking_bridge import BookingBridge, zone_note
from desktop_chat.ui.booking_card import state_label
from desktop_chat.ui.bridge import Skill
from desktop_chat.ui.formatting import now_ms
from desktop_chat.ui.provider_tools import ProviderTools, booking_actions
from desktop_chat.ui.theme import ACCENT, SIZES, scaled_font

__all__ = ["BookingPage", "SlotButton"]

log = logging.getLogger("desktop_chat.ui")

COLUMNS = 3


class SlotButton(QPushButton):
    """One slot in the grid: its local times and its state."""

    def __init__(
        self, slot: AvailabilitySlot, state: CardState, text: str, parent: QWidget
    ) -> None:
        super().__init__(text, parent)
        self.slot = slot
        self.state = state
        self.setMinimumHeight(SIZES.avatar + 8)
        self.setMinimumWidth(96)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        free = state is CardState.AVAILABLE
        mine = state in (CardState.REQUESTED, CardState.CONFIRMED)
        style = "QPushButton { border-radius: 8px; padding: 6px 10px; text-align: left; "
        if free:
            style += f"background: {ACCENT}; color: white; border: none; font-weight: 600; }}"
        elif mine:
            style += f"border: 2px solid {ACCENT}; }}"
        else:
            style += "border: 1px dashed palette(mid); color: palette(placeholder-text); }"
        self.setStyleSheet(style)


class BookingPage(QWidget):
    """A skill's booking view. Students see the dates that have slots and each day's slots
    live (a slot taken elsewhere turns unavailable here within a moment) and book with one
    click; the skill's provider adds and removes slots, fills weeks from a template and
    answers requests. The chat with the provider sits beside (:meth:`place_chat`)."""

    closeRequested = Signal()

    def __init__(self, bookings: BookingBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bookings = bookings
        self.skill: Skill | None = None
        self.day: dt.date | None = None
        self.setAccessibleName("Booking")
        panel = QWidget(self)
        self.title = QLabel(panel)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setFont(scaled_font(self.font(), 1.4, bold=True))
        self.title.setWordWrap(True)
        self.title.setAccessibleName("Skill title")
        self.subtitle = QLabel(panel)
        self.subtitle.setTextFormat(Qt.TextFormat.PlainText)
        self.subtitle.setAccessibleName("Provider")
        self.zone = QLabel(panel)
        self.zone.setAccessibleName("Time zone")
        self.zone.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.back = QPushButton("\N{LEFTWARDS ARROW} Skill", panel)
        self.back.setAccessibleName("Back to the skill")
        self.back.setFlat(True)
        self.back.clicked.connect(self.closeRequested)
        self.dates = QHBoxLayout()
        self.dates.setSpacing(4)
        self.date_group = QButtonGroup(self)
        self.date_group.setExclusive(True)
        self.grid = QGridLayout()
        self.grid.setSpacing(6)
        self.empty = QLabel(panel)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.empty.setAccessibleName("No slots")
        self.empty.setWordWrap(True)
        self.outcome = QLabel(panel)
        self.outcome.setWordWrap(True)
        self.outcome.setAccessibleName("Outcome")
        self.tools = ProviderTools(bookings, panel)
        layout = QVBoxLayout(panel)
        margin = SIZES.margin * 2
        layout.setContentsMargins(margin, margin, margin, margin)
        layout.setSpacing(SIZES.margin)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.back, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(top)
        for widget in (self.subtitle, self.zone):
            layout.addWidget(widget)
        layout.addLayout(self.dates)
        layout.addLayout(self.grid)
        layout.addWidget(self.empty)
        layout.addWidget(self.outcome)
        layout.addWidget(self.tools)
        layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(360)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(panel)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setAccessibleName("Booking and chat")
        self.splitter.addWidget(scroll)
        self.splitter.setChildrenCollapsible(False)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.splitter)
        bookings.slotsChanged.connect(self._slots_changed)
        bookings.bookingsChanged.connect(lambda _: self.refresh())
        bookings.booked.connect(self._booked)
        bookings.slotTaken.connect(self._taken)
        bookings.done.connect(self._said)
        bookings.error.connect(self._failed)

    # showing a skill -----------------------------------------------------------------------
    @property
    def mine(self) -> bool:
        return self.skill is not None and self.skill.provider_id == self.bookings.uid

    def show_skill(self, skill: Skill) -> None:
        """Show *skill*'s slots (streaming from now on)."""
        self.skill = skill
        self.day = None
        self.title.setText(skill.title)
        who = "You offer this skill" if self.mine else f"With {skill.provider_name}"
        facts = f"{skill.duration_minutes} minutes · price {skill.price_text}"
        self.subtitle.setText(f"{who} · {facts}")
        self.zone.setText(zone_note(self.bookings.zone))
        self.outcome.clear()
        self.tools.show_skill(skill if self.mine else None)
        self.bookings.want(self, [skill.id])
        self.refresh()

    def leave(self) -> None:
        """Off screen: its skill stops streaming."""
        self.bookings.want(self, [])

    def place_chat(self, chat: QWidget) -> None:
        """Put the chat with the provider beside the slots."""
        if chat.parent() is not self.splitter:
            self.splitter.addWidget(chat)
            width = max(self.width(), 760)
            self.splitter.setSizes([width * 11 // 20, width * 9 // 20])
        chat.show()

    def _slots_changed(self, skill_id: str, _slots: object) -> None:
        if self.skill is not None and skill_id == self.skill.id:
            self.refresh()

    def _local_day(self, slot: AvailabilitySlot) -> dt.date:
        return dt.datetime.fromtimestamp(slot.start / 1000, self.bookings.zone).date()

    def upcoming(self) -> list[AvailabilitySlot]:
        """The skill's slots that have not ended, by start."""
        if self.skill is None:
            return []
        now = now_ms()
        return [s for s in self.bookings.slots(self.skill.id) or [] if s.end > now]

    def refresh(self) -> None:
        """Rebuild the dates and the day's slots from what is known now."""
        if self.skill is None:
            return
        known = self.bookings.slots(self.skill.id) is not None
        slots = self.upcoming()
        days = sorted({self._local_day(slot) for slot in slots})
        if self.day not in days:
            free = [self._local_day(s) for s in slots if s.available]
            self.day = free[0] if free else (days[0] if days else None)
        self._fill_dates(days)
        self._fill_grid([s for s in slots if self._local_day(s) == self.day])
        if not known:
            self.empty.setText("Loading the slots…")
        elif not slots:
            self.empty.setText(
                "No slots yet: add some, or fill the weeks ahead from a template."
                if self.mine
                else "No free times right now. Message the provider to ask for one."
            )
        self.empty.setVisible(not known or not slots)
        self.tools.refresh()

    def _fill_dates(self, days: list[dt.date]) -> None:
        for button in self.date_group.buttons():
            self.date_group.removeButton(button)
            button.deleteLater()
        while self.dates.count():
            self.dates.takeAt(0)
        for day in days[:14]:
            button = QPushButton(f"{day:%a}\n{day.day} {day:%b}", self)
            button.setCheckable(True)
            button.setChecked(day == self.day)
            button.setAccessibleName(f"{day:%A} {day.day} {day:%B}")
            button.setMinimumWidth(56)
            button.clicked.connect(lambda _=False, chosen=day: self._choose_day(chosen))
            self.date_group.addButton(button)
            self.dates.addWidget(button)
        self.dates.addStretch(1)

    def _choose_day(self, day: dt.date) -> None:
        self.day = day
        self.refresh()

    def _fill_grid(self, slots: list[AvailabilitySlot]) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for n, slot in enumerate(slots):
            state = self.bookings.card_state(slot.slot)
            zone = self.bookings.zone
            start = dt.datetime.fromtimestamp(slot.start / 1000, zone)
            end = dt.datetime.fromtimestamp(slot.end / 1000, zone)
            words = state_label(state, provider=self.mine)
            button = SlotButton(slot, state, f"{start:%H:%M}\N{EN DASH}{end:%H:%M}\n{words}", self)
            button.setAccessibleName(f"{start:%H:%M} to {end:%H:%M}, {words}")
            button.clicked.connect(lambda _=False, b=button: self._slot_clicked(b))
            button.setEnabled(self.mine or state is CardState.AVAILABLE)
            self.grid.addWidget(button, n // COLUMNS, n % COLUMNS)

    def slot_buttons(self) -> list[SlotButton]:
        items = (self.grid.itemAt(i) for i in range(self.grid.count()))
        widgets = (item.widget() for item in items if item is not None)
        return [widget for widget in widgets if isinstance(widget, SlotButton)]

    # acting on a slot ----------------------------------------------------------------------
    def _slot_clicked(self, button: SlotButton) -> None:
        if self.mine:
            self._provider_menu(button)
            return
        self.outcome.setText("Booking…")
        button.setEnabled(False)
        self.bookings.book(button.slot.slot, origin=self)

    def _provider_menu(self, button: SlotButton) -> None:
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        slot = button.slot
        booking = self._booking_of(slot)
        if slot.available:
            menu.addAction("Remove slot", lambda: self.bookings.remove_slot(slot, origin=self))
        elif booking is not None:
            booking_actions(menu, self.bookings, booking, self)
        menu.popup(button.mapToGlobal(button.rect().bottomLeft()))

    def _booking_of(self, slot: AvailabilitySlot) -> Booking | None:
        for booking in self.bookings.bookings():
            if booking.booking_id == slot.booking_id:
                return booking
        return None

    def _mine(self, origin: object) -> bool:
        return origin is self or origin is self.tools

    def _said(self, sentence: str, origin: object) -> None:
        if self._mine(origin):
            self.outcome.setText(sentence)

    def _failed(self, sentence: str, origin: object) -> None:
        if self._mine(origin):
            self.outcome.setText(sentence)
            self.refresh()  # (the slot clicked works again)

    def _booked(self, booking: Booking, origin: object) -> None:
        if not self._mine(origin):
            return
        slot = self.bookings.slot(booking.slot)
        when = self.bookings.when(slot.start) if slot is not None else "the session"
        self.outcome.setText(f"Requested {when}: the provider has been asked to confirm.")
        self.refresh()

    def _taken(self, _slot: Slot | None, origin: object) -> None:
        if self._mine(origin):
            self.outcome.setText("This slot was just taken. Please pick another time.")
            self.refresh()
