"""The ChatClient's Socket.IO connection: presence, typing and instant notification pushes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import socketio  # type: ignore[import-untyped, unused-ignore]

from desktop_chat.client.errors import AuthError, ClientError
from desktop_chat.client.events import ConnectionStateChanged, EventBus, PresenceChanged
from desktop_chat.client.realtime_wire import (
    JOIN,
    LEAVE,
    NOTIFICATION,
    PRESENCE,
    TYPING,
    USER_TYPING,
    Ack,
    PresenceBook,
    PushHandler,
    conversation_payload,
    guarded,
    parse_ack,
    parse_notification,
    parse_presence,
    parse_refusal,
)
from desktop_chat.client.rtdb import TokenSource
from desktop_chat.client.transport import Backoff, TaskTracker
from desktop_chat.client.typing_state import (
    InboundTyping,
    OutboundTyping,
    TypingSignal,
    parse_user_typing,
)

__all__ = ["PushHandler", "RealtimeClient"]

log = logging.getLogger("desktop_chat.client")

_ROOM = None
"""An outbound operation: bring the joined room in line with the open conversation."""


class RealtimeClient:
    """One Socket.IO connection for a signed-in user, kept up until :meth:`close`.

    The handshake sends ``auth: {token}``, asked of the AuthClient at every (re)connect; a
    refusal with code 401 makes the next attempt refresh the token first. python-socketio
    reconnects after a drop; a supervisor task connects at first and whenever the library
    stops trying, with backoff, logging at INFO: a missing server never breaks the client.
    Inbound events become ChatClient events on *bus* (pushed notifications go to *on_push*);
    malformed ones are logged and dropped. Every task is tracked and ends with :meth:`close`.
    *http* is the aiohttp session to connect with; its owner closes it (after :meth:`close`).
    """

    def __init__(
        self,
        url: str,
        uid: str,
        auth: TokenSource,
        bus: EventBus,
        on_push: PushHandler,
        *,
        http: aiohttp.ClientSession,
        backoff: tuple[float, float] = (0.5, 15.0),
        connect_timeout: float = 10.0,
        ack_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.uid = uid
        self.auth = auth
        self.bus = bus
        self._on_push = on_push
        self.backoff = backoff
        self.connect_timeout = connect_timeout
        self.ack_timeout = ack_timeout
        self.tasks = TaskTracker("realtime")
        self.outbound = OutboundTyping(clock)
        self.inbound = InboundTyping(uid, clock)
        self._clock = clock
        self.connected = False
        self.connections = 0
        """Successful handshakes so far (a reconnect counts one more)."""
        self.refusals = 0
        """Handshakes refused with 401 so far (each one refreshes the token)."""
        self.pushes = 0
        """Well-formed notifications pushed so far."""
        self.last_error: str | None = None
        self.joined: str | None = None
        """The conversation whose room the server has me in."""
        self.join_answers: dict[str, Ack] = {}
        """The last answer to a join of each conversation."""
        self._want: str | None = None
        self._presence = PresenceBook()
        self._ops: asyncio.Queue[TypingSignal | None] = asyncio.Queue()
        self._pushes: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._pending: set[asyncio.Future[Ack]] = set()
        self._timer_wake = asyncio.Event()
        self._final = asyncio.Event()
        self._token: str | None = None
        self._refresh_next = False
        self._generation = 0
        self._closing = False
        base, cap = backoff
        self._sio = socketio.AsyncClient(
            reconnection=True,
            reconnection_attempts=0,
            reconnection_delay=base,
            reconnection_delay_max=cap,
            randomization_factor=0.5,
            handle_sigint=False,
            http_session=http,
        )
        for event, handler in {
            "connect": self._on_connect,
            "connect_error": self._on_connect_error,
            "disconnect": self._on_disconnect,
            "__disconnect_final": self._final.set,  # (the library gave up reconnecting)
            USER_TYPING: self._on_user_typing,
            PRESENCE: self._on_presence,
            NOTIFICATION: self._on_notification,
        }.items():
            self._sio.on(event, guarded(event, handler))

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background and keep connected."""
        self.tasks.spawn(self._supervise(), "connection")
        self.tasks.spawn(self._outbound(), "outbound")
        self.tasks.spawn(self._timers(), "typing timers")
        self.tasks.spawn(self._deliver_pushes(), "pushes")

    async def close(self) -> None:
        """Disconnect, stop reconnecting and end every task."""
        if self._closing:
            return
        self._closing = True
        await self.tasks.close()
        sio = self._sio
        try:
            async with asyncio.timeout(self.connect_timeout):
                await sio.shutdown()
                if sio.connected:
                    await sio.disconnect()
        except Exception as exc:
            log.info("realtime: unclean disconnect: %r", exc)
        with contextlib.suppress(Exception):
            if sio.eio.state != "disconnected":
                await sio.eio.disconnect(abort=True)
        self._lost()

    def reconnect_now(self) -> None:
        """Drop the connection (after a sleep, say) so that a fresh one is made at once."""
        if self.connected and not self._closing:
            self.tasks.spawn(self._sio.disconnect(), "reconnect")

    async def _supervise(self) -> None:
        backoff = Backoff(*self.backoff)
        while True:
            self._final.clear()
            try:
                await self._sio.connect(
                    self.url, auth=self._handshake_auth, wait_timeout=self.connect_timeout
                )
            except Exception as exc:
                with contextlib.suppress(Exception):
                    if self._sio.eio.state != "disconnected":
                        await self._sio.eio.disconnect(abort=True)
                delay = backoff.next_delay()
                reason = self.last_error or str(exc) or type(exc).__name__
                log.info(
                    "realtime: no connection to %s (%s); next try in %.1f s",
                    self.url,
                    reason,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            await self._final.wait()  # the library gave up reconnecting (or was told to)
            delay = backoff.next_delay()
            log.info("realtime: connection ended; reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _handshake_auth(self) -> dict[str, str]:
        """The handshake's ``auth``: a fresh ID token, refreshed first after a 401."""
        try:
            if self._refresh_next:
                self._refresh_next = False
                token = await self.auth.force_refresh(self._token)
            else:
                token = await self.auth.token()
        except ClientError as exc:
            level = logging.WARNING if isinstance(exc, AuthError) else logging.INFO
            log.log(level, "realtime: no ID token for the handshake: %s", exc)
            return {}
        self._token = token
        return {"token": token}

    # connection events ---------------------------------------------------------------------
    def _on_connect(self) -> None:
        if self._closing:
            return
        self.connections += 1
        self._generation += 1
        self.last_error = None
        log.info("realtime: connected to %s", self.url)
        self._set_state(True)
        self._ops.put_nowait(_ROOM)  # (re)join the open conversation

    def _on_connect_error(self, data: Any = None) -> None:
        code, message = parse_refusal(data)
        self.last_error = f"{code}: {message}" if code else message
        if code == 401:
            self.refusals += 1
            self._refresh_next = True

    def _on_disconnect(self, reason: Any = None) -> None:
        log.info("realtime: disconnected (%s)", reason)
        self._lost()

    def _lost(self) -> None:
        """The connection is gone: the server forgot my rooms and my typing."""
        self._generation += 1
        self.joined = None
        self.outbound.reset()
        for answer in self._pending:
            if not answer.done():
                answer.set_result(Ack(False, 0, "disconnected"))
        for change in self.inbound.clear():
            self.bus.publish(change)
        self._set_state(False)

    def _set_state(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            self.bus.publish(ConnectionStateChanged(connected, channel="realtime"))

    # inbound -------------------------------------------------------------------------------
    def _on_user_typing(self, data: Any = None) -> None:
        parsed = parse_user_typing(self.uid, data)
        if parsed is None:
            log.warning("realtime: dropped a malformed user-typing: %.200r", data)
            return
        for change in self.inbound.received(*parsed):
            self.bus.publish(change)
        self._timer_wake.set()

    def _on_presence(self, data: Any = None) -> None:
        presence = parse_presence(data)
        if presence is None:
            log.warning("realtime: dropped a malformed presence: %.200r", data)
            return
        if self._presence.update(presence):
            self.bus.publish(presence)

    def _on_notification(self, data: Any = None) -> None:
        parsed = parse_notification(data)
        if parsed is None:
            log.warning("realtime: dropped a malformed notification: %.200r", data)
            return
        self.pushes += 1
        self._pushes.put_nowait(parsed)

    async def _deliver_pushes(self) -> None:
        while True:
            batch = [await self._pushes.get()]
            while not self._pushes.empty():
                batch.append(self._pushes.get_nowait())
            try:
                await self._on_push(batch)
            except Exception:
                log.exception("realtime: %d pushed notifications not merged", len(batch))

    def note_presence(self, presence: PresenceChanged) -> None:
        """Presence learnt elsewhere (``userStatus`` read for a new contact): kept and
        announced like a pushed one, unless something newer is known."""
        if self._presence.update(presence):
            self.bus.publish(presence)

    def presence(self, uid: str) -> PresenceChanged | None:
        """The latest presence of *uid* received, or None."""
        return self._presence.get(uid)

    # outbound ------------------------------------------------------------------------------
    def enter(self, cid: str | None) -> None:
        """Make *cid* the open conversation (None: none): stop typing elsewhere, and join its
        room instead of the previous one's."""
        self._signal(self.outbound.stop() if self.outbound.active != cid else [])
        if cid != self._want:
            self._want = cid
            self._ops.put_nowait(_ROOM)

    def typing(self, cid: str) -> None:
        """A keystroke in *cid* (call it on every one: the rules throttle what is sent)."""
        self._signal(self.outbound.keystroke(cid))
        self._timer_wake.set()

    def stop_typing(self, cid: str | None = None) -> None:
        """I stopped typing in *cid* (sent the message, say); None: wherever I type."""
        self._signal(self.outbound.stop(cid))

    def _signal(self, signals: list[TypingSignal]) -> None:
        for signal in signals:
            self._ops.put_nowait(signal)

    async def join(self, cid: str) -> Ack:
        """Ask to join *cid*'s room now, without making it the open conversation."""
        ack = await self._request(JOIN, conversation_payload(cid))
        self.join_answers[cid] = ack
        return ack

    async def _outbound(self) -> None:
        """Sends, in order, typing signals and the room changes that precede them."""
        while True:
            op = await self._ops.get()
            try:
                if op is None:
                    await self._sync_room()
                else:
                    await self._send_typing(op)
            except Exception:
                log.exception("realtime: sending failed")

    async def _sync_room(self) -> None:
        if not self.connected:
            return
        generation, want = self._generation, self._want
        if self.joined is not None and self.joined != want:
            left, self.joined = self.joined, None
            ack = await self._request(LEAVE, conversation_payload(left))
            if not ack.ok:
                log.info("realtime: leaving %s: %s", left, ack)
        if want is None or self.joined == want:
            return
        ack = await self.join(want)
        if ack.ok and generation == self._generation:
            self.joined = want
        elif not ack.ok:
            log.info("realtime: cannot join %s: %s", want, ack)
            if ack.code in (0, 429, 503) and self.connected:
                self.tasks.spawn(self._sync_later(self.backoff[1] / 3), f"rejoin {want}")

    async def _sync_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if self.joined != self._want:
            self._ops.put_nowait(_ROOM)

    async def _send_typing(self, signal: TypingSignal) -> None:
        if not self.connected or signal.conversation_id != self.joined:
            return  # the server would refuse it: typing is only for the joined room
        try:
            await self._sio.emit(TYPING, signal.payload(), callback=self._typing_answer)
        except socketio.exceptions.SocketIOError as exc:
            log.debug("realtime: typing not sent: %s", exc)

    def _typing_answer(self, *args: Any) -> None:
        ack = parse_ack(args)
        if not ack.ok:
            log.info("realtime: typing refused: %s", ack)

    async def _request(self, event: str, payload: dict[str, Any]) -> Ack:
        """Emit *event* and wait for its ack (a drop or a timeout answers ``code`` 0)."""
        answer: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()

        def callback(*args: Any) -> None:
            if not answer.done():
                answer.set_result(parse_ack(args))

        self._pending.add(answer)
        try:
            await self._sio.emit(event, payload, callback=callback)
            async with asyncio.timeout(self.ack_timeout):
                return await answer
        except TimeoutError:
            return Ack(False, 0, f"no answer to {event} in {self.ack_timeout:g} s")
        except socketio.exceptions.SocketIOError as exc:
            return Ack(False, 0, f"not connected: {exc}")
        finally:
            self._pending.discard(answer)

    async def _timers(self) -> None:
        """Sends the idle stop of my typing and hides others' typing not renewed in time."""
        while True:
            self._timer_wake.clear()
            due = [d for d in (self.outbound.deadline(), self.inbound.deadline()) if d is not None]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, min(due) - self._clock()) if due else None):
                    await self._timer_wake.wait()
            self._signal(self.outbound.expire())
            for change in self.inbound.expire():
                self.bus.publish(change)
