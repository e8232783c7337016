"""Network plumbing shared by the clients: HTTP requests, tracked tasks, retry backoff and
the wake-up watchdog."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from desktop_chat.client.errors import InvalidRequestError, NetworkError, ProtocolError

if TYPE_CHECKING:  # aiohttp loads with the first request: the window paints before it
    import aiohttp
    from multidict import CIMultiDictProxy
    from yarl import URL

__all__ = [
    "Answer",
    "Backoff",
    "Gated",
    "Http",
    "ServerClock",
    "TaskTracker",
    "WakeSettings",
    "WakeWatchdog",
    "dumps",
    "loads",
    "wait_set",
]

log = logging.getLogger("desktop_chat.client")

T = TypeVar("T")

USER_AGENT = "desktop-chat-client/0.1"


def dumps(value: Any) -> bytes:
    """JSON for a request body (orjson: no NaN, keys must be strings)."""
    try:
        return orjson.dumps(value)
    except TypeError as exc:
        raise InvalidRequestError(f"value cannot be sent as JSON: {exc}") from exc


def loads(body: bytes, what: str = "answer") -> Any:
    """Parse JSON from the network; anything else is a ProtocolError, never a crash."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        preview = body[:80].decode("utf-8", "replace")
        raise ProtocolError(f"the server's {what} is not JSON: {preview!r}") from exc


@dataclass(frozen=True)
class Gated:
    """A request body that may leave only once *gate* says True: until then no byte of the
    request goes on the wire (aiohttp holds the headers back until the body's first write), so
    the request can be made ready meanwhile. False fails the request, nothing sent."""

    data: bytes
    gate: asyncio.Future[bool]


@functools.cache
def _gated_payload() -> Callable[[Gated], aiohttp.payload.Payload]:
    from aiohttp.payload import BytesPayload

    class GatedPayload(BytesPayload):
        def __init__(self, body: Gated) -> None:
            super().__init__(body.data, content_type="application/json")
            self._gate = body.gate

        async def write(self, writer: Any) -> None:
            await self._opened()
            await super().write(writer)

        async def write_with_length(self, writer: Any, content_length: int | None) -> None:
            await self._opened()
            await super().write_with_length(writer, content_length)

        async def _opened(self) -> None:
            if not await asyncio.shield(self._gate):  # (a cancelled request leaves it alone)
                raise NetworkError("the request's gate stayed shut: nothing was sent")

    return GatedPayload


class TaskTracker:
    """Every background task an object starts: logged if it fails, cancelled on close."""

    recancel_after = 1.0
    """Seconds :meth:`cancel_all` waits for cancelled tasks before cancelling them again."""

    def __init__(
        self,
        owner: str,
        on_failure: Callable[[asyncio.Task[Any], BaseException], None] | None = None,
    ) -> None:
        self.owner = owner
        self.on_failure = on_failure
        """Called (after logging) with a task that failed and its exception."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        if self.closed:
            coro.close()
            raise RuntimeError(f"{self.owner} is closed")
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.owner}: {name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("task %s failed", task.get_name(), exc_info=error)
            if self.on_failure is not None:
                self.on_failure(task, error)

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        """The tasks still running."""
        return frozenset(self._tasks)

    def cancel(self) -> None:
        """Ask every running task to stop, without waiting (see :meth:`cancel_all`)."""
        for task in self._others():
            task.cancel()

    async def close(self) -> None:
        """Cancel every task and wait until all have ended."""
        self.closed = True
        await self.cancel_all()

    async def cancel_all(self) -> None:
        """Cancel every running task (the tracker stays usable) and wait for them.

        A task still running a while after its cancellation is cancelled again: on Python 3.11
        ``asyncio.wait_for`` loses a cancellation that arrives as its awaitable finishes, and a
        library's task that lost one would otherwise be waited for for ever."""
        tasks = self._others()
        while tasks:
            for task in tasks:
                task.cancel()
            _, still = await asyncio.wait(tasks, timeout=self.recancel_after)
            for task in still:
                log.warning("task %s ignored a cancellation; cancelling again", task.get_name())
            tasks = list(still)

    def _others(self) -> list[asyncio.Task[Any]]:
        return [task for task in self._tasks if task is not asyncio.current_task()]


async def wait_set(event: asyncio.Event, seconds: float | None) -> bool:
    """Wait until *event* is set or *seconds* (None: no limit) have passed; whether it was
    set. Unlike ``asyncio.wait_for`` on Python 3.11, a cancellation arriving just as the
    event is set is never lost."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


class Backoff:
    """Capped exponential backoff with jitter: ``min(cap, base * factor**n)``, of which a
    random part (``jitter``, 0..1) is taken off so that many clients spread out."""

    def __init__(
        self,
        base: float = 0.5,
        cap: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.5,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if base <= 0 or cap < base or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError("Backoff needs 0 < base <= cap, factor >= 1 and 0 <= jitter <= 1")
        self.base = base
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self._rng = rng
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        ceiling = min(self.cap, self.base * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        return ceiling * (1 - self.jitter * self._rng())

    def reset(self) -> None:
        self.attempts = 0


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, read whole."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self, what: str = "answer") -> Any:
        return loads(self.body, what) if self.body else None


class ServerClock:
    """How far the server's clock runs ahead of ours, from its answers' ``Date`` headers
    (whole seconds: good to about half a second, the median of the last few answers)."""

    def __init__(self, clock: Callable[[], float] = time.time, samples: int = 5) -> None:
        self._clock = clock
        self._offsets: list[float] = []
        self._samples = samples
        self._last_header = ""
        self.offset = 0.0
        """Seconds to add to this computer's time to get the server's (0 until known)."""

    def observe(self, date_header: str | None) -> None:
        """An answer arrived just now carrying *date_header* (an HTTP date, or None)."""
        if not date_header or date_header == self._last_header:
            return  # (answers within one second tell nothing new)
        import email.utils  # (loaded with the first answer: start-up time)

        try:
            sent = email.utils.parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return  # a malformed Date says nothing about the clock
        self._last_header = date_header
        self._offsets = [*self._offsets[-(self._samples - 1) :], sent + 0.5 - self._clock()]
        self.offset = sorted(self._offsets)[len(self._offsets) // 2]  # (the median)


class Http:
    """One aiohttp session, owned (closed by :meth:`close`) or borrowed from the caller."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self._session = session
        self._owned = session is None
        self._timeouts = (timeout, connect_timeout)
        self._timeout: aiohttp.ClientTimeout | None = None
        self.connect_timeout = connect_timeout
        self.clock = ServerClock()
        """The server's clock, learnt from every answer."""

    @property
    def timeout(self) -> aiohttp.ClientTimeout:
        """A request's limits: in all, and to connect."""
        if self._timeout is None:
            import aiohttp

            total, connect = self._timeouts
            self._timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect)
        return self._timeout

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session, made on first use (inside the running event loop)."""
        if self._session is None or self._session.closed:
            import aiohttp

            if not self._owned and self._session is not None:
                raise NetworkError("the borrowed HTTP session is closed")
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, limit_per_host=0),
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | Gated | None = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request and read the whole answer; network trouble (and a failed gate)
        is a NetworkError."""
        import aiohttp

        all_headers = dict(headers or {})
        if body is not None:
            all_headers.setdefault("Content-Type", "application/json")
        data = _gated_payload()(body) if isinstance(body, Gated) else body
        try:
            async with self.session.request(
                method,
                url,
                params=params,
                data=data if data is not None else form,
                headers=all_headers,
                timeout=self.timeout,
                allow_redirects=True,
            ) as response:
                data = await response.read()
                self.clock.observe(response.headers.get("Date"))
                return Answer(response.status, response.headers, data)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise NetworkError(
                f"{method} {_safe(url)} failed: {exc or type(exc).__name__}"
            ) from exc

    async def close(self) -> None:
        if self._owned and self._session is not None and not self._session.closed:
            await self._session.close()


def _safe(url: str | URL) -> str:
    """A URL for messages, without its query string (which may carry a token)."""
    return str(url).split("?", 1)[0]


@dataclass(frozen=True, slots=True)
class WakeSettings:
    """How the wake-up watchdog ticks and what counts as a sleep or a clock jump."""

    tick: float = 2.0
    """Seconds between two looks at the clocks."""
    sleep_gap: float = 10.0
    """Monotonic time beyond ``tick`` between two looks: the machine slept (or stalled)."""
    clock_jump: float = 5.0
    """Wall-clock and monotonic progress differing by more: the wall clock jumped."""
    monotonic: Callable[[], float] = field(default=time.monotonic)
    wall: Callable[[], float] = field(default=time.time)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)


class WakeWatchdog:
    """Ticks and calls *on_wake(reason)* when the machine slept or the wall clock jumped."""

    def __init__(self, on_wake: Callable[[str], None], settings: WakeSettings) -> None:
        self.on_wake = on_wake
        self.settings = settings
        self.wakes = 0
        self._last: tuple[float, float] | None = None

    def check(self) -> str | None:
        """Compare the clocks with the previous look; the reason for a wake-up, if any."""
        settings = self.settings
        now = (settings.monotonic(), settings.wall())
        last, self._last = self._last, now
        if last is None:
            return None
        steady, wall = now[0] - last[0], now[1] - last[1]
        # Where the monotonic clock counts a suspend, it shows a gap; where it does not
        # (Linux, macOS), the wall clock runs ahead of it: a "jump" either way.
        if steady > settings.tick + settings.sleep_gap:
            return f"slept: {steady:.1f} s passed between ticks of {settings.tick:g} s"
        if abs(wall - steady) > settings.clock_jump:
            return f"the wall clock jumped by {wall - steady:+.1f} s"
        return None

    async def run(self) -> None:
        """Tick until cancelled."""
        self.check()
        while True:
            await self.settings.sleep(self.settings.tick)
            reason = self.check()
            if reason is not None:
                self.wakes += 1
                log.info("wake-up: %s", reason)
                try:
                    self.on_wake(reason)
                except Exception:
                    log.exception("wake-up handler failed")
