"""The booking view, booking cards and links against the real server, with screenshots."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.core.booking import BookingStatus, CardState
from desktop_chat.core.model import Slot
from desktop_chat.ui.booking_view import BookingPage, SlotButton
from desktop_chat.ui.bridge import ChatBridge, Skill
from desktop_chat.ui.main_window import MainWindow
from desktop_chat.ui.market_pages import BookingList
from desktop_chat.ui.theme import DARK, LIGHT, apply_theme
from tests.support.chat import FAST
from tests.support.server import ServerProcess
from tests.ui.conftest import run_on
from tests.ui.test_bridge import close_all, new_user

LONG = 30_000
LIVE = 5_000  # "within a moment": a slot taken elsewhere turns unavailable here
HOUR = 3_600_000
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("book") / "d", FAST, rules=None).start()
    yield server
    server.kill()


@pytest.fixture(autouse=True)
def _themed(themed: None) -> None:
    """The theme these tests apply is undone afterwards (conftest's ``themed``)."""


@dataclass
class Market:
    leo: ChatClient  # the provider
    maya: ChatClient  # the student at the window
    sam: ChatClient  # another student, elsewhere
    skill: Skill
    slots: list[Slot]


def tomorrow_at(hour: int) -> int:
    zone = dt.datetime.now().astimezone().tzinfo
    day = dt.datetime.now(zone).date() + dt.timedelta(days=1)
    return int(dt.datetime.combine(day, dt.time(hour), zone).timestamp() * 1000)


@pytest.fixture
def market(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, chat_server: ServerProcess, tmp_path: Path
) -> Iterator[Market]:
    async def make() -> Market:
        leo = await new_user(chat_server, tmp_path / "leo", "Leo Martins", "provider")
        maya = await new_user(chat_server, tmp_path / "maya", "Maya Chen", "student")
        sam = await new_user(chat_server, tmp_path / "sam", "Sam Okafor", "student")
        assert leo.uid is not None and leo.desk is not None
        record = {"title": "Jazz guitar", "providerId": leo.uid, "price": 35, "durationMinutes": 60}
        skill_id = f"jazz-{leo.uid[:8]}"  # (one server for the module)
        await leo.db.set(f"skills/{skill_id}", record)
        zone = dt.datetime.now().astimezone().tzinfo
        assert zone is not None
        slots = [
            await leo.desk.add_slot(skill_id, tomorrow_at(h), tomorrow_at(h) + HOUR, zone)
            for h in (9, 10, 11, 14, 15, 16)
        ]
        skill = Skill(skill_id, "Jazz guitar", leo.uid, 35, 60, "", "Leo Martins")
        return Market(leo, maya, sam, skill, slots)

    made = run_on(qtbot, qloop, make(), 60)
    yield made
    close_all(qtbot, qloop, made.leo, made.maya, made.sam)


@contextmanager
def opened(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, client: ChatClient
) -> Iterator[tuple[ChatBridge, MainWindow]]:
    """*client*'s main window, shown (light theme); closed with its bridge afterwards."""
    apply_theme(qtbot_app(), LIGHT)
    bridge = ChatBridge(client)
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    window.resize(1180, 720)
    window.show()
    window.start()
    try:
        yield bridge, window
    finally:
        window.close()
        run_on(qtbot, qloop, bridge.aclose())


def qtbot_app() -> QApplication:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app


def buttons(page: BookingPage) -> dict[str, SlotButton]:
    return {button.slot.slot_id: button for button in page.slot_buttons()}


def state_of(page: BookingPage, slot: Slot) -> CardState | None:
    button = buttons(page).get(slot.slot_id)
    return button.state if button is not None else None


def labels(widget: QWidget) -> str:
    return " ".join(label.text() for label in widget.findChildren(QLabel))


def shoot(qtbot: QtBot, window: MainWindow, name: str) -> None:
    qtbot.wait(200)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SHOTS / f"{name}.png"))


def test_a_student_books_live_slots_beside_the_chat(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, market: Market
) -> None:
    with opened(qtbot, qloop, market.maya) as (_bridge, window):
        window.pages.show_booking(market.skill)
        page = window.pages.booking_page
        qtbot.waitUntil(lambda: len(page.slot_buttons()) == 6, timeout=LONG)
        assert all(b.state is CardState.AVAILABLE for b in page.slot_buttons())
        assert page.zone.text().startswith("Times are in your time zone")
        # the chat with the provider sits beside the slots
        qtbot.waitUntil(lambda: window.chat.isVisibleTo(window), timeout=LONG)
        assert window.chat.parent() is page.splitter
        assert window.visible_conversation() == window.chat.cid

        # Sam books elsewhere: the slot turns unavailable here, without any action.
        first, second = market.slots[0], market.slots[1]
        assert market.sam.desk is not None
        run_on(qtbot, qloop, market.sam.desk.book(second))
        qtbot.waitUntil(lambda: state_of(page, second) is CardState.TAKEN, timeout=LIVE)
        assert not buttons(page)[second.slot_id].isEnabled()

        # Maya books with one click.
        qtbot.mouseClick(buttons(page)[first.slot_id], Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: state_of(page, first) is CardState.REQUESTED, timeout=LIVE)
        qtbot.waitUntil(lambda: "Requested" in page.outcome.text(), timeout=LONG)
        shoot(qtbot, window, "booking-view")
        apply_theme(qtbot_app(), DARK)
        page.refresh()
        shoot(qtbot, window, "booking-view-dark")
        apply_theme(qtbot_app(), LIGHT)

        # A slot taken just before the click: "this slot was just taken", nothing else.
        with qtbot.waitSignal(page.bookings.slotTaken, timeout=LONG):
            page.bookings.book(second, origin=page)
        assert page.outcome.text() == "This slot was just taken. Please pick another time."
        assert [b.slot for b in page.bookings.bookings()] == [first]

        # Leaving the view lets go of its stream (the chat, about this skill, keeps it).
        window.open_conversation(window.chat.cid or "")
        assert window.chat.parent() is window.right
        assert page.bookings.wanted_by(page) == frozenset()
        assert page.bookings.wanted_by(window.chat_booking) == {market.skill.id}


def test_the_provider_manages_slots_and_answers_requests(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, market: Market
) -> None:
    assert market.maya.desk is not None
    booking = run_on(qtbot, qloop, market.maya.desk.book(market.slots[2]))
    with opened(qtbot, qloop, market.leo) as (_bridge, window):
        window.pages.show_booking(market.skill)
        page = window.pages.booking_page
        assert page.mine and page.tools.isVisibleTo(window)
        qtbot.waitUntil(lambda: len(page.tools.requests_waiting()) == 1, timeout=LONG)
        qtbot.waitUntil(lambda: len(page.slot_buttons()) == 6, timeout=LONG)
        qtbot.waitUntil(lambda: "Maya Chen" in labels(page.tools), timeout=LONG)
        shoot(qtbot, window, "booking-provider")

        # The Bookings tab lists the request; the bell's booking_request opens this view.
        window.tabs.setCurrentIndex(2)
        listed = window.findChild(BookingList)
        assert listed is not None
        qtbot.waitUntil(lambda: listed.list.count() == 1, timeout=LONG)
        assert "Maya Chen" in listed.list.item(0).text()
        assert "asks you to confirm" in listed.list.item(0).text()
        model = window.bell.model
        qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=LONG)
        note = model.notification(0)
        assert note is not None and note.kind.value == "booking_request"
        window.pages.show_skill(market.skill)
        with qtbot.waitSignal(page.bookings.bookingOpened, timeout=LONG):
            window.bell.open_notification(note)
        assert window.right.currentWidget() is page

        confirm = next(b for b in page.tools.findChildren(QPushButton) if b.text() == "Confirm")
        qtbot.mouseClick(confirm, Qt.MouseButton.LeftButton)
        desk = market.maya.desk
        qtbot.waitUntil(
            lambda: desk.bookings[booking.booking_id].status is BookingStatus.CONFIRMED,
            timeout=LIVE * 2,
        )
        qtbot.waitUntil(lambda: state_of(page, booking.slot) is CardState.CONFIRMED, timeout=LIVE)
        qtbot.waitUntil(lambda: "Booking confirmed" in page.outcome.text(), timeout=LONG)
        # Remove a free slot through its menu's action, as the provider.
        free = buttons(page)[market.slots[5].slot_id]
        page.bookings.remove_slot(free.slot)
        qtbot.waitUntil(lambda: len(page.slot_buttons()) == 5, timeout=LIVE)
        # Fill two weeks from the template: the grid's dates grow.
        page.tools.times.setText("08:00")
        page.tools._fill()
        qtbot.waitUntil(lambda: page.date_group.buttons().__len__() >= 8, timeout=LONG)
        page.tools.times.setText("25:00")
        with qtbot.waitSignal(page.bookings.error, timeout=LONG) as said:
            page.tools._fill()
        assert "25:00" in said.args[0]


def card_row(window: MainWindow, mid: str) -> int | None:
    model = window.chat.model
    for row in range(model.rowCount()):
        message = model.message(row)
        if message is not None and message.id == mid:
            return row
    return None


def card_line(window: MainWindow, mid: str) -> tuple[str, CardState] | None:
    row = card_row(window, mid)
    message = window.chat.model.message(row) if row is not None else None
    if message is None or window.chat.delegate.cards is None:
        return None
    return window.chat.delegate.cards(message)


def card_state(window: MainWindow, mid: str) -> CardState | None:
    line = card_line(window, mid)
    return line[1] if line is not None else None


def test_booking_cards_live_in_the_chat(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, market: Market
) -> None:
    leo, maya = market.leo, market.maya
    assert leo.uid is not None and maya.uid is not None

    async def cards() -> tuple[str, list[str]]:
        cid = await maya.open_conversation(leo.uid or "", market.skill.id)
        ids = [
            await leo.send_message(cid, f"How about slot {n}?", slot=market.slots[n])
            for n in (0, 1, 2)
        ]
        return cid, ids

    cid, (first, second, third) = run_on(qtbot, qloop, cards())
    with opened(qtbot, qloop, maya) as (_bridge, window):
        qtbot.waitUntil(lambda: window.conversations.row_of(cid) is not None, timeout=LONG)
        window.open_conversation(cid)
        qtbot.waitUntil(lambda: card_row(window, third) is not None, timeout=LONG)
        qtbot.waitUntil(lambda: card_state(window, first) is CardState.AVAILABLE, timeout=LIVE)
        line = card_line(window, first)
        assert line is not None and line[0].endswith(" · Free · click to book")
        assert re.match(r"\w{3} \d{1,2} \w{3}, \d\d:00 ", line[0]), line  # the viewer's time
        qtbot.waitUntil(lambda: window.chat.header.booking.text() == "Jazz guitar", timeout=LONG)

        # One click on the card books it.
        row = card_row(window, first)
        assert row is not None
        rect = window.chat.history.visualRect(window.chat.model.index(row, 0))
        qtbot.mouseClick(
            window.chat.history.viewport(), Qt.MouseButton.LeftButton, pos=rect.center()
        )
        qtbot.waitUntil(lambda: card_state(window, first) is CardState.REQUESTED, timeout=LIVE)

        # Another student takes the second: its card turns, with no action here.
        assert market.sam.desk is not None
        run_on(qtbot, qloop, market.sam.desk.book(market.slots[1]))
        qtbot.waitUntil(lambda: card_state(window, second) is CardState.TAKEN, timeout=LIVE)

        # The provider confirms: the card says so, and the header names the next session.
        assert leo.desk is not None
        qtbot.waitUntil(lambda: len(leo.desk.bookings) == 2, timeout=LONG)
        mine = next(b for b in leo.desk.bookings.values() if b.student_id == maya.uid)
        run_on(qtbot, qloop, leo.desk.confirm(mine.booking_id))
        qtbot.waitUntil(lambda: card_state(window, first) is CardState.CONFIRMED, timeout=LIVE)
        qtbot.waitUntil(lambda: "Next session" in window.chat.header.booking.text(), timeout=LIVE)

        # "Propose a time" offers the free slots and sends a card bound to one.
        booking = window.chat_booking
        assert booking.propose.isVisibleTo(window)
        free = booking.free_slots()
        assert [s.slot for s in free] == [market.slots[n] for n in (2, 3, 4, 5)]
        booking._fill_menu()
        actions = [a for a in booking.menu.actions() if a.isEnabled()]
        assert len(actions) == 4
        actions[1].trigger()
        qtbot.waitUntil(
            lambda: any(
                m is not None and m.slot == market.slots[3] and m.sender_id == maya.uid
                for m in (window.chat.model.message(r) for r in range(window.chat.model.rowCount()))
            ),
            timeout=LONG,
        )
        window.chat.history.scroll_to_bottom()
        shoot(qtbot, window, "booking-cards")


def test_desktopchat_links_open_their_item_or_say_why_not(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, market: Market
) -> None:
    from PySide6.QtWidgets import QMessageBox

    from desktop_chat.ui.single_instance import LinkRouter

    leo, maya = market.leo, market.maya
    assert leo.uid is not None and maya.desk is not None
    cid = run_on(qtbot, qloop, maya.open_conversation(leo.uid))
    booking = run_on(qtbot, qloop, maya.desk.book(market.slots[0]))
    router = LinkRouter()
    with opened(qtbot, qloop, maya) as (bridge, window):
        qtbot.waitUntil(lambda: bridge.other_of(cid) is not None, timeout=LONG)
        router.open(f"desktopchat://conversation/{cid}")
        assert window.chat.cid == cid and window.right.currentWidget() is window.chat
        with qtbot.waitSignal(window.pages.bookings.skillOpened, timeout=LONG):
            router.open(f"desktopchat://skill/{market.skill.id}")
        assert window.right.currentWidget() is window.skill_page
        assert window.skill_page.title.text() == "Jazz guitar"
        with qtbot.waitSignal(window.pages.bookings.bookingOpened, timeout=LONG):
            router.open(f"desktopchat://booking/{booking.booking_id}/")
        assert window.right.currentWidget() is window.pages.booking_page
        assert len(router.opened) == 3

        for link, says in (
            ("desktopchat://chat/1", "must name one of: conversation, booking, skill"),
            ("desktopchat://conversation/someone_elses", "not one of yours"),
        ):
            with qtbot.waitSignal(router.refused, timeout=LONG) as refused:
                router.open(link)
            assert says in refused.args[0]
        boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]
        assert len([b for b in boxes if b.isVisible()]) == 2
        for box in boxes:
            box.close()
    router.deleteLater()
