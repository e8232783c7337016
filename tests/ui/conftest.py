"""Shared Qt fixtures for the UI tests: one offscreen QApplication per session."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

# Must be set before the first QGuiApplication exists; an explicit value (e.g. xcb under Xvfb)
# from the environment wins.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication


@pytest.fixture(scope="session")
def qapp() -> Iterator[QApplication]:
    """The process-wide QApplication, created once and reused by every UI test."""
    existing = QApplication.instance()
    if existing is None:
        app = QApplication(sys.argv[:1])
    else:
        assert isinstance(existing, QApplication), f"a {type(existing).__name__} already exists"
        app = existing
    yield app
    app.processEvents()
