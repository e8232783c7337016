"""A full disk under the real server: its data dir on a small tmpfs, filled up. Writes answer a
clear Firebase-style error, reads go on, nothing stored is lost or damaged, and writing
resumes once there is room again."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.server import OWNER, ServerProcess

SIZE_MB = 6


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of a few megabytes (skipped where this user may not mount one)."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Fill *disk* up with one file; returns it."""
    filler = disk / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


def put(server: ServerProcess, path: str, value: object) -> requests.Response:
    url = f"{server.url}/{path}.json"
    return requests.put(url, params={"ns": server.namespace}, json=value, headers=OWNER, timeout=30)


def test_a_full_disk_refuses_writes_clearly_and_loses_nothing(small_disk: Path) -> None:
    server = ServerProcess(small_disk / "data", ["--scrypt-n", "16"]).start()
    try:
        kept = {f"k{n}": "x" * 100 for n in range(50)}
        assert put(server, "kept", kept).status_code == 200
        filler = fill(small_disk)
        written: dict[str, str] = {}
        refused = None
        for n in range(400):  # until the disk says no
            value = f"{n}-" + "y" * 16_000
            answer = put(server, f"later/w{n}", value)
            if answer.status_code == 200:
                written[f"w{n}"] = value
                continue
            refused = answer
            break
        assert refused is not None, "the disk never filled up"
        assert refused.status_code == 507, refused.text
        assert refused.json() == {"error": "The server's disk is full: the write was not applied"}
        assert server.get("kept") == kept  # reads go on
        assert (server.get("later") or {}) == written  # what was answered 200 is there
        assert put(server, "later/again", "y" * 16_000).status_code == 507  # still full
        filler.unlink()  # room again
        assert put(server, "later/again", "resumed").status_code == 200
        assert server.get("later/again") == "resumed"
        server.stop()  # and a restart reads everything back: nothing was damaged
        server.requested_port = 0
        server.start()
        assert server.get("kept") == kept
        assert server.get("later") == {**written, "again": "resumed"}
        assert not any("Traceback" in line for line in server.stderr_lines)
    finally:
        server.kill()
