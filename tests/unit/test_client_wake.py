"""The wake-up watchdog: a simulated sleep or wall-clock jump reconnects every live stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from aiohttp import web

from desktop_chat.client.chat_client import ACCOUNT_FILE, ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.events import EventStream, Resync
from desktop_chat.client.rtdb import Database, StaticToken
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.client.transport import Backoff, WakeSettings, WakeWatchdog

UID = "a" * 28


class Clocks:
    """Fake monotonic and wall clocks that move only when a test moves them."""

    def __init__(self) -> None:
        self.steady = 1000.0
        self.now = 1_700_000_000.0

    def monotonic(self) -> float:
        return self.steady

    def wall(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Normal time passing: both clocks move together."""
        self.steady += seconds
        self.now += seconds


def settings(clocks: Clocks, **kwargs: float) -> WakeSettings:
    return WakeSettings(monotonic=clocks.monotonic, wall=clocks.wall, **kwargs)


def test_check_tells_normal_ticks_from_sleep_and_jumps() -> None:
    clocks = Clocks()
    watchdog = WakeWatchdog(lambda _: None, settings(clocks, tick=2, sleep_gap=10, clock_jump=5))
    assert watchdog.check() is None  # the first look only sets the baseline
    for _ in range(5):
        clocks.advance(2.5)  # a tick, a little late: normal
        assert watchdog.check() is None
    clocks.advance(3600)  # monotonic and wall moved far together: the machine slept
    assert (reason := watchdog.check()) is not None and reason.startswith("slept")
    clocks.now += 120  # the wall clock set forward by hand
    assert (reason := watchdog.check()) is not None and "jumped by +120" in reason
    clocks.advance(2)
    clocks.now -= 60  # and back
    assert (reason := watchdog.check()) is not None and "jumped by -60" in reason
    clocks.advance(2)
    clocks.now += 3  # NTP slewing a little: not a jump
    assert watchdog.check() is None


def test_run_ticks_without_sleeping_and_reports_each_wake() -> None:
    clocks = Clocks()
    reasons: list[str] = []
    script = [2.0, 2.0, 900.0, 2.0, 2.0]

    over = asyncio.Event()

    async def fake_sleep(seconds: float) -> None:
        if not script:
            over.set()
            await asyncio.Event().wait()  # the script is over: park until cancelled
        clocks.advance(script.pop(0))
        if len(script) == 1:
            clocks.now += 50  # a wall-clock jump on the last tick
        await asyncio.sleep(0)

    async def main() -> None:
        watchdog = WakeWatchdog(
            reasons.append,
            WakeSettings(monotonic=clocks.monotonic, wall=clocks.wall, sleep=fake_sleep),
        )
        task = asyncio.create_task(watchdog.run())
        await over.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert watchdog.wakes == 2

    asyncio.run(main())
    assert len(reasons) == 2
    assert reasons[0].startswith("slept") and "jumped" in reasons[1]


async def _sse_server() -> tuple[web.AppRunner, str, list[web.Request]]:
    """An SSE endpoint that sends a first put, then keep-alives until the client hangs up."""
    requests: list[web.Request] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        requests.append(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'event: put\ndata: {"path": "/", "data": {"n": 1}}\n\n')
        while True:
            await asyncio.sleep(0.05)
            await response.write(b"event: keep-alive\ndata: null\n\n")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}", requests


async def _until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.01)


async def _resync(events: EventStream, seconds: float = 5.0) -> Resync:
    async with asyncio.timeout(seconds):
        async for event in events:
            if isinstance(event, Resync):
                return event
    raise AssertionError("the event stream ended")


def _run(main: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(20):
            await main()

    asyncio.run(bounded())


def test_sleep_and_clock_jump_reconnect_every_stream_and_resync(tmp_path: Path) -> None:
    async def main() -> None:
        runner, url, requests = await _sse_server()
        config = BackendConfig.from_values({"server_url": url, "namespace": "ns"})
        (tmp_path / ACCOUNT_FILE).write_bytes(orjson.dumps({"uid": UID}))
        clocks = Clocks()
        client = await ChatClient.create(
            config,
            tmp_path,
            token_store=MemoryTokenStore(),
            wake=WakeSettings(tick=0.01, monotonic=clocks.monotonic, wall=clocks.wall),
        )
        try:
            assert client.uid == UID  # the last account's stores, opened without network
            # Live streams of the client's database (no session needed: a static token).
            client.db = Database(config, StaticToken("tok"), backoff=lambda: Backoff(60, 60))
            streams = [client.db.listen("a"), client.db.listen("b")]
            for stream in streams:
                await stream.wait_synced()
            events = client.events()
            await client.start()
            await asyncio.sleep(0.1)  # ticks with steady clocks: nothing happens
            assert client.watchdog is not None and client.watchdog.wakes == 0
            assert len(requests) == 2

            clocks.steady += 3600  # the machine slept for an hour
            clocks.now += 3600
            assert (await _resync(events)).reason.startswith("slept")
            await _until(lambda: len(requests) == 4)  # both streams reconnected at once
            assert all(stream.stats.connects == 2 for stream in streams)

            clocks.now -= 7200  # the wall clock jumped back two hours
            assert "jumped" in (await _resync(events)).reason
            await _until(lambda: all(stream.stats.connects == 3 for stream in streams))
            assert client.watchdog.wakes == 2

            await client.stop()  # the watchdog is a tracked task: cancelled with the rest
            assert len(client.tasks) == 0 and client.watchdog is None
        finally:
            await client.close()
            await runner.cleanup()

    _run(main)
