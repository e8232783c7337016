"""Links in bubbles: painted underlined in the theme's colour, opened by a click where they are
painted, a pointing hand over them, "Copy link", and markup that stays text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from PySide6.QtCore import QEvent, QPoint, QRect, Qt, QUrl
from PySide6.QtGui import QColor, QContextMenuEvent, QGuiApplication, QHelpEvent, QImage
from PySide6.QtWidgets import QApplication, QMenu, QStyleOptionViewItem, QToolTip
from pytestqt.qtbot import QtBot

from desktop_chat.core.links import Link
from desktop_chat.core.model import Message, MessageType
from desktop_chat.ui import theme
from desktop_chat.ui.bubble_layout import Bubble
from desktop_chat.ui.formatting import contrast_ratio
from desktop_chat.ui.history_view import HistoryView
from desktop_chat.ui.message_delegate import MessageDelegate
from desktop_chat.ui.message_model import MessageListModel
from desktop_chat.ui.theme import DARK, LIGHT, Theme, apply_theme

CID = "alice_bob"
T0 = int(datetime(2025, 3, 12, 9, 0).timestamp() * 1000)
NOW = int(datetime(2025, 3, 14, 12, 0).timestamp() * 1000)
EVIL = '<a href="https://evil">https://good</a> <b>bold?</b>'


def msg(n: int, text: str, sender: str = "bob") -> Message:
    receiver = "alice" if sender == "bob" else "bob"
    return Message(
        f"m{n:03d}", CID, sender, receiver, text, T0 + n * 60_000, False, MessageType.TEXT
    )


@pytest.fixture
def light(qapp: QApplication) -> Iterator[None]:
    """The light theme for the test, and whatever was applied before afterwards."""
    palette, sheet, chosen = qapp.palette(), qapp.styleSheet(), theme.current_theme()
    apply_theme(qapp, LIGHT, fusion=False)
    yield
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)
    theme._current = chosen


@pytest.fixture
def opened() -> list[QUrl]:
    return []


def history(qtbot: QtBot, opened: list[QUrl], texts: list[tuple[str, str]]) -> HistoryView:
    """A shown HistoryView (me: alice) of *texts* ((sender, text) each) whose links go to
    *opened* instead of a browser."""
    model = MessageListModel("alice", now=lambda: NOW)
    model.reset_to(CID, [msg(n, text, sender) for n, (sender, text) in enumerate(texts)])
    view = HistoryView(model, open_url=opened.append)
    qtbot.addWidget(view)
    view.setItemDelegate(MessageDelegate(view))
    view.resize(560, 640)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(100)  # rows placed with estimates are placed again once painted
    view.scrollToTop()
    qtbot.wait(50)
    return view


def near(colour: QColor, target: QColor, tolerance: int = 60) -> bool:
    return (
        abs(colour.red() - target.red())
        + abs(colour.green() - target.green())
        + abs(colour.blue() - target.blue())
    ) <= tolerance


def painted_links(view: HistoryView, row: int, colour: str) -> list[list[QPoint]]:
    """The pixels of *colour* in *row*, as painted, grouped by link: a run of neighbouring
    columns (each link's underline joins its columns; other text separates links)."""
    view.viewport().repaint()
    image: QImage = view.viewport().grab().toImage()
    rect = view.visualRect(view.model().index(row, 0)).intersected(view.viewport().rect())
    target = QColor(colour)
    columns: dict[int, list[QPoint]] = {}
    for y in range(rect.top(), rect.bottom() + 1):
        for x in range(rect.left(), rect.right() + 1):
            if near(image.pixelColor(x, y), target):
                columns.setdefault(x, []).append(QPoint(x, y))
    groups: list[list[QPoint]] = []
    last = -10
    for x in sorted(columns):
        if x > last + 2:
            groups.append([])
        groups[-1].extend(columns[x])
        last = x
    return [group for group in groups if len(group) > 20]  # not a stray antialiased pixel


def centre(pixels: list[QPoint]) -> QPoint:
    """A pixel of a painted link near its middle (on a glyph: the link's own character)."""
    box = QRect(pixels[0], pixels[0])
    for p in pixels:
        box = box.united(QRect(p, p))
    mid = box.center()
    return min(pixels, key=lambda p: (p.x() - mid.x()) ** 2 + 4 * (p.y() - mid.y()) ** 2)


def bubble_of(view: HistoryView, row: int) -> Bubble:
    delegate = view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    index = view.model().index(row, 0)
    option.rect = view.visualRect(index)
    bubble = delegate.bubble(option, index)
    assert bubble is not None
    return bubble


def click(qtbot: QtBot, view: HistoryView, pos: QPoint) -> None:
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)


# clicking -----------------------------------------------------------------------------------
def test_a_click_on_a_painted_link_opens_it_and_plain_text_opens_nothing(
    qtbot: QtBot, light: None, opened: list[QUrl]
) -> None:
    view = history(
        qtbot,
        opened,
        [
            ("bob", "plain words first https://good.example/path?q=1, then more"),
            ("alice", "🎉🎉 www.example.com"),
            ("bob", "nothing to open here"),
            ("bob", "שלום https://good.example/he תודה רבה"),
        ],
    )
    (link,) = painted_links(view, 0, LIGHT.other_link)
    click(qtbot, view, centre(link))
    assert [url.toString() for url in opened] == ["https://good.example/path?q=1"]

    left = min(p.x() for p in link)
    click(qtbot, view, QPoint(left - 30, centre(link).y()))  # on "first"
    click(qtbot, view, view.visualRect(view.model().index(2, 0)).center())
    assert len(opened) == 1

    (mine,) = painted_links(view, 1, LIGHT.own_link)  # on the accent-coloured bubble
    click(qtbot, view, centre(mine))
    assert opened[-1].toString() == "https://www.example.com"

    (rtl,) = painted_links(view, 3, LIGHT.other_link)  # right-to-left lines
    click(qtbot, view, centre(rtl))
    assert opened[-1].toString() == "https://good.example/he"
    assert len(opened) == 3


def test_markup_shows_literally_and_a_click_opens_only_the_address_shown(
    qtbot: QtBot, light: None, opened: list[QUrl]
) -> None:
    view = history(qtbot, opened, [("bob", EVIL)])
    bubble = bubble_of(view, 0)
    assert bubble.layout.text() == EVIL  # not rich text: every character is shown
    units = EVIL.encode("utf-16-le")
    shown = [units[2 * k.start : 2 * k.end].decode("utf-16-le") for k in bubble.links]
    assert shown == [k.url for k in bubble.links]  # a link opens what it shows, nothing else
    assert all(" " not in k.url and '"' not in k.url and ">" not in k.url for k in bubble.links)
    attribute, anchor = painted_links(view, 0, LIGHT.other_link)
    click(qtbot, view, centre(anchor))
    assert [url.toString() for url in opened] == ["https://good"]
    click(qtbot, view, QPoint(min(p.x() for p in attribute) - 12, centre(attribute).y()))
    assert [url.toString() for url in opened] == ["https://good"]  # "href=" is just text


def test_a_press_on_a_link_released_elsewhere_opens_nothing(
    qtbot: QtBot, light: None, opened: list[QUrl]
) -> None:
    view = history(qtbot, opened, [("bob", "see https://good.example/page please")])
    (link,) = painted_links(view, 0, LIGHT.other_link)
    start = centre(link)
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=start + QPoint(0, 60))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.RightButton, pos=start)
    assert opened == []
    click(qtbot, view, start)
    assert len(opened) == 1


def test_a_link_wrapped_over_two_lines_opens_from_either(
    qtbot: QtBot, light: None, opened: list[QUrl]
) -> None:
    url = "https://example.com/" + "/".join(f"segment{n}" for n in range(12))
    view = history(qtbot, opened, [("bob", f"read {url} now")])
    assert bubble_of(view, 0).layout.lineCount() >= 2
    (link,) = painted_links(view, 0, LIGHT.other_link)
    bottom = max(p.y() for p in link)
    low = [p for p in link if bottom - 14 < p.y() < bottom - 2]
    click(qtbot, view, min(low, key=lambda p: p.x()) + QPoint(3, 0))
    assert [u.toString() for u in opened] == [url]


def test_only_web_and_mail_addresses_are_ever_opened(
    qtbot: QtBot, light: None, opened: list[QUrl]
) -> None:
    view = history(qtbot, opened, [("bob", "hi")])
    for url in ("javascript:alert(1)", "file:///etc/passwd", "data:text/html,x", "ftp://x.org"):
        view.open_link(url)
    assert opened == []
    view.open_link("mailto:ann@example.com")
    assert [u.toString() for u in opened] == ["mailto:ann@example.com"]


# hovering and the menu ----------------------------------------------------------------------
def test_the_cursor_is_a_pointing_hand_over_a_link(
    qtbot: QtBot, light: None, opened: list[QUrl]
) -> None:
    view = history(qtbot, opened, [("bob", "look https://good.example/x here")])
    (link,) = painted_links(view, 0, LIGHT.other_link)
    viewport = view.viewport()
    qtbot.mouseMove(viewport, centre(link))
    qtbot.waitUntil(lambda: viewport.cursor().shape() == Qt.CursorShape.PointingHandCursor)
    qtbot.mouseMove(viewport, QPoint(min(p.x() for p in link) - 20, centre(link).y()))
    qtbot.waitUntil(lambda: viewport.cursor().shape() == Qt.CursorShape.ArrowCursor)
    assert view.link_at(centre(link)) is not None
    tip = QHelpEvent(QEvent.Type.ToolTip, centre(link), viewport.mapToGlobal(centre(link)))
    QApplication.sendEvent(viewport, tip)
    assert QToolTip.text() == "https://good.example/x"  # the address a click opens
    QToolTip.hideText()
    assert opened == []


def test_the_menu_on_a_link_opens_or_copies_it(
    qtbot: QtBot, light: None, opened: list[QUrl]
) -> None:
    view = history(qtbot, opened, [("bob", "site www.example.org or mail ann@example.com")])
    web, mail = painted_links(view, 0, LIGHT.other_link)
    message = view.history.message(0)
    assert message is not None

    menu = view.build_menu(message, view.link_at(centre(web)))
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert list(actions) == ["Copy text", "Open link", "Copy link"]
    actions["Copy link"].trigger()
    assert QGuiApplication.clipboard().text() == "https://www.example.org"
    actions["Open link"].trigger()
    assert [u.toString() for u in opened] == ["https://www.example.org"]

    menu = view.build_menu(message, view.link_at(centre(mail)))
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert list(actions) == ["Copy text", "Send email", "Copy email address"]
    actions["Copy email address"].trigger()
    assert QGuiApplication.clipboard().text() == "ann@example.com"

    # From the keyboard (no link under a pointer): each link can still be opened.
    menu = view.build_menu(message)
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts == ["Copy text", "Open https://www.example.org", "Email ann@example.com"]


def test_a_right_click_on_a_link_offers_it_and_the_menu_key_does_not(
    qtbot: QtBot, light: None, opened: list[QUrl]
) -> None:
    view = history(qtbot, opened, [("bob", "see https://good.example/menu please")])
    (link,) = painted_links(view, 0, LIGHT.other_link)
    asked: list[Link | None] = []

    def build_menu(message: Message, link: Link | None = None) -> QMenu:
        asked.append(link)
        return QMenu(view)  # empty: not shown

    view.build_menu = build_menu  # type: ignore[method-assign]
    viewport = view.viewport()
    at = centre(link)
    mouse = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, at, viewport.mapToGlobal(at))
    QApplication.sendEvent(viewport, mouse)
    view.setCurrentIndex(view.model().index(0, 0))
    key = QContextMenuEvent(QContextMenuEvent.Reason.Keyboard, at, view.mapToGlobal(at))
    QApplication.sendEvent(view, key)
    assert [k.url if k else None for k in asked] == ["https://good.example/menu", None]
    assert opened == []


# colours ------------------------------------------------------------------------------------
@pytest.mark.parametrize("chosen", [LIGHT, DARK], ids=["light", "dark"])
def test_link_colours_are_readable_on_both_bubbles(chosen: Theme) -> None:
    assert contrast_ratio(chosen.own_link, chosen.own_bubble) >= 4.5
    assert contrast_ratio(chosen.other_link, chosen.other_bubble) >= 4.5


def test_links_take_the_new_theme_colour(
    qtbot: QtBot, qapp: QApplication, light: None, opened: list[QUrl]
) -> None:
    view = history(qtbot, opened, [("bob", "see https://good.example/x"), ("alice", "hi")])
    assert len(painted_links(view, 0, LIGHT.other_link)) == 1
    apply_theme(qapp, DARK, fusion=False)
    view.viewport().update()
    assert len(painted_links(view, 0, DARK.other_link)) == 1
    assert painted_links(view, 0, LIGHT.other_link) == []
    click(qtbot, view, centre(painted_links(view, 0, DARK.other_link)[0]))
    assert [u.toString() for u in opened] == ["https://good.example/x"]


def test_an_emoji_before_a_link_counts_as_two_utf16_units(
    qtbot: QtBot, light: None, opened: list[QUrl]
) -> None:
    text = "🎉🎉 www.example.com 👍🏽 ann@example.com"
    view = history(qtbot, opened, [("alice", text)])
    bubble = bubble_of(view, 0)
    units = bubble.layout.text().encode("utf-16-le")
    ranges = [(f.start, f.length) for f in bubble.layout.formats()]
    assert ranges == [(5, 15), (26, 15)]
    assert [units[2 * s : 2 * (s + n)].decode("utf-16-le") for s, n in ranges] == [
        "www.example.com",
        "ann@example.com",
    ]
    for group, url in zip(
        painted_links(view, 0, LIGHT.own_link),
        ["https://www.example.com", "mailto:ann@example.com"],
        strict=True,
    ):
        click(qtbot, view, centre(group))
        assert opened[-1].toString() == url
