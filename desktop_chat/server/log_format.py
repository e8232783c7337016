"""The server's log output on stderr: plain text lines, or one JSON object per line."""

from __future__ import annotations

import datetime
import json
import logging
import math
import sys
from typing import Any, Literal, TextIO

from aiohttp.http_exceptions import HttpProcessingError

__all__ = ["TEXT_FORMAT", "JsonFormatter", "configure_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
"""LogRecord attributes that are not ``extra=`` fields."""
_OWN = ("ts", "level", "logger", "message", "exc", "stack")


def _plain(value: Any) -> Any:
    """*value* if JSON can hold it as is, else its ``str``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (ISO 8601, UTC), level, logger, message, the record's
    ``extra=`` fields (one named like a field above gets a trailing ``_``), and ``exc`` /
    ``stack`` when there is a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        entry: dict[str, Any] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[f"{key}_" if key in _OWN else key] = _plain(value)
        return json.dumps(entry, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time (tests and daemons replace it)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler.setStream: ignored on purpose
        return None


class _MalformedRequests(logging.Filter):
    """aiohttp logs a malformed HTTP request at ERROR with a traceback that quotes the raw
    request line or header (where a token may be): keep one INFO line saying what was wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            lines = [line.strip() for line in str(error.message or "").splitlines()]
            reason = next((line for line in lines if line and "b'" not in line), "")
            peer = record.args[-1] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "refused a malformed HTTP request from %s: %s %s"
            record.args = (peer, error.code, reason.rstrip(":")[:80] or type(error).__name__)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def configure_logging(fmt: Literal["text", "json"], level: int | str) -> None:
    """Send the root logger's records at *level* and above to stderr in *fmt*.

    Calling it again replaces the handler it installed before; other handlers stay.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r}: expected 'text' or 'json'")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.addFilter(_MalformedRequests())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
