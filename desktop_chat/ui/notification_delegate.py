"""Paints the bell, its badge and a notification row: a glyph per kind, title, body and time."""

from __future__ import annotations

import logging
import math

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from desktop_chat.core.model import Notification, NotificationKind
from desktop_chat.ui.formatting import one_line
from desktop_chat.ui.notification_model import NotificationRoles
from desktop_chat.ui.theme import SIZES, Theme, current_theme, scaled_font

__all__ = [
    "KIND_COLOURS",
    "NotificationDelegate",
    "draw_badge",
    "draw_bell",
    "draw_kind",
    "notification_row_height",
]

log = logging.getLogger("desktop_chat.ui")

_Index = QModelIndex | QPersistentModelIndex
ICON = 36
"""The kind's round icon in a row (logical pixels)."""
DOT = 8
_PAD = 10
_GAP = 12
_LINE_GAP = 3

KIND_COLOURS = {
    NotificationKind.MESSAGE: "#422AD5",
    NotificationKind.BOOKING_REQUEST: "#0277BD",
    NotificationKind.BOOKING_CONFIRMED: "#2E7D32",
    NotificationKind.REVIEW: "#B25E00",
    NotificationKind.PAYMENT: "#00796B",
    NotificationKind.SESSION_REMINDER: "#AD1457",
}
"""Each kind's icon background: white glyphs on them have a contrast of at least 4.5:1."""


def _unit(box: QRectF) -> QRectF:
    """The square glyph area centred in *box*."""
    side = min(box.width(), box.height())
    return QRectF(box.center().x() - side / 2, box.center().y() - side / 2, side, side)


def _at(box: QRectF, x: float, y: float) -> QPointF:
    return QPointF(box.left() + x * box.width(), box.top() + y * box.height())


def _glyph(kind: NotificationKind, g: QRectF) -> tuple[QPainterPath, QPainterPath]:
    """(filled, stroked) paths of *kind*'s glyph inside the square *g*."""
    fill, stroke = QPainterPath(), QPainterPath()
    w = g.width()
    if kind is NotificationKind.MESSAGE:  # a speech bubble
        fill.addRoundedRect(QRectF(_at(g, 0.08, 0.14), _at(g, 0.92, 0.72)), w * 0.16, w * 0.16)
        tail = QPainterPath(_at(g, 0.26, 0.66))
        tail.lineTo(_at(g, 0.2, 0.92))
        tail.lineTo(_at(g, 0.52, 0.7))
        fill = fill.united(tail)
    elif kind in (NotificationKind.BOOKING_REQUEST, NotificationKind.BOOKING_CONFIRMED):
        stroke.addRoundedRect(QRectF(_at(g, 0.1, 0.18), _at(g, 0.9, 0.9)), w * 0.1, w * 0.1)
        fill.addRect(QRectF(_at(g, 0.1, 0.18), _at(g, 0.9, 0.38)))
        for x in (0.32, 0.68):
            stroke.moveTo(_at(g, x, 0.06))
            stroke.lineTo(_at(g, x, 0.26))
        if kind is NotificationKind.BOOKING_CONFIRMED:  # a tick on the page
            stroke.moveTo(_at(g, 0.32, 0.64))
            stroke.lineTo(_at(g, 0.46, 0.77))
            stroke.lineTo(_at(g, 0.7, 0.52))
        else:  # a plus: asked for
            stroke.moveTo(_at(g, 0.5, 0.5))
            stroke.lineTo(_at(g, 0.5, 0.8))
            stroke.moveTo(_at(g, 0.35, 0.65))
            stroke.lineTo(_at(g, 0.65, 0.65))
    elif kind is NotificationKind.REVIEW:  # a five-pointed star
        centre, outer, inner = g.center(), w * 0.48, w * 0.2
        for n in range(10):
            radius = outer if n % 2 == 0 else inner
            angle = -math.pi / 2 + n * math.pi / 5
            point = centre + QPointF(radius * math.cos(angle), radius * math.sin(angle))
            if n == 0:
                fill.moveTo(point)
            else:
                fill.lineTo(point)
        fill.closeSubpath()
    elif kind is NotificationKind.PAYMENT:  # a card
        stroke.addRoundedRect(QRectF(_at(g, 0.04, 0.2), _at(g, 0.96, 0.82)), w * 0.1, w * 0.1)
        fill.addRect(QRectF(_at(g, 0.04, 0.34), _at(g, 0.96, 0.46)))
        stroke.moveTo(_at(g, 0.18, 0.66))
        stroke.lineTo(_at(g, 0.44, 0.66))
    else:  # a clock: the session is coming up
        stroke.addEllipse(g.center(), w * 0.42, w * 0.42)
        stroke.moveTo(g.center())
        stroke.lineTo(_at(g, 0.5, 0.24))
        stroke.moveTo(g.center())
        stroke.lineTo(_at(g, 0.7, 0.6))
    return fill, stroke


def draw_kind(painter: QPainter, box: QRectF, kind: NotificationKind) -> None:
    """*kind*'s round icon filling *box*: a white glyph on the kind's colour."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(KIND_COLOURS[kind]))
    painter.drawEllipse(box)
    glyph = _unit(box.adjusted(box.width() * 0.26, box.height() * 0.26, -box.width() * 0.26, 0))
    glyph.moveCenter(box.center())
    fill, stroke = _glyph(kind, glyph)
    white = QColor("#FFFFFF")
    painter.setBrush(white)
    painter.drawPath(fill)
    painter.setPen(_round_pen(white, max(1.4, glyph.width() * 0.09)))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawPath(stroke)
    painter.restore()


def _round_pen(colour: QColor, width: float) -> QPen:
    pen = QPen(colour, width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def draw_bell(painter: QPainter, box: QRectF, colour: QColor) -> None:
    """A bell outline filling the square *box*."""
    g = _unit(box)
    body = QPainterPath(_at(g, 0.16, 0.74))
    body.cubicTo(_at(g, 0.27, 0.62), _at(g, 0.25, 0.5), _at(g, 0.26, 0.42))
    body.cubicTo(_at(g, 0.28, 0.14), _at(g, 0.72, 0.14), _at(g, 0.74, 0.42))
    body.cubicTo(_at(g, 0.75, 0.5), _at(g, 0.73, 0.62), _at(g, 0.84, 0.74))
    body.closeSubpath()
    clapper = QPainterPath(_at(g, 0.4, 0.82))
    clapper.cubicTo(_at(g, 0.42, 0.95), _at(g, 0.58, 0.95), _at(g, 0.6, 0.82))
    body.moveTo(_at(g, 0.5, 0.08))
    body.lineTo(_at(g, 0.5, 0.16))
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(_round_pen(colour, max(1.6, g.width() * 0.085)))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawPath(body)
    painter.drawPath(clapper)
    painter.restore()


def draw_badge(painter: QPainter, top_right: QPointF, text: str, font: QFont, theme: Theme) -> None:
    """The unread count in a red pill whose top right corner is *top_right*."""
    if not text:
        return
    metrics = QFontMetrics(font)
    height = metrics.height() + 2
    width = max(height, metrics.horizontalAdvance(text) + 10)
    pill = QRectF(top_right.x() - width, top_right.y(), width, height)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor(theme.window), 2))  # a ring that parts it from the bell
    painter.setBrush(QColor("#D93025"))
    painter.drawRoundedRect(pill, height / 2, height / 2)
    painter.setPen(QColor("#FFFFFF"))
    painter.setFont(font)
    painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


def notification_row_height(font: QFont) -> int:
    """The one height of every row for *font* (uniform item sizes)."""
    title = QFontMetrics(scaled_font(font, 1.0, bold=True)).height()
    body = QFontMetrics(scaled_font(font, SIZES.small_font)).height()
    return max(ICON, title + _LINE_GAP + body) + 2 * _PAD


class NotificationDelegate(QStyledItemDelegate):
    """A row: the kind's icon, the title (bold while unread) over one line of the body, the
    relative time; unread rows are tinted and carry an accent dot."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return QSize(option.rect.width(), notification_row_height(option.font))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        item = index.data(NotificationRoles.Notification)
        if not isinstance(item, Notification):
            return
        theme = current_theme()
        rect = QRectF(option.rect)
        state = option.state
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        background = None
        if state & QStyle.StateFlag.State_Selected:
            background = theme.colour("selected")
        elif state & QStyle.StateFlag.State_MouseOver:
            background = theme.colour("hover")
        elif not item.read:
            background = theme.colour("accent")
            background.setAlpha(44 if theme.dark else 20)
        if background is not None:
            painter.fillRect(rect, background)
        if state & QStyle.StateFlag.State_HasFocus and state & QStyle.StateFlag.State_Selected:
            painter.setPen(QPen(theme.colour("accent_fg"), 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(1, 1, -1, -1))
        top = rect.top() + (rect.height() - ICON) / 2
        draw_kind(painter, QRectF(rect.left() + _PAD, top, ICON, ICON), item.kind)
        self._texts(painter, option, rect, item, str(index.data(NotificationRoles.Time) or ""))
        painter.restore()

    def _texts(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        rect: QRectF,
        item: Notification,
        when: str,
    ) -> None:
        theme = current_theme()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        title_font = scaled_font(option.font, 1.0, bold=not item.read)
        small = scaled_font(option.font, SIZES.small_font)
        left = rect.left() + _PAD + ICON + _GAP
        right = rect.right() - _PAD
        title_h = QFontMetrics(title_font).height()
        body_h = QFontMetrics(small).height()
        top = rect.top() + (rect.height() - title_h - _LINE_GAP - body_h) / 2
        painter.setFont(small)
        painter.setPen(theme.colour("accent_fg" if not item.read else "secondary"))
        when_w = QFontMetrics(small).horizontalAdvance(when) + 4
        painter.drawText(
            QRectF(right - when_w, top, when_w, title_h),
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
            when,
        )
        if not item.read:  # the unread dot, under the time
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.colour("accent_fg"))
            centre = QPointF(right - DOT / 2 - 2, top + title_h + _LINE_GAP + body_h / 2)
            painter.drawEllipse(centre, DOT / 2, DOT / 2)
        text_colour = theme.colour("selected_text" if selected else "text")
        for font, colour, text, y, height, width in (
            (title_font, text_colour, item.title, top, title_h, right - when_w - 6 - left),
            (small, theme.colour("secondary"), one_line(item.body), top + title_h + _LINE_GAP,
             body_h, right - DOT - 10 - left),
        ):  # fmt: skip
            painter.setFont(font)
            painter.setPen(colour)
            elided = QFontMetrics(font).elidedText(text, Qt.TextElideMode.ElideRight, int(width))
            flags = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
            painter.drawText(QRectF(left, y, max(0.0, width), height), int(flags), elided)
