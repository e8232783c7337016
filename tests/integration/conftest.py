"""Fixtures for integration tests: servers that run the shipped rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.chat import FAST
from tests.support.server import ServerProcess


@pytest.fixture
def own(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of this test's own, with the shipped rules and cheap password hashing."""
    server = ServerProcess(tmp_path / "d", FAST, rules=None).start()
    yield server
    server.kill()
