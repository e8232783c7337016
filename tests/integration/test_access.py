"""Until rules exist only admins get in: the admin secret, or `owner` with --emulator-admin."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import requests

from tests.support.server import ServerProcess


def _status(server: ServerProcess, **kwargs: object) -> int:
    response = requests.get(f"{server.url}/a.json", timeout=10, **kwargs)  # type: ignore[arg-type]
    return response.status_code


def test_admin_secret_from_the_data_dir(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", emulator_admin=False).start()
    try:
        secret_file = server.data_dir / "admin-secret"
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        secret = secret_file.read_text().strip()
        assert len(secret) >= 32
        assert _status(server, headers={"Authorization": f"Bearer {secret}"}) == 200
        assert _status(server, params={"auth": secret}) == 200
        assert _status(server, params={"access_token": secret}) == 200
        assert _status(server, headers={"Authorization": "Bearer owner"}) == 401
        assert _status(server) == 401
        assert _status(server, params={"auth": secret[:-1] + "x"}) == 401
        refused = requests.put(f"{server.url}/a.json", data="1", timeout=10)
        assert refused.status_code == 401
        assert refused.json() == {"error": "Permission denied"}
        assert "emulator-admin" not in "".join(server.stderr_lines)
        server.restart()  # the secret is kept across restarts
        assert secret_file.read_text().strip() == secret
        assert _status(server, params={"auth": secret}) == 200
    finally:
        server.kill()


def test_admin_secret_from_the_environment(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DESKTOP_CHAT_ADMIN_SECRET", "s3cret-from-the-env")
    server = ServerProcess(tmp_path / "data", emulator_admin=False).start()
    try:
        assert _status(server, params={"auth": "s3cret-from-the-env"}) == 200
        assert not (server.data_dir / "admin-secret").exists()
    finally:
        server.kill()
    assert os.environ["DESKTOP_CHAT_ADMIN_SECRET"] == "s3cret-from-the-env"


def test_emulator_admin_warns(server: ServerProcess) -> None:
    assert _status(server, headers={"Authorization": "Bearer owner"}) == 200
    assert "--emulator-admin" in "".join(server.stderr_lines)
