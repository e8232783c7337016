"""``desktop-chat --self-test``: the app's own path end to end, exit 0; a failure says what."""

from __future__ import annotations

import resource
import subprocess
import sys


def self_test(files: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``--self-test``, with at most *files* open files if given (a fault: no room)."""

    def limit() -> None:
        if files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    return subprocess.run(
        [sys.executable, "-m", "desktop_chat.app", "--self-test"],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit,
        check=False,
    )


def test_the_self_test_passes_with_its_own_server() -> None:
    done = self_test()
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("self-test: local server at http://127.0.0.1:")
    assert lines[1:] == [
        "self-test: two users signed up",
        "self-test: student -> provider: delivered and read",
        "self-test: provider -> student: delivered and read",
        "self-test: passed",
    ]
    assert "Traceback" not in done.stderr


def test_a_failing_self_test_says_what_failed_and_exits_1() -> None:
    done = self_test(files=12)  # the local server cannot open its files
    assert done.returncode == 1
    assert done.stdout.startswith("self-test: FAILED: ")
    assert "Traceback" not in done.stdout + done.stderr
