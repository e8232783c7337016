"""Runs the desktop side (tray, notifications, sounds) with a fake bridge on a real display."""
# ruff: noqa: N815

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget

from desktop_chat.client.transport import TaskTracker
from desktop_chat.core.model import ConversationEntry, Message, MessageType, Notification
from desktop_chat.ui.app_settings import Privacy
from desktop_chat.ui.tray import DesktopShell

CID = "ann1_bob1"


class FakeBridge(QObject):
    messageAdded = Signal(object)
    notificationReceived = Signal(object)
    notificationChanged = Signal(object)
    conversationChanged = Signal(str, object)
    unreadNotificationsChanged = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.uid = "bob1"
        self.closed = False
        self.unread_notifications = 0
        self.calls: list[list[str]] = []

    def mark_read(self, cid: str) -> None:
        self.calls.append(["mark_read", cid])

    def mark_notification_read(self, nid: str) -> None:
        self.calls.append(["mark_notification_read", nid])


class FakeWindow(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Desktop Chat")
        self.resize(400, 300)
        self.opened: list[str] = []

    def visible_conversation(self) -> str | None:
        return None

    def conversation_name(self, cid: str) -> str | None:
        return "Ann" if cid == CID else None

    def open_conversation(self, cid: str, entry: ConversationEntry | None = None) -> None:
        self.opened.append(cid)

    def open_notification(self, item: Notification) -> None:
        self.opened.append(item.id)


def message(n: int, text: str, cid: str = CID) -> Message:
    return Message(f"M{n}", cid, "ann1", "bob1", text, 1_700_000_000_000 + n, False,
                   MessageType.TEXT)  # fmt: skip


def close_as_the_window_manager_does(window: QWidget) -> None:
    """Send the window WM_DELETE_WINDOW, as a window manager's close button does (Qt then
    delivers a spontaneous close event)."""
    import ctypes

    class ClientMessage(ctypes.Structure):
        _fields_ = [
            ("type", ctypes.c_int),
            ("serial", ctypes.c_ulong),
            ("send_event", ctypes.c_int),
            ("display", ctypes.c_void_p),
            ("window", ctypes.c_ulong),
            ("message_type", ctypes.c_ulong),
            ("format", ctypes.c_int),
            ("data", ctypes.c_long * 5),
            ("pad", ctypes.c_long * 12),
        ]  # fmt: skip  (XEvent is 24 longs)

    x11 = ctypes.CDLL("libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                               ctypes.c_void_p]  # fmt: skip
    display = x11.XOpenDisplay(None)
    event = ClientMessage(type=33, window=int(window.winId()), format=32)  # ClientMessage
    event.message_type = x11.XInternAtom(display, b"WM_PROTOCOLS", 0)
    event.data[0] = x11.XInternAtom(display, b"WM_DELETE_WINDOW", 0)
    x11.XSendEvent(display, int(window.winId()), 0, 0, ctypes.byref(event))
    x11.XFlush(ctypes.c_void_p(display))
    x11.XCloseDisplay(ctypes.c_void_p(display))


def balloons() -> list[QWidget]:
    return [w for w in QApplication.topLevelWidgets()
            if w.metaObject().className() == "QBalloonTip" and w.isVisible()]  # fmt: skip


async def settle(seconds: float = 1.0) -> None:
    await asyncio.sleep(seconds)


async def run(scenario: str, out: Path) -> dict[str, Any]:
    tasks = TaskTracker("harness")
    result: dict[str, Any] = {}
    shell = DesktopShell(out / "profile", tasks.spawn, lambda: None, lambda: None)
    bridge, window = FakeBridge(), FakeWindow()
    shell.attach(window, bridge)  # type: ignore[arg-type]
    await settle(2.0)  # the tray registers, D-Bus connects
    if scenario == "tray":
        bridge.unread_notifications = 3
        bridge.unreadNotificationsChanged.emit(3)
        await settle(2.0)
        icon = shell.tray.icon
        result.update(available=shell.tray.available(), visible=icon.isVisible(),
                      unread=shell.tray.unread, tooltip=icon.toolTip())  # fmt: skip
        geometry = icon.geometry()
        result["geometry"] = [geometry.x(), geometry.y(), geometry.width(), geometry.height()]
        screen = QGuiApplication.primaryScreen().grabWindow(0)
        result["saved"] = screen.save(str(out / "screen.png"))
        window.close()  # a spontaneous close hides; this programmatic one detaches
    elif scenario == "notify":
        result["backend"] = type(shell.centers[window].backend).__name__
        bridge.messageAdded.emit(message(1, "Hello Bob"))
        await settle()
        shell.settings.privacy = Privacy.NAME
        bridge.messageAdded.emit(message(2, "Second one"))
        await settle()
        shell.settings.privacy = Privacy.NOTHING
        bridge.messageAdded.emit(message(3, "Third one"))
        await settle()
        shell.settings.do_not_disturb = True
        bridge.messageAdded.emit(message(4, "not shown: do not disturb"))
        await settle()
        shell.settings.do_not_disturb = False
        shell.settings.privacy = Privacy.FULL
        shell.settings.mute("ann1_cat1", 1)
        bridge.messageAdded.emit(message(5, "not shown: muted", "ann1_cat1"))
        await settle()
        from dbus_next.aio import MessageBus
        from dbus_next.message import Message as DBusMessage

        bus = await MessageBus().connect()  # the person clicks the notification
        await bus.call(DBusMessage(destination="org.freedesktop.Notifications",
                                   path="/org/freedesktop/Notifications",
                                   interface="org.freedesktop.Notifications", member="Invoke",
                                   signature="us", body=[1, "default"]))  # fmt: skip
        bus.disconnect()
        await settle()
        result.update(opened=window.opened, visible=window.isVisible(), calls=bridge.calls)
    elif scenario == "balloon":  # no notification service: the tray icon's own balloon
        from desktop_chat.ui.desktop_notifications import TrayNotifications

        shell._use(shell.centers[window], TrayNotifications(shell.tray.icon, window))
        bridge.messageAdded.emit(message(1, "Balloon hello"))
        await settle()
        tips = balloons()
        result["balloons"] = len(tips)
        if tips:
            tip = tips[0].geometry()
            result["tip"] = [tip.x(), tip.y(), tip.width(), tip.height()]
            QGuiApplication.primaryScreen().grabWindow(0).save(str(out / "screen.png"))
            centre = tips[0].mapToGlobal(tips[0].rect().center())
            clicked = await asyncio.create_subprocess_exec(  # a real pointer click on it
                "xdotool", "mousemove", str(centre.x()), str(centre.y()), "click", "1"
            )
            await clicked.wait()
            await settle()
        result.update(opened=window.opened, visible=window.isVisible(), calls=bridge.calls)
    elif scenario == "close":  # the close button hides to the tray, explained once
        window.show()
        await settle()
        close_as_the_window_manager_does(window)
        await settle()
        tips = balloons()
        result.update(hidden=not window.isVisible(), attached=window in shell.centers,
                      hint=shell.settings.close_hint_shown, balloons=len(tips))  # fmt: skip
        if tips:
            tip = tips[0].geometry()
            result["tip"] = [tip.x(), tip.y(), tip.width(), tip.height()]
            QGuiApplication.primaryScreen().grabWindow(0).save(str(out / "screen.png"))
            tips[0].close()
        window.show()  # (the tray's Open)
        await settle()
        close_as_the_window_manager_does(window)
        await settle()
        result.update(hidden_again=not window.isVisible(), balloons_again=len(balloons()),
                      still_attached=window in shell.centers)  # fmt: skip
    elif scenario == "sound":
        bridge.messageAdded.emit(message(1, "Ding"))
        await settle(0.3)
        effect = shell.sounds.effect(shell.sounds.played[0]) if shell.sounds.played else None
        result["status"] = str(effect.status()) if effect is not None else None
        result["played"] = [str(group) for group in shell.sounds.played]
        await settle(0.2)
        (out / "playing").write_text("1")  # the test reads the sink inputs now
        await settle(2.0)
        shell.settings.mute(CID, None)
        shell.sounds.played.clear()
        bridge.messageAdded.emit(message(2, "Muted"))
        await settle(0.5)
        result["played_muted"] = [str(group) for group in shell.sounds.played]
    shell.close()
    await tasks.cancel_all()
    return result


def main() -> int:
    scenario, out = sys.argv[1], Path(sys.argv[2])
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    with asyncio.Runner(loop_factory=qasync.QEventLoop) as runner:
        result = runner.run(run(scenario, out))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
