"""MessageListModel: (timestamp, id) order, exact row signals, paging upwards."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt
from pytestqt.modeltest import ModelTester

from desktop_chat.core.model import DeliveryState, Message, MessageType
from desktop_chat.ui.message_model import MessageListModel, MessageRoles

CID = "alice_bob"
DAY1 = int(datetime(2025, 3, 12, 10, 0).timestamp() * 1000)
DAY2 = int(datetime(2025, 3, 13, 10, 0).timestamp() * 1000)
NOW = int(datetime(2025, 3, 14, 12, 0).timestamp() * 1000)


class Recorder:
    """Every structural and data signal of a model, in order."""

    def __init__(self, model: QAbstractItemModel) -> None:
        self.events: list[tuple[Any, ...]] = []
        model.rowsInserted.connect(lambda _p, a, b: self.events.append(("inserted", a, b)))
        model.rowsRemoved.connect(lambda _p, a, b: self.events.append(("removed", a, b)))
        model.rowsMoved.connect(lambda _p, a, b, _q, to: self.events.append(("moved", a, b, to)))
        model.dataChanged.connect(
            lambda tl, br, roles: self.events.append(("changed", tl.row(), br.row(), roles))
        )
        model.modelReset.connect(lambda: self.events.append(("reset",)))
        model.layoutChanged.connect(lambda *_: self.events.append(("layout",)))

    def take(self) -> list[tuple[Any, ...]]:
        events, self.events = self.events, []
        return events


def msg(n: int, at: int, sender: str = "bob", text: str | None = None, **kw: Any) -> Message:
    receiver = "alice" if sender == "bob" else "bob"
    body = text if text is not None else f"message {n}"
    return Message(f"m{n:06d}", CID, sender, receiver, body, at, False, MessageType.TEXT, **kw)


def ids(model: MessageListModel) -> list[str]:
    return [model.index(row).data(MessageRoles.MessageId) for row in range(model.rowCount())]


class Fetches:
    def __init__(self) -> None:
        self.calls: list[str | None] = []

    def __call__(self, before: str | None) -> None:
        self.calls.append(before)


@pytest.fixture
def fetches() -> Fetches:
    return Fetches()


@pytest.fixture
def model(fetches: Fetches) -> MessageListModel:
    model = MessageListModel("alice", fetches, now=lambda: NOW)
    model.reset_to(CID, [msg(n, DAY1 + n * 60_000, "alice" if n % 2 else "bob") for n in range(10)])
    return model


def test_reset_orders_by_timestamp_then_id(qtmodeltester: ModelTester) -> None:
    model = MessageListModel("alice", now=lambda: NOW)
    events = Recorder(model)
    same = DAY1 + 5
    model.reset_to(CID, [msg(3, same), msg(1, same), msg(2, DAY1), msg(9, DAY2)])
    model.reset_to(CID, [msg(3, same), msg(1, same), msg(2, DAY1), msg(9, DAY2)])
    assert events.take() == [("reset",), ("reset",)]
    assert ids(model) == ["m000002", "m000001", "m000003", "m000009"]
    qtmodeltester.check(model)


def test_an_incoming_message_is_one_insert_at_the_end(
    model: MessageListModel, qtmodeltester: ModelTester
) -> None:
    qtmodeltester.check(model)
    events = Recorder(model)
    model.add(msg(10, DAY1 + 10 * 60_000))
    assert events.take() == [("inserted", 10, 10)]
    assert model.row_of("m000010") == 10


def test_a_late_message_is_one_insert_at_its_place(model: MessageListModel) -> None:
    events = Recorder(model)
    model.add(msg(50, DAY1 + 3 * 60_000 + 1))
    assert events.take() == [("inserted", 4, 4)]
    assert ids(model)[3:6] == ["m000003", "m000050", "m000004"]
    for row, mid in enumerate(ids(model)):
        assert model.row_of(mid) == row


def test_a_known_or_foreign_message_is_not_inserted(model: MessageListModel) -> None:
    events = Recorder(model)
    same = model.message(3)
    assert same is not None
    model.add(same)  # the same message again: nothing changed
    model.change(same)
    assert events.take() == []
    model.add(replace(same, read=True))  # known: a change
    assert events.take() == [
        (
            "changed",
            3,
            3,
            [MessageRoles.Message, MessageRoles.Delivery, Qt.ItemDataRole.AccessibleTextRole],
        )
    ]
    model.add(replace(msg(99, DAY2), conversation_id="alice_carol"))
    assert events.take() == []
    assert model.rowCount() == 10


def test_delivery_changes_are_one_data_change_on_one_row(
    model: MessageListModel, qtmodeltester: ModelTester
) -> None:
    events = Recorder(model)
    mine = msg(20, DAY1 + 20 * 60_000, "alice")
    model.add(mine)
    assert events.take() == [("inserted", 10, 10)]
    index = model.index(10)
    assert index.data(MessageRoles.Own) is True
    # A StrEnum crosses Qt as its str value, which equals the member.
    assert index.data(MessageRoles.Delivery) == DeliveryState.SENT
    assert model.row_data(10).delivery is DeliveryState.SENT
    for state in (DeliveryState.PENDING, DeliveryState.SENT, DeliveryState.FAILED):
        model.set_delivery(mine.id, state, "offline" if state is DeliveryState.FAILED else None)
        assert [event[:3] for event in events.take()] == [("changed", 10, 10)]
        assert DeliveryState(index.data(MessageRoles.Delivery)) is state
    assert index.data(MessageRoles.DeliveryError) == "offline"
    assert index.data(Qt.ItemDataRole.ToolTipRole) == "Not sent: offline"
    model.set_delivery(mine.id, DeliveryState.FAILED, "offline")  # the same: nothing
    model.set_delivery("unknown", DeliveryState.SENT)
    assert events.take() == []
    model.change(replace(mine, read=True))  # the other side read it
    assert [event[:3] for event in events.take()] == [("changed", 10, 10)]
    assert index.data(MessageRoles.Delivery) == DeliveryState.READ
    assert model.index(0).data(MessageRoles.Delivery) is None  # not mine
    qtmodeltester.check(model)


def test_an_edit_changes_one_row_and_its_version(model: MessageListModel) -> None:
    events = Recorder(model)
    index = model.index(4)
    before = index.data(MessageRoles.Version)
    edited = replace(model.message(4) or msg(0, 0), text="edited text", edited_at=DAY2)
    model.change(edited)
    assert events.take() == [("changed", 4, 4, [])]
    assert index.data() == "edited text"
    assert index.data(MessageRoles.Edited) is True
    assert index.data(MessageRoles.Version) == before + 1
    model.change(replace(edited, type=MessageType.DELETED, text=None))
    assert index.data(MessageRoles.Deleted) is True
    assert index.data(MessageRoles.Edited) is False
    assert index.data() == ""


def test_a_server_timestamp_moves_the_row(
    model: MessageListModel, qtmodeltester: ModelTester
) -> None:
    qtmodeltester.check(model)
    pending = msg(30, DAY1 + 60_000 + 1, "alice")  # a local clock behind the server's
    model.add(pending)
    events = Recorder(model)
    model.change(replace(pending, timestamp=DAY1 + 9 * 60_000 + 1))
    assert events.take() == [("moved", 2, 2, 11), ("changed", 10, 10, [])]
    assert ids(model)[-1] == "m000030"
    model.change(replace(pending, timestamp=DAY1 + 9 * 60_000 + 2))  # later, same place
    assert events.take() == [("changed", 10, 10, [])]


def test_day_breaks_come_from_the_previous_row(qtmodeltester: ModelTester) -> None:
    model = MessageListModel("alice", now=lambda: NOW)
    model.reset_to(CID, [msg(1, DAY1), msg(2, DAY1 + 1000), msg(3, DAY2)])
    breaks = [model.index(row).data(MessageRoles.DayBreak) for row in range(3)]
    assert breaks == ["Wednesday, 12 March", "", "Yesterday"]
    events = Recorder(model)
    model.add(msg(4, DAY1 + 2000))  # later on day 1: day 2's first row keeps its break
    assert events.take() == [("inserted", 2, 2)]
    model.add(msg(5, DAY2 + 1000))
    assert events.take() == [("inserted", 4, 4)]
    model.add(msg(6, DAY2 - 10 * 3_600_000 + 1))  # early on day 2: it takes the break
    assert events.take() == [("inserted", 3, 3), ("changed", 4, 4, [MessageRoles.DayBreak])]
    assert model.index(3).data(MessageRoles.DayBreak) == "Yesterday"
    assert model.index(4).data(MessageRoles.DayBreak) == ""
    qtmodeltester.check(model)


def test_older_history_is_one_insert_at_the_top(
    model: MessageListModel, fetches: Fetches, qtmodeltester: ModelTester
) -> None:
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    model.fetchMore(QModelIndex())  # one in flight at most
    assert fetches.calls == ["m000000"]
    assert not model.canFetchMore(QModelIndex())
    events = Recorder(model)
    older = [msg(n, DAY1 - (105 - n) * 60_000) for n in range(100, 105)]
    model.prepend([*older, msg(0, DAY1)])  # overlapping pages are fine
    assert events.take() == [("inserted", 0, 4), ("changed", 5, 5, [MessageRoles.DayBreak])]
    assert ids(model)[:6] == [m.id for m in older] + ["m000000"]
    for row, mid in enumerate(ids(model)):
        assert model.row_of(mid) == row
    model.finish_fetch(5)
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert fetches.calls == ["m000000", "m000100"]
    qtmodeltester.check(model)  # (it asks for more too)
    model.finish_fetch(0)  # the beginning
    assert not model.canFetchMore(QModelIndex())
    assert model.at_beginning
    qtmodeltester.check(model)


def test_fetching_can_be_gated_and_needs_a_conversation(fetches: Fetches) -> None:
    model = MessageListModel("alice", fetches)
    assert not model.canFetchMore(QModelIndex())  # no conversation yet
    model.reset_to(CID, [])
    allowed = False
    model.fetch_allowed = lambda: allowed
    assert not model.canFetchMore(QModelIndex())
    allowed = True
    model.fetchMore(QModelIndex())
    assert fetches.calls == [None]  # an empty conversation: from the newest


def test_an_unknown_change_is_added_unless_it_is_unloaded_history(
    model: MessageListModel,
) -> None:
    model.change(msg(70, DAY1 - 5000))  # older than what is loaded: not shown
    assert model.row_of("m000070") is None
    model.change(msg(71, DAY2))
    assert model.row_of("m000071") == 10


def test_accessible_text(model: MessageListModel) -> None:
    model.other_name = "Bob"
    index = model.index(0)
    assert index.data(Qt.ItemDataRole.AccessibleTextRole) == "Bob, 10:00: message 0"
    mine = model.index(1)
    assert mine.data(Qt.ItemDataRole.AccessibleTextRole) == "You, 10:01: message 1. Sent"
    assert mine.data(Qt.ItemDataRole.AccessibleDescriptionRole) == "sent"


def test_a_hundred_thousand_rows_stay_exact(qtmodeltester: ModelTester) -> None:
    rng = random.Random(100_000)
    model = MessageListModel("alice", now=lambda: NOW)
    model.reset_to(CID, [msg(n, DAY1 + n * 1000) for n in range(100_000)])
    events = Recorder(model)
    for n in range(100_000, 100_500):
        at = DAY1 + rng.randrange(0, 100_100_000)
        model.add(msg(n, at))
        row = model.row_of(f"m{n:06d}")
        assert row is not None
        assert events.events[-1][0] != "reset"
        assert ("inserted", row, row) in events.take()
        assert model.message(row) == msg(n, at)
    timestamps = [m.timestamp for m in model.messages()]
    assert timestamps == sorted(timestamps)
    assert model.rowCount() == 100_500
    assert model.row_of("m050000") == ids(model).index("m050000")


def test_letting_go_of_the_oldest_rows_is_one_remove_at_the_top(
    model: MessageListModel, fetches: Fetches, qtmodeltester: ModelTester
) -> None:
    model.finish_fetch(0)
    assert model.at_beginning
    model.set_delivery("m000001", DeliveryState.SENT)
    events = Recorder(model)
    assert model.let_go_of_oldest(4) == 6
    assert events.take() == [("removed", 0, 5), ("changed", 0, 0, [MessageRoles.DayBreak])]
    assert ids(model) == [f"m{n:06d}" for n in range(6, 10)]
    assert model.row_of("m000001") is None and model.row_of("m000009") == 3
    assert not model.at_beginning and model.canFetchMore(QModelIndex())  # paging brings them
    assert model.day_break(0)  # the new first row starts a day
    assert model.let_go_of_oldest(10) == 0 and events.take() == []
    model.fetchMore(QModelIndex())
    assert fetches.calls == ["m000006"]
    assert model.let_go_of_oldest(1) == 0  # not while a page is on its way: no gap
    model.prepend([msg(n, DAY1 + n * 60_000) for n in range(6)])
    assert ids(model) == [f"m{n:06d}" for n in range(10)]
    qtmodeltester.check(model)
