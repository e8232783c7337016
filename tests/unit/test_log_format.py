"""configure_logging: JSON lines or plain text on stderr, extras and tracebacks included."""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Iterator

import pytest

from desktop_chat.server.log_format import configure_logging

log = logging.getLogger("desktop_chat.server")


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", logging.INFO)
    before = datetime.datetime.now(datetime.UTC)
    log.debug("not shown")
    log.info("user %s joined", "ann", extra={"uid": "ann", "count": 3, "ts": "mine", "obj": {1}})
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        log.exception("it failed")
    logging.getLogger("aiohttp.access").warning('quoted "text" and ünïcode')
    first, second, third = (json.loads(line) for line in lines(capsys))
    assert first["level"] == "INFO"
    assert first["logger"] == "desktop_chat.server"
    assert first["message"] == "user ann joined"
    assert (first["uid"], first["count"], first["ts_"], first["obj"]) == ("ann", 3, "mine", "{1}")
    assert first["ts"].endswith("Z")
    stamp = datetime.datetime.fromisoformat(first["ts"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == datetime.timedelta(0)
    assert abs((stamp - before).total_seconds()) < 3600
    assert second["level"] == "ERROR" and second["message"] == "it failed"
    assert second["exc"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: boom\nsecond line" in second["exc"]
    assert third == {
        "ts": third["ts"],
        "level": "WARNING",
        "logger": "aiohttp.access",
        "message": 'quoted "text" and ünïcode',
    }


def test_text_lines_and_reconfiguring(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", logging.INFO)
    configure_logging("text", "debug")  # replaces the handler installed before, once
    log.debug("plain %d", 5, extra={"uid": "ann"})
    (line,) = lines(capsys)
    assert line.endswith(" DEBUG desktop_chat.server: plain 5")
    assert not line.startswith("{")
    ours = [h for h in logging.getLogger().handlers if type(h).__name__ == "_StderrHandler"]
    assert len(ours) == 1


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        configure_logging("xml", logging.INFO)  # type: ignore[arg-type]
