"""The delegates, avatars and theme: cached layouts, plain text, RTL, every state painted."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import pytest
from PySide6.QtCore import QBuffer, QIODevice, QModelIndex, QPoint, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QGuiApplication, QImage, QPainter
from PySide6.QtWidgets import QApplication, QListView, QStyle, QStyleOptionViewItem
from pytestqt.qtbot import QtBot

from desktop_chat.core.model import ConversationEntry, DeliveryState, Message, MessageType, Slot
from desktop_chat.ui import theme
from desktop_chat.ui.avatars import AvatarCache, LruCache
from desktop_chat.ui.conversation_delegate import (
    ConversationDelegate,
    badge_text,
    paint_empty,
    row_height,
)
from desktop_chat.ui.conversation_model import ConversationListModel
from desktop_chat.ui.message_delegate import MessageDelegate
from desktop_chat.ui.message_model import MessageListModel
from desktop_chat.ui.theme import DARK, LIGHT, SIZES, ThemeWatcher, apply_theme, draw_delivery

CID = "alice_bob"
T0 = int(datetime(2025, 3, 12, 9, 0).timestamp() * 1000)
NOW = int(datetime(2025, 3, 14, 12, 0).timestamp() * 1000)
LONG = (
    "How are you doing today? I was wondering whether we could meet tomorrow at the library "
    "to go over the exercises from chapter four, the ones about recursion."
)


def msg(n: int, text: str | None = "hello", sender: str = "bob", **kw: object) -> Message:
    receiver = "alice" if sender == "bob" else "bob"
    fields: dict[str, object] = {"read": False, "type": MessageType.TEXT, **kw}
    at = fields.pop("timestamp", T0 + n * 60_000)
    return Message(f"m{n:06d}", CID, sender, receiver, text, at, **fields)  # type: ignore[arg-type]


def model_of(messages: list[Message]) -> MessageListModel:
    model = MessageListModel("alice", now=lambda: NOW)
    model.reset_to(CID, messages)
    return model


def option_for(width: int, height: int, selected: bool = False) -> QStyleOptionViewItem:
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, width, height)
    option.font = QApplication.font()
    option.state = QStyle.StateFlag.State_Enabled
    if selected:
        option.state |= QStyle.StateFlag.State_Selected
    return option


def paint_row(
    delegate: MessageDelegate, index: QModelIndex, width: int = 600, selected: bool = False
) -> QImage:
    height = delegate.sizeHint(option_for(width, 0), index).height()
    image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QColor(theme.current_theme().base))
    painter = QPainter(image)
    delegate.paint(painter, option_for(width, height, selected), index)
    painter.end()
    return image


def visible_rows(view: QListView) -> int:
    first = view.indexAt(QPoint(1, 1)).row()
    last = view.indexAt(QPoint(1, view.viewport().height() - 2)).row()
    last = view.model().rowCount() - 1 if last < 0 else last
    return last - first + 1


@pytest.fixture
def restore_theme(qapp: QApplication) -> Iterator[None]:
    palette, sheet, chosen = qapp.palette(), qapp.styleSheet(), theme.current_theme()
    yield
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)
    theme._current = chosen


# the message delegate ----------------------------------------------------------------------
def test_layouts_are_made_once_per_painted_row(qtbot: QtBot) -> None:
    model = model_of([msg(n, LONG if n % 4 == 0 else f"message {n}") for n in range(60)])
    view = QListView()
    qtbot.addWidget(view)
    delegate = MessageDelegate(view)
    view.setModel(model)
    view.setItemDelegate(delegate)
    view.resize(480, 500)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(50)
    made = delegate.layout_count
    assert 0 < made <= 2 * visible_rows(view)
    view.viewport().repaint()
    view.grab()
    assert delegate.layout_count == made  # cached
    model.change(replace(msg(1, "message 1"), text="now edited", edited_at=NOW))
    qtbot.wait(50)
    view.viewport().repaint()
    assert delegate.layout_count == made + 1  # that row only


@pytest.mark.slow
def test_a_hundred_thousand_messages_lay_out_only_visible_rows(qtbot: QtBot) -> None:
    texts = ["hi", LONG, "ok 👍", "שלום, מה שלומך?", "line one\nline two"]
    model = model_of([msg(n, texts[n % 5], "alice" if n % 3 else "bob") for n in range(100_000)])
    view = QListView()
    qtbot.addWidget(view)
    view.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    delegate = MessageDelegate(view)
    view.setModel(model)
    view.setItemDelegate(delegate)
    view.resize(500, 700)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(100)
    assert delegate.layout_count <= 2 * visible_rows(view)
    for step in ("bottom", "resize", "narrow"):
        before = delegate.layout_count
        if step == "bottom":
            view.scrollToBottom()
        else:
            view.resize(800 if step == "resize" else 360, 700)
        qtbot.wait(300)
        view.viewport().repaint()
        made = delegate.layout_count - before
        assert 0 < made <= 2 * visible_rows(view), step
    for _ in range(2):  # estimates corrected by painting, the newest row ends the view
        view.scrollToBottom()
        qtbot.wait(300)
    last = view.visualRect(model.index(model.rowCount() - 1))
    assert view.viewport().height() - 40 < last.bottom() < view.viewport().height()


def test_html_and_rich_text_show_literally(qapp: QApplication) -> None:
    text = "<b>bold</b> &amp; <i>x</i> <img src=x>"
    model = model_of([msg(1, text)])
    delegate = MessageDelegate()
    bubble = delegate.bubble(option_for(900, 0), model.index(0))
    assert bubble is not None
    assert bubble.layout.text() == text
    line = bubble.layout.lineAt(0)
    assert bubble.layout.lineCount() == 1
    assert line.naturalTextWidth() == pytest.approx(
        QFontMetricsF(qapp.font()).horizontalAdvance(text), abs=1
    )
    assert model.index(0).data() == text


@pytest.mark.parametrize(
    "text",
    [
        "مرحبا، كيف حالك اليوم؟ أتمنى أن تكون بخير وأن نلتقي غداً في المكتبة\nنعم",
        "שלום! מה שלומך היום? אני מקווה שנוכל להיפגש מחר בספרייה\nכן",  # noqa: RUF001
    ],
)
def test_right_to_left_text_lays_out_right_to_left(text: str) -> None:
    model = model_of([msg(1, text)])
    delegate = MessageDelegate()
    bubble = delegate.bubble(option_for(600, 0), model.index(0))
    assert bubble is not None
    assert bubble.layout.textOption().textDirection() == Qt.LayoutDirection.RightToLeft
    inner = bubble.size.width() - 2 * SIZES.bubble_padding_h
    lines = [bubble.layout.lineAt(n) for n in range(bubble.layout.lineCount())]
    assert len(lines) >= 2
    for line in lines:  # every line ends at the bubble's right edge
        assert line.x() + line.naturalTextWidth() == pytest.approx(inner, abs=1.5)
    assert lines[-1].x() > 0  # the short last line starts further right
    assert not bubble.meta_inline  # the time gets its own line, at the bottom right


def test_bubbles_take_at_most_70_percent_and_wrap() -> None:
    model = model_of([msg(1, LONG * 3), msg(2, "x" * 2000, "alice")])
    delegate = MessageDelegate()
    for row in (0, 1):
        bubble = delegate.bubble(option_for(700, 0), model.index(row))
        assert bubble is not None
        assert bubble.size.width() <= 0.7 * 700
        assert bubble.layout.lineCount() > 3


def test_a_one_line_estimate_is_exact_and_a_wrong_height_asks_for_a_relayout(
    qtbot: QtBot,
) -> None:
    model = model_of([msg(1, "short one"), msg(2, "mine", "alice")])
    delegate = MessageDelegate()
    emitted: list[QModelIndex] = []
    delegate.sizeHintChanged.connect(emitted.append)
    for row in (0, 1):
        hint = delegate.sizeHint(option_for(600, 0), model.index(row))
        assert delegate.layout_count == row  # a size hint alone lays nothing out
        image = QImage(600, hint.height(), QImage.Format.Format_ARGB32_Premultiplied)
        painter = QPainter(image)
        delegate.paint(painter, option_for(600, hint.height()), model.index(row))
        delegate.paint(painter, option_for(600, hint.height() + 7), model.index(row))
        painter.end()
        assert delegate.sizeHint(option_for(600, 0), model.index(row)) == hint
    assert len(emitted) == 2  # the two paints at a wrong height
    assert delegate.layout_count == 2


def bubble_pixel(image: QImage, own: bool) -> QColor:
    """A pixel inside the bubble, near its outer edge, half way down."""
    x = image.width() - SIZES.margin - 4 if own else SIZES.margin + 4
    return image.pixelColor(x, image.height() - SIZES.bubble_gap - 12)


@pytest.mark.parametrize("chosen", [LIGHT, DARK], ids=["light", "dark"])
def test_every_state_paints(
    chosen: theme.Theme, monkeypatch: pytest.MonkeyPatch, qapp: QApplication
) -> None:
    monkeypatch.setattr(theme, "_current", chosen)
    slot = Slot("skill1", "2025-03-20", "s1")
    variants = [
        {"text": "plain"},
        {"text": "edited", "edited_at": NOW},
        {"text": None, "type": MessageType.DELETED},
        {"text": "Maths, 1 h", "type": MessageType.BOOKING_PROPOSAL, "slot": slot},
        {"text": "Ann joined", "type": MessageType.SYSTEM},
        {"text": "🎉🙂 emoji 👍🏽", "read": True},
        {"text": "x", "timestamp": T0 + 2 * 86_400_000},  # a new day
    ]
    n = 0
    for fields, own, state, selected in itertools.product(
        variants, (False, True), (None, *DeliveryState), (False, True)
    ):
        n += 1
        message = msg(n, sender="alice" if own else "bob", **fields)  # type: ignore[arg-type]
        model = model_of([msg(0), message])
        if state is not None:
            model.set_delivery(message.id, state, "boom")
        delegate = MessageDelegate()
        image = paint_row(delegate, model.index(1), selected=selected)
        if message.type is not MessageType.SYSTEM and not selected:
            expected = chosen.own_bubble if own else chosen.other_bubble
            assert bubble_pixel(image, own) == QColor(expected), (fields, own)
    assert n == len(variants) * 2 * 5 * 2


def test_delivery_marks_are_drawn_not_typed() -> None:
    ink: dict[DeliveryState, int] = {}
    for state in DeliveryState:
        image = QImage(40, 24, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        draw_delivery(painter, QRectF(4, 4, 29, 20), state, QColor("#000000"), QColor("#FF0000"))
        painter.end()
        pixels = [image.pixelColor(x, y) for x in range(40) for y in range(24)]
        ink[state] = sum(p.alpha() > 128 for p in pixels)
        if state is DeliveryState.FAILED:
            assert any(p.red() > 200 and p.green() < 60 and p.alpha() > 200 for p in pixels)
    assert all(count > 10 for count in ink.values())
    assert ink[DeliveryState.READ] > ink[DeliveryState.SENT] * 1.5


# the conversation delegate -----------------------------------------------------------------
def conversation(n: int, **kw: object) -> ConversationEntry:
    fields: dict[str, object] = {
        "other_user_name": f"User {n}",
        "other_user_photo": None,
        "last_message": "see you tomorrow",
        "last_message_at": NOW - n * 60_000,
        "unread_count": 0,
        **kw,
    }
    return ConversationEntry(f"me_user{n}", f"user{n}", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("chosen", [LIGHT, DARK], ids=["light", "dark"])
def test_conversation_rows_paint_in_every_state(
    chosen: theme.Theme, monkeypatch: pytest.MonkeyPatch, qapp: QApplication
) -> None:
    monkeypatch.setattr(theme, "_current", chosen)
    model = ConversationListModel(now=lambda: NOW)
    names = ["Ann", "A very long name that will not fit in the row at all", "محمد علي"]
    model.load(
        [
            conversation(n, other_user_name=name, unread_count=unread, last_message=text)
            for n, (name, unread, text) in enumerate(
                itertools.product(names, (0, 5, 150), ("hi\nthere", LONG, None))
            )
        ]
    )
    model.set_presence("user1", True, None)
    model.set_typing("me_user2", "user2", True)
    delegate = ConversationDelegate(AvatarCache(), now=lambda: NOW)
    height = row_height(qapp.font())
    assert height >= SIZES.avatar + 2 * SIZES.row_padding
    for row, selected, hover in itertools.product(range(model.rowCount()), (0, 1), (0, 1)):
        option = option_for(320, height, bool(selected))
        if hover:
            option.state |= QStyle.StateFlag.State_MouseOver
        assert delegate.sizeHint(option, model.index(row)).height() == height
        image = QImage(320, height, QImage.Format.Format_ARGB32_Premultiplied)
        painter = QPainter(image)
        delegate.paint(painter, option, model.index(row))
        painter.end()
    model.loading = True  # skeleton rows
    image = QImage(320, height, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QColor(chosen.base))
    painter = QPainter(image)
    delegate.paint(painter, option_for(320, height), model.index(0))
    paint_empty(painter, QRect(0, 0, 320, height))
    painter.end()
    centre = image.pixelColor(SIZES.row_padding + SIZES.avatar // 2, height // 2)
    assert centre == QColor(chosen.skeleton)


def test_badge_text_caps_at_99() -> None:
    assert [badge_text(n) for n in (1, 99, 100, 12345)] == ["1", "99", "99+", "99+"]


# avatars -----------------------------------------------------------------------------------
def png(colour: str, size: int = 64) -> bytes:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(QColor(colour))
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data().data())


class Loader:
    def __init__(self, answers: dict[str, bytes | Exception]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        await asyncio.sleep(0)
        answer = self.answers[url]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_initials_are_cached_per_size_and_pixel_ratio(qapp: QApplication) -> None:
    cache = AvatarCache()
    first = cache.initials_pixmap("u1", "Ann Lee", 40, 2.0)
    assert first.cacheKey() == cache.initials_pixmap("u1", "Ann Lee", 40, 2.0).cacheKey()
    assert (first.width(), first.devicePixelRatio()) == (80, 2.0)
    assert cache.pixmap("u1", "Ann Lee", None, 40, 1.0).width() == 40
    assert not cache.request("u1", "http://x/a.png")  # no loader: initials only


def test_a_photo_arrives_once_and_is_round(qtbot: QtBot, qloop: asyncio.AbstractEventLoop) -> None:
    loader = Loader({"http://x/a.png": png("#00FF00")})
    cache = AvatarCache(loader)
    with qtbot.waitSignal(cache.avatarReady, timeout=5000) as ready:
        cache.pixmap("u1", "Ann", "http://x/a.png", 40, 1.0)
        cache.pixmap("u1", "Ann", "http://x/a.png", 40, 1.0)  # asked twice, loaded once
    assert ready.args == ["u1"]
    image = cache.pixmap("u1", "Ann", "http://x/a.png", 40, 1.0).toImage()
    assert image.pixelColor(20, 20) == QColor("#00FF00")
    assert image.pixelColor(0, 0).alpha() == 0  # a circle: the corners are clear
    assert loader.calls == ["http://x/a.png"]


@pytest.mark.parametrize("answer", [b"not an image at all", OSError("404")])
def test_a_broken_photo_falls_back_to_initials_once(
    answer: bytes | Exception, qtbot: QtBot, qloop: asyncio.AbstractEventLoop
) -> None:
    loader = Loader({"http://x/b.png": answer})
    cache = AvatarCache(loader)
    initials = cache.initials_pixmap("u2", "Bo", 40, 1.0)
    assert cache.pixmap("u2", "Bo", "http://x/b.png", 40, 1.0).cacheKey() == initials.cacheKey()
    qtbot.waitUntil(lambda: cache.failed("u2", "http://x/b.png"), timeout=5000)
    for _ in range(5):
        assert cache.pixmap("u2", "Bo", "http://x/b.png", 40, 1.0).cacheKey() == initials.cacheKey()
    qtbot.wait(20)
    assert loader.calls == ["http://x/b.png"]  # not retried
    cache.forget("u2")
    assert cache.request("u2", "http://x/b.png")  # unless asked to
    cache.close()


def test_lru_cache_is_bounded() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert "b" not in cache
    assert len(cache) == 2


# theme -------------------------------------------------------------------------------------
def test_themes_apply_and_follow_the_system(qapp: QApplication, restore_theme: None) -> None:
    assert apply_theme(qapp, DARK) is DARK
    assert theme.current_theme() is DARK
    assert qapp.palette().color(qapp.palette().ColorRole.Window) == QColor(DARK.window)
    watcher = ThemeWatcher(qapp)
    changes: list[theme.Theme] = []
    watcher.themeChanged.connect(changes.append)
    hints = QGuiApplication.styleHints()
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert changes[-1] is LIGHT
    assert theme.current_theme() is LIGHT
    watcher.deleteLater()
