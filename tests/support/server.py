"""Start a real desktop-chat-server process on 127.0.0.1 and talk to it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

OWNER = {"Authorization": "Bearer owner"}
ADMIN_RULES = Path(__file__).with_name("admin.rules.json")
"""Rules for admin-only tests: closed to users, with every child they order by indexed."""
NAMESPACE = "test-ns"
_LISTENING = re.compile(r"^listening on http://([\d.]+):(\d+)$")


class ServerProcess:
    """A desktop-chat-server subprocess with its own data dir; restartable and killable."""

    def __init__(
        self,
        data_dir: Path,
        extra_args: Sequence[str] = (),
        emulator_admin: bool = True,
        namespace: str = NAMESPACE,
        rules: Path | None = ADMIN_RULES,
        port: int = 0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.env = dict(env or {})
        """Extra environment variables for the process."""
        self.requested_port = port
        """The --port to start on; 0 picks a free one (restart on a known port to keep it)."""
        self.rules = rules
        """The --rules file; None runs the shipped database.rules.json."""
        self.extra_args = list(extra_args)
        self.emulator_admin = emulator_admin
        self.namespace = namespace
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.stderr_lines: list[str] = []
        self._pump: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        """A firebase-admin databaseURL for this server."""
        return f"{self.url}?ns={self.namespace}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        args = [
            sys.executable,
            "-m",
            "desktop_chat.server",
            "serve",
            "--port",
            str(self.requested_port),
            "--data-dir",
            str(self.data_dir),
            "--namespace",
            self.namespace,
            *self.extra_args,
        ]
        if self.rules is not None:
            args += ["--rules", str(self.rules)]
        if self.emulator_admin:
            args.append("--emulator-admin")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self._pump = threading.Thread(target=self._pump_stderr, args=(self.proc,), daemon=True)
        self._pump.start()
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            match = _LISTENING.match(line.strip())
            if match:
                self.port = int(match.group(2))
                return self
        self.proc.kill()
        self._reap()
        raise RuntimeError("server did not start:\n" + "".join(self.stderr_lines))

    def _pump_stderr(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        with proc.stderr:
            for line in proc.stderr:
                self.stderr_lines.append(line)

    def _reap(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        if self._pump is not None:
            self._pump.join(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
        return code

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: a clean shutdown. Returns the exit code."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        return self._reap(timeout)

    def kill(self) -> None:
        """kill -9: no chance to flush anything."""
        if self.proc is not None:
            self.proc.kill()
            self._reap()

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    # HTTP shortcuts, as the emulator owner (admin)
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        **params: str,
    ) -> requests.Response:
        data = raw if raw is not None else (None if body is None else _dumps(body))
        return requests.request(
            method,
            f"{self.url}/{path.strip('/')}.json",
            params={"ns": self.namespace, **params},
            data=data,
            headers={**OWNER, **(headers or {})},
            timeout=30,
        )

    def get(self, path: str = "", **params: str) -> Any:
        response = self.request("GET", path, **params)
        response.raise_for_status()
        return response.json()

    def put(self, path: str, value: Any) -> Any:
        response = self.request("PUT", path, value)
        response.raise_for_status()
        return response.json()


def _dumps(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def socket_node(data: ServerProcess, directory: Path, *args: str) -> ServerProcess:
    """A started ``--socketio-only`` node against the data server *data* (its admin secret in
    the environment), with *args* (``--redis-url`` ...)."""
    secret = (data.data_dir / "admin-secret").read_text().strip()
    return ServerProcess(
        directory,
        ["--socketio-only", "--database-url", data.database_url, *args],
        emulator_admin=False,
        env={"DESKTOP_CHAT_ADMIN_SECRET": secret},
    ).start()
