"""A loopback HTTP/1.1 TCP proxy for fault tests: forwards to a server, can drop answers."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["DroppingProxy", "ProxiedRequest"]


@dataclass(frozen=True, slots=True, eq=False)
class ProxiedRequest:
    """One request the proxy forwarded: its method, target (path and query) and body
    (compared by identity: a resend is another request)."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        """The target without its query string, still percent-encoded."""
        return urlsplit(self.target).path


Predicate = Callable[[ProxiedRequest], bool]


@dataclass(slots=True)
class _DropRule:
    predicate: Predicate
    remaining: int


@dataclass(slots=True)
class _Connection:
    drop: ProxiedRequest | None = None
    """The request whose answer is to be swallowed: the connection closes when it comes."""
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class DroppingProxy:
    """Forwards every TCP connection on 127.0.0.1 to ``127.0.0.1:<upstream_port>``.

    It reads the client's requests (``Content-Length`` or chunked bodies, no pipelining) so
    that :meth:`drop_answers` can pick some: such a request still reaches the server, but
    once the server starts answering (so a write has been committed) both connections are
    closed and the client never sees the answer. Answers (SSE streams included) are passed
    through byte for byte. Runs its own event loop in a daemon thread, so it serves sync
    and async tests alike; every method is safe to call from any thread.
    """

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.port = 0
        self.seen: list[ProxiedRequest] = []
        """Every request forwarded, in order."""
        self.dropped: list[ProxiedRequest] = []
        """The requests whose answers were swallowed, in order."""
        self._rules: list[_DropRule] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # control -----------------------------------------------------------------------------
    def drop_answers(self, predicate: Predicate, count: int = 1) -> None:
        """Swallow the answers to the next *count* requests matching *predicate*."""
        with self._lock:
            self._rules.append(_DropRule(predicate, count))

    def clear(self) -> None:
        """Forget every pending drop rule."""
        with self._lock:
            self._rules.clear()

    def requests(self, predicate: Predicate) -> list[ProxiedRequest]:
        """The forwarded requests matching *predicate*."""
        with self._lock:
            return [request for request in self.seen if predicate(request)]

    def _claim(self, request: ProxiedRequest) -> bool:
        with self._lock:
            self.seen.append(request)
            for rule in self._rules:
                if rule.remaining > 0 and rule.predicate(request):
                    rule.remaining -= 1
                    return True
        return False

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> DroppingProxy:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="proxy", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), loop).result(10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Close the listener and every connection, then end the thread and its loop."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._loop = self._thread = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def __enter__(self) -> DroppingProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # forwarding --------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._connections.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        connection = _Connection()
        try:
            try:
                up_reader, upstream = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port
                )
            except OSError:
                return  # the server is down: the client sees its connection closed
            connection.tasks = [
                asyncio.create_task(self._requests(reader, upstream, connection)),
                asyncio.create_task(self._answers(up_reader, writer, connection)),
            ]
            await asyncio.wait(connection.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in connection.tasks:
                task.cancel()
            await asyncio.gather(*connection.tasks, return_exceptions=True)
            for stream in (writer, upstream):
                if stream is not None:
                    stream.close()
                    with contextlib.suppress(OSError):
                        await stream.wait_closed()

    async def _requests(
        self, reader: asyncio.StreamReader, upstream: asyncio.StreamWriter, connection: _Connection
    ) -> None:
        """Client to server, one request at a time."""
        with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                chunked = "chunked" in headers.get("transfer-encoding", "").lower()
                if chunked:
                    body = await _read_chunked(reader)
                else:
                    body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = ProxiedRequest(method, target, headers, body)
                if self._claim(request):
                    connection.drop = request
                upstream.write(head + (_chunked(body) if chunked else body))
                await upstream.drain()

    async def _answers(
        self, up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: _Connection
    ) -> None:
        """Server to client, byte for byte, until an answer is to be dropped."""
        with contextlib.suppress(OSError):
            while data := await up_reader.read(1 << 16):
                if connection.drop is not None:
                    with self._lock:
                        self.dropped.append(connection.drop)
                    return  # the write is committed; the client never hears of it
                writer.write(data)
                await writer.drain()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _chunked(body: bytes) -> bytes:
    if not body:
        return b"0\r\n\r\n"
    return f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
