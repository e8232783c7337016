"""The tray icon (unread badge, menu), close-to-tray, and the desktop notifications' wiring."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QFont, QGuiApplication, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon, QWidget

from desktop_chat import resources
from desktop_chat.ui.app_settings import AppSettings, settings_menu
from desktop_chat.ui.desktop_notifications import (
    DBusNotifications,
    Notifications,
    Spawn,
    ToastNotifications,
    TrayNotifications,
)
from desktop_chat.ui.diagnostics import offer_crash_reports
from desktop_chat.ui.notification_center import APP_TITLE, NotificationCenter, SoundPlayer
from desktop_chat.ui.notification_delegate import draw_badge
from desktop_chat.ui.notification_model import badge_count
from desktop_chat.ui.theme import current_theme

if TYPE_CHECKING:
    from desktop_chat.app import DesktopApp
    from desktop_chat.ui.bridge import ChatBridge

__all__ = ["DesktopShell", "Tray", "tray_icon"]

log = logging.getLogger("desktop_chat.ui")

ICON_SIZE = 64
CLOSE_HINT = "Desktop Chat is still running in the tray. Choose Quit in its menu to stop it."


def tray_icon(unread: int, size: int = ICON_SIZE) -> QIcon:
    """The app's icon with *unread* painted on it as the bell's badge ("9+" above nine)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    try:
        base = QIcon(str(resources.path("icons/app.svg")))
        base.paint(painter, 0, 0, size, size)
    except resources.ResourceNotFoundError:
        painter.setBrush(current_theme().colour("accent"))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(QRectF(2, 2, size - 4, size - 4))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(8, int(size * 0.42)))
    draw_badge(painter, QPointF(size, 0), badge_count(unread), font, current_theme())
    painter.end()
    return QIcon(pixmap)


def _set_badge(unread: int) -> None:
    """The count on the dock / taskbar button (Qt 6.5+; on Linux only with a desktop file)."""
    app = QApplication.instance()
    if not isinstance(app, QGuiApplication) or not hasattr(app, "setBadgeNumber"):
        return
    if sys.platform == "linux" and not QGuiApplication.desktopFileName():
        return
    app.setBadgeNumber(unread)


class Tray(QObject):
    """The tray icon: the unread notification count on it (and on the dock / taskbar where Qt
    can), a click opens the windows; its menu: Open, Do not disturb, the notification
    settings, Quit."""

    def __init__(
        self,
        settings: AppSettings,
        open_windows: Callable[[], None],
        quit_app: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.open_windows = open_windows
        self.unread = -1
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.menu.addAction("Open Desktop Chat", open_windows)
        self.dnd = self.menu.addAction("Do not disturb")
        self.dnd.setCheckable(True)
        self.dnd.toggled.connect(self._dnd_toggled)
        self.settings_menu = settings_menu(settings, self.menu)
        self.menu.addMenu(self.settings_menu)
        self.menu.addSeparator()
        self.menu.addAction("Quit", quit_app)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        settings.changed.connect(self._settings_changed)
        self._settings_changed()
        self.set_unread(0)

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def set_unread(self, unread: int) -> None:
        unread = max(0, unread)
        if unread == self.unread:
            return
        self.unread = unread
        self.icon.setIcon(tray_icon(unread))
        self.icon.setToolTip(f"{APP_TITLE}: {unread} unread" if unread else APP_TITLE)
        _set_badge(unread)

    def _dnd_toggled(self, on: bool) -> None:
        if self.settings.do_not_disturb != on:
            self.settings.do_not_disturb = on

    def _settings_changed(self) -> None:
        self.dnd.blockSignals(True)
        self.dnd.setChecked(self.settings.do_not_disturb)
        self.dnd.blockSignals(False)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.open_windows()

    def close(self) -> None:
        self.icon.hide()
        self.menu.deleteLater()


class DesktopShell(QObject):
    """The app's desktop side: one tray, one sound player, the settings; per main window a
    :class:`NotificationCenter`. Closing a main window hides it while the tray is there
    (the first time, a hint says so); the tray's Quit quits."""

    def __init__(
        self,
        directory: Path | None,
        spawn: Spawn,
        open_windows: Callable[[], None],
        quit_app: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.spawn = spawn
        self.settings = AppSettings(directory, self)
        self.sounds = SoundPlayer(self.settings, self)
        self.tray = Tray(self.settings, open_windows, quit_app, self)
        self.dbus: DBusNotifications | None = None
        self.centers: dict[QWidget, NotificationCenter] = {}
        self.bridges: dict[QWidget, ChatBridge] = {}
        if self.tray.available():
            self.tray.icon.show()
        spawn(self._connect(), "desktop notifications: connect")

    async def _connect(self) -> None:
        self.dbus = await DBusNotifications.create(self.spawn, self)
        if self.dbus is not None:
            for center in self.centers.values():
                self._use(center, self.dbus)

    @property
    def tray_shown(self) -> bool:
        return self.tray.available() and self.tray.icon.isVisible()

    @property
    def keeps_windows(self) -> bool:
        """Whether main windows live on hidden in the tray (so the last visible window closing,
        an error box say, is no reason to quit)."""
        return self.tray_shown and bool(self.centers)

    def _backend(self, window: QWidget) -> Notifications:
        if self.dbus is not None:
            return self.dbus
        if self.tray_shown and QSystemTrayIcon.supportsMessages():
            return TrayNotifications(self.tray.icon, window)
        return ToastNotifications(window, window)

    def _use(self, center: NotificationCenter, backend: Notifications) -> None:
        center.backend.activated.disconnect(center.activated)
        center.backend.closed.disconnect(center._closed)
        center.backend = backend
        backend.activated.connect(center.activated)
        backend.closed.connect(center._closed)

    # windows -------------------------------------------------------------------------------
    def attach(self, window: QWidget, bridge: ChatBridge) -> None:
        """Watch *window* (a main window) and *bridge*; show the window unless the app starts
        minimised to the tray."""
        center = NotificationCenter(
            bridge, window, self.settings, self.sounds, self._backend(window), window
        )
        self.centers[window] = center
        self.bridges[window] = bridge
        setter = getattr(window, "use_settings", None)  # MainWindow: the mute menu
        if callable(setter):
            setter(self.settings)
        bridge.unreadNotificationsChanged.connect(self._count_changed)
        window.installEventFilter(self)
        self._count_changed()
        if not (self.settings.start_minimised and self.tray_shown):
            window.show()

    def detach(self, window: QWidget) -> None:
        center = self.centers.pop(window, None)
        bridge = self.bridges.pop(window, None)
        window.removeEventFilter(self)
        if center is not None:
            center.close()
        if bridge is not None:
            with contextlib.suppress(RuntimeError, TypeError):
                bridge.unreadNotificationsChanged.disconnect(self._count_changed)
        self._count_changed()

    def _count_changed(self, _count: int = 0) -> None:
        self.tray.set_unread(sum(b.unread_notifications for b in self.bridges.values()))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Close or not isinstance(watched, QWidget):
            return False
        if event.spontaneous() and self.tray_shown:  # the person closed it: to the tray
            event.ignore()
            flush = getattr(watched, "flush_draft", None)
            if callable(flush):
                flush()
            watched.hide()
            if not self.settings.close_hint_shown:
                self.settings.close_hint_shown = True
                self.tray.icon.showMessage(APP_TITLE, CLOSE_HINT, self.tray.icon.icon(), 8000)
            return True
        self.detach(watched)  # closed for good (sign out, quitting, no tray)
        return False

    def close(self) -> None:
        for window in list(self.centers):
            self.detach(window)
        if self.dbus is not None:
            self.dbus.shutdown()
        self.sounds.close()
        self.tray.close()
        _set_badge(0)


async def attach_when_painted(app: DesktopApp, window: QWidget, bridge: ChatBridge) -> None:
    """Give *window* to the app's desktop shell (made on first use) once the window's first
    paint is done: the tray, D-Bus and sounds load after the cached chats are on screen."""
    painted = getattr(window, "painted", None)
    if callable(painted):
        await painted()
    if app.desktop is None:
        app.desktop = DesktopShell(app.profile.directory, app.spawn, app.show_windows, app.quit)
    if window in app.windows:
        app.desktop.attach(window, bridge)
        if window is app.windows[0]:  # (once: the first window of the run)
            offer_crash_reports(window)
