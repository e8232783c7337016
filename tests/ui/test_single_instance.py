"""One instance per profile: a second launch asks the first to show itself and steps back."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from desktop_chat.ui.single_instance import SingleInstance, bring_to_front


def key() -> str:
    return f"desktop-chat-test-{secrets.token_hex(6)}"


def test_the_second_instance_asks_the_first_to_show(qapp: QApplication, qtbot: QtBot) -> None:
    name = key()
    first = SingleInstance(name)
    second = SingleInstance(name)
    try:
        assert first.acquire()
        assert first.primary
        with qtbot.waitSignal(first.showRequested, timeout=10_000):
            assert not second.acquire()
        assert not second.primary
    finally:
        first.close()
        second.close()
    third = SingleInstance(name)  # the name is free again once the first quits
    try:
        assert third.acquire()
    finally:
        third.close()


def test_profiles_do_not_share_an_instance(qapp: QApplication) -> None:
    one, other = SingleInstance(key()), SingleInstance(key())
    try:
        assert one.acquire()
        assert other.acquire()
    finally:
        one.close()
        other.close()


CRASH = """
import os, sys
from PySide6.QtCore import QCoreApplication
from PySide6.QtNetwork import QLocalServer
app = QCoreApplication([])
server = QLocalServer()
assert server.listen(sys.argv[1])
print("listening", flush=True)
os.kill(os.getpid(), 9)
"""


def test_a_crashed_instance_does_not_block_the_next(qapp: QApplication) -> None:
    name = key()
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, name], capture_output=True, text=True, timeout=60, check=False
    )
    assert "listening" in crashed.stdout  # and its socket file is left behind
    instance = SingleInstance(name)
    try:
        assert instance.acquire()
    finally:
        instance.close()


def test_bring_to_front_restores_a_minimised_window(qapp: QApplication, qtbot: QtBot) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    window.showMinimized()
    qtbot.waitUntil(window.isVisible)
    bring_to_front(window)
    assert window.isVisible()
    assert not window.isMinimized()


def test_a_later_launch_hands_its_link_to_the_first(qapp: QApplication, qtbot: QtBot) -> None:
    name = key()
    first, second = SingleInstance(name), SingleInstance(name)
    try:
        assert first.acquire()
        with qtbot.waitSignal(first.linkRequested, timeout=10_000) as asked:
            assert not second.acquire(link="desktopchat://conversation/a\nb")
        assert asked.args == ["desktopchat://conversation/a b"]  # (one line, checked later)
    finally:
        first.close()
        second.close()


def test_desktop_chat_with_a_link_hands_it_to_the_running_app(
    qapp: QApplication, qtbot: QtBot, tmp_path: Path
) -> None:
    """`desktop-chat desktopchat://...` while the profile's app runs: the link goes to it and
    the launch exits 0 (what the OS does when a link is clicked)."""
    from desktop_chat.client.profiles import Profile

    profile = Profile.named("links", tmp_path)
    running = SingleInstance(profile.instance_key)
    try:
        assert running.acquire()
        env = {**os.environ, "DESKTOP_CHAT_DATA_DIR": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
        command = [sys.executable, "-m", "desktop_chat.app", "--profile", "links"]
        with qtbot.waitSignal(running.linkRequested, timeout=30_000) as asked:
            launch = subprocess.Popen([*command, "desktopchat://booking/b1"], env=env)
        assert asked.args == ["desktopchat://booking/b1"]
        assert launch.wait(timeout=60) == 0
    finally:
        running.close()


def test_a_link_the_system_hands_the_running_app_is_opened(qapp: QApplication) -> None:
    """macOS gives a running app its links as QFileOpenEvents: the router takes them."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QFileOpenEvent

    from desktop_chat.ui.single_instance import LinkRouter

    instance = SingleInstance(key())
    router = LinkRouter.install(instance, None)
    try:
        QApplication.sendEvent(qapp, QFileOpenEvent(QUrl("desktopchat://skill/demo-guitar")))
        assert [str(link) for link in router.pending] == ["desktopchat://skill/demo-guitar"]
    finally:
        qapp.removeEventFilter(router)
        router.pending.clear()
        instance.close()
