"""Chat header (presence, Block), typing line, status line; escaped linkify for rich text."""

from __future__ import annotations

import html
import logging
import re

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QHideEvent, QPalette, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.ui.avatars import AvatarCache
from desktop_chat.ui.bridge import ChatBridge
from desktop_chat.ui.formatting import last_seen_text, now_ms
from desktop_chat.ui.theme import SIZES, scaled_font

__all__ = ["URL", "ChatHeader", "StatusLine", "TypingLine", "find_links", "linkify"]

log = logging.getLogger("desktop_chat.ui")

URL = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]}]", re.IGNORECASE)
"""A web address in plain text (trailing punctuation is not part of it)."""
PRESENCE_REFRESH_MS = 30_000
DOTS_MS = 400
BACK_ONLINE_MS = 3000
NOTICE_MS = 8000


def find_links(text: str) -> list[str]:
    """The http(s) addresses in *text*, in order, without repeats."""
    return list(dict.fromkeys(match.group(0) for match in URL.finditer(text)))


def linkify(text: str) -> str:
    """*text* as safe rich text: everything escaped first, then each http(s) address made a
    link (the only markup that can appear), line breaks kept."""
    out: list[str] = []
    last = 0
    for match in URL.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        url = match.group(0)
        out.append(f'<a href="{html.escape(url, quote=True)}">{html.escape(url)}</a>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out).replace("\n", "<br>")


class ChatHeader(QWidget):
    """Avatar, name and "Online" / "last seen ..." of the other participant, and a menu with
    Block / Unblock."""

    blockRequested = Signal(bool)

    def __init__(self, avatars: AvatarCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.avatars = avatars
        self.uid: str | None = None
        self.name = ""
        self.photo: str | None = None
        self.online = False
        self.last_seen: int | None = None
        self.blocked = False
        self.setAccessibleName("Conversation header")
        self.avatar = QLabel(self)
        self.avatar.setFixedSize(SIZES.avatar, SIZES.avatar)
        self.avatar.setAccessibleName("Avatar")
        self.name_label = QLabel(self)
        self.name_label.setTextFormat(Qt.TextFormat.PlainText)
        self.name_label.setFont(scaled_font(self.font(), 1.1, bold=True))
        self.name_label.setAccessibleName("Name")
        self.status = QLabel(self)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setAccessibleName("Presence")
        self.status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.booking = QLabel(self)  # the skill last discussed, the next session
        self.booking.setTextFormat(Qt.TextFormat.PlainText)
        self.booking.setAccessibleName("Skill and next session")
        self.booking.hide()
        self.menu_button = QToolButton(self)
        self.menu_button.setText("⋮")
        self.menu_button.setAutoRaise(True)
        self.menu_button.setAccessibleName("Conversation menu")
        self.menu_button.setToolTip("More")
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0; }")
        self.menu = QMenu(self.menu_button)
        self.menu.setAccessibleName("Conversation menu")
        self.block_action = QAction("Block", self.menu)
        self.block_action.triggered.connect(lambda: self.blockRequested.emit(not self.blocked))
        self.menu.addAction(self.block_action)
        self.menu_button.setMenu(self.menu)

        words = QVBoxLayout()
        words.setSpacing(0)
        words.addWidget(self.name_label)
        words.addWidget(self.status)
        words.addWidget(self.booking)
        row = QHBoxLayout(self)
        row.setContentsMargins(SIZES.margin, 8, 8, 8)
        row.setSpacing(SIZES.row_spacing)
        row.addWidget(self.avatar)
        row.addLayout(words, 1)
        row.addWidget(self.menu_button)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

        self._timer = QTimer(self)
        self._timer.setInterval(PRESENCE_REFRESH_MS)
        self._timer.timeout.connect(self._show_status)
        avatars.avatarReady.connect(self._avatar_ready)

    def show_person(self, uid: str, name: str, photo: str | None) -> None:
        self.uid, self.name, self.photo = uid, name or "Unknown user", photo
        self.name_label.setText(self.name)
        self._show_avatar()
        self.set_blocked(self.blocked)

    def set_booking_line(self, text: str) -> None:
        """``Jazz guitar · Next session Fri 27 Nov, 09:00 CET`` (empty: hidden)."""
        self.booking.setText(text)
        self.booking.setVisible(bool(text))

    def set_presence(self, online: bool, last_seen: int | None) -> None:
        self.online = online
        self.last_seen = None if last_seen is None or last_seen < 0 else last_seen
        self._show_status()

    def set_blocked(self, blocked: bool) -> None:
        self.blocked = blocked
        self.block_action.setText(f"Unblock {self.name}" if blocked else f"Block {self.name}")
        self._show_status()

    def _show_status(self) -> None:
        now = now_ms()
        text = "Blocked" if self.blocked else last_seen_text(self.online, self.last_seen, now)
        self.status.setText(text)
        self.status.setAccessibleDescription(text)
        self.setAccessibleDescription(f"{self.name}, {text}" if text else self.name)
        running = self.isVisible() and not self.online and self.last_seen is not None
        if running and not self._timer.isActive():
            self._timer.start()
        elif not running:
            self._timer.stop()

    def _show_avatar(self) -> None:
        if self.uid is None:
            return
        dpr = self.devicePixelRatioF()
        pixmap = self.avatars.pixmap(self.uid, self.name, self.photo, SIZES.avatar, dpr)
        self.avatar.setPixmap(pixmap)

    def _avatar_ready(self, uid: str) -> None:
        if uid == self.uid:
            self._show_avatar()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._show_status()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._timer.stop()


class TypingLine(QLabel):
    """ "Ann is typing" with dots that come and go; the animation runs only while shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setAccessibleName("Typing indicator")
        self.setContentsMargins(SIZES.margin + 4, 0, SIZES.margin, 2)
        self.setFont(scaled_font(self.font(), SIZES.small_font))
        self.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.who = ""
        self._dots = 0
        self.timer = QTimer(self)
        self.timer.setInterval(DOTS_MS)
        self.timer.timeout.connect(self._tick)
        self.hide()

    def start(self, who: str) -> None:
        """Show "*who* is typing" (idempotent)."""
        self.who = who
        self.setAccessibleDescription(f"{who} is typing")
        self._paint_text()
        self.show()

    def stop(self) -> None:
        self.hide()

    def _tick(self) -> None:
        self._dots = (self._dots + 1) % 4
        self._paint_text()

    def _paint_text(self) -> None:
        dots = "." * self._dots
        self.setText(f"{self.who} is typing{dots}{' ' * (3 - self._dots)}")

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self.timer.isActive():
            self._dots = 0
            self._paint_text()
            self.timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.timer.stop()


class StatusLine(QWidget):
    """The connection state ("Connecting…", "Offline — 2 messages waiting", "Back online"
    for a moment) and, for a while, the last error."""

    def __init__(self, bridge: ChatBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.online: bool | None = True if bridge.client.connected else None
        self.waiting = 0
        self.setAccessibleName("Status")
        self.state = QLabel(self)
        self.state.setAccessibleName("Connection status")
        self.notice = QLabel(self)
        self.notice.setAccessibleName("Last error")
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setForegroundRole(QPalette.ColorRole.Link)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 0, 8, 0)
        row.addWidget(self.state)
        row.addWidget(self.notice, 1)
        self._back = QTimer(self)
        self._back.setSingleShot(True)
        self._back.timeout.connect(lambda: self.state.setText(""))
        self._notice = QTimer(self)
        self._notice.setSingleShot(True)
        self._notice.timeout.connect(lambda: self.notice.setText(""))
        bridge.connectionChanged.connect(self._connection)
        bridge.unsentCount.connect(self._unsent)
        bridge.deliveryChanged.connect(lambda *_: self._count())
        bridge.error.connect(self.show_error)
        self._show()

    def _connection(self, connected: bool, channel: str) -> None:
        if channel != "database":
            return
        was, self.online = self.online, connected
        self._show(back=connected and was is False)
        self._count()

    def _count(self) -> None:
        if self.online is False:
            self.bridge.refresh_unsent()

    def _unsent(self, count: int) -> None:
        self.waiting = count
        self._show()

    def _show(self, *, back: bool = False) -> None:
        if self.online is None:
            text = "Connecting…"
        elif not self.online:
            many = "message" if self.waiting == 1 else "messages"
            text = f"Offline — {self.waiting} {many} waiting" if self.waiting else "Offline"
        elif back:
            text = "Back online"
            self._back.start(BACK_ONLINE_MS)
        else:
            text = "Back online" if self._back.isActive() else ""
        self.state.setText(text)
        self.state.setAccessibleDescription(text or "Online")

    def show_error(self, sentence: str) -> None:
        self.notice.setText(sentence)
        self._notice.start(NOTICE_MS)
