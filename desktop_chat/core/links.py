"""Links: web and e-mail addresses in message text (UTF-16 spans), and desktopchat:// links."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from desktop_chat.core.errors import CoreError, InvalidPathError
from desktop_chat.core.paths import check_key

__all__ = [
    "MAX_LINK",
    "SCHEME",
    "DeepLink",
    "InvalidLinkError",
    "Link",
    "LinkKind",
    "find_links",
    "from_utf16",
    "link_urls",
    "parse_link",
    "to_utf16",
    "utf16_links",
]

# Where a link may start. Only these: nothing else (javascript:, file:, data:, ...) ever becomes
# a link, whatever the text says. "@" is the middle of a bare e-mail address.
_START = re.compile(r"https?://|www\.|mailto:|@", re.IGNORECASE)
# What a link can hold: it ends at white space, control characters, bidirectional and
# zero-width marks (they could disguise an address), emoji and other symbols, quotes and angle
# brackets that close it in prose or markup, and CJK / full-width punctuation. One character
# class: the match never backtracks.
_BODY = re.compile(
    '[^\\s<>"`\\\\'
    "\x00-\x1f\x7f-\x9f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\u2190-\u2bff\u3000-\u303f\u3164\ufe00-\ufe0f\ufeff\uff01-\uff0f\uff1a-\uff20\uffa0"
    "\ufff9-\ufffc\U0001f000-\U0001faff\U000e0000-\U000e007f]*"
)
_DOMAIN = re.compile(r"[A-Za-z0-9.-]*")
_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
# Never the last character of a link: sentence punctuation and quotes around it.
_TRAILING = frozenset(
    ".,;:!?'\"*_~"
    "\u2026\u201a\u201e\u201c\u201d\u2018\u2019\u00ab\u00bb\u2039\u203a"  # … and quotes
    "\u060c\u061b\u061f\u06d4\u0964"  # Arabic comma, semicolon, question mark, full stops
)
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_OPENERS = frozenset("([{")
# A link does not start in the middle of a word or of something address-like
# ("javascript:http://...", "x.www.example.com", "/https://...").
_GLUE = frozenset("/\\:.@-_+%#~&=")
_EMAIL_GLUE = frozenset("/\\@")
_AUTHORITY_END = re.compile(r"[/?#]")
_MAX_LOCAL = 64
_MAX_DOMAIN = 253
_MAX_LABEL = 63


@dataclass(frozen=True, slots=True)
class Link:
    """A link in a text: the characters ``text[start:end]`` open *url*, which is that very
    text, or it after ``https://`` (``www.`` addresses) or ``mailto:`` (e-mail addresses).

    Offsets count code points (Python indexes) from :func:`find_links`, and UTF-16 code units
    (what Qt counts) from :func:`utf16_links`."""

    start: int
    end: int
    url: str

    @property
    def email(self) -> bool:
        return self.url[:7].lower() == "mailto:"


def find_links(text: str) -> list[Link]:
    """The links in plain *text*, in order, never overlapping: ``http://`` and ``https://``
    addresses, ``www.`` addresses (opened as ``https://``), ``mailto:`` and bare e-mail
    addresses. Punctuation after an address is not part of it, nor is an unbalanced closing
    bracket: ``(see https://example.com/a_(b)).`` holds ``https://example.com/a_(b)``.

    Linear in the length of *text*: one search for starts and single-class scans."""
    links: list[Link] = []
    floor = 0  # the end of the last link: nothing before it is looked at again
    pos = 0
    run = (-1, -1)  # (start, end) of the last body scanned: later starts inside it share its end
    while (match := _START.search(text, pos)) is not None:
        start, head = match.start(), match.group().lower()
        pos = match.end()
        if head == "@":
            link = _email(text, start, floor)
        elif start > 0 and _glued(text[start - 1]):
            continue
        else:
            end = run[1] if run[0] <= pos <= run[1] else _body_end(text, pos)
            run = (pos, end)
            link = _web(text, start, pos, _trim(text, pos, end), head)
        if link is not None:
            links.append(link)
            floor = pos = link.end
    return links


def link_urls(text: str) -> list[str]:
    """The URLs of *text*'s links, in order, each once."""
    return list(dict.fromkeys(link.url for link in find_links(text)))


def _glued(char: str) -> bool:
    return char.isalnum() or char in _GLUE


def _body_end(text: str, pos: int) -> int:
    match = _BODY.match(text, pos)
    return match.end() if match is not None else pos


def _trim(text: str, lowest: int, end: int) -> int:
    """*end* moved back over trailing punctuation and unbalanced brackets (not below
    *lowest*)."""
    balance: dict[str, int] | None = None  # opened minus closed, per closing bracket
    while end > lowest:
        char = text[end - 1]
        if char in _TRAILING or char in _OPENERS:
            end -= 1
            continue
        opener = _CLOSERS.get(char)
        if opener is None:
            break
        if balance is None:  # counted once, only when a bracket ends the link
            balance = {
                c: text.count(o, lowest, end) - text.count(c, lowest, end)
                for c, o in _CLOSERS.items()
            }
        if balance[char] >= 0:
            break
        balance[char] += 1
        end -= 1
    return end


def _web(text: str, start: int, body: int, end: int, head: str) -> Link | None:
    """The link ``text[start:end]`` whose scheme or ``www.`` ends at *body*, if it names a
    host."""
    if end <= body:
        return None
    candidate = text[start:end]
    if head == "mailto:":
        address = text[body:end].split("?", 1)[0]
        at = address.rfind("@")
        if at <= 0 or not _local_ok(address[:at]) or not _domain_ok(address[at + 1 :]):
            return None
        return Link(start, end, candidate)
    authority = _AUTHORITY_END.split(text[body:end], maxsplit=1)[0]
    if head == "www.":
        host = authority.partition(":")[0]
        labels = ["www", *host.split(".")]
        if len(labels) < 3 or not _labels_ok(labels) or not _port_ok(authority[len(host) :]):
            return None
        return Link(start, end, "https://" + candidate)
    if not _host_ok(authority.rpartition("@")[2]):
        return None
    return Link(start, end, candidate)


def _host_ok(hostport: str) -> bool:
    """True for ``host``, ``host:port`` or ``[v6]:port`` (any script: a name may be IDN)."""
    if hostport.startswith("["):
        v6, _, rest = hostport[1:].partition("]")
        return bool(v6) and all(c in "0123456789abcdefABCDEF:." for c in v6) and _port_ok(rest)
    host, colon, port = hostport.partition(":")
    if colon and not _port_ok(":" + port):
        return False
    return _labels_ok(host.split("."), tld=False)


def _port_ok(rest: str) -> bool:
    return rest == "" or (rest[:1] == ":" and len(rest) <= 6 and rest[1:].isdigit())


def _labels_ok(labels: list[str], *, tld: bool = True) -> bool:
    """Every label holds letters, digits or inner hyphens; with *tld* the last looks like a
    top-level domain (two letters or more, or an ``xn--`` name)."""
    for label in labels:
        if not label or len(label) > _MAX_LABEL or label[0] == "-" or label[-1] == "-":
            return False
        if not all(c.isalnum() or c == "-" for c in label):
            return False
    last = labels[-1]
    return not tld or (len(last) >= 2 and (last.isalpha() or last.lower().startswith("xn--")))


def _local_ok(local: str) -> bool:
    return (
        0 < len(local) <= _MAX_LOCAL
        and all(c in _LOCAL for c in local)
        and local[0] != "."
        and local[-1] != "."
        and ".." not in local
    )


def _domain_ok(domain: str) -> bool:
    labels = domain.split(".")
    return len(domain) <= _MAX_DOMAIN and len(labels) >= 2 and _labels_ok(labels)


def _email(text: str, at: int, floor: int) -> Link | None:
    """The bare e-mail address around the ``@`` at *at*, if there is one (its local part
    not reaching back before *floor*)."""
    start = at
    lowest = max(floor, at - _MAX_LOCAL - 1)
    while start > lowest and text[start - 1] in _LOCAL:
        start -= 1
    while start < at and text[start] == ".":  # "...ann@example.com": the dots are prose
        start += 1
    before = text[start - 1] if start > 0 else " "
    if start == at or before.isalnum() or before in _EMAIL_GLUE or before in _LOCAL:
        return None
    match = _DOMAIN.match(text, at + 1)
    end = match.end() if match is not None else at + 1
    while end > at + 1 and text[end - 1] in ".-":
        end -= 1
    after = text[end : end + 1]
    if after and (after.isalnum() or after in "@_"):
        return None
    if not _local_ok(text[start:at]) or not _domain_ok(text[at + 1 : end]):
        return None
    return Link(start, end, "mailto:" + text[start:end])


# UTF-16 offsets -----------------------------------------------------------------------------
# Qt (QString, QTextLayout) counts UTF-16 code units: a character outside the Basic
# Multilingual Plane (most emoji) is two of them, and one Python str index.


def _units(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def to_utf16(text: str, index: int) -> int:
    """The UTF-16 offset of code point *index* of *text*."""
    return _units(text[:index])


def from_utf16(text: str, offset: int) -> int:
    """The code point index of UTF-16 *offset* in *text* (the character whose unit it is,
    when *offset* falls inside a surrogate pair); ``len(text)`` at or past the end."""
    if text.isascii():
        return max(0, min(offset, len(text)))
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > offset:
            return index
    return len(text)


def utf16_links(text: str, links: Iterable[Link]) -> list[Link]:
    """*links* of *text* (code point offsets, in order) with UTF-16 offsets, in one pass."""
    if text.isascii():
        return list(links)
    out: list[Link] = []
    index = units = 0
    for link in links:
        start = units + _units(text[index : link.start])
        end = start + _units(text[link.start : link.end])
        out.append(Link(start, end, link.url))
        index, units = link.end, end
    return out


# desktopchat:// links ---------------------------------------------------------------------
SCHEME = "desktopchat"
MAX_LINK = 1024
"""The longest link accepted (characters)."""


class InvalidLinkError(CoreError):
    """A link the app cannot open; its message says why, in words for the user."""


class LinkKind(StrEnum):
    CONVERSATION = "conversation"
    BOOKING = "booking"
    SKILL = "skill"


@dataclass(frozen=True, slots=True)
class DeepLink:
    """What a link opens."""

    kind: LinkKind
    id: str

    def __str__(self) -> str:
        return f"{SCHEME}://{self.kind.value}/{self.id}"


def parse_link(text: str) -> DeepLink:
    """The item *text* (``desktopchat://<kind>/<id>``) names; InvalidLinkError otherwise.

    The id is one key of the data tree (percent-escapes decoded); nothing may follow it but
    a slash; queries, fragments, user names and ports are refused."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidLinkError("the link is empty")
    text = text.strip()
    if len(text) > MAX_LINK:
        raise InvalidLinkError(f"the link is longer than {MAX_LINK} characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidLinkError(f"the link is malformed ({exc})") from exc
    if parts.scheme.lower() != SCHEME:
        raise InvalidLinkError(f"only {SCHEME}:// links open here")
    if parts.query or parts.fragment or parts.username or parts.password or port is not None:
        raise InvalidLinkError("the link carries more than a kind and an id")
    kinds = ", ".join(kind.value for kind in LinkKind)
    try:
        kind = LinkKind(parts.hostname or "")
    except ValueError:
        raise InvalidLinkError(f"the link must name one of: {kinds}") from None
    segments = parts.path.split("/")
    if segments[:1] != [""] or len(segments) not in (2, 3) or segments[2:] not in ([], [""]):
        raise InvalidLinkError(f"the link must be {SCHEME}://{kind.value}/<id>")
    item = unquote(segments[1])
    try:
        check_key(item)
    except InvalidPathError as exc:
        raise InvalidLinkError(f"the link's id is not valid ({exc})") from exc
    return DeepLink(kind, item)
