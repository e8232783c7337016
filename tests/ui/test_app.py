"""The composition root: sign up, a restart that stays signed in, start-up errors, --demo."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from desktop_chat.app import DesktopApp
from desktop_chat.client.profiles import DATA_DIR_ENV, Profile
from desktop_chat.ui.bridge import ChatBridge
from desktop_chat.ui.sign_in_window import SignInWindow
from tests.support.app_runner import placeholder
from tests.support.chat import FAST
from tests.ui.conftest import FakeKeychain

ROOT = Path(__file__).resolve().parents[2]
LONG = 60_000


def start(
    qapp: QApplication, loop: asyncio.AbstractEventLoop, profile: Profile
) -> tuple[DesktopApp, asyncio.Task[int]]:
    app = DesktopApp(qapp, profile, window_factory=placeholder, server_args=FAST)
    return app, loop.create_task(app.run())


def awaiting(task: asyncio.Task[object]) -> str:
    """*task* and the chain of coroutines it is suspended in, innermost last."""
    lines = [repr(task)]
    coro: object = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return "\n".join(lines)


def stop(qtbot: QtBot, app: DesktopApp, task: asyncio.Task[int]) -> int:
    app.quit()
    try:
        qtbot.waitUntil(task.done, timeout=LONG)
    except Exception:  # a hang on quit: say which tasks are still waiting, and on what
        stacks = "\n".join(awaiting(t) for t in asyncio.all_tasks(task.get_loop()))
        pytest.fail(f"the app did not stop; tasks still running:\n{stacks}")
    return task.result()


def main_window_shown(app: DesktopApp) -> bool:
    return len(app.windows) == 1 and not isinstance(app.windows[0], SignInWindow)


def sign_up(qtbot: QtBot, app: DesktopApp, keep: bool) -> None:
    qtbot.waitUntil(lambda: bool(app.windows), timeout=LONG)
    window = app.windows[0]
    assert isinstance(window, SignInWindow)
    window.set_sign_up(True)
    window.email.setText(f"keep-{keep}@example.com")
    window.password.setText("long-enough")
    window.display_name.setText("Kim")
    window.keep.setChecked(keep)
    window.submit()
    qtbot.waitUntil(lambda: main_window_shown(app), timeout=LONG)


@pytest.mark.parametrize("keep", [True, False])
def test_sign_up_then_a_restart(
    qapp: QApplication,
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    keychain: FakeKeychain,
    tmp_path: Path,
    keep: bool,
) -> None:
    profile = Profile.named("test", root=tmp_path / "data")
    app, task = start(qapp, qloop, profile)
    sign_up(qtbot, app, keep)
    assert bool(keychain.entries) is keep
    assert stop(qtbot, app, task) == 0
    assert app.windows == [] and app.clients == [] and app.server is None
    assert not (profile.server_dir / "server.json").exists()  # the server stopped with us

    again, task = start(qapp, qloop, profile)
    qtbot.waitUntil(lambda: bool(again.windows), timeout=LONG)
    if keep:  # straight to the conversations
        qtbot.waitUntil(lambda: main_window_shown(again), timeout=LONG)
    else:
        assert isinstance(again.windows[0], SignInWindow)
    assert stop(qtbot, again, task) == 0


def test_a_session_no_longer_valid_opens_the_sign_in_window_after_the_cached_chats(
    qapp: QApplication,
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    keychain: FakeKeychain,
    tmp_path: Path,
) -> None:
    profile = Profile.named("test", root=tmp_path / "data")
    app, task = start(qapp, qloop, profile)
    sign_up(qtbot, app, True)
    assert stop(qtbot, app, task) == 0
    for key in keychain.entries:  # revoked elsewhere (a password change, say)
        keychain.entries[key] = "AMf-no-longer-valid"

    mains: list[QWidget] = []

    def main_window(bridge: ChatBridge) -> QWidget:
        window = placeholder(bridge)
        mains.append(window)
        assert again.windows == []  # the first window: the cached chats, before the network
        return window

    again = DesktopApp(qapp, profile, window_factory=main_window, server_args=FAST)
    task = qloop.create_task(again.run())
    qtbot.waitUntil(
        lambda: len(again.windows) == 1 and isinstance(again.windows[0], SignInWindow),
        timeout=LONG,
    )
    assert len(mains) == 1 and mains[0] not in again.windows
    assert again.bridges == [] and not task.done()  # the app goes on, at the sign-in window
    assert stop(qtbot, again, task) == 0


def test_a_start_up_error_is_a_dialog(
    qapp: QApplication,
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text('{"backend": "firebase"}')  # no databaseURL: not usable
    monkeypatch.setenv("DESKTOP_CHAT_SETTINGS", str(settings))
    app, task = start(qapp, qloop, Profile.named("broken", root=tmp_path / "data"))
    qtbot.waitUntil(lambda: app.error_box is not None and app.error_box.isVisible(), timeout=LONG)
    assert app.error_box is not None
    assert "settings are not usable" in app.error_box.text()
    assert "databaseURL" in app.error_box.text()
    assert stop(qtbot, app, task) == 1


# the real thing, in its own process -----------------------------------------------------
def launch(data: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        DATA_DIR_ENV: str(data),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "DESKTOP_CHAT_SETTINGS": str(data / "none.json"),
    }
    env.pop("DESKTOP_CHAT_ADMIN_SECRET", None)
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-W", "error", "-m", "tests.support.app_runner", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for(log: Path, text: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text(errors="replace"):
        assert process.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.1)


def test_without_a_tray_closing_the_window_quits(
    qapp: QApplication,
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    keychain: FakeKeychain,
    tmp_path: Path,
) -> None:
    """No tray here (offscreen): the window's close is not kept for the tray, the app ends."""
    from PySide6.QtWidgets import QSystemTrayIcon

    if QSystemTrayIcon.isSystemTrayAvailable():
        pytest.skip("a tray is here: closing hides the window (tests/desktop covers that)")
    app, task = start(qapp, qloop, Profile.named("test", root=tmp_path / "data"))
    sign_up(qtbot, app, False)
    window = app.windows[0]
    qtbot.waitUntil(lambda: app.desktop is not None and window in app.desktop.centers, timeout=LONG)
    window.close()
    assert not window.isVisible() and window not in app.desktop.centers  # not kept for a tray
    qapp.lastWindowClosed.emit()  # (what QApplication.exec says now; qasync's test loop does not)
    try:
        qtbot.waitUntil(task.done, timeout=LONG)
    finally:
        if not task.done():
            stop(qtbot, app, task)
    assert task.result() == 0 and app.windows == [] and app.server is None


@pytest.mark.slow
def test_demo_starts_shows_a_second_launch_and_quits_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "none.json").write_text("{}")
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = launch(data, first_log, "--demo", "--log-level", "INFO")
    try:
        wait_for(first_log, "demo ready: 2 windows", first)
        second = launch(data, second_log, "--demo", "--log-level", "INFO")
        assert second.wait(60) == 0  # it handed over to the first and left
        wait_for(first_log, "a second launch asked to show the window", first)
        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)
    output = first_log.read_text(errors="replace")
    assert "Traceback" not in output and "Exception ignored" not in output, output
    assert "the local server stopped (exit code 0)" in output
    server_dir = Profile.named("demo", root=data).server_dir
    assert not (server_dir / "server.json").exists()
    assert "Traceback" not in second_log.read_text(errors="replace")


@pytest.mark.slow
def test_a_quit_while_starting_is_clean(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "none.json").write_text("{}")
    log = tmp_path / "app.log"
    app = launch(data, log, "--demo", "--log-level", "INFO")
    try:
        wait_for(log, "started the local server", app)
        app.send_signal(signal.SIGTERM)
        assert app.wait(60) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(30)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output and "Exception ignored" not in output, output
    assert not (Profile.named("demo", root=data).server_dir / "server.json").exists()
