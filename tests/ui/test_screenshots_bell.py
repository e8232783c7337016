"""Screenshots of the bell (0, 3 and 12 unread) and its dropdown, light and dark, in build/."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.core.model import conversation_id
from tests.support.chat import FAST
from tests.support.server import ServerProcess
from tests.ui.conftest import run_on
from tests.ui.test_bridge import close_all, new_user
from tests.ui.test_notification_bell import deactivate
from tests.ui.test_screenshots_windows import (
    THEMES,
    save,
    shoot,
    window_for,
    with_popup,
)

LONG = 30_000
MINUTE = 60_000


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("bellshots") / "d", FAST, rules=None).start()
    yield server
    server.kill()


SYSTEM = [
    ("review", "New review: ★★★★★", "Maya: “Patient and clear, thank you!”", {"skillId": "g"}, 4),
    ("payment", "Payment received: 30.00", "Reggae guitar, from the first chord", None, 50),
    ("session_reminder", "Lesson in 1 hour", "Reggae guitar with Maya at 11:00", None, 75),
    (
        "booking_request",
        "New booking request",
        "Maya asks for Friday 10:00",
        {"bookingId": "b1"},
        180,
    ),
    ("booking_confirmed", "Booking confirmed", "Friday 10:00 with Leo", {"bookingId": "b2"}, 600),
    ("review", "New review: ★★★★", "Dan: “Great first lesson”", {"skillId": "g"}, 1500),
    ("payment", "Payout sent", "120.00 to your bank account", None, 3000),
    ("session_reminder", "Lesson tomorrow", "Drums with Dan at 09:30", None, 4000),
    ("review", "New review: ★★★", None, None, 9000),
]


def leo_and_maya(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, server: ServerProcess, tmp_path: Path
) -> list[ChatClient]:
    """Leo (a provider) and Maya (a student), signed up and started."""

    async def people() -> list[ChatClient]:
        return [
            await new_user(server, tmp_path / name, name, role)
            for name, role in [("Leo Park", "provider"), ("Maya Singh", "student")]
        ]

    return run_on(qtbot, qloop, people(), 60)


def put_note(server: ServerProcess, uid: str, nid: str, row: tuple[Any, ...]) -> None:
    kind, title, body, link, minutes = row
    record: dict[str, Any] = {
        "kind": kind,
        "title": title,
        "createdAt": int(time.time() * 1000) - minutes * MINUTE,
        "read": False,
    }
    if body:
        record["body"] = body
    if link:
        record["link"] = link
    server.put(f"notifications/{uid}/{nid}", record)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.usefixtures("themed")
def test_bell_and_dropdown(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    chat_server: ServerProcess,
    tmp_path: Path,
    scheme: str,
) -> None:
    leo, maya = leo_and_maya(qtbot, qloop, chat_server, tmp_path)
    assert leo.uid and maya.uid
    bridge, window = window_for(qtbot, leo, THEMES[scheme])
    try:
        window.start()
        bell = window.bell
        qtbot.waitUntil(window.empty.isVisible, timeout=LONG)
        assert bell.badge == ""
        shoot(qtbot, window, f"bell-0-{scheme}")
        bell.click()
        qtbot.waitUntil(bell.popup.isVisible, timeout=LONG)
        qtbot.wait(150)
        save(with_popup(window, bell.popup), f"bell-empty-dropdown-{scheme}")
        bell.popup.close()

        async def maya_writes() -> None:
            cid = await maya.open_conversation(leo.uid)
            await maya.send_message(cid, "Hi Leo! Is Friday 10:00 still free?")

        other = deactivate(qtbot, window)  # so Leo reads nothing meanwhile
        run_on(qtbot, qloop, maya_writes())
        for n, row in enumerate(SYSTEM[:2]):
            put_note(chat_server, leo.uid, f"s{n}", row)
        qtbot.waitUntil(lambda: bell.unread == 3, timeout=LONG)
        assert bell.badge == "3"
        shoot(qtbot, window, f"bell-3-{scheme}")

        for n, row in enumerate(SYSTEM[2:], start=2):
            put_note(chat_server, leo.uid, f"s{n}", row)
        run_on(qtbot, qloop, maya.send_message(maya_cid(maya, leo), "See you then 🎸"))
        qtbot.waitUntil(lambda: bell.unread == 11, timeout=LONG)
        run_on(qtbot, qloop, leo.mark_notification_read("s6"))  # one read: not tinted
        qtbot.waitUntil(lambda: bell.unread == 10, timeout=LONG)
        put_note(chat_server, leo.uid, "s9", ("payment", "Refund issued", "15.00", None, 9500))
        put_note(chat_server, leo.uid, "s10", ("review", "New review", "“Fun!”", None, 9600))
        qtbot.waitUntil(lambda: bell.unread == 12, timeout=LONG)
        assert bell.badge == "9+"
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=LONG)
        other.close()
        shoot(qtbot, window, f"bell-12-{scheme}")
        bell.setFocus()
        bell.click()
        qtbot.waitUntil(bell.popup.isVisible, timeout=LONG)
        bell.popup.list.setCurrentIndex(bell.model.index(1))
        qtbot.wait(150)
        save(with_popup(window, bell.popup), f"bell-dropdown-{scheme}")
        bell.popup.close()
    finally:
        window.close()
        run_on(qtbot, qloop, bridge.aclose())
        close_all(qtbot, qloop, leo, maya)


def maya_cid(maya: ChatClient, leo: ChatClient) -> str:
    assert maya.uid is not None and leo.uid is not None
    return conversation_id(maya.uid, leo.uid)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.usefixtures("themed")
def test_toast_settings_and_mute_menus(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    chat_server: ServerProcess,
    tmp_path: Path,
    scheme: str,
) -> None:
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QPainter
    from PySide6.QtWidgets import QMenu

    from desktop_chat.ui.app_settings import AppSettings, settings_menu
    from desktop_chat.ui.desktop_notifications import ToastNotifications

    leo, maya = leo_and_maya(qtbot, qloop, chat_server, tmp_path)
    assert leo.uid and maya.uid
    bridge, window = window_for(qtbot, leo, THEMES[scheme])
    try:
        window.start()
        settings = AppSettings(None)
        window.use_settings(settings)
        cid = maya_cid(maya, leo)
        run_on(qtbot, qloop, maya.open_conversation(leo.uid))
        run_on(qtbot, qloop, maya.send_message(cid, "Hi Leo! Is Friday 10:00 still free?"))
        qtbot.waitUntil(lambda: window.conversations.row_of(cid) is not None, timeout=LONG)
        window.open_conversation(cid)
        qtbot.waitUntil(lambda: window.chat.input.cid == cid, timeout=LONG)

        toasts = ToastNotifications(window, window)  # (no notification service, no tray)
        clicked: list[tuple[int, str]] = []
        toasts.activated.connect(lambda key, action: clicked.append((key, action)))
        toasts.show(7, "Maya Singh", "Hi Leo! Is Friday 10:00 still free?")
        qtbot.waitUntil(toasts.toast.isVisible, timeout=LONG)
        shoot(qtbot, window, f"toast-{scheme}")
        qtbot.mouseClick(toasts.toast, Qt.MouseButton.LeftButton)
        assert clicked == [(7, "default")] and not toasts.toast.isVisible()

        menu = settings_menu(settings, window)
        menu.popup(window.mapToGlobal(QPoint(60, 70)))
        qtbot.waitUntil(menu.isVisible, timeout=LONG)
        qtbot.wait(150)
        save(with_popup(window, menu), f"settings-menu-{scheme}")
        menu.close()

        settings.mute(cid, 8)
        header = window.chat.header
        actions = header.menu
        actions.popup(header.menu_button.mapToGlobal(QPoint(-160, header.menu_button.height())))
        qtbot.waitUntil(actions.isVisible, timeout=LONG)
        mute = next(a.menu() for a in actions.actions() if isinstance(a.menu(), QMenu))
        mute.popup(actions.mapToGlobal(QPoint(-mute.sizeHint().width(), 0)))
        qtbot.waitUntil(mute.isVisible, timeout=LONG)
        qtbot.wait(150)
        shot = with_popup(window, actions)
        painter = QPainter(shot)
        painter.drawPixmap(window.mapFromGlobal(mute.mapToGlobal(QPoint(0, 0))), mute.grab())
        painter.end()
        save(shot, f"mute-menu-{scheme}")
        texts = [a.text() for a in mute.actions() if not a.isSeparator()]
        assert texts[0].startswith("Muted until ") and "Turn notifications back on" in texts
        mute.close()
        actions.close()
    finally:
        window.close()
        run_on(qtbot, qloop, bridge.aclose())
        close_all(qtbot, qloop, leo, maya)
