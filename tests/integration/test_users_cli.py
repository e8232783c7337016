"""`desktop-chat-server users ...` against a running server and against a stopped data dir."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.auth import error_message, ok, sign_in
from tests.support.server import ServerProcess

FAST = ["--scrypt-n", "16"]


def _users(
    data_dir: Path, *args: str | Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "desktop_chat.server", "users"),
            *map(str, args),
            *("--data-dir", str(data_dir), *FAST),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        input=stdin,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def _fails(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("desktop-chat-server: error:"), result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def _listed(data_dir: Path) -> dict[str, list[str]]:
    """email -> [uid, name, state] from `users list`."""
    lines = _ok(_users(data_dir, "list")).splitlines()
    rows = [line.split("\t") for line in lines]
    assert all(len(row) == 4 for row in rows), lines
    return {row[1]: [row[0], row[2], row[3]] for row in rows}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "running", extra_args=FAST, emulator_admin=False).start()
    yield process
    process.kill()


def _exercise(data_dir: Path, server: ServerProcess | None) -> None:
    """Every subcommand on *data_dir*; sign-ins checked on *server* when one runs."""
    added = _ok(
        _users(data_dir, "add", "Ann@Example.com", "--password", "secret-1", "--name", "Ann")
    )
    assert added.startswith("added ") and "ann@example.com" in added
    _ok(_users(data_dir, "add", "bob@example.com", stdin="from-stdin\n"))
    _fails(_users(data_dir, "add", "ann@example.com", "--password", "secret-2"), "EMAIL_EXISTS")
    _fails(_users(data_dir, "add", "cy@example.com", "--password", "123"), "WEAK_PASSWORD")
    listed = _listed(data_dir)
    assert listed["ann@example.com"][1:] == ["Ann", "enabled"]
    assert listed["bob@example.com"][1:] == ["-", "enabled"]
    assert _ok(_users(data_dir, "disable", "ann@example.com")) == "disabled ann@example.com\n"
    assert _listed(data_dir)["ann@example.com"][2] == "disabled"
    if server is not None:
        assert error_message(sign_in(server, "ann@example.com", "secret-1")) == "USER_DISABLED"
    _ok(_users(data_dir, "enable", "ann@example.com"))
    assert _listed(data_dir)["ann@example.com"][2] == "enabled"
    _fails(_users(data_dir, "disable", "nobody@example.com"), "EMAIL_NOT_FOUND")
    _ok(_users(data_dir, "reset-password", "ann@example.com", "--password", "secret-9"))
    if server is not None:
        assert error_message(sign_in(server, "ann@example.com", "secret-1")) == "INVALID_PASSWORD"
        assert (
            ok(sign_in(server, "ann@example.com", "secret-9"))["localId"]
            == listed["ann@example.com"][0]
        )
        assert ok(sign_in(server, "bob@example.com", "from-stdin"))


def test_every_subcommand_on_a_running_server(running: ServerProcess) -> None:
    assert json.loads((running.data_dir / "server.json").read_text())["port"] == running.port
    _exercise(running.data_dir, running)


def test_every_subcommand_on_a_stopped_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "stopped"
    _exercise(data_dir, None)
    server = ServerProcess(data_dir, extra_args=FAST).start()
    try:
        uid = _listed_from_api(server)["ann@example.com"]
        assert ok(sign_in(server, "ann@example.com", "secret-9"))["localId"] == uid
        assert ok(sign_in(server, "bob@example.com", "from-stdin"))
    finally:
        assert server.stop() == 0
    assert not (data_dir / "server.json").exists()


def _listed_from_api(server: ServerProcess) -> dict[str, str]:
    users = requests.get(
        f"{server.url}/_admin/users", headers={"Authorization": "Bearer owner"}, timeout=10
    ).json()["users"]
    return {user["email"]: user["localId"] for user in users}


def test_export_import_keeps_uids(running: ServerProcess, tmp_path: Path) -> None:
    _ok(_users(running.data_dir, "add", "ann@example.com", "--password", "secret-1"))
    _ok(_users(running.data_dir, "add", "bob@example.com", "--password", "secret-2"))
    _ok(_users(running.data_dir, "disable", "bob@example.com"))
    exported = _ok(_users(running.data_dir, "export"))
    records = json.loads(exported)["users"]
    assert {record["email"] for record in records} == {"ann@example.com", "bob@example.com"}
    assert all(record["passwordHash"].startswith("scrypt$") for record in records)
    export_file = tmp_path / "users.json"
    export_file.write_text(exported)
    uids = {record["email"]: record["localId"] for record in records}

    offline_dir = tmp_path / "offline"
    assert _ok(_users(offline_dir, "import", export_file)) == "imported 2 users\n"
    assert json.loads(_ok(_users(offline_dir, "export")))["users"] == records
    online = ServerProcess(tmp_path / "online", extra_args=FAST).start()
    try:
        assert _ok(_users(online.data_dir, "import", export_file)) == "imported 2 users\n"
        assert (
            ok(sign_in(online, "ann@example.com", "secret-1"))["localId"] == uids["ann@example.com"]
        )
        assert error_message(sign_in(online, "bob@example.com", "secret-2")) == "USER_DISABLED"
    finally:
        online.kill()
    offline = ServerProcess(offline_dir, extra_args=FAST).start()
    try:
        assert (
            ok(sign_in(offline, "ann@example.com", "secret-1"))["localId"]
            == uids["ann@example.com"]
        )
    finally:
        offline.kill()
    before = _ok(_users(offline_dir, "export"))
    bad = tmp_path / "bad.json"
    for text, message in (
        ("{", "not valid JSON"),
        ('{"users": [{"localId": "u1"}]}', "users[0]"),
        ('{"rows": []}', "not a users export"),
    ):
        bad.write_text(text)
        _fails(_users(offline_dir, "import", bad), message)
    assert _ok(_users(offline_dir, "export")) == before  # a bad file changes nothing


def test_a_killed_server_leaves_a_usable_data_dir(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=FAST).start()
    server.kill()  # server.json stays behind, the lock does not
    assert (server.data_dir / "server.json").exists()
    _ok(_users(server.data_dir, "add", "ann@example.com", "--password", "secret-1"))
    assert "ann@example.com" in _listed(server.data_dir)
    _fails(_users(tmp_path / "missing", "list"), "no data dir")
