"""Socket.IO test peers: python-socketio clients that record what they receive."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import socketio

from desktop_chat.core.model import conversation_id
from tests.support.auth import sign_up
from tests.support.server import ServerProcess


class Peer:
    """One socket of one user: connects with ``auth: {token}``, keeps every event."""

    def __init__(self, url: str, token: str | None, uid: str = "") -> None:
        self.url = url
        self.token = token
        self.uid = uid
        self.client = socketio.AsyncClient(handle_sigint=False, reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.refused: Any = None
        self._changed = asyncio.Event()
        self.client.on("*", self._record)
        self.client.on("connect_error", self._connect_error)

    async def _record(self, event: str, data: Any = None) -> None:
        self.events.append((event, data))
        self._changed.set()

    async def _connect_error(self, data: Any = None) -> None:
        self.refused = data
        self._changed.set()

    async def connect(self) -> Peer:
        auth = {"token": self.token} if self.token is not None else None
        await self.client.connect(self.url, auth=auth, transports=["websocket"], wait_timeout=10)
        return self

    async def call(self, event: str, data: Any) -> Any:
        return await self.client.call(event, data, timeout=10)

    async def emit(self, event: str, data: Any) -> None:
        await self.client.emit(event, data)

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 15.0) -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"not met in {seconds} s; events: {self.events[-10:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    async def first_of(self, event: str, seconds: float = 15.0) -> Any:
        """The first *event* received, waiting for it if none came yet."""
        await self.wait_for(lambda: bool(self.of(event)), seconds)
        return self.of(event)[0]

    async def close(self) -> None:
        await self.client.disconnect()


def account(server: ServerProcess, name: str) -> tuple[str, str]:
    """A new account on *server*: ``(uid, id token)``."""
    answer = sign_up(server, f"{name}@example.com")
    return answer["localId"], answer["idToken"]


def link(server: ServerProcess, a: str, b: str, names: tuple[str, str] = ("A", "B")) -> str:
    """Make *a* and *b* share a conversation (written as admin); its id."""
    cid = conversation_id(a, b)
    server.put(f"conversations/{cid}/metadata", {"participants": {a: True, b: True}})
    server.put(f"userConversations/{a}/{cid}", {"otherUser": {"id": b, "name": names[1]}})
    server.put(f"userConversations/{b}/{cid}", {"otherUser": {"id": a, "name": names[0]}})
    return cid
