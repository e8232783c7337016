"""The main window driven through its widgets against a real server, with a second user."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QStyleOptionViewItem,
    QTabWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.events import Resync
from desktop_chat.core.model import DeliveryState
from desktop_chat.ui import formatting
from desktop_chat.ui.bridge import ChatBridge
from desktop_chat.ui.main_window import MainWindow
from desktop_chat.ui.message_model import MessageRoles
from tests.support.chat import FAST, until
from tests.support.server import ServerProcess
from tests.ui.conftest import run_on
from tests.ui.test_bridge import Pair, close_all, make_pair

LONG = 30_000


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("win") / "d", FAST, rules=None).start()
    yield server
    server.kill()


@dataclass
class App:
    """Ann's window on one side, Bob's bare ChatClient on the other."""

    pair: Pair
    bridge: ChatBridge
    window: MainWindow
    server: ServerProcess

    @property
    def cid(self) -> str:
        return self.pair.cid


def show_window(qtbot: QtBot, client: ChatClient) -> tuple[ChatBridge, MainWindow]:
    bridge = ChatBridge(client)
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    window.show()
    window.start()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=LONG)
    return bridge, window


@pytest.fixture
def app(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, chat_server: ServerProcess, tmp_path: Path
) -> Iterator[App]:
    pair = make_pair(qtbot, qloop, chat_server, tmp_path, open_conversation=False)
    bridge, window = show_window(qtbot, pair.ann)
    yield App(pair, bridge, window, chat_server)
    window.close()
    run_on(qtbot, qloop, bridge.aclose())
    close_all(qtbot, qloop, pair.ann, pair.bob)


def wait_for(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, test: Callable[[], Awaitable[bool]]
) -> None:
    """Poll the async predicate *test* until it holds."""
    run_on(qtbot, qloop, until(test, 40), 60)


def open_from_list(qtbot: QtBot, app: App) -> None:
    """Bob's conversation is in Ann's list: click its row, the chat opens."""
    window = app.window
    qtbot.waitUntil(lambda: window.conversations.row_of(app.cid) is not None, timeout=LONG)
    row = window.conversations.row_of(app.cid)
    assert row is not None
    index = window.proxy.mapFromSource(window.conversations.index(row))
    rect = window.list.visualRect(index)
    qtbot.mouseClick(window.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.chat.input.cid == app.cid, timeout=LONG)


def start_conversation(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App) -> None:
    run_on(qtbot, qloop, app.pair.ann.open_conversation(app.pair.bob_uid))
    app.pair.bob.select_conversation(app.cid)
    open_from_list(qtbot, app)


def type_and_send(qtbot: QtBot, app: App | MainWindow, text: str) -> None:
    window = app.window if isinstance(app, App) else app
    edit = window.chat.input.text
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert edit.toPlainText() == ""


def row_texts_of(window: MainWindow) -> list[str]:
    model = window.chat.model
    return [model.data(model.index(row)) for row in range(model.rowCount())]


def row_texts(app: App) -> list[str]:
    return row_texts_of(app.window)


async def holds(condition: bool) -> bool:
    return condition


def test_message_a_provider_from_a_skill_type_enter_and_it_arrives(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App
) -> None:
    window, bob = app.window, app.pair.bob
    skill = {"title": "Guitar for beginners", "providerId": app.pair.bob_uid, "price": 25}
    app.server.put("skills/guitar", {**skill, "durationMinutes": 60, "description": "<i>x</i>"})
    assert window.chat.stack.currentWidget() is window.chat.placeholder
    qtbot.waitUntil(window.empty.isVisible, timeout=LONG)
    assert window.empty.text() == "No conversations yet"

    window.tabs.setCurrentIndex(1)
    skills = window.skills.list
    qtbot.waitUntil(lambda: skills.count() == 1, timeout=LONG)
    rect = skills.visualItemRect(skills.item(0))
    qtbot.mouseClick(skills.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    page = window.skill_page
    assert window.right.currentWidget() is page
    assert page.title.text() == "Guitar for beginners"
    assert page.provider.text() == "Offered by Bob"
    assert "&lt;i&gt;x&lt;/i&gt;" in page.description.text()  # shown literally

    qtbot.mouseClick(page.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.chat.input.cid == app.cid, timeout=LONG)
    assert window.right.currentWidget() is window.chat
    assert window.chat.header.name_label.text() == "Bob"
    assert app.server.get(f"conversations/{app.cid}/metadata/skillId") == "guitar"
    qtbot.waitUntil(lambda: window.conversations.row_of(app.cid) is not None, timeout=LONG)

    type_and_send(qtbot, app, "Hello Bob!")
    bob.select_conversation(app.cid)

    async def bob_has_it() -> bool:
        return [m.text for m in await bob.messages(app.cid)] == ["Hello Bob!"]

    wait_for(qtbot, qloop, bob_has_it)
    assert row_texts(app) == ["Hello Bob!"]
    model = window.chat.model
    qtbot.waitUntil(
        lambda: model.data(model.index(0), MessageRoles.Delivery) is DeliveryState.SENT,
        timeout=LONG,
    )


def test_typing_line_and_ticks_turn_double_when_read(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App
) -> None:
    start_conversation(qtbot, qloop, app)
    chat, bob = app.window.chat, app.pair.bob
    ann = app.pair.ann

    def joined(client: ChatClient) -> bool:
        return client.realtime is not None and client.realtime.joined == app.cid

    qtbot.waitUntil(lambda: joined(ann) and joined(bob), timeout=LONG)
    bob.typing(app.cid)
    qtbot.waitUntil(chat.typing_line.isVisible, timeout=LONG)
    assert chat.typing_line.text().startswith("Bob is typing")
    assert chat.typing_line.timer.isActive()  # the dots move only while shown

    type_and_send(qtbot, app, "Are you free on Friday?")
    model = chat.model
    qtbot.waitUntil(
        lambda: (
            model.rowCount() == 1
            and model.data(model.index(0), MessageRoles.Delivery) is DeliveryState.SENT
        ),
        timeout=LONG,
    )
    run_on(qtbot, qloop, bob.send_message(app.cid, "Yes!"))  # a send stops Bob's typing
    qtbot.waitUntil(lambda: not chat.typing_line.isVisible(), timeout=LONG)
    assert not chat.typing_line.timer.isActive()

    wait_for(qtbot, qloop, lambda: holds(len(row_texts(app)) == 2))
    run_on(qtbot, qloop, bob.mark_read(app.cid))
    qtbot.waitUntil(
        lambda: model.data(model.index(0), MessageRoles.Delivery) is DeliveryState.READ,
        timeout=LONG,
    )


def test_read_only_while_the_window_is_active(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App
) -> None:
    bob = app.pair.bob
    run_on(qtbot, qloop, bob.open_conversation(app.pair.ann_uid))
    mid = run_on(qtbot, qloop, bob.send_message(app.cid, "ping"))
    other = QWidget()
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(lambda: not app.window.isActiveWindow(), timeout=LONG)
    open_from_list(qtbot, app)
    qtbot.waitUntil(lambda: row_texts(app) == ["ping"], timeout=LONG)
    qtbot.wait(1500)  # time it would take to mark it read, were the window active
    assert app.server.get(f"conversations/{app.cid}/messages/{mid}/read") is False

    app.window.activateWindow()
    qtbot.waitUntil(app.window.isActiveWindow, timeout=LONG)
    qtbot.waitUntil(
        lambda: app.server.get(f"conversations/{app.cid}/messages/{mid}/read") is True,
        timeout=LONG,
    )


def test_presence_flips_in_the_header_when_the_other_side_quits(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App
) -> None:
    start_conversation(qtbot, qloop, app)
    status = app.window.chat.header.status
    qtbot.waitUntil(lambda: status.text() == "Online", timeout=LONG)
    run_on(qtbot, qloop, app.pair.bob.close())
    qtbot.waitUntil(lambda: status.text().startswith("last seen"), timeout=LONG)
    assert status.text() == "last seen just now"


def test_shift_enter_breaks_the_line_and_html_shows_literally(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App
) -> None:
    start_conversation(qtbot, qloop, app)
    chat = app.window.chat
    edit = chat.input.text
    one_line = edit.height()
    assert not chat.input.send_button.isEnabled()
    qtbot.keyClicks(edit, "   ")
    assert not chat.input.send_button.isEnabled()  # blank: nothing to send
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert chat.model.rowCount() == 0
    edit.clear()
    qtbot.keyClicks(edit, "<b>bold?</b> &amp;")
    qtbot.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(edit, "line two")
    assert edit.toPlainText() == "<b>bold?</b> &amp;\nline two"
    assert edit.height() > one_line  # grew with the second line
    assert chat.input.send_button.isEnabled()
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    text = "<b>bold?</b> &amp;\nline two"
    qtbot.waitUntil(lambda: row_texts(app) == [text], timeout=LONG)
    assert edit.height() == one_line
    stored = app.server.get(f"conversations/{app.cid}/messages")
    assert [m["text"] for m in stored.values()] == [text]

    option = QStyleOptionViewItem()
    chat.history.initViewItemOption(option)
    index = chat.model.index(0)
    option.rect = chat.history.visualRect(index)
    bubble = chat.delegate.bubble(option, index)
    assert bubble is not None
    assert bubble.layout.text().replace("\u2028", "\n") == text


def test_edit_delete_and_drafts_across_a_restart(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App
) -> None:
    start_conversation(qtbot, qloop, app)
    chat = app.window.chat
    type_and_send(qtbot, app, "helo")
    model = chat.model
    qtbot.waitUntil(
        lambda: model.data(model.index(0), MessageRoles.Delivery) is DeliveryState.SENT,
        timeout=LONG,
    )
    message = model.data(model.index(0), MessageRoles.Message)
    menu = chat.history.build_menu(message)
    assert [a.text() for a in menu.actions()] == ["Copy text", "Edit", "Delete"]
    chat.act("Edit", message)
    assert chat.input.editing == message.id and chat.input.text.toPlainText() == "helo"
    chat.input.text.selectAll()
    type_and_send(qtbot, app, "hello")
    qtbot.waitUntil(lambda: model.data(model.index(0), MessageRoles.Edited), timeout=LONG)
    assert row_texts(app) == ["hello"]
    chat.act("Edit", model.data(model.index(0), MessageRoles.Message))
    qtbot.keyClicks(chat.input.text, " again")
    try:
        with qtbot.waitSignal(app.bridge.error, timeout=LONG) as refused:
            formatting.set_server_offset(16 * 60_000)  # the window passed while editing
            qtbot.keyClick(chat.input.text, Qt.Key.Key_Return)
        assert "15 minutes" in refused.args[0]
        assert chat.input.editing is not None  # the typed text is not thrown away
        assert chat.input.text.toPlainText() == "hello again"
    finally:
        formatting.set_server_offset(0)
    chat.input.cancel_edit()
    chat.act("Delete", model.data(model.index(0), MessageRoles.Message))
    box = chat.delete_box
    assert box is not None and box.isVisible()
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    box.button(QMessageBox.StandardButton.Cancel).click()  # changed my mind: nothing is sent
    assert not [task for task in app.bridge.tasks if "delete" in task.get_name()]
    chat.act("Delete", model.data(model.index(0), MessageRoles.Message))
    box = chat.delete_box
    assert box is not None
    delete = next(b for b in box.buttons() if b.text() == "Delete")
    delete.click()
    qtbot.waitUntil(lambda: model.data(model.index(0), MessageRoles.Deleted), timeout=LONG)
    deleted = model.data(model.index(0), MessageRoles.Message)
    assert chat.history.build_menu(deleted).isEmpty()

    qtbot.keyClicks(chat.input.text, "half a thought")
    app.window.close()  # keeps the draft
    run_on(qtbot, qloop, app.bridge.aclose())
    bridge, window = show_window(qtbot, app.pair.ann)
    try:
        app.window, app.bridge = window, bridge
        open_from_list(qtbot, app)
        assert window.chat.input.text.toPlainText() == "half a thought"
    finally:
        window.close()
        run_on(qtbot, qloop, bridge.aclose())


def put_history(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App, count: int, *, both: bool = False
) -> None:
    """*count* read messages an hour old, "message number N", written straight to the server
    (from Bob; with *both*, every third from Ann)."""
    ann, bob = app.pair.ann_uid, app.pair.bob_uid
    run_on(qtbot, qloop, app.pair.bob.open_conversation(ann))
    now = int(time.time() * 1000) - 3_600_000
    history = {
        f"-m{n:04d}": {
            "senderId": ann if both and n % 3 == 0 else bob,
            "receiverId": bob if both and n % 3 == 0 else ann,
            "text": f"message number {n}",
            "timestamp": now + n * 1000,
            "read": True,
            "type": "text",
        }
        for n in range(count)
    }
    app.server.put(f"conversations/{app.cid}/messages", history)


def test_new_messages_pill_and_older_history_at_the_top(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App
) -> None:
    put_history(qtbot, qloop, app, 560, both=True)
    open_from_list(qtbot, app)
    chat = app.window.chat
    bar = chat.history.verticalScrollBar()
    qtbot.waitUntil(lambda: chat.model.rowCount() >= 50, timeout=LONG)
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=LONG)

    bar.setValue(bar.maximum() // 2)  # the user scrolls up a little
    mid = run_on(qtbot, qloop, app.pair.bob.send_message(app.cid, "are you still there?"))
    qtbot.waitUntil(chat.history.pill.isVisible, timeout=LONG)
    assert chat.model.row_of(mid) == chat.model.rowCount() - 1
    assert bar.value() < bar.maximum()
    qtbot.mouseClick(chat.history.pill, Qt.MouseButton.LeftButton)
    assert not chat.history.pill.isVisible()
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=LONG)

    top = chat.model.data(chat.model.index(0), MessageRoles.MessageId)
    bar.setValue(0)  # the top: older history comes in above, the view stays put
    qtbot.waitUntil(lambda: chat.model.row_of(top) != 0, timeout=LONG)
    qtbot.waitUntil(lambda: bar.value() > 0, timeout=LONG)  # kept in place, not at the top

    def at_the_start() -> bool:  # keep scrolling to the top until the first message shows
        if chat.model.rowCount() == 561:
            return True
        if bar.value() != 0:
            bar.setValue(0)
        return False

    qtbot.waitUntil(at_the_start, timeout=LONG)
    assert chat.model.data(chat.model.index(0)) == "message number 0"
    texts = row_texts(app)
    assert texts[:-1] == [f"message number {n}" for n in range(560)]  # no gaps, no repeats


def test_a_resync_updates_the_rows_in_place(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App
) -> None:
    put_history(qtbot, qloop, app, 120)
    open_from_list(qtbot, app)
    chat, model = app.window.chat, app.window.chat.model
    bar = chat.history.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=LONG)
    bar.setValue(bar.maximum() // 2)  # reading a little way up
    rows, position = model.rowCount(), bar.value()
    row = rows - 10  # (the refresh reads the latest page again)
    shown = model.data(model.index(row), MessageRoles.Message)
    model.change(replace(shown, text="a missed edit left this stale"))  # an event was missed
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))

    app.pair.ann.bus.publish(Resync(0, "test: events were dropped"))
    qtbot.waitUntil(lambda: model.data(model.index(row)) == shown.text, timeout=LONG)
    assert resets == [] and model.rowCount() == rows
    assert bar.value() == position and chat.history.stick is False


def test_status_line_offline_with_messages_waiting_then_back_online(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "own", FAST, rules=None).start()
    pair = make_pair(qtbot, qloop, server, tmp_path)
    bridge, window = show_window(qtbot, pair.ann)
    try:
        state = window.status.state
        qtbot.waitUntil(lambda: window.conversations.row_of(pair.cid) is not None, timeout=LONG)
        window.open_conversation(pair.cid)
        qtbot.waitUntil(lambda: window.chat.input.cid == pair.cid, timeout=LONG)
        qtbot.waitUntil(lambda: state.text() == "", timeout=LONG)

        server.requested_port = server.port  # come back where the client looks
        server.stop()
        qtbot.waitUntil(lambda: state.text() == "Offline", timeout=LONG)
        type_and_send(qtbot, window, "written on a train")
        type_and_send(qtbot, window, "in a tunnel")
        qtbot.waitUntil(lambda: state.text() == "Offline — 2 messages waiting", timeout=LONG)
        assert state.accessibleDescription() == state.text()

        server.start()
        qtbot.waitUntil(lambda: state.text() == "Back online", timeout=LONG)
        qtbot.waitUntil(lambda: state.text() == "", timeout=LONG)
        model = window.chat.model
        qtbot.waitUntil(
            lambda: all(
                model.data(model.index(row), MessageRoles.Delivery) is DeliveryState.SENT
                for row in range(model.rowCount())
            ),
            timeout=LONG,
        )
        assert row_texts_of(window) == ["written on a train", "in a tunnel"]
    finally:
        window.close()
        run_on(qtbot, qloop, bridge.aclose())
        close_all(qtbot, qloop, pair.ann, pair.bob)
        server.kill()


def test_emoji_at_the_cursor_and_paste_keeps_plain_text(qtbot: QtBot, app: App) -> None:
    chat = app.window.chat
    chat.open(app.cid)
    qtbot.waitUntil(lambda: chat.input.cid == app.cid, timeout=LONG)
    edit = chat.input.text
    qtbot.keyClicks(edit, "see you")
    for _ in range(3):
        edit.moveCursor(edit.textCursor().MoveOperation.Left)
    picker = chat.input.emoji
    assert picker.accessibleName() == "Emoji"
    thumbs = next(b for b in picker.buttons if b.accessibleName() == "thumbs up")
    thumbs.click()
    assert edit.toPlainText() == "see 👍you"
    edit.clear()
    mime = QMimeData()
    mime.setHtml("<b>bold</b> <img src='x.png'>")
    mime.setText("bold")
    edit.insertFromMimeData(mime)
    assert edit.toPlainText() == "bold"
    assert "<b>" not in edit.document().toHtml()


def test_search_jumps_to_an_old_message_and_the_keyboard_drives_the_list(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App
) -> None:
    ann, bob = app.pair.ann_uid, app.pair.bob_uid
    run_on(qtbot, qloop, app.pair.bob.open_conversation(ann))
    start = int(time.time() * 1000) - 3_600_000
    history = {
        f"-m{n:04d}": {
            "senderId": bob,
            "receiverId": ann,
            "text": f"message number {n}",
            "timestamp": start + n * 1000,
            "read": True,
            "type": "text",
        }
        for n in range(300)
    }
    app.server.put(f"conversations/{app.cid}/messages", history)
    window, chat = app.window, app.window.chat
    open_from_list(qtbot, app)

    async def cached() -> bool:  # opening it fetched the conversation into the cache
        return len(await app.pair.ann.messages(app.cid)) == 300

    wait_for(qtbot, qloop, cached)
    chat.close_conversation()
    assert chat.stack.currentWidget() is chat.placeholder

    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.search.hasFocus()
    qtbot.keyClicks(window.search, "number 142")
    assert window.proxy.rowCount() == 0 and window.empty.text() == "No matching conversations"
    qtbot.waitUntil(lambda: window.hits.count() == 1, timeout=LONG)
    assert window.list_stack.isHidden()  # the messages found take the column
    rect = window.hits.visualItemRect(window.hits.item(0))
    qtbot.mouseClick(window.hits.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    view = chat.history

    def shown() -> bool:
        row = chat.model.row_of("-m0142")
        if row is None or view.currentIndex().row() != row:
            return False
        return view.viewport().rect().intersects(view.visualRect(chat.model.index(row)))

    qtbot.waitUntil(shown, timeout=LONG)
    assert chat.model.rowCount() < 300  # the newest page and what paging brought, not more

    window.search.clear()
    qtbot.keyClick(chat.input.text, Qt.Key.Key_Escape)  # back to the list
    assert window.list.hasFocus()
    chat.close_conversation()
    window.search.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.list.hasFocus() and window.list.currentIndex().row() == 0
    qtbot.keyClick(window.list, Qt.Key.Key_Down)  # one conversation: stays on it
    qtbot.keyClick(window.list, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: chat.input.cid == app.cid, timeout=LONG)
    assert chat.input.text.hasFocus()


def test_block_and_unblock_from_the_header_menu(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App
) -> None:
    start_conversation(qtbot, qloop, app)
    window, chat = app.window, app.window.chat
    header = chat.header
    assert header.block_action.text() == "Block Bob"
    header.block_action.trigger()
    qtbot.waitUntil(chat.banner.isVisible, timeout=LONG)
    assert chat.banner.text() == "You blocked Bob. They cannot write to you."
    assert chat.input.text.isReadOnly() and not chat.input.send_button.isEnabled()
    assert header.block_action.text() == "Unblock Bob" and header.status.text() == "Blocked"
    qtbot.waitUntil(lambda: window.conversations.row_of(app.cid) is None, timeout=LONG)
    assert app.server.get(f"blocks/{app.pair.ann_uid}/{app.pair.bob_uid}") is True

    header.block_action.trigger()
    qtbot.waitUntil(lambda: not chat.banner.isVisible(), timeout=LONG)
    assert not chat.input.text.isReadOnly()
    assert header.block_action.text() == "Block Bob"
    qtbot.waitUntil(lambda: window.conversations.row_of(app.cid) is not None, timeout=LONG)


def test_mute_from_the_header_menu_shows_how_long_and_turns_back_on(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App
) -> None:
    from PySide6.QtWidgets import QMenu

    from desktop_chat.ui.app_settings import AppSettings

    settings = AppSettings(None)
    app.window.use_settings(settings)
    start_conversation(qtbot, qloop, app)
    menu = app.window.chat.header.menu

    def mute_entries() -> list[str]:
        menu.aboutToShow.emit()  # (as opening it does)
        subs = [a.menu() for a in menu.actions() if isinstance(a.menu(), QMenu)]
        assert [sub.title() for sub in subs] == ["Mute notifications"]  # rebuilt, not added
        return [a.text() for a in subs[0].actions() if not a.isSeparator()]

    assert mute_entries() == ["For 1 hour", "For 8 hours", "Until I turn it back on"]
    menu.aboutToShow.emit()
    sub = next(a.menu() for a in menu.actions() if isinstance(a.menu(), QMenu))
    next(a for a in sub.actions() if a.text() == "For 1 hour").trigger()
    assert settings.muted(app.cid)
    entries = mute_entries()
    assert entries[0].startswith("Muted until ") and entries[1] == "Turn notifications back on"
    menu.aboutToShow.emit()
    sub = next(a.menu() for a in menu.actions() if isinstance(a.menu(), QMenu))
    next(a for a in sub.actions() if a.text() == "Turn notifications back on").trigger()
    assert not settings.muted(app.cid)


def test_every_custom_and_interactive_widget_has_an_accessible_name(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, app: App
) -> None:
    start_conversation(qtbot, qloop, app)
    interactive = (QAbstractButton, QLineEdit, QAbstractItemView, QPlainTextEdit, QTabWidget)
    unnamed = [
        f"{type(widget).__name__} in {type(widget.parent()).__name__}"
        for widget in [app.window, *app.window.findChildren(QWidget)]
        if (widget.__module__.startswith("desktop_chat.ui") or isinstance(widget, interactive))
        and not widget.accessibleName()
        and not (isinstance(widget, QAbstractButton) and widget.text())
        and not widget.objectName().startswith("qt_")  # Qt's own scroll bars, tab bar parts
    ]
    assert unnamed == []
