"""What the bridge hands the widgets besides events: skills, search hits, opened conversations."""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from desktop_chat.client.errors import (
    AuthError,
    ClientError,
    InvalidRequestError,
    NetworkError,
    NotSignedInError,
    PermissionDeniedError,
    TokenExpiredError,
)
from desktop_chat.core.model import (
    ConversationEntry,
    DeliveryState,
    Message,
    is_uid,
)

if TYPE_CHECKING:
    from desktop_chat.client.chat_client import ChatClient

__all__ = [
    "OpenedConversation",
    "SearchHit",
    "Skill",
    "human_error",
    "read_skills",
    "search_hits",
    "skill_from",
    "snippet",
    "unsent_count",
]

log = logging.getLogger("desktop_chat.ui")

SNIPPET = 80
"""Characters of context shown around a search hit."""


def human_error(action: str, exc: BaseException) -> str:
    """A sentence a person understands for *exc*, raised while trying to *action*."""
    if isinstance(exc, NotSignedInError | AuthError | TokenExpiredError):
        reason = "you are signed out. Please sign in again"
    elif isinstance(exc, PermissionDeniedError):
        reason = "the server did not allow it"
    elif isinstance(exc, NetworkError):
        reason = "the server cannot be reached. Check your connection and try again"
    elif isinstance(exc, InvalidRequestError):
        detail = str(exc).strip().rstrip(".") or "the request was not valid"
        reason = detail[0].lower() + detail[1:]
    elif isinstance(exc, ClientError):
        reason = "something went wrong on the server. Please try again"
    else:
        reason = "something unexpected went wrong"
    return f"Could not {action}: {reason}."


@dataclass(frozen=True, slots=True)
class Skill:
    """One ``skills/{skillId}`` record, with its provider's display name."""

    id: str
    title: str
    provider_id: str
    price: float
    duration_minutes: int
    description: str = ""
    provider_name: str = ""

    def with_provider(self, name: str) -> Skill:
        return replace(self, provider_name=name)

    @property
    def price_text(self) -> str:
        whole = float(self.price).is_integer()
        return f"{self.price:.0f}" if whole else f"{self.price:.2f}"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def skill_from(skill_id: object, value: object) -> Skill | None:
    """A ``skills/{skillId}`` record (docs/data-model.md), or None when it is malformed."""
    if not isinstance(skill_id, str) or not skill_id or not isinstance(value, dict):
        return None
    title = value.get("title")
    provider = value.get("providerId")
    price = _number(value.get("price"))
    duration = _number(value.get("durationMinutes"))
    description = value.get("description", "")
    if not isinstance(title, str) or not title.strip() or not is_uid(provider):
        return None
    if price is None or price < 0 or duration is None or not isinstance(description, str):
        return None
    return Skill(skill_id, title.strip(), provider, price, int(duration), description)


async def read_skills(client: ChatClient) -> list[Skill]:
    """Every skill in ``skills/`` (title order), with its provider's name."""
    raw = await client.db.get("skills")
    found = [s for key, value in (raw or {}).items() if (s := skill_from(key, value))]
    names: dict[str, str] = {}
    for uid in {skill.provider_id for skill in found if is_uid(skill.provider_id)}:
        try:
            profile = await client.profile(uid)
        except ClientError as exc:
            log.info("no profile for provider %s: %s", uid, exc)
            profile = None
        names[uid] = profile.display_name if profile is not None else "Unknown provider"
    found = [s.with_provider(names.get(s.provider_id, "Unknown provider")) for s in found]
    return sorted(found, key=lambda skill: (skill.title.casefold(), skill.id))


async def unsent_count(client: ChatClient) -> int:
    """How many messages wait in the account's outbox to be sent."""
    outbox = client.outbox
    return 0 if outbox is None else await asyncio.to_thread(outbox.unsent_count)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A cached message whose text contains the query."""

    conversation_id: str
    name: str
    message: Message
    snippet: str


@dataclass(frozen=True, slots=True)
class OpenedConversation:
    """What a conversation shows when it opens: its newest messages (oldest first), the
    delivery states the messages alone cannot tell (my unsent and failed ones), its draft."""

    conversation_id: str
    messages: list[Message]
    states: dict[str, tuple[DeliveryState, str | None]]
    draft: str
    blocked: bool


def snippet(text: str, start: int, length: int, width: int = SNIPPET) -> str:
    """*text* around ``text[start:start + length]``, on one line, with ellipses where cut."""
    flat = " ".join(text.split()) if "\n" in text or "  " in text else text
    if len(flat) <= width:
        return flat
    if flat is not text:
        start = max(0, flat.casefold().find(text[start : start + length].casefold()))
    left = max(0, start - width // 3)
    right = min(len(flat), left + width)
    left = max(0, min(left, right - width))
    space = flat.find(" ", left, start) if left else -1
    if 0 <= space < left + 15:  # start at a word
        left = space + 1
    return ("…" if left else "") + flat[left:right] + ("…" if right < len(flat) else "")


def search_hits(
    found: list[Message], entries: list[ConversationEntry], query: str
) -> list[SearchHit]:
    """The client's full-text matches *found* as hits: the conversation's name and a snippet
    around the first query word (at the start when only a folded form matched)."""
    names = {entry.conversation_id: entry.other_user_name for entry in entries}
    words = [word.casefold() for word in query.split() if word.strip()]
    hits: list[SearchHit] = []
    for message in found:
        name = names.get(message.conversation_id)
        if name is None or message.text is None:
            continue  # a conversation no longer listed
        folded = message.text.casefold()
        at, length = 0, 0
        for word in words:
            where = folded.find(word)
            if where >= 0:
                at, length = where, len(word)
                break
        hits.append(
            SearchHit(message.conversation_id, name, message, snippet(message.text, at, length))
        )
    return hits
