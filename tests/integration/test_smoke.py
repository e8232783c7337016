"""The server process starts, answers REST, and keeps data across a restart."""

from __future__ import annotations

from tests.support.server import ServerProcess


def test_put_get_survives_restart(server: ServerProcess) -> None:
    assert server.put("a/b", {"x": 1}) == {"x": 1}
    server.restart()
    assert server.get("a") == {"b": {"x": 1}}
