"""The URL scheme: what opens, and every malformed link refused with a sentence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop_chat.core.links import DeepLink, InvalidLinkError, LinkKind, parse_link


@pytest.mark.parametrize(
    ("text", "kind", "item"),
    [
        ("desktopchat://conversation/abc_def", LinkKind.CONVERSATION, "abc_def"),
        ("desktopchat://booking/-Nx1y2z/", LinkKind.BOOKING, "-Nx1y2z"),
        ("DesktopChat://skill/demo-guitar", LinkKind.SKILL, "demo-guitar"),
        ("  desktopchat://skill/a%20b  ", LinkKind.SKILL, "a b"),
    ],
)
def test_links_that_open(text: str, kind: LinkKind, item: str) -> None:
    assert parse_link(text) == DeepLink(kind, item)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("https://conversation/abc", "only desktopchat:// links"),
        ("desktopchat://chat/abc", "must name one of: conversation, booking, skill"),
        ("desktopchat://conversation/", "id is not valid"),
        ("desktopchat://conversation", "must be desktopchat://conversation/<id>"),
        ("desktopchat://conversation/a/b", "must be desktopchat://conversation/<id>"),
        ("desktopchat://conversation/a?x=1", "more than a kind and an id"),
        ("desktopchat://conversation/a#top", "more than a kind and an id"),
        ("desktopchat://me@conversation/a", "more than a kind and an id"),
        ("desktopchat://conversation:99/a", "more than a kind and an id"),
        ("desktopchat://conversation:x/a", "malformed"),
        ("desktopchat://booking/a.b", "id is not valid"),
        ("desktopchat://booking/%2E%2E", "id is not valid"),
        ("desktopchat://skill/" + "x" * 2000, "longer than 1024"),
    ],
)
def test_malformed_links_are_refused_with_a_reason(text: str, says: str) -> None:
    with pytest.raises(InvalidLinkError, match=None) as refused:
        parse_link(text)
    assert says in str(refused.value)


@given(st.sampled_from(list(LinkKind)), st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True))
def test_a_link_reads_back_as_itself(kind: LinkKind, item: str) -> None:
    link = DeepLink(kind, item)
    assert parse_link(str(link)) == link


@given(st.text(max_size=200))
def test_any_text_opens_something_or_says_why(text: str) -> None:
    try:
        parse_link(text)
    except InvalidLinkError as exc:
        assert str(exc)
