"""Streaming reads: a GET with ``Accept: text/event-stream`` becomes a Server-Sent Events feed."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from desktop_chat.core.paths import Path, join
from desktop_chat.core.query import Query
from desktop_chat.server.database import Database
from desktop_chat.server.hub import KEEP_ALIVE_FRAME, Listener

__all__ = ["stream"]

log = logging.getLogger("desktop_chat.server")

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


class ChunkedSink:
    """Writes frames straight to the connection as HTTP/1.1 chunks, without a task switch.

    aiohttp sends the headers and the first chunk (the first ``put``); after that the body is
    ours: each frame is one chunk, and aiohttp's own end of the body closes it.
    """

    __slots__ = ("_transport",)

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, frame: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(b"%x\r\n%b\r\n" % (len(frame), frame))

    def buffered(self) -> int:
        return self._transport.get_write_buffer_size()

    def abort(self) -> None:
        self._transport.abort()


async def stream(
    request: web.Request,
    db: Database,
    path: Path,
    query: Query | None,
    keep_alive: float,
    buffer_limit: int,
) -> web.StreamResponse:
    """Serve one stream until the client leaves, the server stops, or the stream falls behind."""
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    response.enable_chunked_encoding()
    await response.prepare(request)
    transport = request.transport
    listener = Listener(path, query, buffer_limit)
    first = await db.listen(listener)
    try:
        await response.write(first)  # headers and the first chunk, through aiohttp
        if transport is None or transport.is_closing():
            return response
        listener.attach(ChunkedSink(transport))
        while not await listener.wait_closed(keep_alive):
            listener.send(KEEP_ALIVE_FRAME)
        if listener.reason:
            log.debug("stream on %s closed: %s", join(path), listener.reason)
    except (ConnectionError, RuntimeError):
        pass  # the client went away
    finally:
        listener.close("")
        db.hub.remove(listener)
    return response
