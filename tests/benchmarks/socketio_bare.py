"""The baseline for the Socket.IO benchmarks: a bare python-socketio server that relays
``typing`` as ``user-typing`` to a room, with no checks at all.

Usage: python -m tests.benchmarks.socketio_bare [--redis-url URL]. A socket joins the room
named by ``auth.room`` at connect; prints ``listening on http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import socketio
from aiohttp import web


async def main(redis_url: str | None) -> None:
    manager = socketio.AsyncRedisManager(redis_url) if redis_url else None
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        room = auth.get("room") if isinstance(auth, dict) else None
        if isinstance(room, str):
            await sio.enter_room(sid, room)

    @sio.event
    async def typing(sid: str, data: Any = None) -> dict[str, bool]:
        to = data.get("to") if isinstance(data, dict) else None
        payload = {"conversationId": data.get("conversationId"), "userId": "x", "isTyping": True}
        await sio.emit("user-typing", payload, room=to)
        return {"ok": True}

    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", default=None)
    asyncio.run(main(parser.parse_args().redis_url))
