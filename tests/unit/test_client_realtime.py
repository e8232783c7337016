"""RealtimeClient against an in-process Socket.IO server speaking docs/realtime.md's contract:
handshake refresh after a 401, rooms and typing out, events in, reconnects, a missing server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web

from desktop_chat.client.events import (
    ChatEvent,
    ConnectionStateChanged,
    EventBus,
    PresenceChanged,
    TypingChanged,
)
from desktop_chat.client.realtime import RealtimeClient
from desktop_chat.client.realtime_wire import (
    Ack,
    parse_ack,
    parse_notification,
    parse_presence,
    parse_refusal,
)
from desktop_chat.client.typing_state import InboundTyping, OutboundTyping

ME, YOU, THEM = "a" * 28, "b" * 28, "c" * 28
CID = f"{ME}_{YOU}"
NOTE = {"kind": "message", "title": "Bob", "body": "hi", "createdAt": 5, "read": False}


class Tokens:
    """A TokenSource: "t1", then "t2" after a refresh, and so on."""

    def __init__(self) -> None:
        self.current = "t1"
        self.refreshes = 0

    async def token(self) -> str:
        return self.current

    async def force_refresh(self, stale: str | None = None) -> str:
        if stale is None or stale == self.current:
            self.refreshes += 1
            self.current = f"t{self.refreshes + 1}"
        return self.current


class FakeServer:
    """The server side of the contract, reduced: tokens in *valid*, CID the only room."""

    def __init__(self, valid: set[str]) -> None:
        self.valid = valid
        self.seen: list[tuple[str, Any]] = []
        self.sids: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        sio = self.sio = socketio.AsyncServer(async_mode="aiohttp")

        async def connect(sid: str, environ: Any, auth: Any = None) -> None:
            token = auth.get("token") if isinstance(auth, dict) else None
            self.seen.append(("connect", token))
            if token not in self.valid:
                raise socketio.exceptions.ConnectionRefusedError("expired", {"code": 401})
            self.sids.append(sid)

        async def join(sid: str, data: Any = None) -> dict[str, Any]:
            self.seen.append(("join", data))
            if data != {"conversationId": CID}:
                return {"ok": False, "error": {"code": 403, "message": "not a participant"}}
            await sio.enter_room(sid, CID)
            return {"ok": True}

        async def other(event: str, sid: str, data: Any = None) -> dict[str, Any]:
            self.seen.append((event, data))
            return {"ok": True}

        sio.on("connect", connect)
        sio.on("join", join)
        sio.on("*", other)
        app = web.Application()
        sio.attach(app)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self, *, goodbye: bool = True) -> None:
        """Stop serving; *goodbye*: disconnect each socket first (else they just break)."""
        if self._runner is not None:
            for sid in list(self.sids) if goodbye else []:
                with contextlib.suppress(Exception):
                    await self.sio.disconnect(sid)
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, event: str) -> int:
        return sum(name == event for name, _ in self.seen)


class Rig:
    def __init__(self, server_url: str, tokens: Tokens) -> None:
        self.http = aiohttp.ClientSession()
        self.bus = EventBus()
        self.events = self.bus.stream()
        self.seen: list[ChatEvent] = []
        self.pushed: list[tuple[str, Any]] = []
        self.client = RealtimeClient(
            server_url, ME, tokens, self.bus, self.push, http=self.http, backoff=(0.05, 0.3)
        )

    async def close(self) -> None:
        await self.client.close()
        await self.http.close()

    async def push(self, batch: list[tuple[str, Any]]) -> None:
        self.pushed.extend(batch)

    def drain(self) -> list[ChatEvent]:
        while (event := self.events.get_nowait()) is not None:
            self.seen.append(event)
        return self.seen


async def until(predicate: Callable[[], bool], seconds: float = 20.0) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.02)


def run(main: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(60):
            await main()

    asyncio.run(bounded())


def test_a_refused_token_is_refreshed_then_rooms_typing_and_events_flow() -> None:
    async def main() -> None:
        server = FakeServer({"t2"})
        await server.start()
        tokens = Tokens()
        rig = Rig(server.url, tokens)
        client = rig.client
        try:
            client.enter(CID)
            client.start()
            await until(lambda: client.joined == CID)
            assert tokens.refreshes == 1 and client.refusals == 1
            assert [t for name, t in server.seen if name == "connect"] == ["t1", "t2"]
            assert ConnectionStateChanged(True, "realtime") in rig.drain()

            client.typing(CID)
            client.typing(CID)  # throttled
            client.stop_typing(CID)
            await until(lambda: server.count("typing") == 2)
            typing = [data for name, data in server.seen if name == "typing"]
            assert typing == [
                {"conversationId": CID, "isTyping": True},
                {"conversationId": CID, "isTyping": False},
            ]
            assert (await client.join(f"{ME}_{THEM}")) == Ack(False, 403, "not a participant")

            sid = server.sids[-1]
            typing_from = {"conversationId": CID, "userId": YOU, "isTyping": True}
            await server.sio.emit("user-typing", {"bad": 1}, to=sid)  # malformed: dropped
            await server.sio.emit("presence", {"userId": YOU, "online": "yes"}, to=sid)
            await server.sio.emit("notification", {"id": "n1", "kind": "??"}, to=sid)
            await server.sio.emit("user-typing", typing_from, to=sid)
            await server.sio.emit("presence", {"userId": YOU, "online": True}, to=sid)
            await server.sio.emit("notification", {"id": "n1", **NOTE}, to=sid)
            await until(lambda: rig.pushed == [("n1", NOTE)])
            await until(lambda: TypingChanged(CID, YOU, True) in rig.drain())
            assert client.presence(YOU) == PresenceChanged(YOU, True, None)
            assert sum(isinstance(e, PresenceChanged) for e in rig.drain()) == 1
            assert client.pushes == 1

            # Timers, shortened: a received state not renewed hides by itself; my typing
            # stops by itself when the keystrokes pause.
            client.inbound = InboundTyping(ME, shown_for=0.3)
            client.outbound = OutboundTyping(idle_stop=0.3)
            await server.sio.emit("user-typing", typing_from, to=sid)
            await until(lambda: client.inbound.is_typing(CID, YOU))
            await until(lambda: not client.inbound.is_typing(CID, YOU))
            assert rig.drain()[-1] == TypingChanged(CID, YOU, False)
            client.typing(CID)
            await until(lambda: server.count("typing") == 4)
            assert server.seen[-1] == ("typing", {"conversationId": CID, "isTyping": False})

            client.enter(None)  # leaving the conversation leaves its room
            await until(lambda: server.count("leave") == 1)
            assert client.joined is None
        finally:
            await rig.close()
            await server.stop()
        assert len(client.tasks) == 0

    run(main)


@pytest.mark.parametrize("goodbye", [True, False])
def test_reconnects_and_rejoins_after_the_server_went_away(goodbye: bool) -> None:
    """With a goodbye python-socketio stops, and the client's supervisor reconnects; when
    the connection just breaks, python-socketio's own reconnection does."""

    async def main() -> None:
        server = FakeServer({"t1"})
        await server.start()
        rig = Rig(server.url, Tokens())
        client = rig.client
        try:
            client.enter(CID)
            client.start()
            await until(lambda: client.joined == CID)
            await server.sio.emit(
                "user-typing", {"conversationId": CID, "userId": YOU, "isTyping": True}
            )
            await until(lambda: client.inbound.is_typing(CID, YOU))
            await server.stop(goodbye=goodbye)
            await until(lambda: not client.connected)
            # The typing shown is hidden at once: its stop may never come.
            assert TypingChanged(CID, YOU, False) in rig.drain()
            await asyncio.sleep(0.5)  # a few refused attempts
            await server.start()  # the same port
            await until(lambda: client.joined == CID)
            assert client.connections == 2 and server.count("join") == 2
            states = [e for e in rig.drain() if isinstance(e, ConnectionStateChanged)]
            assert [s.connected for s in states] == [True, False, True]
            assert {s.channel for s in states} == {"realtime"}
        finally:
            await rig.close()
            await server.stop()

    run(main)


@pytest.mark.parametrize("silent", [False, True])
def test_no_server_keeps_trying_quietly_and_closes_cleanly(silent: bool) -> None:
    """Nothing listening (refused at once), or a server that accepts and never answers (the
    close cancels a connect under way)."""

    async def main() -> None:
        async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # until the client goes
            writer.close()

        hole = await asyncio.start_server(mute, "127.0.0.1", 0)
        port = hole.sockets[0].getsockname()[1]
        if not silent:
            hole.close()
            await hole.wait_closed()
        rig = Rig(f"http://127.0.0.1:{port}", Tokens())
        client = rig.client
        client.enter(CID)
        client.start()
        client.typing(CID)  # not connected: dropped, nothing raised
        await asyncio.sleep(1.0)
        assert not client.connected and client.presence(YOU) is None
        assert silent or client.last_error
        await rig.close()
        assert len(client.tasks) == 0
        assert not any(isinstance(e, ConnectionStateChanged) for e in rig.drain())
        hole.close()
        await hole.wait_closed()

    run(main)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (({"ok": True},), Ack(True)),
        (({"ok": False, "error": {"code": 403, "message": "no"}},), Ack(False, 403, "no")),
        (({"ok": False, "error": {"code": True}},), Ack(False, 0, "")),
        ((), Ack(False, 0, "malformed answer: 'None'")),
    ],
)
def test_parse_ack(args: tuple[Any, ...], expected: Ack) -> None:
    assert parse_ack(args) == expected


def test_parse_refusal_presence_and_notification() -> None:
    assert parse_refusal({"message": "expired", "data": {"code": 401}}) == (401, "expired")
    assert parse_refusal("Connection refused by the server") == (
        0,
        "Connection refused by the server",
    )
    assert parse_presence({"userId": YOU, "online": False, "lastSeen": 17}) == PresenceChanged(
        YOU, False, 17
    )
    assert parse_presence({"userId": YOU, "online": False, "lastSeen": 17.0}) is not None
    for bad in (
        {"userId": YOU, "online": 1},
        {"userId": "x/y", "online": True},
        {"userId": YOU, "online": True, "lastSeen": -1},
        {"userId": YOU, "online": True, "lastSeen": True},
        {"userId": YOU, "online": True, "lastSeen": float("inf")},
        [YOU, True],
    ):
        assert parse_presence(bad) is None
    assert parse_notification({"id": "n1", **NOTE}) == ("n1", NOTE)
    assert parse_notification(NOTE) is None  # no id
    assert parse_notification({"id": "n1", **NOTE, "read": "no"}) is None
    assert str(Ack(False, 403, "no")) == "403 no" and str(Ack(True)) == "ok"
