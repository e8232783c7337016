"""The server refuses a rules file it cannot fully understand, naming the rule and the reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import ServerProcess


def _serve(tmp_path: Path, rules: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "desktop_chat.server",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "data"),
            "--rules",
            str(rules),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"rules": {"a": {".write": "auth.uid ==="}}}', "/rules/a/.write"),
        ('{"rules": {"a": {".wrote": true}}}', "/rules/a/.wrote"),
        ('{"rules": {"$x": {".read": "$y == 1"}}}', "/rules/$x/.read"),
        ('{"rules": {"a": {".read": "data.frobnicate()"}}}', "/rules/a/.read"),
        ('{"rules": {"a": {".indexOn": 5}}}', "/rules/a/.indexOn"),
        ('{"rules": ', ""),
        ('{"notrules": {}}', ""),
    ],
)
def test_bad_rules_file_is_refused(tmp_path: Path, text: str, named: str) -> None:
    rules = tmp_path / "bad.rules.json"
    rules.write_text(text)
    result = _serve(tmp_path, rules)
    assert result.returncode == 1
    assert result.stderr.startswith("desktop-chat-server: error:"), result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert "listening on" not in result.stdout


def test_missing_rules_file_is_refused(tmp_path: Path) -> None:
    result = _serve(tmp_path, tmp_path / "nope.json")
    assert result.returncode == 1
    assert "cannot read the rules file" in result.stderr


def test_shipped_rules_are_the_default(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", rules=None).start()
    try:
        # The shipped rules index messages by timestamp, and nothing else under a conversation.
        ok = server.request("GET", "conversations/a_b/messages", orderBy='"timestamp"')
        assert ok.status_code == 200
        refused = server.request("GET", "conversations/a_b/messages", orderBy='"text"')
        assert refused.status_code == 400
        assert refused.json() == {
            "error": 'Index not defined, add ".indexOn": "text", for path '
            '"/conversations/a_b/messages", to the rules'
        }
    finally:
        server.kill()
