"""Desktop settings kept across restarts (QSettings under the profile) and their menus."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from desktop_chat.ui.autostart import Autostart, AutostartError

__all__ = ["MUTE_CHOICES", "AppSettings", "Privacy", "mute_menu", "offer_mute", "settings_menu"]

log = logging.getLogger("desktop_chat.ui")

FILE_NAME = "desktop-settings.ini"
VOLUMES = (25, 50, 75, 100)
HOUR_MS = 3_600_000
MUTE_CHOICES: tuple[tuple[str, int | None], ...] = (
    ("For 1 hour", 1),
    ("For 8 hours", 8),
    ("Until I turn it back on", None),
)
"""The mute menu's entries: a label and hours (None: until unmuted)."""


class Privacy(StrEnum):
    """What a desktop notification shows of a message."""

    FULL = "full"  # the sender's name and the text
    NAME = "name"  # the name only
    NOTHING = "nothing"  # neither: "New message"


PRIVACY_LABELS = {
    Privacy.FULL: "Name and message",
    Privacy.NAME: "Name only",
    Privacy.NOTHING: "Nothing (just “New message”)",
}


def _now_ms() -> int:
    return int(time.time() * 1000)


class AppSettings(QObject):
    """Do not disturb, sound and volume, privacy, muted conversations, start minimised and
    whether the close-to-tray hint was shown; a value that cannot be read is its default."""

    changed = Signal()

    def __init__(self, directory: Path | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store: QSettings | None = None
        self._memory: dict[str, object] = {}  # without a directory (tests): kept in memory
        self.autostart = Autostart()
        """Start at login: the OS's own login item is the setting (off until turned on)."""
        if directory is not None:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                log.warning("settings kept in memory only: %s", exc)
            else:
                path = str(directory / FILE_NAME)
                self.store = QSettings(path, QSettings.Format.IniFormat, self)

    # reading and writing, forgiving ---------------------------------------------------------
    def _get(self, key: str, default: object) -> object:
        if self.store is None:
            return self._memory.get(key, default)
        return self.store.value(key, default)

    def _set(self, key: str, value: object) -> None:
        if self.store is None:
            self._memory[key] = value
        else:
            self.store.setValue(key, value)
            self.store.sync()
        self.changed.emit()

    def _bool(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if isinstance(value, str):  # IniFormat reads "true" / "false" back as text
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value) if isinstance(value, (bool, int)) else default

    def _int(self, key: str, default: int) -> int:
        try:
            return int(str(self._get(key, default)))
        except ValueError:
            return default

    # the settings --------------------------------------------------------------------------
    @property
    def do_not_disturb(self) -> bool:
        return self._bool("notifications/do_not_disturb", False)

    @do_not_disturb.setter
    def do_not_disturb(self, on: bool) -> None:
        self._set("notifications/do_not_disturb", bool(on))

    @property
    def sound(self) -> bool:
        return self._bool("sound/on", True)

    @sound.setter
    def sound(self, on: bool) -> None:
        self._set("sound/on", bool(on))

    @property
    def volume(self) -> int:
        """0 to 100."""
        return max(0, min(100, self._int("sound/volume", 75)))

    @volume.setter
    def volume(self, value: int) -> None:
        self._set("sound/volume", max(0, min(100, int(value))))

    @property
    def privacy(self) -> Privacy:
        value = self._get("notifications/privacy", Privacy.FULL.value)
        try:
            return Privacy(str(value))
        except ValueError:
            return Privacy.FULL

    @privacy.setter
    def privacy(self, value: Privacy) -> None:
        self._set("notifications/privacy", Privacy(value).value)

    @property
    def start_minimised(self) -> bool:
        return self._bool("window/start_minimised", False)

    @start_minimised.setter
    def start_minimised(self, on: bool) -> None:
        self._set("window/start_minimised", bool(on))

    @property
    def close_hint_shown(self) -> bool:
        return self._bool("window/close_hint_shown", False)

    @close_hint_shown.setter
    def close_hint_shown(self, on: bool) -> None:
        self._set("window/close_hint_shown", bool(on))

    # muted conversations -------------------------------------------------------------------
    def muted_until(self, cid: str) -> int | None:
        """When *cid*'s mute ends (ms since the epoch; 0 = until turned back on); None: not
        muted (an ended mute counts as none)."""
        until = self._int(f"mutes/{_key(cid)}", -1)
        if until < 0 or (until > 0 and until <= _now_ms()):
            return None
        return until

    def muted(self, cid: str | None) -> bool:
        return cid is not None and self.muted_until(cid) is not None

    def mute(self, cid: str, hours: int | None) -> None:
        """Mute *cid* for *hours* (None: until :meth:`unmute`)."""
        self._set(f"mutes/{_key(cid)}", 0 if hours is None else _now_ms() + hours * HOUR_MS)

    def unmute(self, cid: str) -> None:
        if self.store is None:
            self._memory.pop(f"mutes/{_key(cid)}", None)
        else:
            self.store.remove(f"mutes/{_key(cid)}")
            self.store.sync()
        self.changed.emit()


def _key(cid: str) -> str:
    """A conversation id as a settings key (ids are letters, digits and ``_``; anything else
    is dropped, so that a bad id cannot reach into another group)."""
    return "".join(c for c in cid if c.isalnum() or c == "_") or "_"


def _check(menu: QMenu, text: str, on: bool, slot: object) -> QAction:
    action = menu.addAction(text)
    action.setCheckable(True)
    action.setChecked(on)
    action.toggled.connect(slot)
    return action


def settings_menu(settings: AppSettings, parent: QWidget | None = None) -> QMenu:
    """ "Notifications": do not disturb, sound, volume, what notifications show, start
    minimised, start at login; rebuilt from the settings each time it opens."""
    menu = QMenu("Notification settings", parent)
    menu.aboutToShow.connect(lambda: _fill_settings(menu, settings))
    _fill_settings(menu, settings)
    return menu


def _fill_settings(menu: QMenu, settings: AppSettings) -> None:
    menu.clear()

    def set_dnd(on: bool) -> None:
        settings.do_not_disturb = on

    def set_sound(on: bool) -> None:
        settings.sound = on

    def set_minimised(on: bool) -> None:
        settings.start_minimised = on

    def set_login(on: bool) -> None:
        try:
            settings.autostart.enable() if on else settings.autostart.disable()
        except AutostartError as exc:
            QMessageBox.warning(menu.parentWidget(), "Desktop Chat", f"Sorry: {exc}.")

    _check(menu, "Do not disturb", settings.do_not_disturb, set_dnd)
    _check(menu, "Play sounds", settings.sound, set_sound)
    volume = menu.addMenu("Volume")
    volumes = QActionGroup(volume)
    for level in VOLUMES:
        action = volume.addAction(f"{level} %")
        action.setCheckable(True)
        action.setChecked(settings.volume == level)
        action.setActionGroup(volumes)
        action.triggered.connect(lambda _on=False, v=level: setattr(settings, "volume", v))
    volume.setEnabled(settings.sound)
    shows = menu.addMenu("Notifications show")
    privacies = QActionGroup(shows)
    for privacy, label in PRIVACY_LABELS.items():
        action = shows.addAction(label)
        action.setCheckable(True)
        action.setChecked(settings.privacy is privacy)
        action.setActionGroup(privacies)
        action.triggered.connect(lambda _on=False, p=privacy: setattr(settings, "privacy", p))
    menu.addSeparator()
    _check(menu, "Start minimised to the tray", settings.start_minimised, set_minimised)
    _check(menu, "Start at login", settings.autostart.enabled(), set_login)


def mute_menu(settings: AppSettings, cid: str, parent: QWidget | None = None) -> QMenu:
    """Mute *cid* for 1 h, 8 h or until turned back on; or turn it back on."""
    menu = QMenu("Mute notifications", parent)
    until = settings.muted_until(cid)
    if until is not None:
        when = "until you turn them back on"
        if until > 0:
            when = "until " + time.strftime("%H:%M", time.localtime(until / 1000))
        note = menu.addAction(f"Muted {when}")
        note.setEnabled(False)
        menu.addAction("Turn notifications back on", lambda: settings.unmute(cid))
        menu.addSeparator()
    for label, hours in MUTE_CHOICES:
        menu.addAction(label, lambda h=hours: settings.mute(cid, h))
    return menu


def offer_mute(
    menu: QMenu, settings: Callable[[], AppSettings | None], cid: Callable[[], str | None]
) -> None:
    """Give *menu* a "Mute notifications" submenu for the conversation *cid()* names, made
    afresh each time the menu opens (so it shows how long a mute still runs)."""
    shown: list[QAction] = []

    def rebuild() -> None:
        for action in shown:
            menu.removeAction(action)
        shown.clear()
        where, which = settings(), cid()
        if where is not None and which is not None:
            shown.append(menu.addMenu(mute_menu(where, which, menu)))

    menu.aboutToShow.connect(rebuild)


def starts_in_tray(directory: Path | None) -> bool:
    """Whether the main window starts hidden in the tray (the setting is on and a tray is
    there): asked before the first window shows, without loading the tray itself."""
    from PySide6.QtWidgets import QSystemTrayIcon

    return AppSettings(directory).start_minimised and QSystemTrayIcon.isSystemTrayAvailable()
