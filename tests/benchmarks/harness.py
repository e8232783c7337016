"""Shared benchmark plumbing: results, child processes, file limits, RSS and percentiles."""

from __future__ import annotations

import contextlib
import math
import os
import queue
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.support.server import ServerProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
OWNER_HEADERS = {"Authorization": "Bearer owner"}
_LISTENING = re.compile(r"^listening on http://([\d.]+):(\d+)$")

# Every child a benchmark starts, so an interrupted run can still kill them all.
_CHILDREN: set[subprocess.Popen[str]] = set()
_SERVERS: set[ServerProcess] = set()


@dataclass(slots=True)
class BenchResult:
    """One row of the results table, plus the raw figures behind it."""

    name: str
    ours: str
    baseline: str
    figure: str
    goal: str
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile of *values* (nan when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def raise_nofile_limit(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards *wanted* (capped by the hard limit).

    Children started afterwards inherit it, which is how the servers get enough descriptors.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def rss_bytes(pid: int) -> int:
    """Resident set size of *pid* from /proc/PID/status (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def child_env() -> dict[str, str]:
    """Environment for Python children: unbuffered, with the repo importable."""
    path = os.environ.get("PYTHONPATH", "")
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{path}" if path else str(REPO_ROOT),
    }


class Child:
    """A Python child process that talks one JSON (or ``listening on``) line at a time."""

    def __init__(self, module: str, args: Sequence[str]) -> None:
        self.proc: subprocess.Popen[str] = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
            env=child_env(),
        )
        _CHILDREN.add(self.proc)
        self.stderr_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self._lines), daemon=True),
            threading.Thread(target=self._pump_err, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @staticmethod
    def _pump(stream: Any, lines: queue.Queue[str | None]) -> None:
        with stream:
            for line in stream:
                lines.put(line)
        lines.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr:
            for line in self.proc.stderr:
                self.stderr_lines.append(line)

    def read_line(self, timeout: float) -> str:
        """The next stdout line; raises if the child exits or stays silent for *timeout*."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"child {self.proc.args} silent for {timeout} s") from None
        if line is None:
            self.proc.wait(5)
            raise RuntimeError(
                f"child {self.proc.args} exited ({self.proc.returncode}):\n"
                + "".join(self.stderr_lines[-30:])
            )
        return line.strip()

    def read_json(self, timeout: float) -> Any:
        """The next stdout line that is a JSON object."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(max(0.01, deadline - time.monotonic()))
            if line.startswith("{"):
                return orjson.loads(line)

    def wait_listening(self, timeout: float = 30.0) -> int:
        """Wait for ``listening on http://HOST:PORT`` and return the port."""
        deadline = time.monotonic() + timeout
        while True:
            match = _LISTENING.match(self.read_line(max(0.01, deadline - time.monotonic())))
            if match:
                return int(match.group(2))

    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def stop(self, timeout: float = 15.0) -> int:
        """EOF on stdin and SIGTERM, then SIGKILL if the child lingers; returns the exit code."""
        self.close_stdin()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for thread in self._threads:
            thread.join(5)
        _CHILDREN.discard(self.proc)
        return self.proc.returncode


def start_server(data_dir: Path, extra_args: Sequence[str] = ()) -> ServerProcess:
    """Start desktop-chat-server (with --emulator-admin) and remember it for cleanup."""
    server = ServerProcess(data_dir, extra_args=extra_args)
    _SERVERS.add(server)
    server.start()
    return server


def stop_server(server: ServerProcess) -> None:
    """SIGTERM the server; kill it if it does not go within 20 s."""
    try:
        server.stop(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    finally:
        _SERVERS.discard(server)


def kill_everything() -> None:
    """Last-resort cleanup: kill every child and server still running."""
    for server in list(_SERVERS):
        with contextlib.suppress(Exception):
            server.kill()
        _SERVERS.discard(server)
    for proc in list(_CHILDREN):
        with contextlib.suppress(Exception):
            proc.kill()
            proc.wait(5)
        _CHILDREN.discard(proc)
