"""Signing out from the main window's account menu, in the real app with its embedded server."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop_chat.app import DesktopApp
from desktop_chat.client.cache_schema import CACHE_FILE
from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.outbox import Outbox
from desktop_chat.client.profiles import Profile
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.core.model import conversation_id
from desktop_chat.ui.account_menu import SignOutDialog
from desktop_chat.ui.main_window import MainWindow
from desktop_chat.ui.sign_in_window import SignInWindow
from tests.support.chat import FAST
from tests.ui.conftest import FakeKeychain, run_on
from tests.ui.test_app import stop

LONG = 60_000
PASSWORD = "long-enough"


def start(
    qapp: QApplication, loop: asyncio.AbstractEventLoop, tmp_path: Path, *, demo: bool = False
) -> tuple[DesktopApp, asyncio.Task[int]]:
    profile = Profile.named("demo" if demo else "test", root=tmp_path / "data")
    app = DesktopApp(qapp, profile, demo=demo, server_args=FAST)  # the real MainWindow
    return app, loop.create_task(app.run())


def only_window(app: DesktopApp) -> MainWindow | SignInWindow | None:
    windows = [w for w in app.windows if isinstance(w, MainWindow | SignInWindow)]
    return windows[0] if len(app.windows) == 1 and windows else None


def main_window(qtbot: QtBot, app: DesktopApp) -> MainWindow:
    qtbot.waitUntil(lambda: isinstance(only_window(app), MainWindow), timeout=LONG)
    window = only_window(app)
    assert isinstance(window, MainWindow)
    return window


def ready_sign_in(qtbot: QtBot, app: DesktopApp) -> SignInWindow:
    """The sign-in window, once it is no longer held by a sign-out under way."""
    qtbot.waitUntil(lambda: isinstance(only_window(app), SignInWindow), timeout=LONG)
    window = only_window(app)
    assert isinstance(window, SignInWindow)
    qtbot.waitUntil(lambda: not window.busy, timeout=LONG)
    return window


def submit(
    qtbot: QtBot, app: DesktopApp, email: str, name: str | None = None, keep: bool = True
) -> MainWindow:
    """Sign in as *email* (or, with a *name*, create that account) in the sign-in window."""
    window = ready_sign_in(qtbot, app)
    window.set_sign_up(name is not None)
    window.email.setText(email)
    window.password.setText(PASSWORD)
    window.display_name.setText(name or "")
    window.keep.setChecked(keep)
    window.submit()
    return main_window(qtbot, app)


def ask(qtbot: QtBot, window: MainWindow) -> SignOutDialog:
    """Account menu > Sign out…: the question, once it shows."""
    window.account.sign_out_action.trigger()
    qtbot.waitUntil(
        lambda: window.account.dialog is not None and window.account.dialog.isVisible(),
        timeout=LONG,
    )
    assert window.account.dialog is not None
    return window.account.dialog


def answer(qtbot: QtBot, dialog: SignOutDialog, sign_out: bool) -> None:
    button = dialog.sign_out_button if sign_out else dialog.cancel_button
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


async def other_user(app: DesktopApp, tmp_path: Path, name: str) -> ChatClient:
    """Someone else on the app's server, signed up and started."""
    client = await ChatClient.create(
        app.clients[0].config, tmp_path / name, token_store=MemoryTokenStore()
    )
    await client.sign_up(f"{name.lower()}@example.com", PASSWORD, name, "provider")
    await client.start()
    return client


def test_sign_out_then_in_again_as_someone_else_and_back(
    qapp: QApplication,
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    keychain: FakeKeychain,
    tmp_path: Path,
) -> None:
    app, task = start(qapp, qloop, tmp_path)
    lee: ChatClient | None = None
    try:
        kim_window = submit(qtbot, app, "kim@example.com", "Kim")
        client = kim_window.bridge.client
        kim = client.uid
        assert kim is not None and keychain.entries
        assert kim_window.account.text() == "Kim"
        assert kim_window.account.accessibleName() == "Account: Kim"
        lee = run_on(qtbot, qloop, other_user(app, tmp_path, "Lee"))
        assert lee.uid is not None
        cid = conversation_id(kim, lee.uid)
        run_on(qtbot, qloop, lee.open_conversation(kim))
        run_on(qtbot, qloop, lee.send_message(cid, "Hi Kim"))
        qtbot.waitUntil(lambda: kim_window.conversations.row_of(cid) is not None, timeout=LONG)
        kim_window.open_conversation(cid)
        assert client.selected == cid

        # keyboard: Shift+Tab from the search reaches the account button, Space opens its menu
        kim_window.activateWindow()
        qtbot.waitUntil(kim_window.isActiveWindow, timeout=LONG)
        kim_window.focus_search()
        qtbot.keyClick(kim_window.search, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
        assert kim_window.account.hasFocus()
        menu = kim_window.account.account_menu
        seen: list[str] = []

        def choose() -> None:  # the menu runs its own event loop while it shows
            if not menu.isVisible():
                QTimer.singleShot(20, choose)
                return
            seen.append(menu.actions()[0].text())
            menu.setActiveAction(kim_window.account.sign_out_action)
            qtbot.keyClick(menu, Qt.Key.Key_Return)

        QTimer.singleShot(0, choose)
        qtbot.keyClick(kim_window.account, Qt.Key.Key_Space)
        assert seen == ["Signed in as kim@example.com"]
        qtbot.waitUntil(lambda: kim_window.account.dialog is not None, timeout=LONG)
        dialog = kim_window.account.dialog
        assert dialog is not None
        qtbot.waitUntil(dialog.isVisible, timeout=LONG)
        assert dialog.text() == "<b>Sign out of Desktop Chat?</b>"
        assert "You are signed in as Kim (kim@example.com)." in dialog.informativeText()
        assert "waiting" not in dialog.informativeText()  # nothing waits to be sent
        assert dialog.defaultButton() is dialog.sign_out_button
        qtbot.keyClick(dialog, Qt.Key.Key_Return)

        sign_in = ready_sign_in(qtbot, app)  # the app is still running, asking to sign in
        assert not task.done() and app.bridges == []
        assert keychain.entries == {}  # the session is forgotten
        assert client.uid is None and not client.auth.signed_in and client.selected is None
        assert not (client.data_dir / kim / CACHE_FILE).exists()
        assert sign_in.email.text() == "kim@example.com" and sign_in.error_text() == ""
        assert not (sign_in.submit_button.text() or "").startswith("Signing out")

        max_window = submit(qtbot, app, "max@example.com", "Max")  # someone else, same window
        assert max_window.bridge.client is client and client.uid != kim
        assert max_window.account.text() == "Max"
        qtbot.waitUntil(max_window.empty.isVisible, timeout=LONG)  # none of Kim's chats
        assert max_window.conversations.rowCount() == 0
        answer(qtbot, ask(qtbot, max_window), sign_out=True)

        back = submit(qtbot, app, "kim@example.com")  # Kim again: her chats come back
        assert back.bridge.uid == kim and back.account.text() == "Kim"
        qtbot.waitUntil(lambda: back.conversations.row_of(cid) is not None, timeout=LONG)
        assert keychain.entries
    finally:
        if lee is not None:
            run_on(qtbot, qloop, lee.close())
        assert stop(qtbot, app, task) == 0


def test_cancel_keeps_everything(
    qapp: QApplication,
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    keychain: FakeKeychain,
    tmp_path: Path,
) -> None:
    app, task = start(qapp, qloop, tmp_path)
    try:
        window = submit(qtbot, app, "kim@example.com", "Kim")
        entries = dict(keychain.entries)
        answer(qtbot, ask(qtbot, window), sign_out=False)
        qtbot.waitUntil(lambda: window.account.dialog is None, timeout=LONG)
        qtbot.wait(200)
        assert only_window(app) is window and window.isVisible()
        assert keychain.entries == entries and window.bridge.client.auth.signed_in
        assert not window.bridge.closed and app.bridges == [window.bridge]
        dialog = ask(qtbot, window)  # it can be asked again; Esc cancels too
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
        qtbot.waitUntil(lambda: window.account.dialog is None, timeout=LONG)
        assert only_window(app) is window and keychain.entries == entries
    finally:
        assert stop(qtbot, app, task) == 0


def test_a_message_waiting_is_counted_and_kept_for_the_next_sign_in(
    qapp: QApplication,
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    keychain: FakeKeychain,
    tmp_path: Path,
) -> None:
    app, task = start(qapp, qloop, tmp_path)
    lee: ChatClient | None = None
    try:
        window = submit(qtbot, app, "kim@example.com", "Kim")
        client = window.bridge.client
        kim = client.uid
        assert kim is not None
        lee = run_on(qtbot, qloop, other_user(app, tmp_path, "Lee"))
        assert lee.uid is not None
        cid = run_on(qtbot, qloop, client.open_conversation(lee.uid))
        run_on(qtbot, qloop, lee.close())
        lee = None
        assert app.server is not None
        run_on(qtbot, qloop, app.server.release())  # the server is gone: nothing goes out
        run_on(qtbot, qloop, client.send_message(cid, "Are you there?"))

        dialog = ask(qtbot, window)
        assert dialog.unsent == 1
        assert dialog.informativeText().split("<br><br>") == [
            "You are signed in as Kim (kim@example.com).",
            "1 message has not been sent yet. It stays on this computer and will be sent the "
            "next time you sign in to this account.",
            "Your chats will be removed from this computer until you sign in again.",
        ]
        answer(qtbot, dialog, sign_out=True)

        sign_in = ready_sign_in(qtbot, app)
        assert not task.done() and keychain.entries == {}
        assert "Traceback" not in sign_in.error_text()
        outbox = Outbox(client.data_dir / kim)  # kept for Kim's next sign-in
        try:
            assert outbox.unsent_count() == 1
        finally:
            outbox.close()
    finally:
        if lee is not None:
            run_on(qtbot, qloop, lee.close())
        assert stop(qtbot, app, task) == 0


def test_a_failing_sign_out_is_said_in_words_and_still_ends_the_session(
    qapp: QApplication,
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    keychain: FakeKeychain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, task = start(qapp, qloop, tmp_path)
    try:
        window = submit(qtbot, app, "kim@example.com", "Kim")
        client = window.bridge.client
        cache = client.cache
        assert cache is not None
        close = cache.close

        def failing_close() -> None:  # once: before the session is forgotten
            monkeypatch.setattr(cache, "close", close)
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(cache, "close", failing_close)
        answer(qtbot, ask(qtbot, window), sign_out=True)
        sign_in = ready_sign_in(qtbot, app)
        assert sign_in.error_text() == (
            "You are signed out. Some of the account's data could not be cleaned up. You can "
            "sign in again at any time."
        )
        assert keychain.entries == {} and not client.auth.signed_in and not task.done()
        again = submit(qtbot, app, "kim@example.com")
        assert again.account.text() == "Kim"
    finally:
        assert stop(qtbot, app, task) == 0


def test_quitting_while_signing_out_still_forgets_the_session(
    qapp: QApplication,
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    keychain: FakeKeychain,
    tmp_path: Path,
) -> None:
    app, task = start(qapp, qloop, tmp_path)
    window = submit(qtbot, app, "kim@example.com", "Kim")
    assert keychain.entries
    answer(qtbot, ask(qtbot, window), sign_out=True)
    assert stop(qtbot, app, task) == 0  # at once: the sign-out is cancelled on its way
    assert keychain.entries == {}


def test_demo_sign_out_of_one_window_leaves_the_other(
    qapp: QApplication, qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    app, task = start(qapp, qloop, tmp_path, demo=True)
    try:
        qtbot.waitUntil(lambda: len(app.windows) == 2, timeout=LONG)
        maya, leo = app.windows
        assert isinstance(maya, MainWindow) and isinstance(leo, MainWindow)
        answer(qtbot, ask(qtbot, maya), sign_out=True)
        qtbot.waitUntil(lambda: any(isinstance(w, SignInWindow) for w in app.windows), timeout=LONG)
        sign_in = next(w for w in app.windows if isinstance(w, SignInWindow))
        qtbot.waitUntil(lambda: not sign_in.busy, timeout=LONG)
        assert app.windows == [leo, sign_in] and leo.isVisible()
        # (Maya's bridge leaves the app's list as the sign-out task ends, just after this)
        qtbot.waitUntil(lambda: app.bridges == [leo.bridge], timeout=LONG)
        assert not leo.bridge.closed
        assert leo.bridge.client.auth.signed_in and leo.account.text() == "Leo Martins"
        assert maya.bridge.client.uid is None
        assert not task.done()
    finally:
        assert stop(qtbot, app, task) == 0
