"""Where a desktop notification shows: the D-Bus service, the tray's balloon, or a toast."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QFrame, QLabel, QSystemTrayIcon, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from dbus_next.aio import MessageBus
    from dbus_next.message import Message as DBusMessage

__all__ = [
    "DBusNotifications",
    "Notifications",
    "Spawn",
    "ToastNotifications",
    "TrayNotifications",
]

log = logging.getLogger("desktop_chat.ui")

Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]
"""Starts a tracked task (``DesktopApp.spawn``)."""
NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
APP_NAME = "Desktop Chat"
ACTIONS = ["default", "Open", "mark-read", "Mark as read"]
TIMEOUT_MS = -1  # the server's default
CALL_SECONDS = 5.0
TOAST_MS = 6000


class Notifications(QObject):
    """One notification per *key* (ours: a conversation's burst, one event): showing a key
    again replaces what it shows. ``activated(key, action)``: "default" (clicked) or
    "mark-read"; ``closed(key)``: gone without that."""

    activated = Signal(int, str)
    closed = Signal(int)

    def show(self, key: int, summary: str, body: str) -> None:
        raise NotImplementedError

    def close(self, key: int) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        """Stop listening (the app quits)."""


class DBusNotifications(Notifications):
    """``org.freedesktop.Notifications`` over the session bus: Notify with actions and
    ``replaces_id``, CloseNotification; ActionInvoked / NotificationClosed come back. Calls go
    out in order from one tracked task."""

    def __init__(self, bus: MessageBus, spawn: Spawn, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bus = bus
        self._ids: dict[int, int] = {}  # our key -> the server's id
        self._queue: asyncio.Queue[tuple[str, int, str, str]] = asyncio.Queue()
        bus.add_message_handler(self._signal)
        self._pump = spawn(self._run(), "desktop notifications")

    @classmethod
    async def create(cls, spawn: Spawn, parent: QObject | None = None) -> DBusNotifications | None:
        """Connected to the session bus's notification service, or None if there is none."""
        if sys.platform != "linux":
            return None
        try:
            from dbus_next.aio import MessageBus
            from dbus_next.constants import MessageType
            from dbus_next.message import Message

            async with asyncio.timeout(CALL_SECONDS):
                bus = await MessageBus().connect()
                reply = await bus.call(
                    Message(destination=NAME, path=PATH, interface=NAME, member="GetCapabilities")
                )
                if reply is None or reply.message_type is not MessageType.METHOD_RETURN:
                    bus.disconnect()
                    return None
                for member in ("ActionInvoked", "NotificationClosed"):
                    rule = f"type='signal',interface='{NAME}',path='{PATH}',member='{member}'"
                    await bus.call(
                        Message(
                            destination="org.freedesktop.DBus",
                            path="/org/freedesktop/DBus",
                            interface="org.freedesktop.DBus",
                            member="AddMatch",
                            signature="s",
                            body=[rule],
                        )
                    )
        except Exception as exc:  # (no bus, no service, a refusal: no D-Bus notifications)
            log.info("no D-Bus notification service: %s", exc)
            return None
        return cls(bus, spawn, parent)

    def show(self, key: int, summary: str, body: str) -> None:
        self._queue.put_nowait(("show", key, summary, body))

    def close(self, key: int) -> None:
        self._queue.put_nowait(("close", key, "", ""))

    async def _run(self) -> None:
        from dbus_next.constants import MessageType
        from dbus_next.message import Message

        while True:
            what, key, summary, body = await self._queue.get()
            if what == "show":
                args = [APP_NAME, self._ids.get(key, 0), "mail-message-new", summary, body]
                call = ("Notify", "susssasa{sv}i", [*args, ACTIONS, {}, TIMEOUT_MS])
            elif key in self._ids:
                call = ("CloseNotification", "u", [self._ids.pop(key)])
            else:
                continue
            member, signature, arguments = call
            message = Message(
                destination=NAME,
                path=PATH,
                interface=NAME,
                member=member,
                signature=signature,
                body=arguments,
            )
            try:
                async with asyncio.timeout(CALL_SECONDS):
                    reply = await self.bus.call(message)
            except Exception as exc:  # (the service went away, a bad reply)
                log.warning("desktop notification failed: %s", exc)
                continue
            if reply is None or reply.message_type is not MessageType.METHOD_RETURN:
                log.warning("desktop notification refused: %s", reply and reply.body)
            elif what == "show" and reply.body and isinstance(reply.body[0], int):
                self._ids[key] = reply.body[0]

    def _key_of(self, server_id: object) -> int | None:
        return next((key for key, sid in self._ids.items() if sid == server_id), None)

    def _signal(self, message: DBusMessage) -> bool:
        if message.interface != NAME or message.path != PATH or not message.body:
            return False
        key = self._key_of(message.body[0])
        if key is None:
            return False
        if message.member == "ActionInvoked" and len(message.body) > 1:
            self.activated.emit(key, str(message.body[1]))
        elif message.member == "NotificationClosed":
            self._ids.pop(key, None)
            self.closed.emit(key)
        return False

    def shutdown(self) -> None:
        self._pump.cancel()
        with contextlib.suppress(Exception):
            self.bus.remove_message_handler(self._signal)
            self.bus.disconnect()


class TrayNotifications(Notifications):
    """The tray icon's balloon (Windows, macOS, X11 trays): one at a time; a click on it is
    "default" for the last one shown."""

    def __init__(self, tray: QSystemTrayIcon, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tray = tray
        self._last: int | None = None
        tray.messageClicked.connect(self._clicked)

    def show(self, key: int, summary: str, body: str) -> None:
        self._last = key
        self.tray.showMessage(summary, body, self.tray.icon(), TOAST_MS)

    def close(self, key: int) -> None:
        if key == self._last:
            self._last = None

    def _clicked(self) -> None:
        if self._last is not None:
            self.activated.emit(self._last, "default")


class Toast(QFrame):
    """A small card in the bottom right corner of a window; a click on it opens."""

    clicked = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("toast")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setStyleSheet(
            "#toast { background: palette(base); border: 1px solid palette(mid);"
            " border-radius: 8px; }"
        )
        self.summary = QLabel(self)
        font = self.summary.font()
        font.setBold(True)
        self.summary.setFont(font)
        self.body = QLabel(self)
        self.body.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addWidget(self.summary)
        layout.addWidget(self.body)
        self.setFixedWidth(300)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(TOAST_MS)
        self.timer.timeout.connect(self.hide)
        self.hide()

    def pop(self, summary: str, body: str) -> None:
        self.summary.setText(summary)
        self.body.setText(body)
        self.body.setVisible(bool(body))
        self.setAccessibleName(f"{summary}: {body}" if body else summary)
        self.adjustSize()
        parent = self.parentWidget()
        if parent is not None:
            self.move(parent.width() - self.width() - 16, parent.height() - self.height() - 76)
        self.raise_()
        self.show()
        self.timer.start()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.hide()
        self.clicked.emit()
        event.accept()


class ToastNotifications(Notifications):
    """Neither a notification service nor a tray: a toast inside the window."""

    def __init__(self, window: QWidget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.toast = Toast(window)
        self._last: int | None = None
        self.toast.clicked.connect(self._clicked)

    def show(self, key: int, summary: str, body: str) -> None:
        self._last = key
        self.toast.pop(summary, body)

    def close(self, key: int) -> None:
        if key == self._last:
            self.toast.hide()
            self._last = None

    def _clicked(self) -> None:
        if self._last is not None:
            self.activated.emit(self._last, "default")
