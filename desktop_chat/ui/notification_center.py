"""Which events become desktop notifications and sounds (played with QSoundEffect, one WAV
per kind group), how bursts coalesce, what clicks open."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import count
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, QUrl
from PySide6.QtWidgets import QWidget

from desktop_chat import resources
from desktop_chat.core.model import (
    ConversationEntry,
    Message,
    MessageType,
    Notification,
    NotificationKind,
)
from desktop_chat.ui.app_settings import Privacy
from desktop_chat.ui.notification_model import KIND_NAMES
from desktop_chat.ui.single_instance import bring_to_front

if TYPE_CHECKING:
    from desktop_chat.ui.app_settings import AppSettings
    from desktop_chat.ui.bridge import ChatBridge
    from desktop_chat.ui.desktop_notifications import Notifications

__all__ = [
    "APP_TITLE",
    "Burst",
    "ChatWindow",
    "NotificationCenter",
    "SoundGroup",
    "SoundPlayer",
    "describe",
    "sound_group",
]

log = logging.getLogger("desktop_chat.ui")

APP_TITLE = "Desktop Chat"
BODY_CHARS = 200
SEEN = 1000


class ChatWindow(Protocol):
    """What the center needs of a main window (``MainWindow``)."""

    def visible_conversation(self) -> str | None: ...
    def conversation_name(self, cid: str) -> str | None: ...
    def open_conversation(self, cid: str, entry: ConversationEntry | None = None) -> None: ...
    def open_notification(self, item: Notification) -> None: ...


@dataclass
class Burst:
    """Events shown as one notification: a conversation's new messages, or one notification
    (with the ones of the same kind that followed it before it was read or closed)."""

    key: int
    cid: str | None
    name: str
    kind: NotificationKind | None  # None: messages
    texts: list[str] = field(default_factory=list)
    notification: Notification | None = None
    nids: set[str] = field(default_factory=set)

    @property
    def count(self) -> int:
        return len(self.texts)


def _clip(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= BODY_CHARS else text[: BODY_CHARS - 1] + "…"


def describe(burst: Burst, privacy: Privacy) -> tuple[str, str]:
    """The (summary, body) of *burst* as *privacy* allows."""
    n = burst.count
    if burst.kind is None:
        many = f"{n} new messages"
        if privacy is Privacy.NOTHING:
            return APP_TITLE, many if n > 1 else "New message"
        summary = f"{many} from {burst.name}" if n > 1 else burst.name
        if privacy is Privacy.NAME:
            return summary, "" if n > 1 else "New message"
        return summary, _clip(burst.texts[-1])
    if privacy is Privacy.NOTHING:
        return APP_TITLE, f"{n} new notifications" if n > 1 else "New notification"
    kind = KIND_NAMES.get(burst.kind, "notification").lower()
    summary = f"{n} new: {kind}" if n > 1 else burst.name
    if privacy is Privacy.NAME:
        return summary, ""
    return summary, _clip(burst.texts[-1])


class NotificationCenter(QObject):
    """Turns one signed-in window's new messages and notifications into desktop notifications
    and sounds: not while do not disturb is on, nor for a muted conversation, nor for the
    conversation on screen in the active window. A conversation's burst is one notification
    ("3 new messages from Ann"), replaced as it grows and closed once the conversation is read.
    A click opens the conversation (or what the notification links); "Mark as read" reads it."""

    _keys = count(1)

    def __init__(
        self,
        bridge: ChatBridge,
        window: QWidget,
        settings: AppSettings,
        sounds: SoundPlayer,
        backend: Notifications,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.window = window
        self.settings = settings
        self.sounds = sounds
        self.backend = backend
        self.bursts: dict[str, Burst] = {}  # "c:<cid>" or "n:<kind>"
        self._seen: deque[str] = deque(maxlen=SEEN)
        bridge.messageAdded.connect(self.message_added)
        bridge.notificationReceived.connect(self.notification_received)
        bridge.notificationChanged.connect(self.notification_changed)
        bridge.conversationChanged.connect(self.conversation_changed)
        backend.activated.connect(self.activated)
        backend.closed.connect(self._closed)

    def _chat(self) -> ChatWindow:
        return self.window  # type: ignore[return-value]

    # deciding ------------------------------------------------------------------------------
    def _seen_before(self, mark: str) -> bool:
        if mark in self._seen:
            return True
        self._seen.append(mark)
        return False

    def wanted(self, cid: str | None) -> bool:
        """Should an event of *cid* (None: of no conversation) notify now?"""
        if self.settings.do_not_disturb or self.settings.muted(cid):
            return False
        on_screen = self.window.isVisible() and self.window.isActiveWindow()
        return not (on_screen and cid is not None and self._chat().visible_conversation() == cid)

    def message_added(self, message: object) -> None:
        if not isinstance(message, Message) or message.type is not MessageType.TEXT:
            return
        if message.sender_id == self.bridge.uid or message.read:
            return
        if self._seen_before(f"m{message.id}"):
            return
        cid = message.conversation_id
        name = self._chat().conversation_name(cid) or "New message"
        self._add(f"c:{cid}", cid, name, None, message.text, None)

    def notification_received(self, item: object) -> None:
        if not isinstance(item, Notification) or item.read or self._seen_before(item.id):
            return
        cid = item.link.conversation_id if item.link is not None else None
        if item.kind is NotificationKind.MESSAGE and cid is not None:
            name = self._chat().conversation_name(cid) or item.title
            self._add(f"c:{cid}", cid, name, None, item.body, item)
        else:
            self._add(f"n:{item.kind.value}", cid, item.title, item.kind, item.body, item)

    def _add(
        self,
        group: str,
        cid: str | None,
        name: str,
        kind: NotificationKind | None,
        text: str | None,
        item: Notification | None,
    ) -> None:
        if not self.wanted(cid):
            return
        burst = self.bursts.get(group)
        if burst is None:
            burst = self.bursts[group] = Burst(next(self._keys), cid, name, kind)
        burst.name, burst.cid = name, cid
        burst.texts.append(text or "")
        del burst.texts[:-50]
        if item is not None:
            burst.notification = item
            burst.nids.add(item.id)
        summary, body = describe(burst, self.settings.privacy)
        self.backend.show(burst.key, summary, body)
        self.sounds.play(sound_group(kind))

    # closing what was read elsewhere -------------------------------------------------------
    def notification_changed(self, item: object) -> None:
        if not isinstance(item, Notification) or not item.read:
            return
        for group, burst in list(self.bursts.items()):
            if item.id in burst.nids:
                self._drop(group, close=True)

    def conversation_changed(self, cid: str, entry: object) -> None:
        read = entry is None or (isinstance(entry, ConversationEntry) and entry.unread_count == 0)
        if read and f"c:{cid}" in self.bursts:
            self._drop(f"c:{cid}", close=True)

    def _drop(self, group: str, *, close: bool) -> Burst | None:
        burst = self.bursts.pop(group, None)
        if burst is not None and close:
            self.backend.close(burst.key)
        return burst

    def _group_of(self, key: int) -> str | None:
        return next((group for group, b in self.bursts.items() if b.key == key), None)

    def _closed(self, key: int) -> None:
        if (group := self._group_of(key)) is not None:
            self._drop(group, close=False)

    # clicks --------------------------------------------------------------------------------
    def activated(self, key: int, action: str) -> None:
        group = self._group_of(key)
        burst = self._drop(group, close=action != "default") if group is not None else None
        if burst is None or self.bridge.closed:
            return
        if action == "mark-read":
            if burst.kind is None and burst.cid is not None:
                self.bridge.mark_read(burst.cid)
            for nid in burst.nids:
                self.bridge.mark_notification_read(nid)
            return
        bring_to_front(self.window)
        if burst.kind is None and burst.cid is not None:
            self._chat().open_conversation(burst.cid)
        elif burst.notification is not None:
            self._chat().open_notification(burst.notification)

    def close(self) -> None:
        """Take back what is shown (the window is closing)."""
        for group in list(self.bursts):
            self._drop(group, close=True)


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
