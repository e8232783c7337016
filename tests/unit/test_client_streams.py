"""Client streams against a scripted in-process SSE server: what our real server never sends
(bad JSON, silence, fragments, bare cancel data, redirects chains) must not break the client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from desktop_chat.client.config import BackendConfig
from desktop_chat.client.errors import BadRequestError, PermissionDeniedError
from desktop_chat.client.rtdb import Database, StaticToken
from desktop_chat.client.streams import StreamEvent
from desktop_chat.client.transport import Backoff, TaskTracker

Script = Callable[[web.StreamResponse, int], Awaitable[None]]


async def _serve(script: Script) -> tuple[web.AppRunner, str, list[web.Request]]:
    """An SSE server on a free port: each connection runs *script(response, n)*."""
    requests: list[web.Request] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        requests.append(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await script(response, len(requests))
        return response

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}", requests


def _database(url: str, **kwargs: Any) -> Database:
    config = BackendConfig.from_values({"server_url": url, "namespace": "ns"})
    return Database(
        config,
        StaticToken("tok"),
        backoff=lambda: Backoff(base=0.05, cap=0.2),
        **kwargs,
    )


async def _next(events: Any, seconds: float = 5.0) -> StreamEvent:
    async with asyncio.timeout(seconds):
        event: StreamEvent = await anext(events)
        return event


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


def test_bad_json_is_logged_counted_and_resynced(caplog: pytest.LogCaptureFixture) -> None:
    async def script(response: web.StreamResponse, n: int) -> None:
        if n == 1:
            await response.write(b'event: put\ndata: {"path": "/", "data": {"a": 1, "b": 2}}\n\n')
            await response.write(b'event: put\ndata: {"path": "/a", "data": \n\n')
            await asyncio.sleep(10)
        else:
            await response.write(b'event: put\ndata: {"path": "/", "data": {"a": 3}}\n\n')
            await asyncio.sleep(10)

    async def main() -> None:
        runner, url, requests = await _serve(script)
        db = _database(url)
        try:
            sub = db.listen("rooms/r1")
            first = await _next(sub)
            assert first.resync and first.value == {"a": 1, "b": 2}
            second = await _next(sub)
            assert second.resync and second.value == {"a": 3}  # replaced, "b" is gone
            assert sub.stats.bad_frames == 1 and sub.stats.connects == 2
            assert requests[0].path == "/rooms/r1.json"
            assert requests[0].query["auth"] == "tok" and requests[0].query["ns"] == "ns"
        finally:
            await db.close()
            await runner.cleanup()

    with caplog.at_level(logging.INFO, logger="desktop_chat.client"):
        run(main())
    assert "not JSON" in caplog.text


def test_fragments_keepalive_unknown_events_and_bare_cancel() -> None:
    frames = (
        b"\xef\xbb\xbf:hello\r\n"
        b'event: put\r\ndata: {"path": "/", "data": {"x": {"y": 1}}}\r\n\r\n'
        b"event: keep-alive\r\ndata: null\r\n\r\n"
        b"event: surprise\r\ndata: 1\r\n\r\n"
        b'event: patch\r\ndata: {"path": "/x", "data": {"z": 2, "y": null}}\r\n\r\n'
        b"event: cancel\r\ndata: Permission denied\r\n\r\n"
    )

    async def script(response: web.StreamResponse, n: int) -> None:
        for i in range(0, len(frames), 3):
            await response.write(frames[i : i + 3])
            await asyncio.sleep(0)
        await asyncio.sleep(10)

    async def main() -> None:
        runner, url, _ = await _serve(script)
        db = _database(url)
        try:
            sub = db.listen("a")
            assert (await _next(sub)).value == {"x": {"y": 1}}
            patch = await _next(sub)
            assert patch.kind == "patch" and patch.path == ("x",)
            assert patch.value == {"x": {"z": 2}}
            with pytest.raises(PermissionDeniedError, match="Permission denied"):
                await _next(sub)
            with pytest.raises(StopAsyncIteration):
                await _next(sub)  # the stream is over
            assert sub.stats.keep_alives == 1 and sub.stats.unknown_events == 1
            await asyncio.sleep(0)  # done callbacks run on the next loop turn
            assert sub.closed and not db.subscriptions
        finally:
            await db.close()
            await runner.cleanup()

    run(main())


def test_silent_stream_is_reconnected_by_the_watchdog() -> None:
    async def script(response: web.StreamResponse, n: int) -> None:
        await response.write(f'event: put\ndata: {{"path": "/", "data": {n}}}\n\n'.encode())
        await asyncio.sleep(30)  # then silence: no keep-alive

    async def main() -> None:
        runner, url, _ = await _serve(script)
        db = _database(url, keepalive_timeout=0.3)
        try:
            sub = db.listen("a")
            states: list[bool] = []
            sub.add_state_listener(states.append)
            assert (await _next(sub)).value == 1
            assert (await _next(sub)).value == 2
            assert sub.stats.watchdog_timeouts >= 1
            assert states[:2] == [True, False]
        finally:
            await db.close()
            await runner.cleanup()

    run(main())


def test_auth_revoked_bare_or_quoted_refreshes_the_token_and_resubscribes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("desktop_chat.client.streams._FAST_REVOKE", 0.1)

    class Tokens:
        def __init__(self) -> None:
            self.current, self.refreshes = "t0", 0

        async def token(self) -> str:
            return self.current

        async def force_refresh(self, stale: str | None = None) -> str:
            if stale == self.current:
                self.refreshes += 1
                self.current = f"t{self.refreshes}"
            return self.current

    async def script(response: web.StreamResponse, n: int) -> None:
        data = f'{{"path": "/", "data": {n}}}'
        await response.write(f"event: put\ndata: {data}\n\n".encode())
        await asyncio.sleep(0.2)  # not so soon that it counts as a revoked fresh token
        revoked = ('"credential is no longer valid"', "credential is no longer valid")[n % 2]
        await response.write(f"event: auth_revoked\ndata: {revoked}\n\n".encode())
        await asyncio.sleep(10)

    async def main() -> None:
        runner, url, requests = await _serve(script)
        tokens = Tokens()
        config = BackendConfig.from_values({"server_url": url})
        db = Database(config, tokens)
        try:
            sub = db.listen("a")
            assert [(await _next(sub)).value for _ in range(3)] == [1, 2, 3]
            assert [r.query["auth"] for r in requests] == ["t0", "t1", "t2"]
            assert sub.stats.auth_revoked == 2 and tokens.refreshes == 2
            assert "ns" not in requests[0].query
        finally:
            await db.close()
            await runner.cleanup()

    run(main())


def test_reconnect_now_drops_the_connection_and_resyncs() -> None:
    async def script(response: web.StreamResponse, n: int) -> None:
        await response.write(
            f'event: put\ndata: {{"path": "/", "data": {{"n{n}": {n}}}}}\n\n'.encode()
        )
        await asyncio.sleep(10)

    async def main() -> None:
        runner, url, _ = await _serve(script)
        db = _database(url)
        try:
            sub = db.listen("a", backoff=Backoff(base=30, cap=30))
            assert (await _next(sub)).value == {"n1": 1}
            sub.reconnect_now()  # e.g. after a wake-up: the old connection may be dead
            event = await _next(sub)
            assert event.resync and event.value == {"n2": 2} and sub.stats.connects == 2
        finally:
            await db.close()
            await runner.cleanup()

    run(main())


def test_redirect_chain_keeps_credentials_and_query_params() -> None:
    async def script(response: web.StreamResponse, n: int) -> None:
        await response.write(b'event: put\ndata: {"path": "/", "data": "ok"}\n\n')
        await asyncio.sleep(10)

    async def main() -> None:
        runner, target, requests = await _serve(script)

        async def redirect(request: web.Request) -> web.StreamResponse:
            hops = int(request.query.get("hop", "0"))
            if hops < 2:  # a relative redirect first, then one to another origin
                raise web.HTTPTemporaryRedirect(f"{request.path}?hop={hops + 1}")
            raise web.HTTPTemporaryRedirect(f"{target}{request.path}")  # drops the query

        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", redirect)
        front = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await front.setup()
        await web.TCPSite(front, "127.0.0.1", 0).start()
        db = _database(f"http://127.0.0.1:{front.addresses[0][1]}")
        try:
            from desktop_chat.client.rtdb import QuerySpec

            sub = db.listen("a/b", QuerySpec("$key", limit_to_first=2))
            assert (await _next(sub)).value == "ok"
            query = requests[0].query
            assert query["auth"] == "tok" and query["ns"] == "ns"
            assert query["orderBy"] == '"$key"' and query["limitToFirst"] == "2"
            assert sub.stats.redirects == 3
        finally:
            await db.close()
            await front.cleanup()
            await runner.cleanup()

    run(main())


def test_not_an_event_stream_and_http_errors() -> None:
    async def main() -> None:
        calls = 0

        async def handler(request: web.Request) -> web.Response:
            nonlocal calls
            calls += 1
            if calls == 1:
                return web.Response(text="<html>", content_type="text/html")
            if calls == 2:
                return web.Response(status=503, text='{"error": "shutting down"}')
            return web.Response(status=400, text='{"error": "Index not defined"}')

        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handler)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        db = _database(f"http://127.0.0.1:{runner.addresses[0][1]}")
        try:
            sub = db.listen("a")
            with pytest.raises(BadRequestError, match="Index not defined"):
                await _next(sub)
            assert calls == 3 and sub.stats.failures == 2
        finally:
            await db.close()
            await runner.cleanup()

    run(main())


def test_task_tracker_cancels_everything_on_close() -> None:
    async def main() -> None:
        tracker = TaskTracker("test")
        started = asyncio.Event()

        async def forever() -> None:
            started.set()
            await asyncio.sleep(100)

        task = tracker.spawn(forever(), "forever")
        await started.wait()
        assert len(tracker) == 1
        await tracker.close()
        assert task.cancelled() and len(tracker) == 0
        with pytest.raises(RuntimeError):
            tracker.spawn(forever(), "late")

    run(main())


def test_inline_delivery_only_to_a_waiting_consumer_and_in_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An inline handler gets an event only while the consumer waits with nothing queued, so
    the order holds; what it declines, or fails on, goes to the consumer."""
    go = [asyncio.Event() for _ in range(3)]

    def frame(path: str, data: str) -> bytes:
        return f'event: put\ndata: {{"path": "{path}", "data": "{data}"}}\n\n'.encode()

    async def script(response: web.StreamResponse, n: int) -> None:
        await response.write(frame("/", "first"))
        await go[0].wait()
        await response.write(frame("/a", "declined") + frame("/b", "queued behind it"))
        await go[1].wait()
        await response.write(frame("/c", "taken"))
        await go[2].wait()
        await response.write(frame("/d", "raises"))
        await asyncio.sleep(10)

    offered: list[str] = []
    taken = asyncio.Event()

    def inline(event: StreamEvent) -> bool:
        offered.append(event.data)
        if event.data == "taken":
            taken.set()
        if event.data == "raises":
            raise RuntimeError("a bug in the handler")
        return event.data == "taken"

    async def main() -> None:
        runner, url, _ = await _serve(script)
        db = _database(url)
        try:
            sub = db.listen("a")
            sub.deliver_inline(inline)
            assert (await _next(sub)).data == "first"  # (offered too, and declined)
            waiting = asyncio.ensure_future(_next(sub))
            go[0].set()
            assert (await waiting).data == "declined"
            assert (await _next(sub)).data == "queued behind it"  # never offered: one was queued
            waiting = asyncio.ensure_future(_next(sub))
            go[1].set()
            async with asyncio.timeout(30):
                await taken.wait()
            go[2].set()
            assert (await waiting).data == "raises"  # "taken" never reached the consumer
            assert offered == ["first", "declined", "taken", "raises"]
        finally:
            await db.close()
            await runner.cleanup()

    with caplog.at_level(logging.ERROR, logger="desktop_chat.client"):
        run(main())
    assert "inline handler failed" in caplog.text
