"""A history following a busy conversation keeps a bounded number of rows; one being read does
not lose any, and the rows let go of page back in without a gap."""

from __future__ import annotations

from datetime import datetime

from pytestqt.qtbot import QtBot

from desktop_chat.core.model import Message, MessageType
from desktop_chat.ui.history_view import KEEP_ROWS, HistoryView
from desktop_chat.ui.message_delegate import MessageDelegate
from desktop_chat.ui.message_model import MessageListModel, MessageRoles

CID = "alice_bob"
T0 = int(datetime(2025, 3, 12, 9, 0).timestamp() * 1000)


def msg(n: int) -> Message:
    return Message(
        f"m{n:05d}", CID, "bob", "alice", f"message {n}", T0 + n * 1000, False, MessageType.TEXT
    )


def shown(qtbot: QtBot, asked: list[str | None]) -> HistoryView:
    model = MessageListModel("alice", asked.append)
    model.reset_to(CID, [msg(n) for n in range(50)])
    view = HistoryView(model)
    qtbot.addWidget(view)
    view.setItemDelegate(MessageDelegate(view))
    view.resize(480, 600)
    view.show()
    qtbot.waitExposed(view)
    view.scroll_to_bottom()
    return view


def test_following_lets_go_of_the_oldest_rows(qtbot: QtBot) -> None:
    asked: list[str | None] = []
    view = shown(qtbot, asked)
    model = view.history
    for n in range(50, 50 + 2 * KEEP_ROWS):  # a flood while the user is at the bottom
        model.add(msg(n))
        qtbot.wait(0)
    assert KEEP_ROWS <= model.rowCount() <= KEEP_ROWS * 3 // 2
    newest = 50 + 2 * KEEP_ROWS - 1
    assert model.data(model.index(model.rowCount() - 1)) == f"message {newest}"
    qtbot.waitUntil(lambda: view.verticalScrollBar().value() == view.verticalScrollBar().maximum())
    assert view.stick and not model.at_beginning

    first = model.index(0).data(MessageRoles.MessageId)
    view.verticalScrollBar().setValue(view.verticalScrollBar().maximum() // 2)  # reading
    assert not view.stick
    rows = model.rowCount()
    for n in range(newest + 1, newest + 1 + KEEP_ROWS):
        model.add(msg(n))
    assert model.rowCount() == rows + KEEP_ROWS  # nothing is let go of while reading
    assert model.index(0).data(MessageRoles.MessageId) == first

    view.verticalScrollBar().setValue(0)  # the top: paging asks for what came before
    qtbot.waitUntil(lambda: asked == [first])
    before = int(first[1:])
    model.prepend([msg(n) for n in range(before - 30, before)])
    model.finish_fetch(30)
    ids = [model.index(row).data(MessageRoles.MessageId) for row in range(model.rowCount())]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert [int(mid[1:]) for mid in ids] == list(range(before - 30, before - 30 + len(ids)))
