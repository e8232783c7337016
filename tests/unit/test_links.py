"""The link finder: what is a link, where it ends, unsafe schemes, RTL, emoji, UTF-16, speed."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_chat.core.links import (
    Link,
    find_links,
    from_utf16,
    link_urls,
    to_utf16,
    utf16_links,
)


def spans(text: str) -> list[tuple[str, str]]:
    """(the linked text, the URL it opens) of each link of *text*."""
    return [(text[link.start : link.end], link.url) for link in find_links(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://example.com", [("https://example.com", "https://example.com")]),
        ("http://example.com/a?b=1&c=2#top", [("http://example.com/a?b=1&c=2#top",) * 2]),
        ("HTTPS://EXAMPLE.COM/A", [("HTTPS://EXAMPLE.COM/A",) * 2]),
        ("www.example.com/docs", [("www.example.com/docs", "https://www.example.com/docs")]),
        ("at http://localhost:8080/x.", [("http://localhost:8080/x",) * 2]),
        ("http://[::1]:80/", [("http://[::1]:80/",) * 2]),
        ("https://пример.рф/путь", [("https://пример.рф/путь",) * 2]),
        ("https://x.com/it's fine", [("https://x.com/it's",) * 2]),
        ("two: https://a.com https://b.org", [("https://a.com",) * 2, ("https://b.org",) * 2]),
        (
            "write to ann.lee+x@mail.example.org",
            [("ann.lee+x@mail.example.org", "mailto:ann.lee+x@mail.example.org")],
        ),
        ("mailto:ann@example.com?subject=hi", [("mailto:ann@example.com?subject=hi",) * 2]),
        ("Email:ann@example.com", [("ann@example.com", "mailto:ann@example.com")]),
        ("nothing here", []),
        ("https://", []),
        ("http:// example.com", []),
        ("www.example", []),
        ("x.www.example.com", []),
        ("a@b", []),
        ("user@localhost", []),
        ("@someone hello", []),
        ("http://x.com:80port/", []),
    ],
)
def test_what_is_a_link(text: str, expected: list[tuple[str, str]]) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize(
    ("text", "linked"),
    [
        ("see https://example.com.", "https://example.com"),
        ("see https://example.com, then", "https://example.com"),
        ("wow https://example.com!", "https://example.com"),
        ("really https://example.com?", "https://example.com"),
        ("really https://example.com?!...", "https://example.com"),
        ("(see https://example.com)", "https://example.com"),
        ("(see https://example.com).", "https://example.com"),
        ("https://en.wikipedia.org/wiki/Foo_(bar)", "https://en.wikipedia.org/wiki/Foo_(bar)"),
        ("(https://en.wikipedia.org/wiki/Foo_(bar)).", "https://en.wikipedia.org/wiki/Foo_(bar)"),
        ("[docs](https://example.com/a)", "https://example.com/a"),
        ("'https://example.com/a'", "https://example.com/a"),
        ('"https://example.com/a"', "https://example.com/a"),
        ("«https://example.com/a»", "https://example.com/a"),
        ("\u201chttps://example.com/a\u201d", "https://example.com/a"),
        ("<https://example.com/a>", "https://example.com/a"),
        ("see https://example.com/a;", "https://example.com/a"),
        ("*https://example.com/a*", "https://example.com/a"),
        ("mail ann@example.com.", "ann@example.com"),
    ],
)
def test_trailing_punctuation_is_not_part_of_a_link(text: str, linked: str) -> None:
    assert [found for found, _ in spans(text)] == [linked]


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(document.cookie)",
        "javascript:http://example.com",
        "javascript://example.com/%0Aalert(1)",
        "file:///etc/passwd",
        "file://server/share/x.txt",
        "data:text/html,<script>alert(1)</script>",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "ftp://example.com/file",
        "/https://example.com",
        "xhttps://example.com",
    ],
)
def test_no_other_scheme_ever_becomes_a_link(text: str) -> None:
    assert find_links(text) == []


def test_markup_is_text_and_only_visible_addresses_are_links() -> None:
    text = '<a href="https://evil">https://good</a> <b>bold</b> <img src=x onerror=alert(1)>'
    links = find_links(text)
    # Each link opens exactly the characters shown: no quote, bracket or markup gets in.
    assert [text[k.start : k.end] for k in links] == [k.url for k in links]
    assert [k.url for k in links] == ["https://evil", "https://good"]
    good = links[1]
    assert text[good.start - 1] == ">" and text[good.end] == "<"
    assert link_urls('<a href="https://evil">https://good</a>')[-1] == "https://good"


def test_right_to_left_text() -> None:
    arabic = "زور https://example.com/صفحة، الآن"
    assert spans(arabic) == [("https://example.com/صفحة",) * 2]
    hebrew = "שלום www.example.co.il תודה"
    assert spans(hebrew) == [("www.example.co.il", "https://www.example.co.il")]
    # A bidirectional mark ends a link (it could make an address read as another).
    assert spans("http://example.com\u202e/moc.live") == [("http://example.com",) * 2]
    assert spans("http://exa\u200bmple.com") == [("http://exa",) * 2]


def test_emoji_and_symbols_end_a_link() -> None:
    assert spans("🎉https://example.com🎉") == [("https://example.com",) * 2]
    assert spans("https://example.com/a👍🏽 ok") == [("https://example.com/a",) * 2]
    assert spans("https://example.com\u3002next") == [("https://example.com",) * 2]


def test_link_knows_e_mail() -> None:
    web, mail = find_links("https://example.com ann@example.com")
    assert not web.email and mail.email


# UTF-16 -------------------------------------------------------------------------------------
def test_utf16_offsets_count_emoji_twice() -> None:
    text = "🎉🎉 www.example.com"
    (link,) = find_links(text)
    assert (link.start, link.end) == (3, 18)  # code points
    (qt,) = utf16_links(text, [link])
    assert (qt.start, qt.end, qt.url) == (5, 20, link.url)  # what QTextLayout counts
    units = text.encode("utf-16-le")
    assert units[2 * qt.start : 2 * qt.end].decode("utf-16-le") == "www.example.com"
    assert [to_utf16(text, i) for i in range(5)] == [0, 2, 4, 5, 6]
    assert [from_utf16(text, u) for u in range(7)] == [0, 0, 1, 1, 2, 3, 4]
    assert from_utf16(text, 99) == len(text)


def test_utf16_of_several_links_and_plain_ascii() -> None:
    text = "a😀 https://a.com é 👍🏽 https://b.com \U0001d518 c@d.org"
    converted = utf16_links(text, find_links(text))
    units = text.encode("utf-16-le")
    assert [units[2 * k.start : 2 * k.end].decode("utf-16-le") for k in converted] == [
        "https://a.com",
        "https://b.com",
        "c@d.org",
    ]
    ascii_links = find_links("go https://a.com")
    assert utf16_links("go https://a.com", ascii_links) == ascii_links


def test_lone_surrogates_do_not_break_the_conversion() -> None:
    text = "\ud83d https://example.com"
    (link,) = utf16_links(text, find_links(text))
    assert (link.start, link.end) == (2, 21)


# speed --------------------------------------------------------------------------------------
ADVERSARIAL = [
    "http://.)" * 500,
    "http://" * 600,
    "https://" + "(" * 4000,
    "https://x.com" + ")" * 4000,
    "https://x.com/" + "a." * 2000,
    "www." * 1000,
    "a@" * 2000,
    "a." * 2000 + "@",
    "@a." * 1333,
    "a" * 4000 + "@example.com",
    "http://a" + "." * 4000,
    ("https://x.com/" + "!" * 50 + " ") * 60,
    "x" * 4000,
    "\u202e" * 4000,
    "🎉" * 4000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_a_hostile_4000_character_message_is_fast(text: str) -> None:
    started = time.perf_counter()
    for _ in range(5):
        find_links(text)
        utf16_links(text, find_links(text))
    assert (time.perf_counter() - started) / 5 < 0.05


def test_a_long_message_full_of_links_is_fast() -> None:
    text = " ".join(
        f"https://example.com/{n} ann{n}@example.org (www.site{n}.com)." for n in range(60)
    )
    started = time.perf_counter()
    links = find_links(text)
    assert time.perf_counter() - started < 0.05
    assert len(links) == 180


# properties ---------------------------------------------------------------------------------
_PIECES = st.sampled_from(
    [
        "https://",
        "http://",
        "www.",
        "mailto:",
        "@",
        "example.com",
        ".org",
        "/path",
        "?q=1",
        "(",
        ")",
        ".",
        ",",
        "!",
        "'",
        '"',
        "<",
        ">",
        " ",
        "\n",
        "\u2028",
        "🎉",
        "👍🏽",
        "שלום",
        "مرحبا",
        "\u202e",
        "javascript:",
        "file:",
        "data:",
        "ann",
    ]
)
_TEXTS = st.one_of(st.text(max_size=200), st.lists(_PIECES, max_size=40).map("".join))


@settings(max_examples=400, deadline=None)
@given(_TEXTS)
def test_links_are_ordered_disjoint_and_what_the_text_shows(text: str) -> None:
    links = find_links(text)
    end = 0
    for link in links:
        assert end <= link.start < link.end <= len(text)
        end = link.end
        shown = text[link.start : link.end]
        assert link.url in (shown, "https://" + shown, "mailto:" + shown)
        assert link.url.split(":", 1)[0].lower() in ("http", "https", "mailto")
        assert not any(c.isspace() or c in '<>"`' for c in shown)
        assert shown[-1] not in ".,;:!?'\""


@settings(max_examples=300, deadline=None)
@given(_TEXTS)
def test_utf16_offsets_select_the_same_characters(text: str) -> None:
    links = find_links(text)
    units = text.encode("utf-16-le", "surrogatepass")
    for plain, qt in zip(links, utf16_links(text, links), strict=True):
        assert (
            units[2 * qt.start : 2 * qt.end].decode("utf-16-le", "surrogatepass")
            == (text[plain.start : plain.end])
        )
        assert from_utf16(text, qt.start) == plain.start
        assert to_utf16(text, plain.end) == qt.end


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.integers(min_value=0, max_value=90))
def test_utf16_round_trip(text: str, index: int) -> None:
    index = min(index, len(text))
    assert from_utf16(text, to_utf16(text, index)) == index
    assert to_utf16(text, index) == len(text[:index].encode("utf-16-le", "surrogatepass")) // 2


def test_link_is_a_value() -> None:
    assert Link(1, 2, "https://a.b") == Link(1, 2, "https://a.b")
