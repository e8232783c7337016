"""Database streams: one subscription keeps a location's value live over SSE, reconnecting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from desktop_chat.client.errors import (
    ClientError,
    NetworkError,
    PermissionDeniedError,
    ProtocolError,
    TokenExpiredError,
    database_error,
)
from desktop_chat.client.sse import (
    SseEvent,
    SseParser,
    apply_event,
    cancel_message,
    event_payload,
)
from desktop_chat.client.transport import Backoff, wait_set
from desktop_chat.core.paths import Path, join
from desktop_chat.core.query import Query
from desktop_chat.core.values import Node

if TYPE_CHECKING:  # (aiohttp loads with the first request)
    import aiohttp

    from desktop_chat.client.rtdb import Database

__all__ = ["StreamEvent", "StreamStats", "Subscription"]

log = logging.getLogger("desktop_chat.client")

_BY_KEY = Query("$key")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_FAST_REVOKE = 2.0
"""An ``auth_revoked`` sooner than this after connecting reconnects with backoff, not at once."""


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """A change the stream applied. ``value`` is the whole location afterwards, in stored form
    (objects, never arrays; shared with later snapshots: do not mutate it). ``resync`` marks
    the first ``put`` of a connection, which replaced the cached value whole."""

    kind: str
    path: Path
    data: Any
    value: Node
    resync: bool = False


@dataclass(slots=True)
class StreamStats:
    """Counters of one subscription, for logs and tests."""

    connects: int = 0
    events: int = 0
    keep_alives: int = 0
    bad_frames: int = 0
    unknown_events: int = 0
    auth_revoked: int = 0
    watchdog_timeouts: int = 0
    redirects: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)


class _RevokedError(Exception):
    """The server revoked the stream's token: refresh it and connect again."""


@dataclass(frozen=True, slots=True)
class _End:
    error: ClientError | None = None


class Subscription:
    """A live location: ``async for event in subscription`` yields each applied change.

    The first ``put`` of every connection (after any reconnect) replaces :attr:`value` whole.
    A ``cancel`` ends the iteration with PermissionDeniedError; ``auth_revoked`` refreshes the
    token and resubscribes; a broken or silent connection (no bytes for *keepalive_timeout*)
    reconnects after a capped, jittered exponential backoff. :meth:`close` stops it all.
    """

    def __init__(
        self,
        database: Database,
        path: Path,
        params: Mapping[str, str],
        *,
        keepalive_timeout: float,
        backoff: Backoff,
        query: Query | None = None,
        max_redirects: int = 5,
    ) -> None:
        self.database = database
        self.path = path
        self.query = query
        self.params = dict(params)
        self.keepalive_timeout = keepalive_timeout
        self.backoff = backoff
        self.max_redirects = max_redirects
        self.value: Node = None
        self.synced = False
        """True once a first ``put`` arrived (on any connection)."""
        self.connected = False
        self.stats = StreamStats()
        self._queue: asyncio.Queue[StreamEvent | _End] = asyncio.Queue()
        self._ended: _End | None = None
        self._wake = asyncio.Event()
        self._synced = asyncio.Event()
        self._state_listeners: list[Callable[[bool], None]] = []
        self._token: str | None = None
        self._revoked = False
        self._token_failures = 0
        self._forced = False
        self._delivering = False
        """Whether the current connection has sent its first ``put``."""
        self._response: aiohttp.ClientResponse | None = None
        self._inline: Callable[[StreamEvent], bool] | None = None
        self._consumer_waits = False
        self._task = database.tasks.spawn(self._run(), f"stream {join(path)}")

    # consumer side -----------------------------------------------------------------------
    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._ended is not None:
            raise StopAsyncIteration
        self._consumer_waits = True
        try:
            item = await self._queue.get()
        finally:
            self._consumer_waits = False
        if isinstance(item, _End):
            self._ended = _End()
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        return item

    def deliver_inline(self, handler: Callable[[StreamEvent], bool]) -> None:
        """Offer each event to *handler* in the reader, a loop turn before the consumer would
        get it, whenever the consumer waits with nothing queued (so the order holds); it
        returns False to leave the event to the consumer."""
        self._inline = handler

    def _taken_inline(self, event: StreamEvent) -> bool:
        if self._inline is None or not self._consumer_waits or not self._queue.empty():
            return False
        try:
            return self._inline(event)
        except Exception:  # (the consumer gets it instead)
            log.exception("stream %s: the inline handler failed", join(self.path))
            return False

    async def wait_synced(self) -> Node:
        """Wait for the first ``put`` (the whole value) and return the value."""
        await self._synced.wait()
        return self.value

    def ordered(self) -> list[tuple[str, Node]]:
        """The children of :attr:`value`, in the query's order (key order without a query)."""
        return (self.query or _BY_KEY).ordered(self.value)

    def add_state_listener(self, callback: Callable[[bool], None]) -> None:
        """Call *callback(connected)* whenever the stream connects or loses its connection."""
        self._state_listeners.append(callback)

    def reconnect_now(self) -> None:
        """Reconnect at once: skip the backoff wait, or drop the open connection (after the
        machine wakes up, say). The next first ``put`` then replaces the value."""
        self._forced = True
        self._wake.set()
        if self._response is not None:
            self._response.close()

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call *callback()* once the subscription has ended (closed, cancelled or failed)."""
        self._task.add_done_callback(lambda _: callback())

    @property
    def closed(self) -> bool:
        return self._task.done()

    async def close(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():  # the closer was cancelled too
                raise

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # connection loop ---------------------------------------------------------------------
    def _set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            for callback in list(self._state_listeners):
                try:
                    callback(connected)
                except Exception:
                    log.exception("stream state listener failed")

    async def _run(self) -> None:
        error: ClientError | None = None
        loop = asyncio.get_running_loop()
        try:
            while True:
                delay = 0.0
                started = loop.time()
                quiet = False
                try:
                    await self._connect_and_read()
                    log.info("stream %s ended by the server; reconnecting", join(self.path))
                    delay = self.backoff.next_delay()
                except _RevokedError:
                    self.stats.auth_revoked += 1
                    self._revoked = True
                    if loop.time() - started < _FAST_REVOKE:  # a fresh token revoked at once
                        delay = self.backoff.next_delay()
                    # A stream that was delivering lost only its token's hour: it reconnects
                    # with a fresh one at once, and that is no "offline" moment.
                    quiet = self._delivering
                except TokenExpiredError as exc:
                    self._token_failures += 1
                    if self._token_failures > 3:  # refreshed tokens keep being refused
                        raise
                    self._note_failure(exc)
                    if self._token_failures > 1:
                        delay = self.backoff.next_delay()
                except (NetworkError, ProtocolError) as exc:  # ServerError (5xx) included
                    self._note_failure(exc)
                    delay = self.backoff.next_delay()
                if not quiet:
                    self._set_connected(False)
                if self._forced:
                    self._forced, delay = False, 0.0
                if delay > 0:
                    self._wake.clear()
                    await wait_set(self._wake, delay)
        except ClientError as exc:  # cancel, 400, 404, refused sign-in: the stream is over
            log.warning("stream %s ended: %s", join(self.path), exc)
            error = exc
        except Exception as exc:  # a bug: end the stream, and tell the consumer
            log.exception("stream %s failed", join(self.path))
            error = ClientError(f"stream {join(self.path)} failed: {exc!r}")
            error.__cause__ = exc
        finally:
            self._set_connected(False)
            self._queue.put_nowait(_End(error))

    def _note_failure(self, exc: ClientError) -> None:
        self.stats.failures += 1
        self.stats.errors.append(str(exc))
        del self.stats.errors[:-20]
        log.info("stream %s: %s; reconnecting", join(self.path), exc)

    async def _open(self, token: str | None) -> aiohttp.ClientResponse:
        """GET the stream, following redirects by hand so the credentials stay in the query."""
        import aiohttp
        from yarl import URL

        params = dict(self.params)
        if token is not None:
            params["auth"] = token
        url = self.database.url(self.path).update_query(params)
        session = self.database.http.session
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.database.http.connect_timeout, sock_read=None
        )
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        for _ in range(self.max_redirects + 1):
            try:
                async with asyncio.timeout(self.keepalive_timeout):
                    response = await session.get(
                        url, headers=headers, allow_redirects=False, timeout=timeout
                    )
            except (aiohttp.ClientError, OSError) as exc:
                raise NetworkError(f"cannot connect: {exc}") from exc
            if response.status not in _REDIRECTS:
                return response
            location = response.headers.get("Location")
            response.release()
            if not location:
                raise ProtocolError(f"redirect {response.status} without a Location")
            target = url.join(URL(location))
            missing = {k: v for k, v in params.items() if k not in target.query}
            url = target.update_query(missing) if missing else target
            self.stats.redirects += 1
        raise ProtocolError(f"more than {self.max_redirects} redirects")

    async def _connect_and_read(self) -> None:
        import aiohttp

        self._delivering = False
        tokens = self.database.tokens
        token: str | None = None
        if tokens is not None:
            if self._revoked:  # one refresh for every stream revoked with the same token
                token = await tokens.force_refresh(self._token)
                self._revoked = False
            else:
                token = await tokens.token()
        self._token = token
        response = await self._open(token)
        try:
            if response.status == 401 and tokens is not None:
                body = await response.read()
                error = database_error(response.status, body)
                if isinstance(error, TokenExpiredError):
                    await tokens.force_refresh(token)
                raise error
            if response.status != 200:
                raise database_error(response.status, await response.read())
            content_type = response.headers.get("Content-Type", "")
            if not content_type.startswith("text/event-stream"):
                raise ProtocolError(f"the stream answered {content_type or 'no content type'}")
            self.stats.connects += 1
            self._set_connected(True)
            self._response = response
            await self._read(response)
        except (aiohttp.ClientError, OSError) as exc:
            raise NetworkError(f"connection lost: {exc}") from exc
        finally:
            self._response = None
            response.close()

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        parser = SseParser()
        first = True
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.keepalive_timeout) as watchdog:
                while True:
                    chunk = await response.content.readany()
                    if not chunk:
                        return
                    watchdog.reschedule(loop.time() + self.keepalive_timeout)
                    for event in parser.feed(chunk):
                        if self._handle(event, first):
                            first = False
        except TimeoutError:
            if not watchdog.expired():
                raise
            self.stats.watchdog_timeouts += 1
            raise NetworkError(f"silent for {self.keepalive_timeout:g} s") from None

    def _handle(self, event: SseEvent, first: bool) -> bool:
        """Apply one event; True if it was a data event (put / patch)."""
        kind = event.event
        if kind in ("put", "patch"):
            try:
                path, data = event_payload(event)
                if first and kind != "put":
                    raise ProtocolError("a stream must start with a put")
                base = None if first else self.value
                value = apply_event(base, kind, path, data)
            except ProtocolError:
                self.stats.bad_frames += 1
                raise  # the cached value may now be wrong: resync from a new first put
            self.value = value
            self.stats.events += 1
            if first:
                self._delivering = True
                self.backoff.reset()
                self._token_failures = 0
                self.synced = True
                self._synced.set()
            stream_event = StreamEvent(kind, path, data, value, resync=first)
            if not self._taken_inline(stream_event):
                self._queue.put_nowait(stream_event)
            return True
        if kind == "keep-alive":
            self.stats.keep_alives += 1
        elif kind == "cancel":
            raise PermissionDeniedError(cancel_message(event.data))
        elif kind == "auth_revoked":
            log.info("stream %s: %s", join(self.path), cancel_message(event.data))
            raise _RevokedError()
        else:
            self.stats.unknown_events += 1
            log.debug("stream %s: ignored event %r", join(self.path), kind)
        return False
