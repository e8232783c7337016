"""Screenshots of the conversation list and the chat history (light and dark) under build/."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QBuffer, QIODevice, QPoint, Qt
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter
from PySide6.QtWidgets import QApplication, QListView, QWidget
from pytestqt.qtbot import QtBot

from desktop_chat.core.model import ConversationEntry, DeliveryState, Message, MessageType, Slot
from desktop_chat.ui import theme
from desktop_chat.ui.avatars import AvatarCache
from desktop_chat.ui.conversation_delegate import ConversationDelegate, paint_empty
from desktop_chat.ui.conversation_model import ConversationListModel
from desktop_chat.ui.history_view import HistoryView
from desktop_chat.ui.message_delegate import MessageDelegate
from desktop_chat.ui.message_model import MessageListModel
from desktop_chat.ui.theme import DARK, LIGHT, apply_theme

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
THEMES = {"light": LIGHT, "dark": DARK}
NOW = int(datetime(2025, 3, 14, 16, 30).timestamp() * 1000)
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
CID = "alice_bob"


@pytest.fixture
def themed(qapp: QApplication) -> Iterator[None]:
    """Whatever theme a test applies is undone afterwards."""
    style, palette, sheet = qapp.style().name(), qapp.palette(), qapp.styleSheet()
    chosen = theme.current_theme()
    yield
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)
    theme._current = chosen


def shoot(qtbot: QtBot, widget: QWidget, name: str) -> Path:
    qtbot.wait(150)  # let delayed layouts and repaints run
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    assert widget.grab().save(str(path))
    assert path.stat().st_size > 1_000
    return path


def shoot_2x(widget: QWidget, name: str) -> Path:
    """*widget* rendered at device pixel ratio 2 (a high-DPI screen): avatars and text sharp."""
    image = QImage(widget.size() * 2, QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(2)
    image.fill(QColor(theme.current_theme().base))
    widget.render(image)
    path = SHOTS / f"{name}.png"
    assert image.save(str(path))
    return path


def photo() -> bytes:
    image = QImage(96, 96, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    gradient = QLinearGradient(0, 0, 96, 96)
    gradient.setColorAt(0, QColor("#FF9A3C"))
    gradient.setColorAt(1, QColor("#2B8CFF"))
    painter.fillRect(image.rect(), gradient)
    painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data().data())


async def load_photo(url: str) -> bytes:
    await asyncio.sleep(0)
    if url.endswith("broken.png"):
        return b"<html>not found</html>"
    return photo()


def entries() -> list[ConversationEntry]:
    rows = [
        ("u1", "Ann Lee", "https://x/ann.png", "See you at the library at 5?", 2 * MIN, 2),
        ("u2", "Bogdan Petrov", None, "typing shows instead of this", 40 * MIN, 0),
        ("u3", "محمد علي", None, "مرحبا، هل أنت متاح غداً؟", 3 * HOUR, 1),
        ("u4", "Noa Levi", None, "שלום! תודה על השיעור 🙏", DAY, 0),
        (
            "u5",
            "Maximilian Alexander von Humboldt-Wittgenstein",
            "https://x/broken.png",
            "A very long last message that cannot possibly fit in the row and must be elided "
            "with an ellipsis at its end",
            3 * DAY,
            150,
        ),
        ("u6", "🦊 Fox Studio", None, "🎉🎉 Booked! <b>not bold</b>", 9 * DAY, 12),
        ("u7", "zoe", None, None, 400 * DAY, 0),
    ]
    return [
        ConversationEntry(f"me_{uid}", uid, name, url, text, NOW - ago, unread)
        for uid, name, url, text, ago, unread in rows
    ]


@pytest.mark.parametrize("name", ["light", "dark"])
def test_conversation_list(
    name: str, qtbot: QtBot, qloop: asyncio.AbstractEventLoop, themed: None
) -> None:
    apply_theme(QApplication.instance(), THEMES[name])  # type: ignore[arg-type]
    model = ConversationListModel(now=lambda: NOW)
    model.load(entries())
    model.set_presence("u1", True, None)
    model.set_presence("u3", True, None)
    model.set_typing("me_u2", "u2", True)
    view = QListView()
    qtbot.addWidget(view)
    avatars = AvatarCache(load_photo, parent=view)
    view.setItemDelegate(ConversationDelegate(avatars, view, now=lambda: NOW))
    view.setUniformItemSizes(True)
    view.setModel(model)
    view.resize(340, 560)
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: avatars.has_photo("u1", "https://x/ann.png"), timeout=5000)
    qtbot.waitUntil(lambda: avatars.failed("u5", "https://x/broken.png"), timeout=5000)
    view.setCurrentIndex(model.index(2))
    view.viewport().update()
    shoot(qtbot, view, f"conversations-{name}")
    shoot_2x(view, f"conversations-{name}@2x")
    model.loading = True
    shoot(qtbot, view, f"conversations-loading-{name}")


class EmptyList(QListView):
    def paintEvent(self, event: object) -> None:  # type: ignore[override]
        super().paintEvent(event)  # type: ignore[arg-type]
        if self.model() is None or self.model().rowCount() == 0:
            painter = QPainter(self.viewport())
            paint_empty(painter, self.viewport().rect())
            painter.end()


def test_empty_conversation_list(qtbot: QtBot, themed: None) -> None:
    apply_theme(QApplication.instance(), DARK)  # type: ignore[arg-type]
    view = EmptyList()
    qtbot.addWidget(view)
    model = ConversationListModel()
    model.load([])
    view.setModel(model)
    view.resize(340, 240)
    view.show()
    qtbot.waitExposed(view)
    shoot(qtbot, view, "conversations-empty-dark")


def history() -> tuple[list[Message], dict[str, tuple[DeliveryState, str | None]]]:
    day0 = int(datetime(2025, 3, 10, 9, 12).timestamp() * 1000)
    yesterday = int(datetime(2025, 3, 13, 18, 40).timestamp() * 1000)
    today = int(datetime(2025, 3, 14, 9, 5).timestamp() * 1000)
    slot = Slot("skill1", "2025-03-20", "slot1")
    rows: list[tuple[int, str, str | None, MessageType, dict[str, object]]] = [
        (day0, "bob", "Ann joined the conversation", MessageType.SYSTEM, {}),
        (day0 + MIN, "bob", "Hi! I saw your Python tutoring offer 🐍", MessageType.TEXT, {}),
        (
            day0 + 2 * MIN,
            "alice",
            "Hello Bob, yes, I still have slots this week.",
            MessageType.TEXT,
            {"read": True},
        ),
        (
            day0 + 3 * MIN,
            "alice",
            "Maths tutoring, 1 hour",
            MessageType.BOOKING_PROPOSAL,
            {"read": True, "slot": slot},
        ),
        (
            yesterday,
            "bob",
            "Could we go over recursion? I read the chapter twice, but the part about the call "
            "stack and how each call keeps its own variables still confuses me quite a lot, "
            "especially with the Fibonacci example.\nAlso: is the library OK?",
            MessageType.TEXT,
            {},
        ),
        (
            yesterday + MIN,
            "alice",
            "<b>Sure</b> — <i>this is not bold</i> &amp; that's fine",
            MessageType.TEXT,
            {"read": True, "edited_at": yesterday + 5 * MIN},
        ),
        (yesterday + 2 * MIN, "bob", None, MessageType.DELETED, {}),
        (today, "bob", "مرحبا! هل يمكننا أن نلتقي غداً في المكتبة بعد الظهر؟", MessageType.TEXT, {}),
        (
            today + MIN,
            "alice",
            "שלום, בטח. נתראה מחר בשעה חמש ליד הכניסה הראשית",
            MessageType.TEXT,
            {"read": True},
        ),
        (today + 2 * MIN, "alice", "🎉🙂👍🏽", MessageType.TEXT, {}),
        (today + 3 * MIN, "alice", "pending: still in the outbox", MessageType.TEXT, {}),
        (today + 4 * MIN, "alice", "failed: the server said no", MessageType.TEXT, {}),
        (today + 5 * MIN, "alice", "sent, not read yet", MessageType.TEXT, {}),
        (today + 6 * MIN, "bob", "ok", MessageType.TEXT, {}),
    ]
    messages = []
    for n, (at, sender, text, kind, extra) in enumerate(rows):
        receiver = "bob" if sender == "alice" else "alice"
        read = bool(extra.pop("read", False))
        messages.append(
            Message(f"m{n:03d}", CID, sender, receiver, text, at, read, kind, **extra)  # type: ignore[arg-type]
        )
    states = {
        "m010": (DeliveryState.PENDING, None),
        "m011": (DeliveryState.FAILED, "permission denied"),
        "m012": (DeliveryState.SENT, None),
    }
    return messages, states


@pytest.mark.parametrize(("name", "width"), [("light", 460), ("dark", 460), ("dark-wide", 760)])
def test_message_history(name: str, width: int, qtbot: QtBot, themed: None) -> None:
    apply_theme(QApplication.instance(), THEMES[name.split("-", maxsplit=1)[0]])  # type: ignore[arg-type]
    messages, states = history()
    model = MessageListModel("alice", now=lambda: NOW)
    model.reset_to(CID, messages)
    for mid, (state, error) in states.items():
        model.set_delivery(mid, state, error)
    view = QListView()
    qtbot.addWidget(view)
    view.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    delegate = MessageDelegate(view)
    view.setItemDelegate(delegate)
    view.setModel(model)
    view.resize(width, 1400)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(150)
    view.scrollToTop()
    shoot(qtbot, view, f"messages-{name}")
    if name == "light":
        shoot_2x(view, "messages-light@2x")
    # every row is on screen, and rows neither overlap nor leave gaps
    rects = [view.visualRect(model.index(row)) for row in range(model.rowCount())]
    assert rects[-1].bottom() < view.viewport().height()
    for above, below in itertools.pairwise(rects):
        assert below.top() == above.bottom() + 1
    assert view.indexAt(QPoint(5, rects[-1].center().y())).row() == model.rowCount() - 1


LINK_TEXTS = [
    ("bob", "The course page is https://example.com/python/recursion (chapter 4)."),
    ("alice", "Thanks! Slides: www.example.org/slides?week=3, questions to ann.lee@example.com"),
    ("bob", '<a href="https://evil.example">https://good.example</a> stays <b>text</b>'),
    ("alice", "🎉🎉 https://example.com/🐍-tips"),
    ("bob", "שלום! הקישור: https://example.co.il/lesson תודה"),
]


@pytest.mark.parametrize("name", ["light", "dark"])
def test_links_in_the_history(name: str, qtbot: QtBot, themed: None) -> None:
    apply_theme(QApplication.instance(), THEMES[name])  # type: ignore[arg-type]
    model = MessageListModel("alice", now=lambda: NOW)
    at = int(datetime(2025, 3, 14, 10, 0).timestamp() * 1000)
    model.reset_to(
        CID,
        [
            Message(
                f"l{n}",
                CID,
                who,
                "bob" if who == "alice" else "alice",
                text,
                at + n * MIN,
                n != 1,
                MessageType.TEXT,
            )
            for n, (who, text) in enumerate(LINK_TEXTS)
        ],
    )
    view = HistoryView(model, open_url=lambda _url: None)
    qtbot.addWidget(view)
    view.setItemDelegate(MessageDelegate(view))
    view.resize(460, 420)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(150)
    view.scrollToTop()
    shoot(qtbot, view, f"messages-links-{name}")
    if name == "light":
        shoot_2x(view, "messages-links-light@2x")
