"""The words and colours of the chat list and history (pure functions, no Qt)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from desktop_chat.ui import formatting
from desktop_chat.ui.formatting import (
    AVATAR_COLOURS,
    avatar_colour,
    clock,
    contrast_ratio,
    day_label,
    initials,
    is_rtl,
    last_seen_text,
    local_date,
    one_line,
    relative_time,
    same_day,
)

MINUTE = 60_000
HOUR = 60 * MINUTE


def ms(*parts: int) -> int:
    """Epoch ms of a local wall-clock time."""
    return int(datetime(*parts).timestamp() * 1000)  # type: ignore[arg-type]


NOW = ms(2025, 3, 14, 15, 30)  # a Friday


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (NOW, "just now"),
        (NOW - 59_000, "just now"),
        (NOW + 5 * MINUTE, "just now"),  # a sender's clock ahead of ours
        (NOW - 5 * MINUTE, "5 min ago"),
        (NOW - 59 * MINUTE, "59 min ago"),
        (NOW - 2 * HOUR - 10 * MINUTE, "2 h ago"),
        (ms(2025, 3, 14, 0, 5), "15 h ago"),
        (ms(2025, 3, 13, 9, 0), "Yesterday"),
        (ms(2025, 3, 11, 9, 0), "Tuesday"),
        (ms(2025, 3, 8, 9, 0), "Saturday"),
        (ms(2025, 3, 7, 9, 0), "7 Mar"),
        (ms(2025, 1, 2, 9, 0), "2 Jan"),
        (ms(2024, 12, 31, 9, 0), "31 Dec 2024"),
    ],
)
def test_relative_time(when: int, expected: str) -> None:
    assert relative_time(when, NOW) == expected


def test_relative_time_just_after_midnight_counts_minutes_and_hours() -> None:
    now = ms(2025, 3, 14, 0, 20)
    assert relative_time(ms(2025, 3, 13, 23, 50), now) == "30 min ago"
    assert relative_time(ms(2025, 3, 13, 21, 0), now) == "3 h ago"
    assert relative_time(ms(2025, 3, 13, 12, 0), now) == "Yesterday"


def test_clock_is_local_24_hour_time() -> None:
    assert clock(ms(2025, 3, 14, 9, 5)) == "09:05"
    assert clock(ms(2025, 3, 14, 23, 59, 59)) == "23:59"


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (ms(2025, 3, 14, 0, 0), "Today"),
        (ms(2025, 3, 13, 23, 59), "Yesterday"),
        (ms(2025, 3, 12, 8, 0), "Wednesday, 12 March"),
        (ms(2024, 3, 12, 8, 0), "Tuesday, 12 March 2024"),
    ],
)
def test_day_label(when: int, expected: str) -> None:
    assert day_label(when, NOW) == expected


def test_same_day() -> None:
    assert same_day(ms(2025, 3, 14, 0, 0), ms(2025, 3, 14, 23, 59))
    assert not same_day(ms(2025, 3, 13, 23, 59), ms(2025, 3, 14, 0, 0))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Ann Lee", "AL"),
        ("ann", "A"),
        ("Mary Ann van der Berg", "MB"),
        ("  spaced   out  ", "SO"),
        ("(Ann) b", "AB"),
        ("José Ñandú", "JÑ"),
        ("e\u0301mile zola", "E\u0301Z"),  # a combining accent stays with its letter
        ("Ωmega straße", "ΩS"),
        ("ßtraße", "ß"),  # no "SS"
        ("محمد علي", "مع"),
        ("李小龙", "李"),
        ("🦊 Fox", "🦊F"),
        ("👨\u200d👩\u200d👧 Family", "👨\u200d👩\u200d👧F"),  # a ZWJ sequence is one
        ("👍🏽 thumbs", "👍🏽T"),  # with its skin tone
        ("🇫🇷 Paris", "🇫🇷P"),  # a flag is two regional indicators
        ("1️⃣ one", "1️⃣O"),  # a keycap
        ("", "?"),
        ("   ", "?"),
        ("...", "?"),
    ],
)
def test_initials(name: str, expected: str) -> None:
    assert initials(name) == expected


def test_avatar_colour_is_stable_and_readable_under_white() -> None:
    assert avatar_colour("alice") == avatar_colour("alice")
    assert avatar_colour("alice") in AVATAR_COLOURS
    used = {avatar_colour(f"user{n}") for n in range(200)}
    assert len(used) == len(AVATAR_COLOURS)  # all colours are used
    for colour in AVATAR_COLOURS:
        assert contrast_ratio(colour, "#FFFFFF") >= 4.5, colour


def test_contrast_ratio() -> None:
    assert contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21)
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1)


def test_last_seen_text() -> None:
    assert last_seen_text(True, None, NOW) == "Online"
    assert last_seen_text(True, NOW - HOUR, NOW) == "Online"
    assert last_seen_text(False, None, NOW) == ""
    assert last_seen_text(False, -1, NOW) == ""
    assert last_seen_text(False, NOW - 10_000, NOW) == "last seen just now"
    assert last_seen_text(False, NOW - 5 * MINUTE, NOW) == "last seen 5 min ago"
    assert last_seen_text(False, ms(2025, 3, 14, 9, 7), NOW) == "last seen today at 09:07"
    assert last_seen_text(False, ms(2025, 3, 13, 14, 5), NOW) == "last seen yesterday at 14:05"
    assert last_seen_text(False, ms(2025, 3, 2, 14, 5), NOW) == "last seen 2 Mar"
    assert last_seen_text(False, ms(2023, 3, 2, 14, 5), NOW) == "last seen 2 Mar 2023"


def test_one_line_and_rtl() -> None:
    assert one_line("a\n\nb \t c ") == "a b c"
    assert one_line(None) == ""
    assert is_rtl("שלום world")
    assert is_rtl("  123 مرحبا")
    assert not is_rtl("hello שלום")
    assert not is_rtl("123 ...")


@pytest.fixture
def timezone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield
    monkeypatch.undo()
    time.tzset()
    formatting._quarter_date.cache_clear()


@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "America/St_Johns", "Europe/Berlin", "UTC"])
def test_local_date_is_exact_in_odd_time_zones(
    zone: str, monkeypatch: pytest.MonkeyPatch, timezone: None
) -> None:
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    formatting._quarter_date.cache_clear()
    rng = random.Random(zone)
    start = datetime(2024, 1, 1).timestamp()
    for _ in range(2000):
        when = int((start + rng.uniform(0, 2 * 365 * 86400)) * 1000)
        assert local_date(when) == datetime.fromtimestamp(when / 1000).date()
    # either side of a local midnight
    midnight = int(datetime(2025, 3, 30).timestamp() * 1000)
    assert local_date(midnight - 1) == (datetime(2025, 3, 30) - timedelta(days=1)).date()
    assert local_date(midnight) == datetime(2025, 3, 30).date()


@pytest.fixture
def server_offset() -> Iterator[None]:
    yield
    formatting.set_server_offset(0)


def test_edit_is_offered_for_fifteen_minutes_on_the_servers_clock(server_offset: None) -> None:
    from desktop_chat.core.model import DeliveryState, Message, MessageType
    from desktop_chat.ui.history_view import message_actions

    local_now = int(time.time() * 1000)
    sent = Message("m1", "a_b", "a", "b", "hi", local_now - 10 * MINUTE, False, MessageType.TEXT)
    assert "Edit" in message_actions(sent, "a", DeliveryState.SENT)
    formatting.set_server_offset(10 * MINUTE)  # this computer's clock is 10 minutes slow
    assert abs(formatting.now_ms() - (local_now + 10 * MINUTE)) < MINUTE
    assert message_actions(sent, "a", DeliveryState.SENT) == ["Copy text", "Delete"]
    assert "Edit" not in message_actions(sent, "b", DeliveryState.SENT)  # never someone else's
