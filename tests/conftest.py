"""Fixtures for every suite: a real server process per test (or per module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis import RedisProcess
from tests.support.server import ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh desktop-chat-server with --emulator-admin on a free port."""
    process = ServerProcess(tmp_path / "data").start()
    yield process
    process.kill()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[ServerProcess]]:
    """Make servers with chosen arguments; all are killed at the end of the test."""
    started: list[ServerProcess] = []

    class Factory(ServerProcess):
        def start(self, timeout: float = 30.0) -> ServerProcess:
            started.append(self)
            return super().start(timeout)

    yield Factory
    for process in started:
        process.kill()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run tests/ui last: their one session-wide qasync loop stays "running" from its first use
    to the end of the session, and asyncio.run() refuses to start beside a running loop."""
    ui = Path(__file__).parent / "ui"
    items.sort(key=lambda item: Path(str(item.path)).is_relative_to(ui))


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A fresh redis-server on a free port (skips the test if redis-server is not installed)."""
    process = RedisProcess(tmp_path / "redis").start()
    yield process
    process.kill()
