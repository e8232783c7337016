"""`desktop-chat-server export` and `import`: Firebase's export format, both ways, safely."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.server import ServerProcess


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop_chat.server", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


TREE = {
    "users": {"u1": {"name": "Ann", "tags": ["math", "piano"]}},
    "ranked": {".priority": 5, "score": {".value": 10, ".priority": "b"}},
}


def test_import_then_export_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "tree.json"
    source.write_text(json.dumps(TREE))
    data_dir = tmp_path / "data"
    result = _cli("import", "--data-dir", data_dir, source)
    assert result.returncode == 0, result.stderr
    assert "imported 6 values" in result.stdout
    exported = _cli("export", "--data-dir", data_dir)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout) == TREE
    server = ServerProcess(data_dir).start()
    try:
        assert server.get("users/u1/tags") == ["math", "piano"]
        assert server.get("ranked") == {"score": 10}
        assert server.get("ranked", format="export") == TREE["ranked"]
    finally:
        server.kill()


def test_export_of_a_running_server(server: ServerProcess) -> None:
    server.put("a", {"b": 1})
    exported = _cli("export", "--data-dir", server.data_dir)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout) == {"a": {"b": 1}}


def test_import_is_refused_while_the_server_runs(server: ServerProcess, tmp_path: Path) -> None:
    server.put("keep", 1)
    source = tmp_path / "tree.json"
    source.write_text('{"other": 2}')
    result = _cli("import", "--data-dir", server.data_dir, source)
    assert result.returncode == 1
    assert "in use by a running desktop-chat-server" in result.stderr
    assert server.get() == {"keep": 1}


def test_bad_import_file_changes_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    good = tmp_path / "good.json"
    good.write_text('{"keep": {"me": true}}')
    assert _cli("import", "--data-dir", data_dir, good).returncode == 0
    for name, text in (
        ("broken.json", '{"a": '),
        ("badkey.json", '{"a.b": 1}'),
        ("sv.json", '{"t": {".sv": "timestamp"}}'),
    ):
        bad = tmp_path / name
        bad.write_text(text)
        result = _cli("import", "--data-dir", data_dir, bad)
        assert result.returncode == 1, name
        assert result.stderr.startswith("desktop-chat-server: error:"), result.stderr
        assert "Traceback" not in result.stderr
    missing = _cli("import", "--data-dir", data_dir, tmp_path / "nope.json")
    assert missing.returncode == 1 and "No such file" in missing.stderr
    assert json.loads(_cli("export", "--data-dir", data_dir).stdout) == {"keep": {"me": True}}


def test_serve_is_the_default_command_and_port_0_picks_a_port(tmp_path: Path) -> None:
    args = [
        sys.executable,
        "-m",
        "desktop_chat.server",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "d"),
    ]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        proc.terminate()  # at once: a stop right after "listening" must still be clean
        assert proc.wait(30) == 0
    assert line.startswith("listening on http://127.0.0.1:")
    assert int(line.rsplit(":", 1)[1]) > 0
