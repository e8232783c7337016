"""A provider's tools under their slots: add a slot, a weekly template, answer requests."""

from __future__ import annotations

import logging
import re

from PySide6.QtCore import QDateTime, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QDateTimeEdit,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.core.booking import Booking, BookingStatus, WeeklyTemplate
from desktop_chat.core.errors import CoreError
from desktop_chat.ui.booking_bridge import BookingBridge
from desktop_chat.ui.bridge import Skill
from desktop_chat.ui.formatting import now_ms

__all__ = ["ProviderTools", "booking_actions", "parse_times"]

log = logging.getLogger("desktop_chat.ui")

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_times(text: str) -> tuple[int, ...]:
    """``"09:00, 14:30"`` -> minutes after midnight; ValueError naming the first bad one."""
    found: list[int] = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        match = _TIME.match(part)
        if match is None:
            raise ValueError(f"{part!r} is not a time like 09:30")
        found.append(int(match.group(1)) * 60 + int(match.group(2)))
    if not found:
        raise ValueError("give at least one start time, like 09:00")
    return tuple(sorted(set(found)))


def booking_actions(
    menu: QMenu, bookings: BookingBridge, booking: Booking, origin: object = None
) -> None:
    """The actions *booking* allows me: Confirm / Decline a request (its provider), Cancel a
    requested or confirmed one (either side); their outcomes go to *origin*."""
    bid = booking.booking_id
    if booking.provider_id == bookings.uid and booking.status is BookingStatus.REQUESTED:
        menu.addAction("Confirm", lambda: bookings.confirm(bid, origin))
        menu.addAction("Decline", lambda: bookings.decline(bid, origin))
    if booking.status.active:
        menu.addAction("Cancel booking", lambda: bookings.cancel(bid, origin))


class ProviderTools(QWidget):
    """Shown to a skill's provider only (:meth:`show_skill` with None hides it)."""

    def __init__(self, bookings: BookingBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bookings = bookings
        self.skill: Skill | None = None
        self.setAccessibleName("Provider tools")
        self.requests = QVBoxLayout()
        self.requests_box = QGroupBox("Booking requests", self)
        self.requests_box.setLayout(self.requests)
        self.no_requests = QLabel("No requests waiting.", self.requests_box)
        self.no_requests.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        adding = QGroupBox("Add a slot", self)
        self.start = QDateTimeEdit(adding)
        self.start.setAccessibleName("Slot start")
        self.start.setCalendarPopup(True)
        self.start.setDisplayFormat("ddd d MMM yyyy  HH:mm")
        self.minutes = QSpinBox(adding)
        self.minutes.setAccessibleName("Slot length in minutes")
        self.minutes.setRange(5, 1440)
        self.minutes.setSingleStep(15)
        self.minutes.setSuffix(" min")
        self.add = QPushButton("Add slot", adding)
        self.add.clicked.connect(self._add)
        row = QHBoxLayout(adding)
        row.addWidget(self.start, 1)
        row.addWidget(self.minutes)
        row.addWidget(self.add)

        weekly = QGroupBox("Weekly template: fill the next two weeks", self)
        self.days: list[QCheckBox] = []
        days = QHBoxLayout()
        for n, name in enumerate(WEEKDAYS):
            box = QCheckBox(name, weekly)
            box.setChecked(n < 5)
            self.days.append(box)
            days.addWidget(box)
        self.times = QLineEdit("09:00, 14:00", weekly)
        self.times.setAccessibleName("Start times")
        self.times.setPlaceholderText("Start times, like 09:00, 14:00")
        self.fill = QPushButton("Fill weeks", weekly)
        self.fill.clicked.connect(self._fill)
        times = QHBoxLayout()
        times.addWidget(QLabel("Starts:", weekly))
        times.addWidget(self.times, 1)
        times.addWidget(self.fill)
        column = QVBoxLayout(weekly)
        column.addLayout(days)
        column.addLayout(times)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for group in (self.requests_box, adding, weekly):
            layout.addWidget(group)
        self.setVisible(False)

    def show_skill(self, skill: Skill | None) -> None:
        self.skill = skill
        self.setVisible(skill is not None)
        if skill is not None:
            self.minutes.setValue(skill.duration_minutes)
            start = QDateTime.fromMSecsSinceEpoch(now_ms() + 86_400_000)
            start.setTime(start.time().fromString("09:00", "HH:mm"))
            self.start.setDateTime(start)
        self.refresh()

    def requests_waiting(self) -> list[Booking]:
        if self.skill is None:
            return []
        return [
            b
            for b in self.bookings.bookings()
            if b.skill_id == self.skill.id
            and b.provider_id == self.bookings.uid
            and b.status is BookingStatus.REQUESTED
        ]

    def refresh(self) -> None:
        while self.requests.count():
            item = self.requests.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None and widget is not self.no_requests:
                widget.deleteLater()
        waiting = self.requests_waiting()
        self.requests.addWidget(self.no_requests)
        self.no_requests.setVisible(not waiting)
        for booking in waiting:
            self.requests.addWidget(self._request_row(booking))

    def _request_row(self, booking: Booking) -> QWidget:
        row = QWidget(self.requests_box)
        row.setAccessibleName("Booking request")
        slot = self.bookings.slot(booking.slot)
        when = self.bookings.when(slot.start) if slot is not None else booking.date
        label = QLabel(f"{self.bookings.name_of(booking.student_id)} · {when}", row)
        label.setTextFormat(Qt.TextFormat.PlainText)
        confirm = QPushButton("Confirm", row)
        confirm.clicked.connect(lambda: self.bookings.confirm(booking.booking_id, self))
        decline = QPushButton("Decline", row)
        decline.clicked.connect(lambda: self.bookings.decline(booking.booking_id, self))
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(label, 1)
        layout.addWidget(confirm)
        layout.addWidget(decline)
        return row

    def _add(self) -> None:
        if self.skill is None:
            return
        start = self.start.dateTime().toMSecsSinceEpoch()
        if start <= now_ms():
            self.bookings.error.emit("A slot must start in the future.", self)
            return
        self.bookings.add_slot(self.skill.id, start, self.minutes.value(), self)

    def _fill(self) -> None:
        if self.skill is None:
            return
        try:
            starts = parse_times(self.times.text())
            chosen = {n: starts for n, box in enumerate(self.days) if box.isChecked()}
            if not chosen:
                raise ValueError("choose at least one weekday")
            template = WeeklyTemplate(chosen, self.minutes.value())
        except (ValueError, CoreError) as exc:
            self.bookings.error.emit(f"Could not fill the weeks: {exc}.", self)
            return
        self.bookings.apply_template(self.skill.id, template, self)
