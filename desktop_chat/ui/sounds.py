"""Notification sounds: one short WAV per kind group, played with QSoundEffect."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QUrl

from desktop_chat import resources
from desktop_chat.core.model import NotificationKind

if TYPE_CHECKING:
    from desktop_chat.ui.app_settings import AppSettings

__all__ = ["SoundGroup", "SoundPlayer", "sound_group"]

log = logging.getLogger("desktop_chat.ui")


class SoundGroup(StrEnum):
    """Which sound a kind of event makes (the file is ``sounds/<value>.wav``)."""

    MESSAGE = "message"
    BOOKING = "booking"


def sound_group(kind: NotificationKind | None) -> SoundGroup:
    """Messages chime; bookings, reviews, payments and reminders have the other sound."""
    return SoundGroup.MESSAGE if kind in (None, NotificationKind.MESSAGE) else SoundGroup.BOOKING


def _sound_effect_class() -> Any:
    """QSoundEffect, or None where QtMultimedia cannot load (e.g. libpulse is missing)."""
    try:
        from PySide6.QtMultimedia import QSoundEffect
    except ImportError as exc:
        log.warning("no notification sounds: QtMultimedia cannot load (%s)", exc)
        return None
    return QSoundEffect


class SoundPlayer(QObject):
    """Plays a group's sound unless sounds are off or do not disturb is on. The effects are
    made on first use (loading QtMultimedia costs start-up time) and kept."""

    def __init__(self, settings: AppSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._effects: dict[SoundGroup, Any] = {}
        self._unavailable = False
        self.played: list[SoundGroup] = []  # what play() started, for the tests and the log

    def effect(self, group: SoundGroup) -> Any:
        """The group's QSoundEffect (loaded), or None when sound cannot work here."""
        if self._unavailable:
            return None
        effect = self._effects.get(group)
        if effect is not None:
            return effect
        effect_class = _sound_effect_class()
        if effect_class is None:
            self._unavailable = True
            return None
        try:
            source = resources.path(f"sounds/{group.value}.wav")
        except resources.ResourceNotFoundError as exc:
            log.warning("no %s sound: %s", group.value, exc)
            return None
        effect = effect_class(self)
        effect.setSource(QUrl.fromLocalFile(str(source)))
        self._effects[group] = effect
        return effect

    def preload(self) -> None:
        """Load every group's sound now, so that the first one plays at once."""
        for group in SoundGroup:
            self.effect(group)

    def play(self, group: SoundGroup) -> bool:
        """Play *group*'s sound if the settings allow; True if it was started."""
        if self.settings.do_not_disturb or not self.settings.sound:
            return False
        effect = self.effect(group)
        if effect is None:
            return False
        effect.setVolume(self.settings.volume / 100.0)
        if effect.isPlaying():
            effect.stop()
        effect.play()  # (with no sound server the effect is in Error and this does nothing)
        self.played.append(group)
        del self.played[:-20]
        return True

    def close(self) -> None:
        for effect in self._effects.values():
            effect.stop()
            effect.deleteLater()
        self._effects.clear()
