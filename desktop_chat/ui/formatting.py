"""Words and colours the chat list and history show: relative times, day labels, initials."""

from __future__ import annotations

import functools
import time
import unicodedata
import zlib
from datetime import date, datetime

from desktop_chat.core.model import Message, MessageType

__all__ = [
    "AVATAR_COLOURS",
    "avatar_colour",
    "bubble_header",
    "bubble_meta",
    "bubble_text",
    "clock",
    "contrast_ratio",
    "day_label",
    "initials",
    "is_rtl",
    "last_seen_text",
    "local_date",
    "now_ms",
    "one_line",
    "relative_time",
    "same_day",
    "set_server_offset",
]

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

AVATAR_COLOURS = (
    "#422AD5",  # the accent
    "#C2185B",
    "#AD1457",
    "#6A1B9A",
    "#4527A0",
    "#1565C0",
    "#00695C",
    "#2E7D32",
    "#BF360C",
    "#5D4037",
    "#37474F",
    "#0277BD",
)
"""Avatar backgrounds: each has a contrast of at least 4.5:1 with white initials."""


_server_offset_ms = 0


def now_ms() -> int:
    """Now on the server's clock as far as it is known (message times are the server's): what
    relative times and the 15-minute edit window are measured against."""
    return int(time.time() * 1000) + _server_offset_ms


def set_server_offset(offset_ms: int) -> None:
    """The server's clock runs *offset_ms* ahead of this computer's (the client measures it)."""
    global _server_offset_ms
    _server_offset_ms = offset_ms


def _local(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000)


@functools.lru_cache(maxsize=65536)
def _quarter_date(quarter: int) -> date:
    return datetime.fromtimestamp(quarter * 900).date()


def local_date(ms: int) -> date:
    """The local calendar day of epoch milliseconds *ms* (cached per 15 minutes: every UTC
    offset and daylight-saving switch falls on a quarter hour)."""
    return _quarter_date(ms // 900_000)


def same_day(a_ms: int, b_ms: int) -> bool:
    """True when both instants fall on the same local calendar day."""
    return local_date(a_ms) == local_date(b_ms)


def clock(ms: int) -> str:
    """Local wall-clock time, ``HH:mm``."""
    moment = _local(ms)
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _short_date(day: date, today: date) -> str:
    text = f"{day.day} {_MONTHS[day.month - 1][:3]}"
    return text if day.year == today.year else f"{text} {day.year}"


def relative_time(ms: int, now_ms: int) -> str:
    """How long ago, for a list row: "just now", "5 min ago", "2 h ago", "Yesterday",
    a weekday within the week, "12 Mar" this year, else "12 Mar 2025"."""
    elapsed = now_ms - ms
    if elapsed < 60_000:  # a clock slightly ahead of ours counts as now
        return "just now"
    if elapsed < 3_600_000:
        return f"{elapsed // 60_000} min ago"
    day, today = local_date(ms), local_date(now_ms)
    if day == today or elapsed < 6 * 3_600_000:
        return f"{elapsed // 3_600_000} h ago"
    days = (today - day).days
    if days == 1:
        return "Yesterday"
    if 1 < days < 7:
        return _WEEKDAYS[day.weekday()]
    return _short_date(day, today)


def day_label(ms: int, now_ms: int) -> str:
    """A day separator's text: "Today", "Yesterday", "Monday, 12 March" (this year), or
    "Monday, 12 March 2024"."""
    day, today = local_date(ms), local_date(now_ms)
    days = (today - day).days
    if days == 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    text = f"{_WEEKDAYS[day.weekday()]}, {day.day} {_MONTHS[day.month - 1]}"
    return text if day.year == today.year else f"{text} {day.year}"


def last_seen_text(online: bool, last_seen_ms: int | None, now_ms: int) -> str:
    """A contact's presence line: "Online", "last seen 5 min ago", "last seen today at 14:05",
    "last seen yesterday at 14:05", "last seen 12 Mar"; "" when never seen."""
    if online:
        return "Online"
    if last_seen_ms is None or last_seen_ms < 0:
        return ""
    elapsed = now_ms - last_seen_ms
    if elapsed < 60_000:
        return "last seen just now"
    if elapsed < 3_600_000:
        return f"last seen {elapsed // 60_000} min ago"
    day, today = local_date(last_seen_ms), local_date(now_ms)
    days = (today - day).days
    if days == 0:
        return f"last seen today at {clock(last_seen_ms)}"
    if days == 1:
        return f"last seen yesterday at {clock(last_seen_ms)}"
    return f"last seen {_short_date(day, today)}"


def one_line(text: str | None) -> str:
    """*text* on one line (a list row's preview): runs of whitespace become one space."""
    return " ".join(text.split()) if text else ""


_JOINERS = {0x200D}  # zero-width joiner: joins the next character into the cluster
_EXTENDERS = {0x200C, 0x20E3}  # ZWNJ, combining enclosing keycap


def _extends(char: str) -> bool:
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tags (subdivision flags)
        or code in _EXTENDERS
    )


def _is_regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _first_grapheme(word: str) -> str:
    """The first user-perceived character of *word* (an approximation of UAX #29 that keeps
    accents, emoji ZWJ sequences, skin tones, keycaps and flags whole)."""
    end = 1
    if _is_regional(word[0]) and len(word) > 1 and _is_regional(word[1]):
        return word[:2]
    while end < len(word):
        char = word[end]
        if ord(word[end - 1]) in _JOINERS or ord(char) in _JOINERS or _extends(char):
            end += 1
        else:
            break
    return word[:end]


def _usable(word: str) -> str:
    """*word* without leading punctuation ("(Ann)" -> "Ann)"); "" when nothing is left."""
    for start, char in enumerate(word):
        if not unicodedata.category(char).startswith(("P", "Z", "C")):
            return word[start:]
    return ""


def _upper(grapheme: str) -> str:
    upper = grapheme.upper()
    return upper if len(upper) == len(grapheme) else grapheme  # "ß" stays, not "SS"


def initials(name: str) -> str:
    """Up to two initials for an avatar: "Ann Lee" -> "AL", "ann" -> "A", "🦊 Fox" -> "🦊F";
    "?" for a name without a usable character."""
    words = [word for word in (_usable(part) for part in name.split()) if word]
    if not words:
        return "?"
    first = _upper(_first_grapheme(words[0]))
    if len(words) == 1:
        return first
    return first + _upper(_first_grapheme(words[-1]))


def avatar_colour(uid: str) -> str:
    """A stable colour for *uid* (the same on every run and machine), from
    :data:`AVATAR_COLOURS`."""
    return AVATAR_COLOURS[zlib.crc32(uid.encode("utf-8")) % len(AVATAR_COLOURS)]


def _luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def contrast_ratio(a: str, b: str) -> float:
    """The WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def is_rtl(text: str) -> bool:
    """True when the first strong character of *text* is right-to-left (Arabic, Hebrew...)."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


def bubble_text(message: Message) -> str:
    """What a bubble shows, for QTextLayout: plain text, line breaks as U+2028."""
    if message.deleted:
        return "message deleted"
    return (message.text or "").replace("\r\n", "\n").replace("\n", "\u2028")


def bubble_meta(message: Message) -> str:
    """The small words at a bubble's bottom right: "14:05", or "edited  14:05"."""
    edited = message.edited_at is not None and not message.deleted
    return f"edited  {clock(message.timestamp)}" if edited else clock(message.timestamp)


def bubble_header(message: Message) -> str:
    """A booking proposal's title line ("Booking proposal · 2025-03-12"); else ""."""
    if message.type is not MessageType.BOOKING_PROPOSAL:
        return ""
    return f"Booking proposal · {message.slot.date}" if message.slot else "Booking proposal"
