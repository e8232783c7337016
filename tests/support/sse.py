"""A small blocking Server-Sent Events reader for tests, over a raw socket."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from typing import Any
from urllib.parse import urlencode

from tests.support.server import ServerProcess

Event = tuple[str, Any]


class SseReader:
    """Opens a stream on a server location and collects its events in a queue."""

    def __init__(
        self,
        server: ServerProcess,
        path: str,
        *,
        rcvbuf: int | None = None,
        read: bool = True,
        token: str = "owner",
        **params: str,
    ) -> None:
        self.events: queue.Queue[Event | None] = queue.Queue()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", server.port))
        query = urlencode({"ns": server.namespace, **params})
        request = (
            f"GET /{path.strip('/')}.json?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Accept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.status = 0
        self._pending = b""
        self._thread: threading.Thread | None = None
        if read:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        buffer = b""
        try:
            while b"\r\n\r\n" not in buffer:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            self.status = int(head.split(b" ")[1])
            if self.status != 200:
                return
            chunked = b"transfer-encoding: chunked" in head.lower()
            text = b""
            while True:
                text += self._dechunk(buffer) if chunked else buffer
                buffer = b""
                while b"\n\n" in text:
                    frame, text = text.split(b"\n\n", 1)
                    self._emit(frame.decode())
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
                buffer = chunk
        except OSError:
            return
        finally:
            self.events.put(None)

    def _dechunk(self, data: bytes) -> bytes:
        # Chunk boundaries can fall anywhere; keep what is incomplete for the next call.
        self._pending += data
        out = b""
        while True:
            if b"\r\n" not in self._pending:
                return out
            size_line, rest = self._pending.split(b"\r\n", 1)
            size = int(size_line, 16)
            if len(rest) < size + 2:
                return out
            out += rest[:size]
            self._pending = rest[size + 2 :]

    def _emit(self, frame: str) -> None:
        event, data = "", ""
        for line in frame.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
        self.events.put((event, json.loads(data) if data else None))

    def next(self, timeout: float = 30.0, skip_keep_alive: bool = True) -> Event | None:
        """The next event (None once the stream ended)."""
        while True:
            item = self.events.get(timeout=timeout)
            if item is None or not (skip_keep_alive and item[0] == "keep-alive"):
                return item

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        if self._thread is not None:
            self._thread.join(10)
