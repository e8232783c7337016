"""The load generator's world: users signed up, profiles and conversations made as the app would."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from desktop_chat.core import writes
from desktop_chat.core.model import Role, UserProfile, conversation_id

IDENTITY = "identitytoolkit.googleapis.com/v1/accounts"
PASSWORD = "load-secret-1"
OK = (200, 204)
"""Success: 204 is the answer to ``print=silent``."""


class LoadError(Exception):
    """The load generator could not do what it was asked (a refused setup write, say)."""


@dataclass(frozen=True)
class Person:
    """A signed-up user: their profile and ID token."""

    profile: UserProfile
    token: str

    @property
    def uid(self) -> str:
        return self.profile.uid


@dataclass(slots=True)
class Pair:
    """One conversation and its two people."""

    cid: str
    a: Person
    b: Person


class Backend:
    """A desktop-chat-server seen through its public REST API, as any client sees it."""

    def __init__(self, url: str, namespace: str, session: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self.namespace = namespace
        self.session = session

    async def sign_up(self, email: str) -> tuple[str, str]:
        body = {"email": email, "password": PASSWORD, "returnSecureToken": True}
        async with self.session.post(
            f"{self.url}/{IDENTITY}:signUp", params={"key": "load"}, json=body
        ) as answer:
            payload = await answer.json(content_type=None)
            if answer.status != 200:
                raise LoadError(f"sign-up of {email}: {answer.status} {payload}")
            return payload["localId"], payload["idToken"]

    async def write(self, method: str, path: str, value: Any, token: str) -> int:
        """The status of one write (the body is read and dropped)."""
        async with self.session.request(
            method,
            f"{self.url}/{path}.json",
            params={"ns": self.namespace, "auth": token, "print": "silent"},
            data=orjson.dumps(value),
            headers={"Content-Type": "application/json"},
        ) as answer:
            await answer.read()
            return answer.status

    async def read(self, path: str, token: str) -> Any:
        async with self.session.get(
            f"{self.url}/{path}.json", params={"ns": self.namespace, "auth": token}
        ) as answer:
            if answer.status != 200:
                raise LoadError(f"read of {path}: {answer.status}")
            return orjson.loads(await answer.read())


async def make_world(backend: Backend, conversations: int, tag: str) -> list[Pair]:
    """*conversations* conversations of two new people each (a student and a provider)."""

    async def person(n: int, role: Role) -> Person:
        uid, token = await backend.sign_up(f"{tag}-{n}@example.com")
        profile = UserProfile(uid, f"Load {n}", role)
        status = await backend.write("PUT", f"users/{uid}", profile.to_record(), token)
        if status not in OK:
            raise LoadError(f"profile of {uid}: {status}")
        return Person(profile, token)

    async def pair(n: int) -> Pair:
        a = await person(2 * n, Role.STUDENT)
        b = await person(2 * n + 1, Role.PROVIDER)
        status = await backend.write(
            "PATCH", "", writes.open_conversation(a.profile, b.profile), a.token
        )
        if status not in OK:
            raise LoadError(f"conversation {n}: {status}")
        return Pair(conversation_id(a.uid, b.uid), a, b)

    pairs: list[Pair] = []
    for start in range(0, conversations, 20):  # (20 at a time: the sign-ups hash passwords)
        batch = range(start, min(conversations, start + 20))
        pairs += await asyncio.gather(*(pair(n) for n in batch))
    return pairs


def people(pairs: list[Pair]) -> list[Person]:
    return [person for pair in pairs for person in (pair.a, pair.b)]
