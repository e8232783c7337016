"""Logs that rotate, crash reports offered once, the About box; no secret in any of them."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QWidget

from desktop_chat.ui import diagnostics
from desktop_chat.ui.diagnostics import (
    LOG_FILE,
    crash_reports,
    offer_crash_reports,
    redact,
    setup_logging,
    show_about,
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /users.json?auth=eyJhbGciOi.x.y&print=silent", "eyJhbGciOi.x.y"),
        ('{"idToken": "abc123", "email": "a@b.c"}', "abc123"),
        ('{"refreshToken":"r-e-f"}', "r-e-f"),
        ("Authorization: Bearer tok.en+/=", "tok.en+/="),
        ("password=hunter2 and more", "hunter2"),
        ("X-Admin-Secret: s3cr3t", "s3cr3t"),
        ("key=AIzaSyD-fake", "AIzaSyD-fake"),
    ],
)
def test_secrets_are_redacted(text: str, secret: str) -> None:
    hidden = redact(text)
    assert secret not in hidden and "***" in hidden


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def test_the_log_rotates_and_holds_no_secret(tmp_path: Path, root_logging: None) -> None:
    path = setup_logging(logging.WARNING, tmp_path)
    assert path == tmp_path / LOG_FILE
    log = logging.getLogger("desktop_chat.client")
    log.info("signed in with refreshToken=%s", "very-secret-refresh")
    try:
        raise ValueError("token=inside-a-traceback")
    except ValueError:
        log.exception("it failed")
    text = path.read_text()
    assert "signed in with refreshToken=***" in text  # INFO reaches the file, not stderr
    assert "very-secret-refresh" not in text and "inside-a-traceback" not in text
    assert "ValueError: token=***" in text
    for _ in range(1200):  # > 1 MB: the file rotates, 5 are kept
        log.info("x" * 1000)
    assert (tmp_path / f"{LOG_FILE}.1").exists()
    assert not (tmp_path / f"{LOG_FILE}.6").exists()
    assert path.stat().st_size < 1.1 * diagnostics.LOG_BYTES
    assert len(logging.getLogger().handlers) == len(set(logging.getLogger().handlers))
    setup_logging(logging.WARNING, tmp_path)  # set up again: replaced, not doubled
    ours = [h for h in logging.getLogger().handlers if getattr(h, "desktop_chat", False)]
    assert len(ours) == 2


CRASH = """
import sys
from desktop_chat.ui.diagnostics import install_crash_handler
install_crash_handler()
raise RuntimeError("boom with password=hunter2")
"""


def test_a_crash_writes_a_report_the_next_start_offers_once(
    qapp: QApplication, tmp_path: Path
) -> None:
    env = {**os.environ, "DESKTOP_CHAT_LOG_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", CRASH],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    (report,) = crash_reports(tmp_path)
    text = report.read_text()
    assert "RuntimeError: boom with password=***" in text and "hunter2" not in text
    assert "Version: " in text and "Python: " in text

    window = QWidget()
    try:
        box = offer_crash_reports(window, tmp_path)
        assert box is not None and box.isVisible()
        assert (
            "closed unexpectedly" in box.text() and str(report.with_suffix(".seen")) in box.text()
        )
        box.close()
        assert crash_reports(tmp_path) == []
        assert offer_crash_reports(window, tmp_path) is None  # offered once
    finally:
        window.deleteLater()


def test_the_about_box_names_the_version_and_the_build(qapp: QApplication) -> None:
    import desktop_chat

    window = QWidget()
    try:
        box = show_about(window)
        text = box.informativeText()
        assert f"Version: {desktop_chat.__version__}" in text
        assert "Build: Python package" in text and "Qt: " in text
        box.close()
    finally:
        window.deleteLater()
