"""Chat bubbles: plain text laid out with QTextLayout, cached, painted only when visible."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRectF,
    QSize,
    Qt,
    SignalInstance,
)
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QAbstractScrollArea, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from desktop_chat.core.booking import CardState
from desktop_chat.core.links import Link
from desktop_chat.core.model import DeliveryState, Message, MessageType
from desktop_chat.ui.avatars import LruCache
from desktop_chat.ui.booking_card import CardLine, card_height, card_width, draw_card_line, is_card
from desktop_chat.ui.bubble_layout import (
    Bubble,
    Fonts,
    bubble_links,
    link_colour,
    link_formats,
    link_under,
    text_layout,
)
from desktop_chat.ui.formatting import bubble_header, bubble_meta, bubble_text, is_rtl
from desktop_chat.ui.message_model import MessageListModel, MessageRoles, RowData
from desktop_chat.ui.theme import (
    SIZES,
    Theme,
    current_theme,
    draw_delivery,
    draw_pill,
    rounded_path,
)

__all__ = ["MessageDelegate"]

log = logging.getLogger("desktop_chat.ui")

_Index = QModelIndex | QPersistentModelIndex
_S = SIZES
_FALLBACK_WIDTH = 480


class MessageDelegate(QStyledItemDelegate):
    """Paints a :class:`MessageListModel` row: day separator, bubble, text, time, ticks.

    Layouts are cached by message id for one (width, version) in a bounded LRU. ``sizeHint``
    never lays text out: a row never painted gets an estimate from font metrics (exact for a
    one-line message); painting lays it out, and if the height differs the view is told with
    ``sizeHintChanged``, as it is when the available width changes. Links in the text are
    underlined in the theme's link colour (:meth:`link_at` finds the one under the mouse)."""

    def __init__(self, parent: QObject | None = None, *, capacity: int = 400) -> None:
        super().__init__(parent)
        self.layout_count = 0
        """QTextLayouts made so far (tests count them)."""
        self._layouts: LruCache[str, Bubble] = LruCache(capacity)
        # (width, version, bubble height) last given to the view, for every row it sized:
        # as many as the model has rows (dropped with them), so one layout pass fits.
        self._sizes: dict[str, tuple[int, int, int]] = {}
        self._fonts: Fonts | None = None
        self._model: QAbstractItemModel | None = None
        self._painted_width = -1  # the row width of the last paint
        self.cards: Callable[[Message], CardLine] | None = None
        """A booking card's live state line (ui/booking_card.py); None: "Loading…"."""
        self._width_of = (-1, _FALLBACK_WIDTH)  # (view width, row width) last computed

    # the cache ---------------------------------------------------------------------------
    def invalidate(self, mid: str) -> None:
        """Forget message *mid*'s layout and size (it changed or went away)."""
        self._layouts.pop(mid)
        self._sizes.pop(mid, None)

    def clear(self) -> None:
        self._layouts.clear()
        self._sizes.clear()

    def _watch(self, model: QAbstractItemModel) -> None:
        """Follow *model*: its resets, removals and changes drop their cache entries."""
        for signal, slot in self._connections(self._model):
            with contextlib.suppress(RuntimeError):  # the old model may be gone
                signal.disconnect(slot)
        self._model = model
        self.clear()
        for signal, slot in self._connections(model):
            signal.connect(slot)

    def _connections(
        self, model: QAbstractItemModel | None
    ) -> list[tuple[SignalInstance, Callable[..., None]]]:
        if not isinstance(model, MessageListModel):
            return []
        return [
            (model.modelAboutToBeReset, self.clear),
            (model.rowsAboutToBeRemoved, self._rows_removed),
            (model.dataChanged, self._data_changed),
        ]

    def _rows_removed(self, _parent: QModelIndex, first: int, last: int) -> None:
        model = self._model
        if isinstance(model, MessageListModel):
            for row in range(first, last + 1):
                message = model.message(row)
                if message is not None:
                    self.invalidate(message.id)

    def _data_changed(self, top: QModelIndex, bottom: QModelIndex, roles: list[int]) -> None:
        if roles and int(MessageRoles.Version) not in roles and 0 not in roles:
            return  # ticks or separators: the text layout stays valid
        self._rows_removed(QModelIndex(), top.row(), bottom.row())

    # geometry ----------------------------------------------------------------------------
    def _fonts_for(self, font: QFont) -> Fonts:
        if self._fonts is None or self._fonts.base != font:
            self._fonts = Fonts(font)
            self.clear()
        return self._fonts

    def _width(self, option: QStyleOptionViewItem) -> int:
        """The row width to lay out for: the viewport's, as if its scroll bar were shown (so
        the scroll bar coming and going does not change every height)."""
        view = option.widget
        if not isinstance(view, QAbstractScrollArea):
            return option.rect.width() if option.rect.width() > 0 else _FALLBACK_WIDTH
        outer = view.width()
        if self._width_of[0] == outer:
            return self._width_of[1]
        bar = view.verticalScrollBar()
        width = view.viewport().width()
        if not bar.isVisible():
            width -= view.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, view)
        self._width_of = (outer, max(1, width))
        return self._width_of[1]

    @staticmethod
    def _limits(width: int) -> tuple[int, int]:
        """(widest bubble, widest text) for a row *width*: at most 70 % of it."""
        bubble = min(int(width * _S.bubble_max_fraction), width - 2 * _S.margin)
        return bubble, max(24, bubble - 2 * _S.bubble_padding_h)

    @staticmethod
    def _meta_width(fonts: Fonts, message: Message, own: bool) -> float:
        return fonts.meta_w[own, message.edited_at is not None and not message.deleted]

    def _lay_out(self, fonts: Fonts, row: RowData, width: int) -> Bubble:
        message, own = row.message, row.own
        system = message.type is MessageType.SYSTEM
        text = bubble_text(message)
        _, max_text = self._limits(width)
        font = fonts.italic if message.deleted or system else fonts.base
        links = () if message.deleted or system else bubble_links(text)
        theme = current_theme() if links else None
        formats = link_formats(links, link_colour(theme, own)) if theme is not None else []
        rtl = is_rtl(text)
        layout, lines, y = text_layout(
            text, fonts.small if system else font, max_text, rtl=rtl, formats=formats
        )
        self.layout_count += 1
        widest = max((line.naturalTextWidth() for line in lines), default=0.0)
        header = bubble_header(message)
        if header:
            widest = max(widest, fonts.header_fm.horizontalAdvance(header))
        meta_w = 0.0 if system else self._meta_width(fonts, message, own)
        last_w = lines[-1].naturalTextWidth() if lines else 0.0
        card = is_card(message)
        if card:
            widest = max(widest, min(card_width(fonts), max_text))
        fits = last_w + _S.meta_gap + meta_w <= max_text
        inline = not system and not rtl and not card and fits
        inner_w = max(widest, last_w + _S.meta_gap + meta_w) if inline else max(widest, meta_w)
        inner_w = min(math.ceil(inner_w), max_text)
        for line in lines:  # right-to-left lines hug the right edge; system lines centre
            free = inner_w - line.naturalTextWidth()
            offset = free / 2 if system else free if rtl else 0.0
            line.setPosition(QPointF(max(0.0, offset), line.y()))
        height = self._bubble_height(fonts, header, y, inline or system, card)
        size = QSize(inner_w + 2 * _S.bubble_padding_h, height)
        return Bubble(width, row.version, layout, header, inline, size, links, theme)

    @staticmethod
    def _bubble_height(
        fonts: Fonts, header: str, text_h: float, inline: bool, card: bool = False
    ) -> int:
        header_h = fonts.header_height(header) + (card_height(fonts) if card else 0.0)
        meta_h = 0.0 if inline else fonts.small_fm.height()
        return math.ceil(header_h + text_h + meta_h + 2 * _S.bubble_padding_v)

    def _estimate(self, fonts: Fonts, row: RowData, width: int) -> int:
        """The bubble height without laying out: exact for one-line messages."""
        message = row.message
        system = message.type is MessageType.SYSTEM
        fm = fonts.small_fm if system else fonts.fm
        _, max_text = self._limits(width)
        text = message.text or "" if not message.deleted else "message deleted"
        meta_w = self._meta_width(fonts, message, row.own)
        lines, last_w = 0, 0.0
        for paragraph in text.replace("\r\n", "\n").split("\n"):
            if len(paragraph) * fonts.char_w + _S.meta_gap + meta_w <= max_text:
                advance = len(paragraph) * fonts.char_w  # short: one line, whatever its width
            else:
                advance = fm.horizontalAdvance(paragraph)
            count = max(1, math.ceil(advance / max_text))
            lines += count
            last_w = advance - (count - 1) * max_text
        card = is_card(message)
        fits = not card and last_w + _S.meta_gap + meta_w <= max_text
        inline = system or (not is_rtl(text) and fits)
        header = bubble_header(message)
        return self._bubble_height(fonts, header, lines * fm.height(), inline, card)

    def _row(self, index: _Index) -> RowData | None:
        """What *index* shows (the delegate paints a :class:`MessageListModel`, no proxy)."""
        model = index.model()
        if model is not self._model:
            self._watch(model)
        if not isinstance(model, MessageListModel):
            return None
        try:
            return model.row_data(index.row())
        except IndexError:
            return None

    def _row_height(self, fonts: Fonts, day_break: object, bubble_h: int) -> int:
        return bubble_h + 2 * _S.bubble_gap + (fonts.day_h if day_break else 0)

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        # The view asks this of every row on every layout pass: keep the common path short.
        model = index.model()
        if model is not self._model:
            self._watch(model)
        fonts = self._fonts_for(option.font)
        width = self._width(option)
        if isinstance(model, MessageListModel):
            try:
                mid, version, day_break = model.size_key(index.row())
            except IndexError:
                return QSize(0, 0)
            known = self._sizes.get(mid)
            if known is not None and known[0] == width and known[1] == version:
                return QSize(width, self._row_height(fonts, day_break, known[2]))
        row = self._row(index)
        if row is None:
            return QSize(0, 0)
        mid, version = row.message.id, row.version
        bubble = self._layouts.get(mid)
        if bubble is not None and bubble.width == width and bubble.version == version:
            height = bubble.size.height()
        else:
            height = self._estimate(fonts, row, width)
        self._sizes[mid] = (width, version, height)
        return QSize(width, self._row_height(fonts, row.day_break, height))

    def bubble(self, option: QStyleOptionViewItem, index: _Index) -> Bubble | None:  # tests
        """The laid-out bubble of *index* at *option*'s width (laid out now if needed)."""
        row = self._row(index)
        if row is None:
            return None
        return self._bubble(self._fonts_for(option.font), row, self._width(option))

    def _bubble(self, fonts: Fonts, row: RowData, width: int) -> Bubble:
        mid = row.message.id
        bubble = self._layouts.get(mid)
        if (
            bubble is None
            or bubble.width != width
            or bubble.version != row.version
            or (bubble.theme is not None and bubble.theme is not current_theme())
        ):  # links keep their theme's colour in the layout: another theme lays out again
            bubble = self._lay_out(fonts, row, width)
            self._layouts.put(mid, bubble)
        return bubble

    # painting ----------------------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        row = self._row(index)
        if row is None:
            return
        fonts = self._fonts_for(option.font)
        width = self._width(option)
        bubble = self._bubble(fonts, row, width)
        self._sizes[row.message.id] = (width, row.version, bubble.size.height())
        height = self._row_height(fonts, row.day_break, bubble.size.height())
        if option.rect.height() != height or self._painted_width not in (-1, width):
            # The view placed this row with an estimate, or for another width: re-place
            # (the view lays out again once, after this paint).
            self.sizeHintChanged.emit(index)
        self._painted_width = width
        theme = current_theme()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        rect = QRectF(option.rect)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(rect, QColor(theme.selected))
        if row.day_break:
            centre = QPointF(rect.center().x(), rect.top() + _S.bubble_gap + _S.separator_margin)
            draw_pill(painter, centre, row.day_break, fonts.small, theme)
        self._paint_bubble(painter, fonts, theme, self._box(fonts, rect, row, bubble), row, bubble)
        painter.restore()

    @staticmethod
    def _box(fonts: Fonts, rect: QRectF, row: RowData, bubble: Bubble) -> QRectF:
        """Where *row*'s bubble goes in the row's *rect* (painting and hit testing agree)."""
        top = rect.top() + _S.bubble_gap + (fonts.day_h if row.day_break else 0)
        size = bubble.size
        if row.message.type is MessageType.SYSTEM:
            left = rect.center().x() - size.width() / 2
        elif row.own:
            left = rect.right() + 1 - _S.margin - size.width()
        else:
            left = rect.left() + _S.margin
        return QRectF(left, top, size.width(), size.height())

    def link_at(
        self, option: QStyleOptionViewItem, index: _Index, pos: QPoint | QPointF
    ) -> Link | None:
        """The link painted at *pos* (the coordinates of ``option.rect``, the row's rect) in
        row *index*; its offsets are UTF-16 ones of the row's laid-out text."""
        row = self._row(index)
        if row is None:
            return None
        fonts = self._fonts_for(option.font)
        bubble = self._bubble(fonts, row, self._width(option))
        if not bubble.links:
            return None
        box = self._box(fonts, QRectF(option.rect), row, bubble)
        x = box.left() + _S.bubble_padding_h
        y = box.top() + _S.bubble_padding_v + fonts.header_height(bubble.header)
        return link_under(bubble, QPointF(pos) - QPointF(x, y))

    def _paint_bubble(
        self,
        painter: QPainter,
        fonts: Fonts,
        theme: Theme,
        box: QRectF,
        row: RowData,
        bubble: Bubble,
    ) -> None:
        message, own = row.message, row.own
        system = message.type is MessageType.SYSTEM
        fill = theme.separator if system else theme.own_bubble if own else theme.other_bubble
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(fill))
        tail = "" if system else "right" if own else "left"
        painter.drawPath(rounded_path(box, _S.bubble_radius, tail))
        text_colour = QColor(theme.own_text if own else theme.other_text)
        secondary = QColor(theme.own_secondary if own else theme.other_secondary)
        x, y = box.left() + _S.bubble_padding_h, box.top() + _S.bubble_padding_v
        if bubble.header:
            painter.setFont(fonts.header)
            painter.setPen(text_colour)
            painter.drawText(QPointF(x, y + fonts.header_fm.ascent()), bubble.header)
            y += fonts.header_height(bubble.header)
        painter.setPen(secondary if message.deleted or system else text_colour)
        bubble.layout.draw(painter, QPointF(x, y))
        if system:
            return
        if is_card(message):
            line = self.cards(message) if self.cards is not None else None
            below = QPointF(x, y + bubble.layout.boundingRect().height())
            draw_card_line(painter, fonts, theme, below, line or ("Loading…", CardState.UNKNOWN))
        right = box.right() - _S.bubble_padding_h
        if bubble.meta_inline and bubble.layout.lineCount():
            last = bubble.layout.lineAt(bubble.layout.lineCount() - 1)
            baseline = y + last.y() + last.ascent()
        else:
            baseline = box.bottom() - _S.bubble_padding_v - fonts.small_fm.descent()
        if own and row.delivery is not None:
            tick = QRectF(right - fonts.tick_w, baseline - fonts.tick_h, fonts.tick_w, fonts.tick_h)
            colour = QColor(theme.own_text if row.delivery is DeliveryState.READ else secondary)
            draw_delivery(painter, tick, row.delivery, colour, QColor(theme.failed))
        if own:
            right -= fonts.tick_w + _S.meta_gap / 2
        meta = bubble_meta(message)
        painter.setFont(fonts.small)
        painter.setPen(secondary)
        painter.drawText(QPointF(right - fonts.small_fm.horizontalAdvance(meta), baseline), meta)
