"""ConversationListModel: newest first, and exactly one row signal per change."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import QModelIndex, Qt
from pytestqt.modeltest import ModelTester

from desktop_chat.core.model import ConversationEntry
from desktop_chat.ui.conversation_model import SKELETON_ROWS, ConversationListModel, Roles
from tests.ui.test_message_model import Recorder

NOW = 1_741_960_000_000


def entry(n: int, at: int | None, unread: int = 0, text: str | None = "hi") -> ConversationEntry:
    other = f"user{n}"
    return ConversationEntry(f"me_{other}", other, f"User {n}", None, text, at, unread)


def order(model: ConversationListModel) -> list[str]:
    return [model.index(row).data(Roles.ConversationId) for row in range(model.rowCount())]


@pytest.fixture
def model() -> ConversationListModel:
    model = ConversationListModel(now=lambda: NOW)
    model.load([entry(1, NOW - 3000), entry(2, NOW - 1000), entry(3, None), entry(4, NOW - 2000)])
    return model


def test_load_sorts_newest_first_and_passes_the_model_tester(
    model: ConversationListModel, qtmodeltester: ModelTester
) -> None:
    assert order(model) == ["me_user2", "me_user4", "me_user1", "me_user3"]
    qtmodeltester.check(model)
    assert model.row_of("me_user1") == 2
    assert model.row_of("nope") is None
    assert model.entry(0) == entry(2, NOW - 1000)
    assert model.entry(99) is None


def test_a_new_conversation_is_one_insert_at_its_place(
    model: ConversationListModel, qtmodeltester: ModelTester
) -> None:
    qtmodeltester.check(model)
    events = Recorder(model)
    model.upsert(entry(5, NOW - 1500))
    assert events.take() == [("inserted", 1, 1)]
    assert model.row_of("me_user5") == 1


def test_a_new_message_moves_one_row_to_the_top(
    model: ConversationListModel, qtmodeltester: ModelTester
) -> None:
    qtmodeltester.check(model)
    events = Recorder(model)
    model.upsert(entry(1, NOW, unread=1, text="new"))
    assert events.take() == [("moved", 2, 2, 0), ("changed", 0, 0, [])]
    assert order(model) == ["me_user1", "me_user2", "me_user4", "me_user3"]
    assert model.index(0).data(Roles.Unread) == 1
    model.upsert(entry(1, NOW - 2500))  # and back down (a message deleted, say)
    assert events.take() == [("moved", 0, 0, 3), ("changed", 2, 2, [])]
    assert order(model) == ["me_user2", "me_user4", "me_user1", "me_user3"]
    model.upsert(entry(3, NOW - 100))  # from the bottom (never a message) to the top
    assert events.take() == [("moved", 3, 3, 0), ("changed", 0, 0, [])]


def test_a_change_in_place_is_one_data_change(model: ConversationListModel) -> None:
    events = Recorder(model)
    model.upsert(entry(4, NOW - 2000, unread=3))
    model.upsert(entry(4, NOW - 2000, unread=3))  # the same again: nothing
    assert events.take() == [("changed", 1, 1, [])]
    assert model.index(1).data(Roles.Unread) == 3


def test_remove(model: ConversationListModel, qtmodeltester: ModelTester) -> None:
    qtmodeltester.check(model)
    events = Recorder(model)
    model.remove("me_user4")
    model.remove("me_user4")
    assert events.take() == [("removed", 1, 1)]
    assert order(model) == ["me_user2", "me_user1", "me_user3"]


def test_presence_and_typing_change_only_their_row(model: ConversationListModel) -> None:
    events = Recorder(model)
    model.set_presence("user1", True, None)
    model.set_presence("user1", True, None)  # the same again: nothing
    model.set_presence("nobody", True, None)
    assert events.take() == [("changed", 2, 2, [Roles.Online, Roles.LastSeen])]
    index = model.index(2)
    assert index.data(Roles.Online) is True
    model.set_presence("user1", False, NOW - 5 * 60_000)
    assert events.take() == [("changed", 2, 2, [Roles.Online, Roles.LastSeen])]
    assert index.data(Roles.LastSeen) == NOW - 5 * 60_000
    assert index.data(Qt.ItemDataRole.AccessibleDescriptionRole) == "last seen 5 min ago"
    model.set_typing("me_user1", "user1", True)
    model.set_typing("me_user1", "user1", True)
    assert events.take() == [("changed", 2, 2, [Roles.Typing])]
    assert index.data(Roles.Typing) is True
    model.set_typing("me_user1", "user1", False)
    assert events.take() == [("changed", 2, 2, [Roles.Typing])]
    assert index.data(Roles.Typing) is False


def test_roles_and_words_for_a_screen_reader(model: ConversationListModel) -> None:
    model.upsert(entry(1, NOW - 5 * 60_000, unread=2, text="see you\nat 5"))
    index = model.index(model.row_of("me_user1") or 0)
    assert index.data() == "User 1"
    assert index.data(Roles.Entry).unread_count == 2
    spoken = index.data(Qt.ItemDataRole.AccessibleTextRole)
    assert spoken == "User 1, 2 unread, last message: see you at 5, 5 min ago"
    names = {bytes(name.data()) for name in model.roleNames().values()}
    assert names >= {b"display", b"conversationId", b"entry", b"typing"}


def test_loading_shows_disabled_skeleton_rows(qtmodeltester: ModelTester) -> None:
    model = ConversationListModel(now=lambda: NOW)
    events = Recorder(model)
    model.loading = True
    assert model.rowCount() == SKELETON_ROWS
    assert model.flags(model.index(0)) == Qt.ItemFlag.NoItemFlags
    assert model.index(0).data(Roles.Entry) is None
    assert model.entry(0) is None
    qtmodeltester.check(model)
    model.upsert(entry(1, NOW))  # an event before the list arrived: kept, no row signal
    assert events.take() == [("reset",)]
    model.load([entry(2, NOW - 10)])
    assert events.take() == [("reset",)]
    assert model.loading is False
    assert order(model) == ["me_user2"]
    qtmodeltester.check(model)


def test_loading_ends_with_what_was_upserted_meanwhile() -> None:
    model = ConversationListModel(now=lambda: NOW)
    model.loading = True
    model.upsert(entry(1, NOW))
    model.upsert(entry(2, NOW - 1))
    model.remove("me_user2")
    model.loading = False
    assert order(model) == ["me_user1"]


def test_many_random_upserts_keep_the_order(qtmodeltester: ModelTester) -> None:
    import random

    rng = random.Random(6)
    model = ConversationListModel(now=lambda: NOW)
    model.load([])
    qtmodeltester.check(model)
    latest: dict[str, ConversationEntry] = {}
    for _ in range(400):
        n = rng.randrange(30)
        if rng.random() < 0.1:
            model.remove(f"me_user{n}")
            latest.pop(f"me_user{n}", None)
            continue
        at = None if rng.random() < 0.1 else NOW - rng.randrange(10_000)
        item = entry(n, at, unread=rng.randrange(5))
        model.upsert(item)
        latest[item.conversation_id] = item
    expected = sorted(
        latest.values(),
        key=lambda e: (e.last_message_at is None, -(e.last_message_at or 0), e.conversation_id),
    )
    assert [model.entry(row) for row in range(model.rowCount())] == expected
    for cid, item in latest.items():
        assert model.entry(model.row_of(cid) or 0) == item


def test_refresh_times_touches_every_row_once(model: ConversationListModel) -> None:
    events = Recorder(model)
    model.refresh_times()
    assert events.take() == [("changed", 0, 3, [Qt.ItemDataRole.AccessibleTextRole])]
    assert model.data(QModelIndex()) is None


def test_a_replaced_entry_keeps_presence(model: ConversationListModel) -> None:
    model.set_presence("user2", True, None)
    model.upsert(replace(model.entry(0) or entry(2, NOW), unread_count=9))
    assert model.index(0).data(Roles.Online) is True
