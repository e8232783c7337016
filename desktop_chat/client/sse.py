"""Server-Sent Events: an incremental parser (bytes in, whole events out), Firebase's events."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import orjson

from desktop_chat.client.errors import ProtocolError
from desktop_chat.core.errors import CoreError
from desktop_chat.core.paths import Path, parse_path
from desktop_chat.core.tree import overlay_get
from desktop_chat.core.values import Node, normalize

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "SseEvent",
    "SseParser",
    "apply_event",
    "cancel_message",
    "event_payload",
]

DEFAULT_MAX_EVENT_BYTES = 512 * 1024 * 1024
"""Largest event accepted (Firebase answers up to 256 MB): past it the stream is broken."""

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: its type (``message`` when none was named), data and id."""

    event: str
    data: str
    id: str | None = None


class SseParser:
    """Feed it the bytes of a ``text/event-stream`` as they come; it returns complete events.

    Follows the WHATWG rules: lines end with CRLF, LF or CR (a CRLF split across two chunks
    counts once); ``:`` starts a comment; ``field: value`` loses one space after the colon;
    several ``data`` lines join with newlines; a blank line dispatches; an event with no data
    is dropped; an unfinished event at the end of the stream is dropped. Text that is not
    UTF-8, or an event larger than *max_event_bytes*, raises ProtocolError.
    """

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self.retry: int | None = None
        """The last ``retry:`` field, in milliseconds."""
        self.last_event_id: str | None = None
        self.comments = 0
        self._buffer = bytearray()
        self._scanned = 0
        self._skip_lf = False
        self._started = False
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self._has_data = False

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Parse *chunk* and return the events it completed (possibly none)."""
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        self._buffer += chunk
        if not self._started:
            if len(self._buffer) < len(_BOM) and _BOM.startswith(bytes(self._buffer)):
                return []
            self._started = True
            if self._buffer.startswith(_BOM):
                del self._buffer[: len(_BOM)]
        events: list[SseEvent] = []
        buffer, start = self._buffer, 0
        next_lf = buffer.find(b"\n", self._scanned)
        next_cr = buffer.find(b"\r", self._scanned)
        while next_lf >= 0 or next_cr >= 0:
            if next_cr >= 0 and (next_lf < 0 or next_cr < next_lf):
                end, after = next_cr, next_cr + 1
                if after == len(buffer):
                    self._skip_lf = True  # an LF opening the next chunk pairs with this CR
                elif buffer[after] == 0x0A:
                    after += 1
            else:
                end, after = next_lf, next_lf + 1
            line, start = bytes(buffer[start:end]), after
            try:
                event = self._line(line)
            except ProtocolError:
                self.reset()  # the stream is broken: start clean on the next connection
                raise
            if event is not None:
                events.append(event)
            if 0 <= next_lf < start:
                next_lf = buffer.find(b"\n", start)
            if 0 <= next_cr < start:
                next_cr = buffer.find(b"\r", start)
        if start:
            del buffer[:start]
        self._scanned = len(self._buffer)
        if len(self._buffer) + self._data_size > self.max_event_bytes:
            self.reset()
            raise ProtocolError(f"a stream event is larger than {self.max_event_bytes} bytes")
        return events

    def reset(self) -> None:
        """Forget everything buffered (for a new connection)."""
        self._buffer.clear()
        self._scanned = 0
        self._skip_lf = False
        self._started = False
        self._event = ""
        self._data = []
        self._data_size = 0
        self._has_data = False

    def _line(self, raw: bytes) -> SseEvent | None:
        if not raw:
            return self._dispatch()
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"a stream line is not UTF-8: {exc}") from exc
        if line.startswith(":"):
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
            self._data_size += len(raw)
            self._has_data = True
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        # any other field is ignored, as the standard says
        return None

    def _dispatch(self) -> SseEvent | None:
        event, data, has_data = self._event, self._data, self._has_data
        self._event, self._data, self._data_size, self._has_data = "", [], 0, False
        if not has_data:
            return None
        return SseEvent(event or "message", "\n".join(data), self.last_event_id)


# Firebase's events ---------------------------------------------------------------------
def event_payload(event: SseEvent) -> tuple[Path, Any]:
    try:
        payload = orjson.loads(event.data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"{event.event} event data is not JSON: {event.data[:80]!r}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("path"), str):
        raise ProtocolError(f"{event.event} event data lacks path: {event.data[:80]!r}")
    if "data" not in payload:
        raise ProtocolError(f"{event.event} event data lacks data: {event.data[:80]!r}")
    try:
        return parse_path(payload["path"]), payload["data"]
    except CoreError as exc:
        raise ProtocolError(f"{event.event} event has a bad path: {exc}") from exc


def apply_event(value: Node, kind: str, path: Path, data: Any) -> Node:
    """The location's value after a ``put`` or ``patch`` at *path* (relative to it).

    Never mutates *value*: only the objects along the changed paths are copied.
    """
    try:
        if kind == "put":
            return overlay_get(value, [(path, normalize(data, path).value)], ())
        if not isinstance(data, dict):
            raise ProtocolError("patch data must be an object")
        for key, child in data.items():
            at = path + parse_path(key)
            if len(at) == len(path):
                raise ProtocolError("patch keys must not be empty")
            value = overlay_get(value, [(at, normalize(child, at).value)], ())
        return value
    except CoreError as exc:
        raise ProtocolError(f"{kind} event carries bad data: {exc}") from exc


def cancel_message(data: str) -> str:
    """``cancel`` / ``auth_revoked`` data may come quoted (JSON) or bare."""
    with contextlib.suppress(orjson.JSONDecodeError):
        parsed = orjson.loads(data)
        if isinstance(parsed, str):
            return parsed
    return data.strip() or "Permission denied"
