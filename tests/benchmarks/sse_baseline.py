"""A bare aiohttp Server-Sent-Events broadcast server: the fan-out and stream-memory baseline."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from aiohttp import web

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
FIRST_FRAME = b'event: put\ndata: {"path":"/","data":null}\n\n'
KEEP_ALIVE_FRAME = b"event: keep-alive\ndata: null\n\n"
CLIENTS: web.AppKey[set[web.StreamResponse]] = web.AppKey("clients", set)
KEEP_ALIVE: web.AppKey[float] = web.AppKey("keep_alive", float)


async def handle(request: web.Request) -> web.StreamResponse:
    """GET with ``Accept: text/event-stream`` subscribes; PUT or POST broadcasts the body."""
    clients = request.app[CLIENTS]
    if request.method == "GET" and "text/event-stream" in request.headers.get("Accept", ""):
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        await response.write(FIRST_FRAME)
        clients.add(response)
        try:
            while True:  # the handler is cancelled when the client goes away
                await asyncio.sleep(request.app[KEEP_ALIVE])
                await response.write(KEEP_ALIVE_FRAME)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            clients.discard(response)
        return response
    if request.method in ("PUT", "POST"):
        body = await request.read()
        frame = b'event: put\ndata: {"path":"/msg","data":' + body + b"}\n\n"
        for client in list(clients):
            try:
                await client.write(frame)
            except (ConnectionError, RuntimeError):
                clients.discard(client)
        return web.Response(body=body, content_type="application/json")
    return web.Response(status=405)


async def serve(port: int, keep_alive: float) -> None:
    app = web.Application()
    app[CLIENTS] = set()
    app[KEEP_ALIVE] = keep_alive
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024, shutdown_timeout=1.0)
    await site.start()
    print(f"listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--keep-alive", type=float, default=30.0)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.keep_alive))


if __name__ == "__main__":
    main()
