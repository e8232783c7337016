"""Shared benchmark plumbing: results, child processes, wrk, file limits, RSS and percentiles."""

from __future__ import annotations

import contextlib
import math
import os
import queue
import re
import resource
import shutil
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

from tests.support.server import ADMIN_RULES, ServerProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
OWNER_HEADERS = {"Authorization": "Bearer owner"}
_LISTENING = re.compile(r"^listening on http://([\d.]+):(\d+)$")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")

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


NO_LIMITS = [
    arg
    for name in (
        "writes_per_user",
        "writes_per_address",
        "events_per_user",
        "events_per_address",
        "streams_per_user",
        "streams_per_address",
        "sockets_per_user",
    )
    for arg in ("--limit", f"{name}=0")
]
"""The server's per-user and per-address limits off: the benchmarks measure its capacity."""


def start_server(
    data_dir: Path, extra_args: Sequence[str] = (), rules: Path | None = ADMIN_RULES
) -> ServerProcess:
    """Start desktop-chat-server (with --emulator-admin) and remember it for cleanup.

    *rules* is the ``--rules`` file; None runs the shipped ``database.rules.json``.
    """
    server = ServerProcess(data_dir, extra_args=[*extra_args, *NO_LIMITS], rules=rules)
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


def run_wrk(
    url: str,
    seconds: float,
    connections: int,
    threads: int,
    script: Path,
    script_args: Sequence[str] = (),
) -> dict[str, Any]:
    """Drive *url* with wrk and a Lua *script* that prints one ``WRK_JSON {...}`` summary line.

    Returns that summary plus wrk's own error counts, ``per_second`` (2xx answers per second)
    and wrk's text output (``wrk_output``).
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    command = [
        wrk,
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    if script_args:
        command += ["--", *script_args]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    summary: dict[str, Any] | None = None
    for line in done.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            summary = orjson.loads(line[len("WRK_JSON ") :])
    if summary is None:
        raise RuntimeError(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")
    non_2xx = _NON_2XX.search(done.stdout)
    summary["wrk_non2xx_line"] = int(non_2xx.group(1)) if non_2xx else 0
    sockets = _SOCKET_ERRORS.search(done.stdout)
    summary["wrk_socket_errors_line"] = (
        sum(int(value) for value in sockets.groups()) if sockets else 0
    )
    summary["per_second"] = summary["ok"] / (summary["duration_us"] / 1e6)
    summary["wrk_output"] = done.stdout
    return summary


def wrk_errors(summary: dict[str, Any]) -> int:
    """Failures in a run_wrk summary: non-2xx answers plus socket errors.

    The script's counts and wrk's text report the same failures; the larger of each pair counts.
    """
    sockets = sum(
        summary[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return int(
        max(summary["non2xx"], summary["wrk_non2xx_line"])
        + max(sockets, summary["wrk_socket_errors_line"])
    )
