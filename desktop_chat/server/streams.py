"""Streams: listeners by location, the events a write owes them, and the SSE endpoint."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from aiohttp import web

from desktop_chat.core.paths import Path, join
from desktop_chat.core.query import Query
from desktop_chat.core.query_window import QueryWindow
from desktop_chat.core.tree import get
from desktop_chat.core.values import Node, render
from desktop_chat.server.access import ADMIN, Caller

if TYPE_CHECKING:
    from desktop_chat.server.database import Database

__all__ = [
    "AUTH_REVOKED_FRAME",
    "CANCEL_FRAME",
    "KEEP_ALIVE_FRAME",
    "ChunkedSink",
    "Hub",
    "Listener",
    "Sink",
    "frames_for",
    "note_child",
    "query_frames",
    "sse_frame",
    "stream",
]

log = logging.getLogger("desktop_chat.server")

KEEP_ALIVE_FRAME = b"event: keep-alive\ndata: null\n\n"
CANCEL_FRAME = b'event: cancel\ndata: "Permission denied"\n\n'
AUTH_REVOKED_FRAME = b'event: auth_revoked\ndata: "credential is no longer valid"\n\n'


def sse_frame(event: str, path: Path, data: Node) -> bytes:
    """One Server-Sent Event in Firebase's form: ``event: put`` + ``{"path", "data"}``."""
    payload = orjson.dumps({"path": join(path), "data": data})
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


class Sink(Protocol):
    """Where a listener's frames go once its stream is open (the HTTP layer's transport)."""

    def write(self, frame: bytes) -> None: ...

    def buffered(self) -> int:
        """Bytes written but not yet taken by the peer."""
        ...

    def abort(self) -> None: ...


class Listener:
    """One open stream: a location, an optional query, and where its frames go.

    Frames are written straight to the stream's sink as writes commit, so a write reaches every
    listener without waking a task per stream. Until the sink is attached they wait in a list.
    A stream whose unsent bytes would pass *limit* is dropped: the peer resyncs on reconnect.
    """

    __slots__ = (
        "_done",
        "_pending",
        "_pending_size",
        "_sink",
        "caller",
        "closed",
        "last_result",
        "limit",
        "path",
        "query",
        "reason",
        "window",
    )

    def __init__(self, path: Path, query: Query | None, limit: int, caller: Caller = ADMIN) -> None:
        self.path = path
        self.query = query
        self.limit = limit
        self.caller = caller
        self.closed = False
        self.reason = ""
        self.last_result: Node = None
        """A query stream's last answer (rendered), to send only what changes."""
        self.window = QueryWindow(query) if query is not None else None
        """Which children a query stream's answer holds, kept current child by child."""
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._sink: Sink | None = None
        self._done = asyncio.Event()

    def send(self, frame: bytes) -> None:
        """Write a frame, or drop the stream if it has fallen *limit* bytes behind."""
        if self.closed:
            return
        sink = self._sink
        behind = (sink.buffered() if sink is not None else self._pending_size) + len(frame)
        if behind > self.limit:
            log.warning(
                "stream on %s closed: slow consumer, %d bytes behind", join(self.path), behind
            )
            self.close("slow consumer: buffer limit reached")
            if sink is not None:
                sink.abort()
        elif sink is not None:
            sink.write(frame)
        else:
            self._pending.append(frame)
            self._pending_size += len(frame)

    def attach(self, sink: Sink) -> None:
        """Start writing to *sink*, first what waited for it."""
        pending, self._pending, self._pending_size = self._pending, [], 0
        self._sink = sink
        if pending and not self.closed:
            sink.write(b"".join(pending))

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.reason = reason
            self._pending.clear()
            self._sink = None
            self._done.set()

    async def wait_closed(self, seconds: float) -> bool:
        """Wait up to *seconds* for the stream to close; True if it did."""
        if self.closed:
            return True
        try:
            async with asyncio.timeout(seconds):
                await self._done.wait()
        except TimeoutError:
            return False
        return True

    def answer(self, value: Node, changed: set[str] | None) -> Node:
        """A query stream's answer (rendered) over the location's *value*, after the children
        *changed* changed (None: maybe all); unchanged children are not rendered again."""
        assert self.window is not None and self.query is not None
        if not isinstance(value, dict) or ".value" in value:
            self.window.reset(value)
            return render(self.query.apply(value))
        keys = self.window.update(value, changed)
        previous = self.last_result if isinstance(self.last_result, dict) else {}
        return {
            key: previous[key]
            if changed is not None and key in previous and key not in changed
            else render(value[key])
            for key in keys
        } or None

    def snapshot(self, root: Node) -> bytes:
        """The first frame: a ``put`` at ``/`` with the whole (queried) value."""
        value = get(root, self.path)
        if self.window is not None:
            self.last_result = self.answer(value, None)
            return sse_frame("put", (), self.last_result)
        return sse_frame("put", (), render(value))


class _Node:
    __slots__ = ("children", "listeners")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.listeners: set[Listener] = set()


class Hub:
    """All open listeners, in a trie by path, so a write finds its listeners quickly."""

    def __init__(self) -> None:
        self._root = _Node()
        self.count = 0

    def add(self, listener: Listener) -> None:
        node = self._root
        for key in listener.path:
            node = node.children.setdefault(key, _Node())
        node.listeners.add(listener)
        self.count += 1

    def remove(self, listener: Listener) -> None:
        trail = [self._root]
        for key in listener.path:
            child = trail[-1].children.get(key)
            if child is None:
                return
            trail.append(child)
        if listener not in trail[-1].listeners:
            return
        trail[-1].listeners.discard(listener)
        self.count -= 1
        for depth in range(len(listener.path), 0, -1):
            node = trail[depth]
            if node.listeners or node.children:
                break
            del trail[depth - 1].children[listener.path[depth - 1]]

    def above(self, path: Path) -> Iterator[Listener]:
        """Listeners at *path* or at one of its ancestors."""
        node: _Node | None = self._root
        for key in path:
            assert node is not None
            yield from node.listeners
            node = node.children.get(key)
            if node is None:
                return
        assert node is not None
        yield from node.listeners

    def revoke(self, still_valid: Callable[[dict[str, Any]], bool]) -> int:
        """End with ``auth_revoked`` every user's stream whose ID token's claims *still_valid*
        now refuses (the user signed out everywhere, changed the password, was disabled)."""
        gone = [
            listener
            for listener in [*self.above(()), *self.below(())]
            if listener.caller.auth is not None and not still_valid(listener.caller.token_claims())
        ]
        for listener in gone:
            listener.send(AUTH_REVOKED_FRAME)
            listener.close("credential revoked")
        return len(gone)

    def below(self, path: Path) -> Iterator[Listener]:
        """Listeners strictly below *path*."""
        node: _Node | None = self._root
        for key in path:
            assert node is not None
            node = node.children.get(key)
            if node is None:
                return
        assert node is not None
        stack = list(node.children.values())
        while stack:
            current = stack.pop()
            yield from current.listeners
            stack.extend(current.children.values())

    def close_all(self, reason: str) -> None:
        stack = [self._root]
        while stack:
            node = stack.pop()
            for listener in node.listeners:
                listener.close(reason)
            stack.extend(node.children.values())


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
    listener: Listener,
    keep_alive: float,
) -> web.StreamResponse:
    """Serve one stream until the client leaves, the server stops, the stream falls behind,
    its access is revoked (``cancel``) or its ID token expires (``auth_revoked``)."""
    first = await db.listen(listener)  # a 401 here is still a plain JSON answer
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    response.enable_chunked_encoding()
    response.force_close()  # a stream that ends closes its connection, as Firebase's do
    transport = request.transport
    try:
        await response.prepare(request)
        await response.write(first)  # headers and the first chunk, through aiohttp
        if transport is None or transport.is_closing():
            return response
        listener.attach(ChunkedSink(transport))
        expires = listener.caller.expires
        while True:
            wait = keep_alive if expires is None else min(keep_alive, expires - time.time())
            if await listener.wait_closed(max(wait, 0.0)):
                break
            if expires is not None and time.time() >= expires:
                listener.send(AUTH_REVOKED_FRAME)
                listener.close("ID token expired")
                break
            listener.send(KEEP_ALIVE_FRAME)
        if listener.reason:
            log.debug("stream on %s closed: %s", join(listener.path), listener.reason)
    except (ConnectionError, RuntimeError):
        pass  # the client went away
    finally:
        listener.close("")
        db.hub.remove(listener)
    return response


def note_child(queried: dict[Listener, set[str] | None], listener: Listener, top: Path) -> None:
    """Note for a query *listener* that the write changed the subtree at *top* (at or below
    its location): one child of it, or (at the location itself) maybe all of them."""
    depth = len(listener.path)
    if listener in queried and queried[listener] is None:
        return
    if len(top) <= depth:
        queried[listener] = None
    else:
        keys = queried.setdefault(listener, set())
        if keys is not None:
            keys.add(top[depth])


def query_frames(previous: Node, result: Node) -> list[bytes]:
    """What a query stream needs to go from *previous* to *result*: children that left the
    window as ``put null`` (the client may keep them: leaving a window is not a deletion), then
    new or changed children as one ``patch``; a whole ``put`` only when either is no object."""
    if previous == result:
        return []
    if not (isinstance(previous, dict) and isinstance(result, dict)):
        return [sse_frame("put", (), result)]
    frames = [sse_frame("put", (key,), None) for key in previous if key not in result]
    changed = {key: value for key, value in result.items() if previous.get(key) != value}
    if changed:
        frames.append(sse_frame("patch", (), changed))
    return frames


def frames_for(changes: list[tuple[Path, Node]]) -> list[bytes]:
    """The smallest events for one listener's changes from one atomic write.

    One change is a ``put``; several direct children of one location are one ``patch`` there;
    anything else is a ``put`` per change, in order.
    """
    if len(changes) == 1:
        path, value = changes[0]
        return [sse_frame("put", path, render(value))]
    parent = changes[0][0][:-1]
    if all(path and path[:-1] == parent for path, _ in changes):
        return [sse_frame("patch", parent, {path[-1]: render(value) for path, value in changes})]
    return [sse_frame("put", path, render(value)) for path, value in changes]
