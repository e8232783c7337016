"""The Socket.IO layer: authenticated sockets, conversation rooms, typing, presence and pushes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import socketio
from aiohttp import web

from desktop_chat.core.errors import CoreError
from desktop_chat.core.model import other_participant
from desktop_chat.core.paths import Path
from desktop_chat.core.values import Node
from desktop_chat.server.limits import LimitError, Limits
from desktop_chat.server.metrics import Metrics
from desktop_chat.server.presence import Presence, PresenceError
from desktop_chat.server.realtime_auth import TokenRefused, TokenVerifier
from desktop_chat.server.realtime_data import RealtimeData, RealtimeDataError
from desktop_chat.server.realtime_events import (
    OK,
    Ack,
    EventError,
    RealtimeSettings,
    SocketState,
    UserLocks,
    conversation_payload,
    error_ack,
    is_environ,
    limited,
    notifications_in,
    typing_payload,
)

__all__ = ["Realtime", "RealtimeSettings"]

log = logging.getLogger("desktop_chat.server")

PUBLISHERS = 3  # (emits at once: with Redis, the connections a node keeps, however busy)


class Realtime:
    """python-socketio's AsyncServer with our handlers, on an aiohttp application.

    Each socket is authenticated at the handshake and joins its uid's room. Typing is relayed
    only to the conversation's other participant (the uid room: every device of theirs, on any
    node, and none of the sender's). Presence is counted per user over all sockets and nodes;
    the first connect and the last disconnect write ``userStatus/{uid}`` and tell the user's
    contacts. Notifications created in the store are pushed to their owner's room.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        data: RealtimeData,
        presence: Presence,
        metrics: Metrics,
        *,
        redis_url: str | None = None,
        settings: RealtimeSettings | None = None,
        clock_ms: Callable[[], int] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.verifier = verifier
        self.data = data
        self.presence = presence
        self.metrics = metrics
        self.settings = settings or RealtimeSettings()
        self.limits = limits or Limits()
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        manager = socketio.AsyncRedisManager(redis_url) if redis_url else None
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp",
            client_manager=manager,
            cors_allowed_origins=None,  # (same origin only: no CORS unless configured)
            logger=False,
            engineio_logger=False,
            max_http_buffer_size=self.settings.max_payload,
        )
        self._publishing = asyncio.Semaphore(PUBLISHERS)
        self._sockets: dict[str, SocketState] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._user_locks = UserLocks()
        self._lock = self._user_locks.hold
        self._closing = False
        presence.on_lost = self._lost
        presence.on_regained = self._regained
        sio = self.sio
        sio.on("connect", self._connect)
        sio.on("disconnect", self._disconnect)
        sio.on("join", limited("join", self._join, self._refuse))
        sio.on("leave", limited("leave", self._leave, self._refuse))
        sio.on("typing", limited("typing", self._typing, self._refuse))
        sio.on("*", self._unknown)

    # lifecycle -----------------------------------------------------------------------------
    def attach(self, app: web.Application) -> None:
        """Serve Socket.IO on *app* at ``/socket.io/``."""
        self.sio.attach(app, socketio_path="socket.io")

    async def start(self) -> None:
        await self.presence.start()

    async def close(self) -> None:
        """Disconnect every socket, mark this node's users offline, stop every task."""
        self._closing = True
        for sid in list(self._sockets):
            with contextlib.suppress(Exception):
                await self.sio.disconnect(sid)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(PresenceError):
            gone = await self.presence.close()
            now = self._clock_ms()
            for uid in gone:
                with contextlib.suppress(RealtimeDataError):
                    await self.data.write_status(uid, False, now)
        await self.data.close()

    def connections(self) -> int:
        return len(self._sockets)

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception:  # (a cancellation is no failure: it goes through)
                self.metrics.error("internal")
                log.exception("realtime: %s failed", what)

        task = asyncio.get_running_loop().create_task(guarded(), name=f"realtime {what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # connections ---------------------------------------------------------------------------
    async def _connect(
        self, sid: str, environ: Any = None, auth: Any = None, *_: Any
    ) -> Ack | None:
        if not is_environ(environ):  # a client's own event named "connect"
            return self._refuse("connect", 400, "'connect' is not a client's event")
        if self._closing:
            raise socketio.exceptions.ConnectionRefusedError(
                "the server is shutting down", {"code": 503}
            )
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            uid = await self.verifier.verify(token)
        except TokenRefused as exc:
            self.metrics.error("handshake")
            log.info("realtime: handshake refused (%d): %s", exc.code, exc.message)
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code}
            ) from None
        try:
            self.limits.socket_opened(uid)
        except LimitError as exc:
            self.metrics.error("handshake_429")
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"code": 429}) from None
        request = environ.get("aiohttp.request")
        address = getattr(request, "remote", None) or "unknown"
        self._sockets[sid] = SocketState(uid, address, str(token))
        await self.sio.enter_room(sid, uid)
        self.metrics.connected()
        self._spawn(self._came(sid, uid), f"connect {uid}")
        return None

    def tokens(self) -> set[str]:
        """The ID tokens the connected sockets came with."""
        return {state.token for state in self._sockets.values()}

    async def revoke(self, still_valid: Callable[[str], bool]) -> int:
        """Disconnect the sockets whose ID token *still_valid* now refuses (signed out
        everywhere, password changed, disabled): they get no more pushes or presence."""
        gone = [sid for sid, state in self._sockets.items() if not still_valid(state.token)]
        for sid in gone:
            await self.sio.disconnect(sid)
        return len(gone)

    async def _came(self, sid: str, uid: str) -> None:
        """After a connect: count the socket, tell contacts if the user came online, and give
        the new socket its contacts' presence."""
        async with self._lock(uid):
            try:
                first = await self.presence.connected(uid)
            except PresenceError as exc:
                self.metrics.error("presence")
                log.warning("realtime: presence of %s not counted: %s", uid, exc)
                first = False
            contacts = await self._contacts(uid)
            if first:
                await self._announce(uid, True, contacts)
        if sid not in self._sockets:
            return  # gone already
        try:
            statuses = await self.data.statuses(contacts)
            online = await self.presence.online(contacts)
        except (RealtimeDataError, PresenceError) as exc:
            self.metrics.error("presence")
            log.warning("realtime: no presence snapshot for %s: %s", uid, exc)
            return
        for contact in sorted(contacts):
            status = statuses.get(contact)
            last_seen = status.last_seen if status is not None else None
            payload = {"userId": contact, "online": contact in online, "lastSeen": last_seen}
            await self._emit("presence", payload, to=sid)
            self.metrics.deliveries(1)

    async def _disconnect(self, sid: str, *_reason: Any) -> Ack | None:
        if self.sio.manager.is_connected(sid, "/"):  # a client's own event named "disconnect"
            return self._refuse("disconnect", 400, "'disconnect' is not a client's event")
        state = self._sockets.pop(sid, None)
        if state is not None:
            self.limits.socket_closed(state.uid)
            self.metrics.disconnected()
            for cid in list(state.typing):
                self._stop_typing(state, cid, announce=True)
            self._spawn(self._went(state.uid), f"disconnect {state.uid}")
        return None

    async def _went(self, uid: str) -> None:
        async with self._lock(uid):
            try:
                last = await self.presence.disconnected(uid)
            except PresenceError as exc:
                self.metrics.error("presence")
                log.warning("realtime: presence of %s not counted down: %s", uid, exc)
                return
            if last:
                await self._announce(uid, False, await self._contacts(uid))

    async def _lost(self, uids: list[str]) -> None:
        """Users whose last sockets were on a node that died: offline now."""
        await self._settle(uids, online=False)

    async def _regained(self, uids: list[str]) -> None:
        """Users who connected while Redis was away, counted now that it is back: online."""
        await self._settle(uids, online=True)

    async def _settle(self, uids: list[str], *, online: bool) -> None:
        for uid in uids:
            async with self._lock(uid):
                try:
                    now_online = bool(await self.presence.online([uid]))
                except PresenceError as exc:
                    self.metrics.error("presence")
                    log.warning("realtime: presence of %s unknown: %s", uid, exc)
                    continue
                if now_online == online:  # (not changed back meanwhile)
                    await self._announce(uid, online, await self._contacts(uid))

    async def _contacts(self, uid: str) -> frozenset[str]:
        try:
            return await self.data.contacts(uid)
        except RealtimeDataError as exc:
            self.metrics.error("data")
            log.warning("realtime: contacts of %s unknown: %s", uid, exc)
            return frozenset()

    async def _announce(self, uid: str, online: bool, contacts: frozenset[str]) -> None:
        """Write ``userStatus/{uid}`` and push ``presence`` to each contact."""
        now = self._clock_ms()
        try:
            await self.data.write_status(uid, online, now)
        except RealtimeDataError as exc:
            self.metrics.error("data")
            log.warning("realtime: userStatus of %s not written: %s", uid, exc)
        payload = {"userId": uid, "online": online, "lastSeen": now}
        for contact in sorted(contacts):
            await self._emit("presence", payload, room=contact)
        self.metrics.deliveries(len(contacts))

    # events --------------------------------------------------------------------------------
    def _socket(self, sid: str, event: str) -> SocketState | None:
        """The socket sending *event*, if connected; LimitError if its user or address is
        sending too many events."""
        self.metrics.event(event)
        state = self._sockets.get(sid)
        if state is not None:
            self.limits.event(state.uid, state.address)
        return state

    async def _join(self, sid: str, data: Any = None) -> Ack:
        state = self._socket(sid, "join")
        if state is None:
            return error_ack(401, "not connected")
        try:
            cid = conversation_payload(data)
            other_participant(cid, state.uid)
        except EventError as exc:
            return self._refuse("join", exc.code, exc.message)
        except CoreError:
            return self._refuse("join", 403, "not a participant of this conversation")
        try:
            participants = await self.data.participants(cid)
        except RealtimeDataError as exc:
            log.warning("realtime: cannot check %s: %s", cid, exc)
            return self._refuse("join", 503, "cannot check the conversation now")
        if participants is None or state.uid not in participants:
            return self._refuse("join", 403, "not a participant of this conversation")
        if sid not in self._sockets:
            return error_ack(401, "not connected")
        await self.sio.enter_room(sid, cid)
        state.joined.add(cid)
        return OK

    async def _leave(self, sid: str, data: Any = None) -> Ack:
        state = self._socket(sid, "leave")
        if state is None:
            return error_ack(401, "not connected")
        try:
            cid = conversation_payload(data)
        except EventError as exc:
            return self._refuse("leave", exc.code, exc.message)
        if cid in state.joined:
            self._stop_typing(state, cid, announce=True)
            state.joined.discard(cid)
            await self.sio.leave_room(sid, cid)
        return OK

    async def _typing(self, sid: str, data: Any = None) -> Ack:
        state = self._socket(sid, "typing")
        if state is None:
            return error_ack(401, "not connected")
        if not state.limiter.allow(self.settings.typing_rate, self.settings.typing_burst):
            return self._refuse("typing", 429, "too many typing events")
        try:
            cid, is_typing = typing_payload(data)
        except EventError as exc:
            return self._refuse("typing", exc.code, exc.message)
        if cid not in state.joined:
            return self._refuse("typing", 403, "join the conversation first")
        if is_typing:
            self._stop_typing(state, cid, announce=False)
            loop = asyncio.get_running_loop()
            state.typing[cid] = loop.call_later(
                self.settings.typing_timeout, self._typing_expired, state, cid
            )
            # A renewal is relayed too: the other side hides a state not renewed in 6 s.
            await self._relay_typing(state.uid, cid, True)
        elif cid in state.typing:
            self._stop_typing(state, cid, announce=False)
            await self._relay_typing(state.uid, cid, False)
        return OK

    def _typing_expired(self, state: SocketState, cid: str) -> None:
        if state.typing.pop(cid, None) is not None:
            self._spawn(self._relay_typing(state.uid, cid, False), f"typing expiry {cid}")

    def _stop_typing(self, state: SocketState, cid: str, *, announce: bool) -> None:
        handle = state.typing.pop(cid, None)
        if handle is None:
            return
        handle.cancel()
        if announce:
            self._spawn(self._relay_typing(state.uid, cid, False), f"typing stop {cid}")

    async def _relay_typing(self, uid: str, cid: str, is_typing: bool) -> None:
        try:
            other = other_participant(cid, uid)
        except CoreError:
            return
        payload = {"conversationId": cid, "userId": uid, "isTyping": is_typing}
        await self._emit("user-typing", payload, room=other)
        self.metrics.deliveries(1)

    async def _unknown(self, event: str, sid: Any = None, *_: Any) -> Ack:
        if event in self._sockets:  # a client's own event named "*": its sid came first
            return self._refuse("unknown", 400, "'*' is not an event name")
        try:
            self._socket(sid, "other")
        except LimitError as exc:
            return self._refuse("unknown", 429, exc.message)
        return self._refuse("unknown", 400, f"unknown event {str(event)[:40]!r}")

    async def _emit(self, event: str, payload: dict[str, Any], **to: str) -> None:
        async with self._publishing:  # (each is a Redis publish: a pooled connection)
            await self.sio.emit(event, payload, **to)

    def _refuse(self, event: str, code: int, message: str) -> Ack:
        self.metrics.error(f"{event}_{code}")
        log.debug("realtime: %s refused (%d): %s", event, code, message)
        return error_ack(code, message)

    # pushes --------------------------------------------------------------------------------
    def on_commit(self, changes: list[tuple[Path, Node]]) -> None:
        """The store committed a write: push the notifications it created or replaced."""
        for uid, payload in notifications_in(changes):
            self._spawn(self._emit_push(uid, payload), f"push {payload['id']}")

    async def _emit_push(self, uid: str, payload: dict[str, Any]) -> None:
        await self._emit("notification", payload, room=uid)
        self.metrics.deliveries(1)
