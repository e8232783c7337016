"""The suite's qasync pattern works: coroutines and Qt share one loop across tests."""

from __future__ import annotations

import asyncio

import aiohttp
from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from tests.support.server import ServerProcess
from tests.ui.conftest import run_on


def test_a_coroutine_and_a_qt_timer_run_together(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop
) -> None:
    fired: list[str] = []
    QTimer.singleShot(10, lambda: fired.append("qt"))

    async def work() -> str:
        await asyncio.sleep(0.05)
        fired.append("asyncio")
        return "done"

    assert run_on(qtbot, qloop, work()) == "done"
    assert sorted(fired) == ["asyncio", "qt"]


def test_network_io_on_the_qt_loop(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, server: ServerProcess
) -> None:
    async def fetch() -> int:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{server.url}/healthz") as response,
        ):
            return response.status

    assert run_on(qtbot, qloop, fetch()) == 200
    assert run_on(qtbot, qloop, fetch()) == 200  # the same loop, again
