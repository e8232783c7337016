"""Shared Qt fixtures for the UI tests: one offscreen QApplication per session."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

# Must be set before the first QGuiApplication exists; an explicit value (e.g. xcb under Xvfb)
# from the environment wins.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import keyring
import qasync
from keyring.backend import KeyringBackend
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

T = TypeVar("T")


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


@pytest.fixture(scope="session")
def qloop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """The suite's one qasync loop: session-scoped and ``already_running`` (pytest-qt has no
    asyncio support; a per-test loop of this kind breaks the next test). Drive coroutines with
    :func:`run_on` and wait for Qt with ``qtbot.waitUntil`` / ``qtbot.waitSignal``."""
    loop = qasync.QEventLoop(qapp, already_running=True)
    # Ours to shut down: an already-running loop is never closed, and its own executor's
    # QThreads, destroyed still running at exit, abort the process (exit code 134).
    executor = qasync.QThreadExecutor()
    loop.set_default_executor(executor)
    asyncio.events._set_running_loop(None)  # running only in the tests that use it (below)
    asyncio.set_event_loop(loop)
    yield loop
    for task in asyncio.all_tasks(loop):
        task.cancel()
    qapp.processEvents()
    executor.shutdown(wait=True)
    asyncio.set_event_loop(None)


@pytest.fixture(autouse=True)
def _qloop_runs_in_its_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """The qasync loop counts as running only during the tests that use it, so that other
    suites' ``asyncio.run`` works in the same pytest process after these tests."""
    if "qloop" not in request.fixturenames:
        yield
        return
    loop = request.getfixturevalue("qloop")
    asyncio.events._set_running_loop(loop)
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.events._set_running_loop(None)


def run_on(
    qtbot: QtBot, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], timeout: float = 30
) -> T:
    """Run *coro* as a task on the qasync *loop* while Qt spins, and return its result."""
    task = loop.create_task(coro)
    try:
        qtbot.waitUntil(task.done, timeout=int(timeout * 1000))
    except BaseException:
        task.cancel()
        raise
    return task.result()


class FakeKeychain(KeyringBackend):
    """A keychain that lives as long as the test: enough to stay signed in across runs."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


@pytest.fixture
def keychain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeKeychain]:
    settings = tmp_path / "settings.json"
    settings.write_text("{}")  # nothing configured: the embedded server
    monkeypatch.setenv("DESKTOP_CHAT_SETTINGS", str(settings))
    previous = keyring.get_keyring()
    fake = FakeKeychain()
    keyring.set_keyring(fake)
    yield fake
    keyring.set_keyring(previous)


@pytest.fixture
def themed(qapp: QApplication) -> Iterator[None]:
    """Whatever theme a test applies is undone afterwards."""
    style, palette, sheet = qapp.style().name(), qapp.palette(), qapp.styleSheet()
    yield
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)
