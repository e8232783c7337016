"""Every acknowledged write survives kill -9 and clean shutdowns; none is ever half-applied."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.support.server import ServerProcess


def _hammer(
    server: ServerProcess, stop: threading.Event, worker: int, acked: dict[str, int]
) -> None:
    session = requests.Session()
    index = 0
    while not stop.is_set():
        key = f"w{worker}_{index}"
        body = {f"log/{key}": index, f"mirror/{key}": index}  # one atomic multi-path write
        try:
            response = session.patch(
                f"{server.url}/.json",
                params={"ns": server.namespace},
                json=body,
                headers={"Authorization": "Bearer owner"},
                timeout=10,
            )
        except requests.RequestException:
            return  # the server went away mid-request: that write may or may not be there
        if response.status_code == 200:
            acked[key] = index
        index += 1


def _load_then(server: ServerProcess, action: str) -> dict[str, int]:
    acked: dict[str, int] = {}
    stop = threading.Event()
    with ThreadPoolExecutor(8) as pool:
        for worker in range(8):
            pool.submit(_hammer, server, stop, worker, acked)
        deadline = time.monotonic() + 30
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        if action == "kill":
            server.kill()
        else:
            assert server.stop() == 0
        stop.set()
    assert len(acked) >= 300
    return acked


def _check(server: ServerProcess, acked: dict[str, int]) -> None:
    tree = server.get()
    log, mirror = tree.get("log", {}), tree.get("mirror", {})
    missing = [key for key in acked if log.get(key) != acked[key]]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    assert log == mirror, "a multi-path write was half applied"


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        acked = _load_then(server, "kill")
        server.start()
        _check(server, acked)
    finally:
        server.kill()


def test_sigterm_finishes_accepted_writes(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        acked = _load_then(server, "stop")
        server.start()
        _check(server, acked)
    finally:
        server.kill()


def test_second_server_on_same_data_dir_is_refused(server: ServerProcess) -> None:
    other = ServerProcess(server.data_dir)
    try:
        other.start(timeout=15)
    except RuntimeError as exc:
        assert "in use by a running desktop-chat-server" in str(exc)
    else:  # pragma: no cover - the failure we guard against
        other.kill()
        raise AssertionError("two servers opened one data dir")
