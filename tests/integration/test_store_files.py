"""The store file: migration of older schemas, and refusal of foreign or newer files."""

from __future__ import annotations

import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_chat.server.store import APPLICATION_ID, SCHEMA_VERSION
from tests.support.server import ServerProcess


def _serve_error(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "desktop_chat.server",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version_1_store_is_migrated(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    db = sqlite3.connect(data_dir / "store.sqlite3")
    db.execute("CREATE TABLE nodes (path TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL)")
    db.executemany(
        "INSERT INTO nodes VALUES (?, ?)",
        [("users/u1/name", b'"Ann"'), ("users/u1/age", b"30"), ("flag", b"true")],
    )
    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    server = ServerProcess(data_dir).start()
    try:
        assert server.get() == {"users": {"u1": {"name": "Ann", "age": 30}}, "flag": True}
        server.put("users/u2/name", "Bob")
        server.restart()
        assert server.get("users/u2/name") == "Bob"
    finally:
        server.kill()
    db = sqlite3.connect(data_dir / "store.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


@pytest.mark.parametrize("kind", ["foreign-sqlite", "not-sqlite", "newer"])
def test_foreign_or_newer_store_is_refused_and_untouched(tmp_path: Path, kind: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store = data_dir / "store.sqlite3"
    if kind == "not-sqlite":
        store.write_bytes(b"this is somebody's notes, not a database\n" * 100)
    else:
        db = sqlite3.connect(store)
        db.execute("CREATE TABLE contacts (name TEXT)")
        db.execute("INSERT INTO contacts VALUES ('precious')")
        if kind == "newer":
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
        db.commit()
        db.close()
    before = store.read_bytes()
    result = _serve_error(data_dir)
    assert result.returncode == 1
    assert "left untouched" in result.stderr
    assert "Traceback" not in result.stderr
    assert store.read_bytes() == before
    assert {p.name for p in data_dir.iterdir()} <= {"store.sqlite3", "server.lock"}


def test_a_damaged_store_is_refused_and_untouched(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir).start()
    try:
        for n in range(300):
            server.put(f"msgs/m{n}", {"text": "x" * 200, "n": n})
    finally:
        server.stop()
    store = data_dir / "store.sqlite3"
    raw = bytearray(store.read_bytes())
    raw[8192 : 8192 + 4096 * 6] = b"\xa5" * len(raw[8192 : 8192 + 4096 * 6])  # pages 3-8
    store.write_bytes(bytes(raw))
    result = _serve_error(data_dir)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "store.sqlite3 is damaged" in result.stderr and "left untouched" in result.stderr
    assert store.read_bytes() == bytes(raw)


def test_too_few_file_handles_are_not_called_a_foreign_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ServerProcess(data_dir).start().stop()

    def few() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (12, 12))

    result = subprocess.run(
        [sys.executable, "-m", "desktop_chat.server", "--port", "0", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=few,
        check=False,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "unable to open database file" in result.stderr
    assert "not a desktop_chat" not in result.stderr and "another program" not in result.stderr
