"""The notification bell beside the account button: an unread badge and a dropdown list."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QPoint, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QPainter, QPaintEvent, QPalette, QPen, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.core.model import Notification
from desktop_chat.ui.bridge import ChatBridge, Skill
from desktop_chat.ui.notification_delegate import NotificationDelegate, draw_badge, draw_bell
from desktop_chat.ui.notification_model import NotificationListModel, NotificationRoles, badge_count
from desktop_chat.ui.theme import current_theme, scaled_font

if TYPE_CHECKING:
    from desktop_chat.ui.main_window import MainWindow

__all__ = ["NotificationBell", "NotificationPopup", "bell_name"]

log = logging.getLogger("desktop_chat.ui")

BELL = 40
"""The bell button's side (logical pixels)."""
POPUP_WIDTH = 380
POPUP_MAX_HEIGHT = 460
TIMES_REFRESH_MS = 60_000


def bell_name(unread: int) -> str:
    """The bell's accessible name: "Notifications, 3 unread"."""
    return f"Notifications, {unread} unread"


class NotificationPopup(QFrame):
    """The dropdown under the bell: "Notifications", "Mark all as read" and the list (or
    "No notifications yet"). Enter or a click on a row reports it; Esc closes."""

    chosen = Signal(object)
    """A :class:`Notification` the person picked."""

    def __init__(self, model: NotificationListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setAttribute(Qt.WidgetAttribute.WA_NoMouseReplay)  # the closing click stays there
        self.setAccessibleName("Notifications")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.model = model
        heading = QLabel("Notifications", self)
        heading.setFont(scaled_font(self.font(), 1.1, bold=True))
        heading.setAccessibleName("Notifications")
        self.mark_all = QPushButton("Mark all as read", self)
        self.mark_all.setAccessibleName("Mark all as read")
        self.mark_all.setFlat(True)
        self.mark_all.setCursor(Qt.CursorShape.PointingHandCursor)
        self.list = QListView(self)
        self.list.setAccessibleName("Notifications")
        self.list.setModel(model)
        self.list.setItemDelegate(NotificationDelegate(self.list))
        self.list.setUniformItemSizes(True)
        self.list.setMouseTracking(True)  # (hover backgrounds)
        self.list.setFrameShape(QFrame.Shape.NoFrame)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.clicked.connect(self._picked)
        self.list.activated.connect(self._picked)
        self.empty = QLabel("No notifications yet", self)
        self.empty.setAccessibleName("No notifications yet")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.list)
        self.stack.addWidget(self.empty)
        top = QHBoxLayout()
        top.setContentsMargins(12, 8, 6, 4)
        top.addWidget(heading, 1)
        top.addWidget(self.mark_all)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.setSpacing(0)
        layout.addLayout(top)
        layout.addWidget(self.stack, 1)
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            signal.connect(self._update)
        model.unreadChanged.connect(self._update)
        self._update()

    def _update(self, *_args: object) -> None:
        rows = self.model.rowCount()
        self.stack.setCurrentWidget(self.list if rows else self.empty)
        self.mark_all.setEnabled(self.model.unread > 0)

    def _picked(self, index: QModelIndex) -> None:
        item = index.data(NotificationRoles.Notification)
        if isinstance(item, Notification):
            self.close()
            self.chosen.emit(item)

    def sizeHint(self) -> QSize:
        rows = self.model.rowCount()
        row = self.list.sizeHintForRow(0) if rows else 0
        height = 48 + (min(rows * row, POPUP_MAX_HEIGHT - 48) if rows else 140)
        return QSize(POPUP_WIDTH, height)

    def open_under(self, anchor: QWidget) -> None:
        """Show under *anchor*, its left edge at the anchor's (kept on the screen), the
        keyboard on the first row."""
        self.model.refresh_times()
        self._update()
        theme = current_theme()
        self.mark_all.setStyleSheet(
            f"QPushButton {{ color: {theme.accent_fg}; border: none; padding: 4px 8px; }}"
            f"QPushButton:disabled {{ color: {theme.secondary}; }}"
        )
        size = self.sizeHint()
        self.resize(size)
        at = anchor.mapToGlobal(QPoint(0, anchor.height() + 2))
        screen = anchor.screen().availableGeometry()
        at.setX(max(screen.left(), min(at.x(), screen.right() - size.width())))
        self.move(at)
        self.show()
        if self.model.rowCount():
            self.list.setCurrentIndex(self.model.index(0))
            self.list.setFocus(Qt.FocusReason.PopupFocusReason)
        else:
            self.mark_all.setFocus(Qt.FocusReason.PopupFocusReason)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close()
            return
        super().keyPressEvent(event)


class NotificationBell(QToolButton):
    """A bell with the unread count painted as a badge ("9+" above nine); a click, Space or
    Enter opens the :class:`NotificationPopup`. Choosing a notification marks it read and
    opens what it links: its conversation, the skill's page, or for a booking the
    conversation with the other party. The count is the bridge's (every kind)."""

    def __init__(self, bridge: ChatBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.unread = bridge.unread_notifications
        self._pending_skill: str | None = None
        self.setAutoRaise(True)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleDescription("Opens the list of notifications")
        self.model = NotificationListModel(self)
        self.popup = NotificationPopup(self.model, self)
        self.popup.chosen.connect(self.open_notification)
        self.popup.mark_all.clicked.connect(self.mark_all_read)
        self.clicked.connect(self.toggle)
        self._times = QTimer(self)
        self._times.setInterval(TIMES_REFRESH_MS)
        self._times.timeout.connect(self.model.refresh_times)
        self._times.start()
        bridge.notificationsLoaded.connect(self.model.load)
        bridge.notificationReceived.connect(self.model.add)
        bridge.notificationChanged.connect(self.model.change)
        bridge.unreadNotificationsChanged.connect(self.set_unread)
        bridge.skillsLoaded.connect(self._skills_loaded)
        self.set_unread(self.unread)

    # the count -----------------------------------------------------------------------------
    def set_unread(self, unread: int) -> None:
        self.unread = unread
        self.setAccessibleName(bell_name(unread))
        self.setToolTip("Notifications" if not unread else f"Notifications: {unread} unread")
        self.update()

    @property
    def badge(self) -> str:
        """What the badge shows: "3", "9+", or "" for none."""
        return badge_count(self.unread)

    # opening -------------------------------------------------------------------------------
    @property
    def main(self) -> MainWindow:
        """The window the bell is in (looked up, not kept: no reference cycle, so the
        window's Python side outlives its widgets)."""
        return self.window()  # type: ignore[return-value]

    def toggle(self) -> None:
        if self.popup.isVisible():
            self.popup.close()
        else:
            self.popup.open_under(self)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.toggle()
            return
        super().keyPressEvent(event)

    def mark_all_read(self) -> None:
        self.bridge.mark_all_notifications_read()

    def open_notification(self, item: Notification) -> None:
        """Mark *item* read and open what it links to."""
        if not item.read and not self.bridge.closed:
            self.bridge.mark_notification_read(item.id)
        link = item.link
        if link is None:
            return
        if link.conversation_id is not None and self.bridge.other_of(link.conversation_id):
            self.main.tabs.setCurrentIndex(0)
            self.main.open_conversation(link.conversation_id)
        elif link.skill_id is not None:
            self._pending_skill = link.skill_id
            self.bridge.load_skills()
        elif link.booking_id is not None:
            self.main.pages.open_booking(link.booking_id)

    def _skills_loaded(self, skills: list[Skill]) -> None:
        wanted, self._pending_skill = self._pending_skill, None
        skill = next((skill for skill in skills if skill.id == wanted), None)
        if wanted is not None and skill is not None:
            self.main.show_skill(skill)
        elif wanted is not None:
            log.info("skill %s of a notification is gone", wanted)

    # painting ------------------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        return QSize(BELL, BELL)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def paintEvent(self, _event: QPaintEvent) -> None:
        theme = current_theme()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        box = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        if self.isDown() or self.underMouse() or self.popup.isVisible():
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.colour("selected" if self.popup.isVisible() else "hover"))
            painter.drawRoundedRect(box, 8, 8)
        if self.hasFocus():
            painter.setPen(QPen(theme.colour("accent_fg"), 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(box.adjusted(1, 1, -1, -1), 7, 7)
        side = BELL * 0.55
        bell = QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
        draw_bell(painter, bell, theme.colour("text"))
        font = scaled_font(self.font(), 0.72, bold=True)
        draw_badge(painter, QPointF(self.width() - 2, 3), self.badge, font, theme)
        painter.end()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.update()
