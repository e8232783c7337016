"""Stream listeners by location, and the events a write owes each of them."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator

import orjson

from desktop_chat.core.paths import Path, join
from desktop_chat.core.query import Query
from desktop_chat.core.tree import get
from desktop_chat.core.values import Node, render

__all__ = ["Hub", "Listener", "sse_frame"]

log = logging.getLogger("desktop_chat.server")

KEEP_ALIVE_FRAME = b"event: keep-alive\ndata: null\n\n"


def sse_frame(event: str, path: Path, data: Node) -> bytes:
    """One Server-Sent Event in Firebase's form: ``event: put`` + ``{"path", "data"}``."""
    payload = orjson.dumps({"path": join(path), "data": data})
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


class Listener:
    """One open stream: a location, an optional query, and a bounded buffer of frames."""

    __slots__ = (
        "_buffer",
        "_buffered",
        "_wakeup",
        "closed",
        "last_result",
        "limit",
        "on_overflow",
        "path",
        "query",
        "reason",
    )

    def __init__(self, path: Path, query: Query | None, limit: int) -> None:
        self.path = path
        self.query = query
        self.limit = limit
        self.closed = False
        self.reason = ""
        self.last_result: bytes | None = None
        self._buffer: deque[bytes] = deque()
        self._buffered = 0
        self._wakeup: asyncio.Event | None = None
        self.on_overflow: Callable[[], None] | None = None
        """Called when the stream is dropped for falling behind (the HTTP layer aborts it)."""

    def send(self, frame: bytes) -> None:
        """Queue a frame; a stream whose buffer would pass its limit is closed instead."""
        if self.closed:
            return
        if self._buffered + len(frame) > self.limit:
            log.warning(
                "stream on %s closed: slow consumer, %d bytes behind",
                join(self.path),
                self._buffered + len(frame),
            )
            self.close("slow consumer: buffer limit reached")
            if self.on_overflow is not None:
                self.on_overflow()
            return
        self._buffer.append(frame)
        self._buffered += len(frame)
        if self._wakeup is not None:
            self._wakeup.set()

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.reason = reason
            self._buffer.clear()
            self._buffered = 0
            if self._wakeup is not None:
                self._wakeup.set()

    def drain(self) -> bytes:
        """Everything queued, as one chunk to write."""
        chunk = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        if self._wakeup is not None:
            self._wakeup.clear()
        return chunk

    async def wait(self, seconds: float) -> bool:
        """Wait until frames are queued or the stream closes; False on timeout."""
        if self._buffer or self.closed:
            return True
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        try:
            async with asyncio.timeout(seconds):
                await self._wakeup.wait()
        except TimeoutError:
            return False
        return True

    def snapshot(self, root: Node) -> bytes:
        """The first frame: a ``put`` at ``/`` with the whole (queried) value."""
        value = get(root, self.path)
        if self.query is not None:
            result = render(self.query.apply(value))
            self.last_result = orjson.dumps(result)
            return sse_frame("put", (), result)
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
