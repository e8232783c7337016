"""Start a real redis-server on 127.0.0.1 for a test: no persistence, killable, restartable."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

__all__ = ["RedisProcess", "redis_server_path"]


def redis_server_path() -> str:
    """The redis-server executable, or skip the test."""
    found = shutil.which("redis-server") or next(
        (
            str(p)
            for p in (Path("/usr/bin/redis-server"), Path("/usr/sbin/redis-server"))
            if p.exists()
        ),
        None,
    )
    if found is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisProcess:
    """A redis-server in *directory* (its log goes to ``redis.log`` there). ``start()`` picks a
    free port the first time and keeps it, so a restarted server has the same URL."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> RedisProcess:
        executable = redis_server_path()
        self.directory.mkdir(parents=True, exist_ok=True)
        for _attempt in range(5):
            port = self.port or _free_port()
            if self._launch(executable, port, timeout):
                self.port = port
                return self
            if self.port:  # a restart must keep its port: do not try another
                break
        log = (self.directory / "redis.log").read_text(errors="replace")
        raise RuntimeError(f"redis-server did not start:\n{log}")

    def _launch(self, executable: str, port: int, timeout: float) -> bool:
        args = [
            executable,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:  # exited: the port was taken, say
                self.proc = None
                return False
            if _ping(port):
                return True
            time.sleep(0.05)
        self.kill()
        return False

    def kill(self) -> None:
        """kill -9: Redis loses everything (it persists nothing anyway)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(30)
            self.proc = None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def restart(self) -> RedisProcess:
        """Kill and start again on the same port, empty."""
        self.kill()
        return self.start()
