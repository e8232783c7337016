"""The notification bell against a real server: one unread count, read, opened, restarted."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.core.model import Link, Notification, NotificationKind, conversation_id
from desktop_chat.ui.bridge import ChatBridge
from desktop_chat.ui.main_window import MainWindow
from desktop_chat.ui.notification_bell import bell_name
from desktop_chat.ui.notification_model import NotificationListModel, NotificationRoles, badge_count
from tests.integration.test_client_notifications import admin_note as put_admin_note
from tests.integration.test_client_notifications import config_of
from tests.support.auth import PASSWORD
from tests.support.chat import FAST
from tests.support.server import ServerProcess
from tests.ui.conftest import run_on
from tests.ui.test_main_window import show_window

LONG = 30_000
_names = itertools.count()
_dirs = itertools.count()


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("bell") / "d", FAST, rules=None).start()
    yield server
    server.kill()


def note(nid: str, at: int, *, read: bool = False, kind: str = "review") -> Notification:
    return Notification(nid, NotificationKind(kind), f"Title {nid}", "Body", None, at, read)


def test_model_rows_change_exactly_and_read_is_final(qtbot: QtBot, qtmodeltester: Any) -> None:
    model = NotificationListModel(now=lambda: 10 * 60_000)
    qtmodeltester.check(model)
    model.load([note("a", 60_000), note("b", 120_000, read=True)])
    assert [model.notification(r).id for r in range(2)] == ["b", "a"]  # type: ignore[union-attr]
    assert model.unread == 1
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    changed: list[int] = []
    model.dataChanged.connect(lambda top, _bottom, _roles: changed.append(top.row()))
    resets: list[bool] = []
    model.modelReset.connect(lambda: resets.append(True))
    model.add(note("c", 90_000))
    assert inserted == [(1, 1)] and model.unread == 2
    model.change(note("a", 60_000, read=True))
    assert changed == [2] and model.unread == 1
    model.change(note("a", 60_000))  # a late unread copy: stays read
    assert changed == [2] and model.data(model.index(2), NotificationRoles.Read) is True
    assert model.data(model.index(1), NotificationRoles.Time) == "8 min ago"
    spoken = model.data(model.index(1), Qt.ItemDataRole.AccessibleTextRole)
    assert spoken == "Unread, Review: Title c, Body, 8 min ago"
    assert resets == []
    qtmodeltester.check(model)
    assert [badge_count(n) for n in (0, 1, 9, 10, 120)] == ["", "1", "9", "9+", "9+"]
    assert bell_name(3) == "Notifications, 3 unread"


@dataclass
class User:
    client: ChatClient
    keys: MemoryTokenStore
    data_dir: Path

    @property
    def uid(self) -> str:
        assert self.client.uid is not None
        return self.client.uid


async def new_user(server: ServerProcess, data_dir: Path, name: str, role: str) -> User:
    keys = MemoryTokenStore()
    client = await ChatClient.create(
        config_of(server), data_dir, token_store=keys, max_attempts=3, sender_backoff=(0.05, 0.5)
    )
    await client.sign_up(
        f"{name.lower()}{next(_names)}-{id(client)}@example.com", PASSWORD, name, role
    )
    await client.start()
    return User(client, keys, data_dir)


@dataclass
class Scene:
    """Ann's window; Bob and Cat write to her; the admin writes system notifications."""

    server: ServerProcess
    ann: User
    bob: User
    cat: User
    bridge: ChatBridge
    window: MainWindow
    uid: str = ""
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def cid(self, other: User) -> str:
        return conversation_id(self.uid, other.uid)


def make_scene(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, server: ServerProcess, tmp: Path
) -> Scene:
    async def make() -> tuple[User, User, User]:
        ann = await new_user(server, tmp / "ann", "Ann", "student")
        bob = await new_user(server, tmp / "bob", "Bob", "provider")
        cat = await new_user(server, tmp / "cat", "Cat", "provider")
        for other in (bob, cat):
            await other.client.open_conversation(ann.uid)
        return ann, bob, cat

    ann, bob, cat = run_on(qtbot, qloop, make(), 60)
    bridge, window = show_window(qtbot, ann.client)
    return Scene(server, ann, bob, cat, bridge, window, ann.uid)


def close_scene(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, scene: Scene) -> None:
    window = scene.window
    window.close()
    window.deleteLater()  # (gone while its Python side is here, as in the app)
    qtbot.waitUntil(lambda: not shiboken6.isValid(window), timeout=LONG)

    async def close() -> None:
        await scene.bridge.aclose()
        for user in (scene.ann, scene.bob, scene.cat):
            await user.client.close()

    run_on(qtbot, qloop, close(), 60)


@pytest.fixture
def scene(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, chat_server: ServerProcess, tmp_path: Path
) -> Iterator[Scene]:
    made = make_scene(qtbot, qloop, chat_server, tmp_path)
    yield made
    close_scene(qtbot, qloop, made)


def send(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, scene: Scene, who: User, text: str) -> str:
    return run_on(qtbot, qloop, who.client.send_message(scene.cid(who), text))


def admin_note(scene: Scene, kind: str = "review", **link: str) -> str:
    nid = f"sys{next(scene.counter)}"
    put_admin_note(scene.server, scene.uid, nid, kind, **link)
    return nid


def server_unread_notes(scene: Scene) -> int:
    value = scene.server.get(f"notifications/{scene.uid}")
    return sum(r.get("read") is False for r in (value or {}).values())


def server_unread_messages(scene: Scene, other: User) -> int:
    value = scene.server.get(f"conversations/{scene.cid(other)}/messages") or {}
    return sum(r["receiverId"] == scene.uid and r["read"] is False for r in value.values())


def badge_of(window: MainWindow, cid: str) -> int | None:
    row = window.conversations.row_of(cid)
    entry = None if row is None else window.conversations.entry(row)
    return None if entry is None else entry.unread_count


def deactivate(qtbot: QtBot, window: MainWindow) -> QWidget:  # (nothing shown is read then)
    other = QWidget()
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(lambda: not window.isActiveWindow(), timeout=LONG)
    return other


def click_row(qtbot: QtBot, window: MainWindow, row: int) -> None:
    popup = window.bell.popup
    rect = popup.list.visualRect(window.bell.model.index(row))
    qtbot.mouseClick(popup.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def row_read(window: MainWindow, nid: str) -> bool | None:
    model = window.bell.model
    row = model.row_of(nid)
    return None if row is None else bool(model.data(model.index(row), NotificationRoles.Read))


def test_a_message_rings_the_bell_and_reading_the_conversation_clears_it(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, scene: Scene
) -> None:
    window, bell = scene.window, scene.window.bell
    assert bell.unread == 0 and bell.accessibleName() == "Notifications, 0 unread"
    qtbot.mouseClick(bell, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(bell.popup.isVisible, timeout=LONG)
    assert bell.popup.stack.currentWidget() is bell.popup.empty
    assert bell.popup.empty.text() == "No notifications yet"
    assert not bell.popup.mark_all.isEnabled()
    bell.popup.close()

    deactivate(qtbot, window)  # nothing is read until it is active again
    mid = send(qtbot, qloop, scene, scene.bob, "Hi Ann, about Friday")
    nid = "m" + mid
    qtbot.waitUntil(lambda: bell.unread == 1, timeout=LONG)
    assert bell.accessibleName() == "Notifications, 1 unread" and bell.badge == "1"
    assert scene.bridge.unread_notifications == 1
    assert row_read(window, nid) is False
    qtbot.waitUntil(lambda: badge_of(window, scene.cid(scene.bob)) == 1, timeout=LONG)

    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=LONG)
    window.open_conversation(scene.cid(scene.bob))
    qtbot.waitUntil(lambda: bell.unread == 0, timeout=LONG)
    qtbot.waitUntil(lambda: row_read(window, nid) is True, timeout=LONG)  # no longer tinted
    assert scene.server.get(f"notifications/{scene.uid}/{nid}/read") is True
    qtbot.waitUntil(lambda: badge_of(window, scene.cid(scene.bob)) == 0, timeout=LONG)


def test_blocking_on_another_device_hides_their_notifications_from_the_bell(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, scene: Scene
) -> None:
    window, bell = scene.window, scene.window.bell
    deactivate(qtbot, window)
    send(qtbot, qloop, scene, scene.bob, "from Bob")
    send(qtbot, qloop, scene, scene.cat, "from Cat")
    qtbot.waitUntil(lambda: bell.unread == 2, timeout=LONG)
    bob_uid = scene.bob.client.uid
    scene.server.put(f"blocks/{scene.uid}/{bob_uid}", True)  # (as Ann's other device does)
    qtbot.waitUntil(lambda: bell.unread == 1 and window.bell.model.rowCount() == 1, timeout=LONG)
    assert scene.bridge.unread_notifications == 1
    scene.server.request("DELETE", f"blocks/{scene.uid}/{bob_uid}").raise_for_status()
    qtbot.waitUntil(lambda: bell.unread == 2 and window.bell.model.rowCount() == 2, timeout=LONG)


def test_every_kind_counts_mark_all_as_read_and_the_badge_caps_at_nine(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, scene: Scene
) -> None:
    window, bell = scene.window, scene.window.bell
    deactivate(qtbot, window)
    for kind in ("review", "payment", "session_reminder"):
        admin_note(scene, kind)
    admin_note(scene, "booking_request", bookingId="b1")
    admin_note(scene, "booking_confirmed", bookingId="b2")
    for n in range(8):
        send(qtbot, qloop, scene, scene.bob if n % 2 else scene.cat, f"message {n}")
    qtbot.waitUntil(lambda: bell.unread == 13, timeout=LONG)  # all six kinds count
    assert bell.badge == "9+"
    qtbot.waitUntil(lambda: badge_of(window, scene.cid(scene.cat)) == 4, timeout=LONG)
    assert bell.model.rowCount() == 13 and bell.model.unread == 13

    qtbot.mouseClick(bell, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(bell.popup.isVisible, timeout=LONG)
    assert bell.popup.stack.currentWidget() is bell.popup.list
    resets: list[bool] = []
    bell.model.modelReset.connect(lambda: resets.append(True))
    qtbot.mouseClick(bell.popup.mark_all, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bell.unread == 0, timeout=LONG)
    assert bell.model.unread == 0 and resets == []  # rows changed in place
    assert server_unread_notes(scene) == 0
    assert not bell.popup.mark_all.isEnabled()
    # the conversations' own badges stay their unread messages
    assert badge_of(window, scene.cid(scene.cat)) == 4
    assert badge_of(window, scene.cid(scene.bob)) == 4


def test_choosing_a_notification_opens_its_conversation_from_the_keyboard_too(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, scene: Scene
) -> None:
    window, bell = scene.window, scene.window.bell
    deactivate(qtbot, window)
    bob_mid = send(qtbot, qloop, scene, scene.bob, "from Bob")
    qtbot.waitUntil(lambda: bell.unread == 1, timeout=LONG)
    send(qtbot, qloop, scene, scene.cat, "from Cat")
    qtbot.waitUntil(lambda: bell.unread == 2, timeout=LONG)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=LONG)

    qtbot.mouseClick(bell, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(bell.popup.isVisible, timeout=LONG)
    first = bell.model.notification(0)
    assert first is not None and first.title and first.link == Link(scene.cid(scene.cat))
    click_row(qtbot, window, 0)  # the newest: Cat's
    qtbot.waitUntil(lambda: not bell.popup.isVisible(), timeout=LONG)
    qtbot.waitUntil(lambda: window.chat.cid == scene.cid(scene.cat), timeout=LONG)
    qtbot.waitUntil(lambda: bell.unread == 1, timeout=LONG)
    assert scene.server.get(f"notifications/{scene.uid}/{first.id}/read") is True

    # the keyboard: the bell is in the focus chain; Enter opens, Enter on a row chooses
    chain, widget = [], window.search.previousInFocusChain()
    while widget is not window.search and len(chain) < 200:
        chain.append(widget)
        widget = widget.previousInFocusChain()
    focusable = [w for w in chain if w.focusPolicy() & Qt.FocusPolicy.TabFocus]
    assert focusable[:2] == [window.account, bell]  # Shift+Tab from the search: account, bell
    bell.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.keyClick(bell, Qt.Key.Key_Return)
    qtbot.waitUntil(bell.popup.isVisible, timeout=LONG)
    bob_row = bell.model.row_of("m" + bob_mid)
    assert bob_row is not None
    bell.popup.list.setCurrentIndex(bell.model.index(bob_row))
    qtbot.keyClick(bell.popup.list, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.chat.cid == scene.cid(scene.bob), timeout=LONG)
    qtbot.waitUntil(lambda: bell.unread == 0, timeout=LONG)


def restart(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, scene: Scene, *, start: bool = True
) -> None:
    """Ann quits and starts again on the same data dir: a new client, bridge and window."""
    old = scene.window
    old.close()
    run_on(qtbot, qloop, scene.bridge.aclose())
    old.deleteLater()  # as the app lets go of a window (while its Python side is still here)
    qtbot.waitUntil(lambda: not shiboken6.isValid(old), timeout=LONG)
    run_on(qtbot, qloop, scene.ann.client.close())

    async def reopen() -> ChatClient:
        return await ChatClient.create(
            config_of(scene.server), scene.ann.data_dir, token_store=scene.ann.keys, max_attempts=3
        )

    client = run_on(qtbot, qloop, reopen())
    assert client.uid == scene.uid
    scene.ann = User(client, scene.ann.keys, scene.ann.data_dir)
    scene.bridge, scene.window = show_window(qtbot, client)
    if start:
        run_on(qtbot, qloop, client.start())


def test_after_a_restart_the_count_is_right_before_the_network_answers(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, scene: Scene
) -> None:
    deactivate(qtbot, scene.window)
    send(qtbot, qloop, scene, scene.bob, "one")
    read_nid = admin_note(scene, "payment")
    admin_note(scene, "booking_request", bookingId="b1")
    qtbot.waitUntil(lambda: scene.window.bell.unread == 3, timeout=LONG)
    run_on(qtbot, qloop, scene.ann.client.mark_notification_read(read_nid))
    qtbot.waitUntil(lambda: scene.window.bell.unread == 2, timeout=LONG)

    restart(qtbot, qloop, scene, start=False)  # not started: no network yet
    bell = scene.window.bell
    qtbot.waitUntil(lambda: bell.unread == 2, timeout=LONG)
    assert bell.model.rowCount() == 3 and row_read(scene.window, read_nid) is True
    assert not scene.ann.client.connected
    run_on(qtbot, qloop, scene.ann.client.start())
    deactivate(qtbot, scene.window)
    admin_note(scene, "session_reminder")
    qtbot.waitUntil(lambda: bell.unread == 3, timeout=LONG)
    assert server_unread_notes(scene) == 3


ACTIONS = ["bob writes", "cat writes", "system", "read bob", "read cat", "read one", "restart"]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(st.sampled_from(ACTIONS), min_size=3, max_size=8))
def test_random_mixes_keep_the_bell_and_the_badges_true(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    chat_server: ServerProcess,
    tmp_path: Path,
    steps: list[str],
) -> None:
    from desktop_chat.client.transport import TaskTracker
    from desktop_chat.ui.tray import DesktopShell

    scene = make_scene(qtbot, qloop, chat_server, tmp_path / f"mix{next(_dirs)}")
    tasks = TaskTracker("desktop")
    shell = DesktopShell(None, tasks.spawn, lambda: None, lambda: None, QApplication.instance())
    shell.attach(scene.window, scene.bridge)  # the tray's badge (and the dock's)
    try:
        for step in steps:
            deactivate(qtbot, scene.window)  # only the steps read
            if step.endswith("writes"):
                who = scene.bob if step.startswith("bob") else scene.cat
                send(qtbot, qloop, scene, who, f"{step} {next(scene.counter)}")
            elif step == "system":
                admin_note(scene, "review", skillId="guitar")
            elif step.startswith("read "):
                who = scene.bob if step.endswith("bob") else scene.cat
                run_on(qtbot, qloop, scene.ann.client.mark_read(scene.cid(who)))
            elif step == "read one":
                model = scene.window.bell.model
                unread = [
                    n for r in range(model.rowCount()) if not (n := model.notification(r)).read
                ]
                if unread:
                    scene.window.bell.open_notification(unread[-1])
            elif step == "restart":
                restart(qtbot, qloop, scene)  # (the closed window leaves the shell)
                shell.attach(scene.window, scene.bridge)

            def true() -> bool:
                window = scene.window
                bell = window.bell.unread
                return bell == shell.tray.unread == server_unread_notes(scene) and all(
                    (badge_of(window, scene.cid(who)) or 0) == server_unread_messages(scene, who)
                    for who in (scene.bob, scene.cat)
                )

            qtbot.waitUntil(true, timeout=LONG)
            assert list(shell.centers) == [scene.window]
    finally:
        shell.close()
        run_on(qtbot, qloop, tasks.cancel_all())
        close_scene(qtbot, qloop, scene)
