"""The app's URL scheme: ``desktopchat://conversation/<id>``, ``booking/<id>``, ``skill/<id>``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from desktop_chat.core.errors import CoreError, InvalidPathError
from desktop_chat.core.paths import check_key

__all__ = ["MAX_LINK", "SCHEME", "DeepLink", "InvalidLinkError", "LinkKind", "parse_link"]

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
