"""A bubble's text: fonts, the plain-text QTextLayout with its links underlined, hit testing."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QTextCharFormat,
    QTextLayout,
    QTextLine,
    QTextOption,
)

from desktop_chat.core.links import Link, find_links, utf16_links
from desktop_chat.ui.theme import SIZES, Theme, scaled_font

__all__ = [
    "Bubble",
    "Fonts",
    "bubble_links",
    "link_colour",
    "link_formats",
    "link_under",
    "text_layout",
]

_S = SIZES


@dataclass(slots=True)
class Bubble:
    """One message laid out at one width: the text layout and the bubble's geometry."""

    width: int  # the available row width this was made for
    version: int
    layout: QTextLayout
    header: str
    meta_inline: bool
    size: QSize  # the bubble itself, paddings included
    links: tuple[Link, ...] = ()
    """The text's links, in UTF-16 offsets of ``layout.text()`` (what Qt counts)."""
    theme: Theme | None = None
    """The theme whose link colour the layout was made with (None: the text has no links)."""


class Fonts:
    """The fonts and metrics of one base font."""

    def __init__(self, base: QFont) -> None:
        self.base = QFont(base)
        self.italic = QFont(base)
        self.italic.setItalic(True)
        self.small = scaled_font(base, _S.small_font)
        self.header = scaled_font(base, _S.small_font, bold=True)
        self.fm = QFontMetricsF(self.base)
        self.small_fm = QFontMetricsF(self.small)
        self.header_fm = QFontMetricsF(self.header)
        self.tick_h = self.small_fm.ascent() * 0.9
        self.tick_w = self.tick_h * 1.55
        self.char_w = self.fm.maxWidth()
        # The room kept for the time (digits are as wide as "00:00" in nearly every font).
        clock_w = max(self.small_fm.horizontalAdvance(f"{d}{d}:{d}{d}") for d in "0123456789")
        edited_w = self.small_fm.horizontalAdvance("edited  ")
        tick_w = _S.meta_gap / 2 + self.tick_w
        self.meta_w = {
            (own, edited): clock_w + (edited_w if edited else 0) + (tick_w if own else 0)
            for own in (False, True)
            for edited in (False, True)
        }
        self.day_h = math.ceil(2 * _S.separator_margin + self.small_fm.height())
        self.day_h += 2 * _S.separator_padding_v

    def header_height(self, header: str) -> float:
        """The room a bubble's header line takes above its text (0 without one)."""
        return self.header_fm.height() + 2 if header else 0.0


def bubble_links(text: str) -> tuple[Link, ...]:
    """The links of a bubble's plain *text*, with UTF-16 offsets (what QTextLayout counts: an
    emoji before a link moves it by two, not one)."""
    return tuple(utf16_links(text, find_links(text)))


def link_colour(theme: Theme, own: bool) -> QColor:
    """Links' colour on my bubble (the accent) or on the other person's, in *theme*."""
    return QColor(theme.own_link if own else theme.other_link)


def link_formats(links: tuple[Link, ...], colour: QColor) -> list[QTextLayout.FormatRange]:
    """Underlined *colour* over each of *links*: the only formatting a bubble's text gets (the
    text itself is never parsed as markup)."""
    ranges: list[QTextLayout.FormatRange] = []
    for link in links:
        char = QTextCharFormat()
        char.setForeground(colour)
        char.setFontUnderline(True)
        char.setUnderlineColor(colour)
        span = QTextLayout.FormatRange()
        span.start = link.start
        span.length = link.end - link.start
        span.format = char
        ranges.append(span)
    return ranges


def text_layout(
    text: str,
    font: QFont,
    max_width: int,
    *,
    rtl: bool,
    formats: list[QTextLayout.FormatRange],
) -> tuple[QTextLayout, list[QTextLine], float]:
    """*text* laid out as plain text in lines at most *max_width* wide, with *formats* (set
    before laying out: setting formats later throws the lines away): the layout, its lines
    and their height."""
    layout = QTextLayout(text, font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    option.setTextDirection(
        Qt.LayoutDirection.RightToLeft if rtl else Qt.LayoutDirection.LeftToRight
    )
    option.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignAbsolute)
    layout.setTextOption(option)
    if formats:
        layout.setFormats(formats)
    layout.setCacheEnabled(True)
    lines: list[QTextLine] = []
    y = 0.0
    layout.beginLayout()
    while (line := layout.createLine()).isValid():
        line.setLineWidth(max_width)
        line.setPosition(QPointF(0, y))
        y += line.height()
        lines.append(line)
    layout.endLayout()
    return layout, lines, y


def link_under(bubble: Bubble, point: QPointF) -> Link | None:
    """The link of *bubble* under *point* (relative to the top left of its text), if any: the
    character there, found by its line, must belong to a link."""
    if not bubble.links:
        return None
    layout = bubble.layout
    for number in range(layout.lineCount()):
        line = layout.lineAt(number)
        rect = line.naturalTextRect()
        if not rect.top() <= point.y() < rect.bottom():
            continue
        if not rect.left() <= point.x() < rect.right():
            return None
        position = line.xToCursor(point.x(), QTextLine.CursorPosition.CursorOnCharacter)
        return next((k for k in bubble.links if k.start <= position < k.end), None)
    return None
