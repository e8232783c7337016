"""Screenshots of the main window (empty, loading and busy, the account menu and the sign-out
question; light and dark) under build/."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.ui.account_menu import SIGNING_OUT, SignOutDialog, signed_out_problem
from desktop_chat.ui.bridge import ChatBridge
from desktop_chat.ui.main_window import MainWindow
from desktop_chat.ui.sign_in_window import SignInWindow
from desktop_chat.ui.theme import DARK, LIGHT, Theme, apply_theme
from tests.support.chat import FAST
from tests.support.server import ServerProcess
from tests.ui.conftest import run_on
from tests.ui.test_bridge import close_all, new_user

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
LONG = 30_000
THEMES = {"light": LIGHT, "dark": DARK}


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("shots") / "d", FAST, rules=None).start()
    yield server
    server.kill()


def shoot(qtbot: QtBot, window: MainWindow, name: str) -> Path:
    qtbot.wait(150)  # let delayed layouts and repaints run
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    assert window.grab().save(str(path))
    assert path.stat().st_size > 10_000
    return path


def window_for(qtbot: QtBot, client: ChatClient, theme: Theme) -> tuple[ChatBridge, MainWindow]:
    apply_theme(QApplication.instance(), theme)  # type: ignore[arg-type]
    bridge = ChatBridge(client)
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    window.resize(1040, 700)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=LONG)
    return bridge, window


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_empty_and_loading_window(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    chat_server: ServerProcess,
    tmp_path: Path,
    themed: None,
    scheme: str,
) -> None:
    ann = run_on(qtbot, qloop, new_user(chat_server, tmp_path / "ann", "Ann", "student"))
    bridge, window = window_for(qtbot, ann, THEMES[scheme])
    try:
        window.conversations.loading = True
        shoot(qtbot, window, f"main-loading-{scheme}")
        window.start()
        qtbot.waitUntil(window.empty.isVisible, timeout=LONG)
        shoot(qtbot, window, f"main-empty-{scheme}")
    finally:
        window.close()
        run_on(qtbot, qloop, bridge.aclose())
        close_all(qtbot, qloop, ann)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_busy_window(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    chat_server: ServerProcess,
    tmp_path: Path,
    themed: None,
    scheme: str,
) -> None:
    async def people() -> list[ChatClient]:
        return [
            await new_user(chat_server, tmp_path / name, name, role)
            for name, role in [
                ("Ann Lee", "student"),
                ("Bob Marley", "provider"),
                ("Catherine Zeta-Jones the Third of Wales", "provider"),
                ("Dan", "student"),
            ]
        ]

    ann, bob, cat, dan = run_on(qtbot, qloop, people(), 60)
    assert ann.uid and bob.uid and cat.uid and dan.uid
    yesterday = int(time.time() * 1000) - 26 * 3_600_000

    async def chat() -> str:
        cid = await bob.open_conversation(ann.uid)  # type: ignore[arg-type]
        older = {
            f"-a{n:03d}": {
                "senderId": bob.uid if n % 2 else ann.uid,
                "receiverId": ann.uid if n % 2 else bob.uid,
                "text": text,
                "timestamp": yesterday + n * 60_000,
                "read": True,
                "type": "text",
            }
            for n, text in enumerate(["Hi Bob, do you teach reggae guitar?", "I do! 🎸"])
        }
        chat_server.put(f"conversations/{cid}/messages", older)
        for who, text in [
            (ann, "Great. Could we start next week? I have an old acoustic."),
            (bob, "Sure — see https://example.com/guitar?level=1 before we start"),
            (bob, "<b>Bring</b> a capo & a tuner, if you have them."),
            (ann, "Will do, thanks!"),
        ]:
            await who.send_message(cid, text)
        for other, text in [(cat, "Your lesson is confirmed for Friday 10:00"), (dan, "hey")]:
            cid2 = await other.open_conversation(ann.uid)  # type: ignore[arg-type]
            await other.send_message(cid2, text)
        return cid

    cid = run_on(qtbot, qloop, chat(), 60)
    bridge, window = window_for(qtbot, ann, THEMES[scheme])
    try:
        window.start()
        qtbot.waitUntil(lambda: window.conversations.rowCount() == 3, timeout=LONG)
        bob.select_conversation(cid)
        window.open_conversation(cid)
        qtbot.waitUntil(lambda: window.chat.model.rowCount() == 6, timeout=LONG)
        qtbot.waitUntil(lambda: window.chat.header.status.text() == "Online", timeout=LONG)

        def read() -> bool:  # the open conversation, in the active window, is read
            row = window.conversations.row_of(cid)
            entry = None if row is None else window.conversations.entry(row)
            return entry is not None and entry.unread_count == 0

        qtbot.waitUntil(read, timeout=LONG)
        window.chat.typing_line.start("Bob Marley")
        window.chat.input.text.setPlainText("A draft with two lines\nto show the input grows")
        shoot(qtbot, window, f"main-busy-{scheme}")
        window.chat.history.verticalScrollBar().setValue(0)
        window.chat.history.place_pill()
        window.chat.history.pill.show()
        window.chat.typing_line.stop()
        window.search.setText("guitar")
        qtbot.waitUntil(window.hits.isVisible, timeout=LONG)
        shoot(qtbot, window, f"main-search-{scheme}")
        window.search.clear()
        chat_server.put(
            "skills/reggae",
            {
                "title": "Reggae guitar, from the first chord",
                "providerId": bob.uid,
                "price": 30,
                "durationMinutes": 45,
                "description": "Rhythm first. <script>alert(1)</script>\nSee https://example.com",
            },
        )
        window.tabs.setCurrentIndex(1)
        qtbot.waitUntil(lambda: window.skills.list.count() == 1, timeout=LONG)
        skills = window.skills.list
        rect = skills.visualItemRect(skills.item(0))
        qtbot.mouseClick(skills.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        shoot(qtbot, window, f"main-skill-{scheme}")
    finally:
        window.close()
        run_on(qtbot, qloop, bridge.aclose())
        close_all(qtbot, qloop, ann, bob, cat, dan)


def with_popup(window: MainWindow, popup: QWidget, *, modal: bool = False) -> QPixmap:
    """*window* with *popup* (a menu, a dialog: windows of their own) painted where it shows;
    a *modal* one framed, over the window dimmed (what the window manager would add)."""
    shot = window.grab()
    painter = QPainter(shot)
    at = window.mapFromGlobal(popup.mapToGlobal(QPoint(0, 0)))
    if modal:
        painter.fillRect(shot.rect(), QColor(0, 0, 0, 70))
        painter.setPen(QColor(window.palette().color(QPalette.ColorRole.Mid)))
        painter.drawRect(QRect(at, popup.size()).adjusted(-1, -1, 0, 0))
    painter.drawPixmap(at, popup.grab())
    painter.end()
    return shot


def save(shot: QPixmap, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert shot.save(str(SHOTS / f"{name}.png"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_account_menu_and_sign_out_question(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    chat_server: ServerProcess,
    tmp_path: Path,
    themed: None,
    scheme: str,
) -> None:
    ann = run_on(qtbot, qloop, new_user(chat_server, tmp_path / "ann", "Ann Lee", "student"))
    bridge, window = window_for(qtbot, ann, THEMES[scheme])
    try:
        window.start()
        qtbot.waitUntil(window.empty.isVisible, timeout=LONG)
        account = window.account
        assert account.text() == "Ann Lee"
        account.setFocus(Qt.FocusReason.TabFocusReason)
        shoot(qtbot, window, f"account-focus-{scheme}")
        menu = account.account_menu
        menu.popup(account.mapToGlobal(account.rect().bottomLeft()))  # (exec would block)
        qtbot.waitUntil(menu.isVisible, timeout=LONG)
        qtbot.wait(150)
        save(with_popup(window, menu), f"account-menu-{scheme}")
        menu.hide()
        email = ann.auth.user.email if ann.auth.user is not None else None
        for unsent, name in [(0, "sign-out"), (2, "sign-out-waiting")]:
            dialog = SignOutDialog(window, account.name, email, unsent)
            dialog.open()
            qtbot.waitUntil(dialog.isVisible, timeout=LONG)
            size = dialog.size()  # centred over the window, as a window-modal dialog shows
            dialog.move(
                window.mapToGlobal(window.rect().center())
                - QPoint(size.width() // 2, size.height() // 2)
            )
            qtbot.wait(150)
            save(with_popup(window, dialog, modal=True), f"{name}-{scheme}")
            dialog.reject()
            dialog.deleteLater()
        sign_in = SignInWindow(ann)  # what shows next: held while signing out, then ready
        qtbot.addWidget(sign_in)
        sign_in.email.setText(email or "")
        sign_in.show()
        sign_in.hold(SIGNING_OUT)
        qtbot.wait(150)
        save(sign_in.grab(), f"sign-in-signing-out-{scheme}")
        sign_in.release()
        sign_in.show_error(signed_out_problem(OSError("disk I/O error")))
        qtbot.wait(150)
        save(sign_in.grab(), f"sign-in-after-sign-out-{scheme}")
        sign_in.close()
    finally:
        window.close()
        run_on(qtbot, qloop, bridge.aclose())
        close_all(qtbot, qloop, ann)
