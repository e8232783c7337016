"""Streaming reads: a GET with ``Accept: text/event-stream`` becomes a Server-Sent Events feed."""

from __future__ import annotations

import logging

from aiohttp import web

from desktop_chat.core.paths import Path, join
from desktop_chat.core.query import Query
from desktop_chat.server.database import Database
from desktop_chat.server.hub import KEEP_ALIVE_FRAME, Listener

__all__ = ["stream"]

log = logging.getLogger("desktop_chat.server")


async def stream(
    request: web.Request,
    db: Database,
    path: Path,
    query: Query | None,
    keep_alive: float,
    buffer_limit: int,
) -> web.StreamResponse:
    """Serve one stream until the client leaves, the server stops, or the stream falls behind."""
    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        },
    )
    await response.prepare(request)
    listener = Listener(path, query, buffer_limit)
    transport = request.transport
    if transport is not None:
        listener.on_overflow = transport.abort  # a write may be stuck on a peer that never reads
    await db.listen(listener)
    try:
        while not listener.closed:
            if await listener.wait(keep_alive):
                chunk = listener.drain()
                if chunk:
                    await response.write(chunk)
            else:
                await response.write(KEEP_ALIVE_FRAME)
        if listener.reason:
            log.debug("stream on %s closed: %s", join(path), listener.reason)
    except (ConnectionError, RuntimeError):
        pass  # the client went away
    finally:
        listener.close("")
        db.hub.remove(listener)
    return response
