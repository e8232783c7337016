"""Paints a conversation list row: avatar, online dot, name, preview, time and unread badge."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from desktop_chat.core.model import ConversationEntry
from desktop_chat.ui.avatars import AvatarCache
from desktop_chat.ui.conversation_model import Roles
from desktop_chat.ui.formatting import now_ms, one_line, relative_time
from desktop_chat.ui.theme import SIZES, Theme, current_theme, scaled_font

__all__ = ["ConversationDelegate", "badge_text", "paint_empty", "paint_skeleton", "row_height"]

log = logging.getLogger("desktop_chat.ui")

_Index = QModelIndex | QPersistentModelIndex
_S = SIZES
_LINE_GAP = 3


def badge_text(unread: int) -> str:
    """The unread badge's words: the count, capped at "99+"."""
    return "99+" if unread > 99 else str(unread)


def row_height(font: QFont) -> int:
    """The one height of every row for *font* (so the view can use uniform item sizes)."""
    name = QFontMetrics(scaled_font(font, 1.0, bold=True)).height()
    preview = QFontMetrics(font).height()
    text = name + _LINE_GAP + preview
    return max(_S.avatar, text) + 2 * _S.row_padding


def paint_empty(painter: QPainter, rect: QRect, text: str = "No conversations yet") -> None:
    """What an empty list shows (call from the view's paintEvent when the model has no rows)."""
    theme = current_theme()
    painter.save()
    painter.setPen(QColor(theme.secondary))
    margin = _S.margin * 2
    area = QRectF(rect).adjusted(margin, margin, -margin, -margin)
    flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
    painter.drawText(area, int(flags), text)
    painter.restore()


def paint_skeleton(painter: QPainter, rect: QRect, theme: Theme, row: int = 0) -> None:
    """A grey placeholder row: a circle and two bars (their lengths vary by *row*)."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(theme.skeleton))
    left = rect.left() + _S.row_padding
    top = rect.center().y() - _S.avatar / 2
    painter.drawEllipse(QRectF(left, top, _S.avatar, _S.avatar))
    text_left = left + _S.avatar + _S.row_spacing
    room = max(0, rect.right() - _S.row_padding - text_left)
    bar = max(6.0, _S.avatar / 4)
    widths = (0.45 + 0.15 * (row % 3), 0.75 - 0.1 * (row % 2))
    for line, fraction in enumerate(widths):
        y = top + 4 + line * (bar + 8)
        painter.drawRoundedRect(QRectF(text_left, y, room * fraction, bar), bar / 2, bar / 2)
    painter.restore()


class ConversationDelegate(QStyledItemDelegate):
    """Paints ``ConversationListModel`` rows; every row has one height (so use
    ``setUniformItemSizes(True)``). Give it the view as parent so arriving photos repaint it."""

    def __init__(
        self,
        avatars: AvatarCache,
        parent: QObject | None = None,
        *,
        now: Callable[[], int] = now_ms,
    ) -> None:
        super().__init__(parent)
        self._avatars = avatars
        self._now = now
        self._height: tuple[QFont, int] | None = None
        avatars.avatarReady.connect(self._avatar_ready)

    def _avatar_ready(self, _uid: str) -> None:
        view = self.parent()
        if isinstance(view, QAbstractItemView):
            view.viewport().update()

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        if self._height is None or self._height[0] != option.font:
            self._height = (QFont(option.font), row_height(option.font))
        width = option.rect.width() if option.rect.width() > 0 else 280
        return QSize(width, self._height[1])

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        theme = current_theme()
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        hover = QStyle.StateFlag.State_MouseOver | QStyle.StateFlag.State_Selected
        if option.state & hover == QStyle.StateFlag.State_MouseOver:  # Fusion draws no hover
            painter.fillRect(option.rect, QColor(theme.hover))
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter, widget)
        entry = index.data(Roles.Entry)
        if not isinstance(entry, ConversationEntry):
            paint_skeleton(painter, option.rect, theme, index.row())
            return
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        rect = option.rect
        left = rect.left() + _S.row_padding
        avatar_top = rect.top() + (rect.height() - _S.avatar) // 2
        self._paint_avatar(painter, entry, left, avatar_top, theme, selected, index)
        text_left = left + _S.avatar + _S.row_spacing
        right = rect.right() - _S.row_padding
        self._paint_text(
            painter,
            option,
            index,
            entry,
            QRect(text_left, rect.top(), max(0, right - text_left), rect.height()),
            theme,
            selected,
        )
        painter.restore()

    def _paint_avatar(
        self,
        painter: QPainter,
        entry: ConversationEntry,
        left: int,
        top: int,
        theme: Theme,
        selected: bool,
        index: _Index,
    ) -> None:
        dpr = painter.device().devicePixelRatioF() if painter.device() is not None else 1.0
        pixmap = self._avatars.pixmap(
            entry.other_user_id, entry.other_user_name, entry.other_user_photo, _S.avatar, dpr
        )
        painter.drawPixmap(left, top, pixmap)
        if not index.data(Roles.Online):
            return
        dot = _S.online_dot
        ring = QColor(theme.accent if selected else theme.base)
        x, y = left + _S.avatar - dot + 1, top + _S.avatar - dot + 1
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(ring)
        painter.drawEllipse(QRectF(x - 2, y - 2, dot + 4, dot + 4))
        painter.setBrush(QColor(theme.online))
        painter.drawEllipse(QRectF(x, y, dot, dot))

    def _paint_text(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: _Index,
        entry: ConversationEntry,
        area: QRect,
        theme: Theme,
        selected: bool,
    ) -> None:
        name_font = scaled_font(option.font, 1.0, bold=True)
        small = scaled_font(option.font, _S.small_font)
        name_fm, fm, small_fm = (
            QFontMetrics(name_font),
            QFontMetrics(option.font),
            QFontMetrics(small),
        )
        top = area.center().y() - (name_fm.height() + _LINE_GAP + fm.height()) / 2
        on_accent = QColor(theme.accent_text)
        text = on_accent if selected else QColor(theme.text)
        secondary = QColor(theme.own_secondary) if selected else QColor(theme.secondary)
        # top line: name ... time
        when = ""
        if entry.last_message_at is not None:
            when = relative_time(entry.last_message_at, self._now())
        when_w = small_fm.horizontalAdvance(when)
        painter.setFont(small)
        painter.setPen(secondary)
        name_h = name_fm.height()
        time_rect = QRectF(area.right() - when_w, top, when_w + 1, name_h)
        painter.drawText(
            time_rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), when
        )
        name_room = max(0, area.width() - when_w - (_S.row_spacing if when else 0))
        name = name_fm.elidedText(index.data() or "", Qt.TextElideMode.ElideRight, name_room)
        painter.setFont(name_font)
        painter.setPen(text)
        flags = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        painter.drawText(QRectF(area.left(), top, name_room, name_h), flags, name)
        # bottom line: preview ... badge
        y = top + name_h + _LINE_GAP
        room = area.width()
        if entry.unread_count > 0:
            label = badge_text(entry.unread_count)
            h = _S.badge_height
            w = max(h, small_fm.horizontalAdvance(label) + 12)
            badge = QRectF(area.right() - w + 1, y + (fm.height() - h) / 2, w, h)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(on_accent if selected else QColor(theme.accent))
            painter.drawRoundedRect(badge, h / 2, h / 2)
            painter.setFont(small)
            painter.setPen(QColor(theme.accent) if selected else on_accent)
            painter.drawText(badge, int(Qt.AlignmentFlag.AlignCenter), label)
            room -= math.ceil(w) + _S.row_spacing
        typing = bool(index.data(Roles.Typing))
        preview = "typing…" if typing else one_line(entry.last_message)
        painter.setFont(option.font)
        if typing:
            painter.setPen(on_accent if selected else QColor(theme.accent_fg))
        else:
            painter.setPen(secondary)
        elided = fm.elidedText(preview, Qt.TextElideMode.ElideRight, max(0, room))
        painter.drawText(QRectF(area.left(), y, max(0, room), fm.height()), flags, elided)
