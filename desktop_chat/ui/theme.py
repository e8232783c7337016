"""Colours, sizes and drawn marks of the app: light and dark palettes that follow the system."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QApplication

from desktop_chat.core.model import DeliveryState

__all__ = [
    "ACCENT",
    "DARK",
    "LIGHT",
    "SIZES",
    "Sizes",
    "Theme",
    "ThemeWatcher",
    "apply_theme",
    "current_theme",
    "draw_delivery",
    "draw_pill",
    "rounded_path",
    "scaled_font",
    "system_is_dark",
    "theme_for",
]

log = logging.getLogger("desktop_chat.ui")

ACCENT = "#422AD5"


@dataclass(frozen=True, slots=True)
class Theme:
    """Every colour the custom-painted views use (``#rrggbb`` or ``#aarrggbb`` strings)."""

    dark: bool
    window: str
    base: str
    alternate: str
    text: str
    secondary: str
    accent: str
    accent_text: str
    accent_fg: str  # accent-coloured words and marks on the base background
    own_bubble: str
    own_text: str
    own_secondary: str
    other_bubble: str
    other_text: str
    other_secondary: str
    own_link: str  # links in my bubbles (underlined too)
    other_link: str  # links in the other person's bubbles
    separator: str
    separator_text: str
    online: str
    failed: str
    skeleton: str
    hover: str
    selected: str
    selected_text: str
    border: str

    def colour(self, name: str) -> QColor:
        """The named colour as a QColor (``theme.colour("accent")``)."""
        return QColor(getattr(self, name))


LIGHT = Theme(
    dark=False,
    window="#F4F4F7",
    base="#FFFFFF",
    alternate="#F7F7FA",
    text="#17161C",
    secondary="#6B6A75",
    accent=ACCENT,
    accent_text="#FFFFFF",
    accent_fg=ACCENT,
    own_bubble=ACCENT,
    own_text="#FFFFFF",
    own_secondary="#D9D3FA",
    other_bubble="#ECECF1",
    other_text="#17161C",
    other_secondary="#65646E",
    own_link="#9EEBFF",
    other_link=ACCENT,
    separator="#E4E3EC",
    separator_text="#4D4C57",
    online="#22A559",
    failed="#D93025",
    skeleton="#E6E6EC",
    hover="#EEEDF6",
    selected="#E3DFFB",
    selected_text="#17161C",
    border="#DCDBE3",
)

DARK = Theme(
    dark=True,
    window="#17171C",
    base="#1E1E24",
    alternate="#23232A",
    text="#ECEBF2",
    secondary="#A09FAB",
    accent=ACCENT,
    accent_text="#FFFFFF",
    accent_fg="#A99BFF",
    own_bubble=ACCENT,
    own_text="#FFFFFF",
    own_secondary="#D0C9F7",
    other_bubble="#373742",
    other_text="#ECEBF2",
    other_secondary="#B0AFBB",
    own_link="#9EEBFF",
    other_link="#B8ADFF",
    separator="#2C2C35",
    separator_text="#C3C2CC",
    online="#2FC26B",
    failed="#FF5A4F",
    skeleton="#2E2E36",
    hover="#2A2A33",
    selected="#34305A",
    selected_text="#FFFFFF",
    border="#34343D",
)


@dataclass(frozen=True, slots=True)
class Sizes:
    """Logical pixels (Qt scales them on high-DPI screens); fonts are sized in points."""

    avatar: int = 40
    avatar_large: int = 56
    row_padding: int = 10
    row_spacing: int = 12
    online_dot: int = 12
    badge_height: int = 20
    margin: int = 12
    bubble_padding_h: int = 12
    bubble_padding_v: int = 7
    bubble_radius: int = 16
    bubble_gap: int = 3
    bubble_max_fraction: float = 0.7
    separator_margin: int = 8
    separator_padding_h: int = 12
    separator_padding_v: int = 4
    meta_gap: int = 8
    small_font: float = 0.85


SIZES = Sizes()

_current: Theme = LIGHT


def current_theme() -> Theme:
    """The theme applied last (light until :func:`apply_theme` runs); delegates read it at
    paint time, so repainting the views is all a scheme change needs."""
    return _current


def system_is_dark() -> bool:
    """True when the system asks for a dark scheme (or, if it does not say, the platform
    palette is dark)."""
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    window = QGuiApplication.palette().color(QPalette.ColorRole.Window)
    return window.lightness() < 128


def theme_for(dark: bool) -> Theme:
    return DARK if dark else LIGHT


def scaled_font(base: QFont, factor: float = 1.0, *, bold: bool = False) -> QFont:
    """*base* scaled by *factor* in points (never pixels, so high-DPI screens stay sharp)."""
    font = QFont(base)
    size = base.pointSizeF()
    if size > 0:
        font.setPointSizeF(size * factor)
    else:  # a pixel-sized base font: scale what there is
        font.setPixelSize(max(1, round(base.pixelSize() * factor)))
    if bold:
        font.setWeight(QFont.Weight.DemiBold)
    return font


def _palette(theme: Theme) -> QPalette:
    palette = QPalette()
    role = QPalette.ColorRole
    colours = {
        role.Window: theme.window,
        role.WindowText: theme.text,
        role.Base: theme.base,
        role.AlternateBase: theme.alternate,
        role.Text: theme.text,
        role.PlaceholderText: theme.secondary,
        role.Button: theme.base,
        role.ButtonText: theme.text,
        role.BrightText: "#FFFFFF",
        role.Highlight: theme.accent,
        role.HighlightedText: theme.accent_text,
        role.Link: theme.accent_fg,
        role.ToolTipBase: theme.base,
        role.ToolTipText: theme.text,
        role.Mid: theme.border,
        role.Midlight: theme.separator,
        role.Dark: theme.secondary,
        role.Shadow: "#000000",
        role.Light: theme.base,
        role.Accent: theme.accent,
    }
    for colour_role, value in colours.items():
        palette.setColor(colour_role, QColor(value))
    disabled = QPalette.ColorGroup.Disabled
    for colour_role in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(disabled, colour_role, QColor(theme.secondary))
    return palette


def _stylesheet(theme: Theme) -> str:
    return (
        f"QToolTip {{ color: {theme.text}; background: {theme.base};"
        f" border: 1px solid {theme.border}; }}"
    )


def apply_theme(app: QApplication, theme: Theme | None = None, *, fusion: bool = True) -> Theme:
    """Apply *theme* (default: the system's scheme) to *app*: palette, a small stylesheet and,
    with *fusion*, the Fusion style, which honours the palette on every platform."""
    global _current
    chosen = theme if theme is not None else theme_for(system_is_dark())
    if fusion and app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    app.setPalette(_palette(chosen))
    app.setStyleSheet(_stylesheet(chosen))
    _current = chosen
    log.debug("theme applied: %s", "dark" if chosen.dark else "light")
    return chosen


class ThemeWatcher(QObject):
    """Follows the system scheme: re-applies the theme on ``colorSchemeChanged`` and emits
    :attr:`themeChanged` so views repaint (``viewport().update()``)."""

    themeChanged = Signal(object)

    def __init__(self, app: QApplication, *, fusion: bool = True) -> None:
        super().__init__(app)
        self._app = app
        self._fusion = fusion
        self.theme = apply_theme(app, fusion=fusion)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._scheme_changed)

    def _scheme_changed(self, scheme: Qt.ColorScheme) -> None:
        dark = scheme == Qt.ColorScheme.Dark if scheme != Qt.ColorScheme.Unknown else None
        chosen = theme_for(system_is_dark() if dark is None else dark)
        if chosen is self.theme:
            return
        self.theme = apply_theme(self._app, chosen, fusion=self._fusion)
        self.themeChanged.emit(chosen)


def rounded_path(rect: QRectF, radius: float, tail: str) -> QPainterPath:
    """A rounded rectangle whose *tail* corner ("left"/"right" bottom, or "") is sharper."""
    r = min(radius, rect.height() / 2, rect.width() / 2)
    small = min(r, 5.0)
    bl = small if tail == "left" else r
    br = small if tail == "right" else r
    path = QPainterPath()
    x, y, w, h = rect.x(), rect.y(), rect.width(), rect.height()
    path.moveTo(x + r, y)
    path.arcTo(QRectF(x + w - 2 * r, y, 2 * r, 2 * r), 90, -90)
    path.arcTo(QRectF(x + w - 2 * br, y + h - 2 * br, 2 * br, 2 * br), 0, -90)
    path.arcTo(QRectF(x, y + h - 2 * bl, 2 * bl, 2 * bl), 270, -90)
    path.arcTo(QRectF(x, y, 2 * r, 2 * r), 180, -90)
    path.closeSubpath()
    return path


def draw_delivery(
    painter: QPainter, box: QRectF, state: DeliveryState, colour: QColor, failed: QColor
) -> None:
    """A delivery mark drawn with paths (no font glyphs needed), right-aligned in *box* (about
    1.55:1): a clock (pending), one tick (sent), two ticks (read), a red "!" disc (failed)."""
    h = box.height()
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(colour, max(1.2, h / 7))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    right, top = box.right(), box.top()
    if state is DeliveryState.PENDING:
        radius = h * 0.52
        centre = QPointF(right - radius - pen.widthF() / 2, top + h / 2)
        painter.drawEllipse(centre, radius, radius)
        painter.drawLine(centre, centre + QPointF(0, -radius * 0.6))
        painter.drawLine(centre, centre + QPointF(radius * 0.5, 0))
    elif state is DeliveryState.FAILED:
        radius = h * 0.6
        centre = QPointF(right - radius, top + h / 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#FFFFFF"))  # a ring, so red shows on any bubble
        painter.drawEllipse(centre, radius + 1, radius + 1)
        painter.setBrush(failed)
        painter.drawEllipse(centre, radius, radius)
        mark = QPen(QColor("#FFFFFF"), radius * 0.28)
        mark.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(mark)
        painter.drawLine(centre + QPointF(0, -radius * 0.5), centre + QPointF(0, radius * 0.1))
        painter.drawPoint(centre + QPointF(0, radius * 0.5))
    else:
        double = state is DeliveryState.READ
        left = right - h * (1.55 if double else 1.0)
        for dx in (0.0, h * 0.55) if double else (0.0,):
            path = QPainterPath(QPointF(left + dx + h * 0.05, top + h * 0.55))
            path.lineTo(left + dx + h * 0.36, top + h * 0.88)
            path.lineTo(left + dx + h * 1.0, top + h * 0.12)
            painter.drawPath(path)
    painter.restore()


def draw_pill(painter: QPainter, top_centre: QPointF, text: str, font: QFont, theme: Theme) -> None:
    """A day separator: *text* in a rounded pill whose top edge is centred on *top_centre*."""
    fm = QFontMetricsF(font)
    w = fm.horizontalAdvance(text) + 2 * SIZES.separator_padding_h
    h = fm.height() + 2 * SIZES.separator_padding_v
    pill = QRectF(top_centre.x() - w / 2, top_centre.y(), w, h)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(theme.separator))
    painter.drawRoundedRect(pill, h / 2, h / 2)
    painter.setPen(QColor(theme.separator_text))
    painter.setFont(font)
    painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()
