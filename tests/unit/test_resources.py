"""Resources ship inside the wheel and are found through importlib.resources once installed."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from desktop_chat import resources

ROOT = Path(__file__).resolve().parents[2]


def test_lookup_from_the_checkout() -> None:
    rules = json.loads(resources.read_text("database.rules.json"))
    assert "rules" in rules
    assert resources.read_bytes("icons/app.svg").startswith(b"<svg")


@pytest.mark.parametrize("name", ["missing.json", "../pyproject.toml", "icons/../../x", ""])
def test_missing_or_escaping_names_are_refused(name: str) -> None:
    with pytest.raises(resources.ResourceNotFoundError):
        resources.path(name)


@pytest.mark.slow
def test_wheel_carries_resources_and_an_install_finds_them(tmp_path: Path) -> None:
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("desktop_chat-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "desktop_chat/resources/database.rules.json" in names
    assert "desktop_chat/resources/icons/app.svg" in names
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    probe = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]);"
            "from desktop_chat import resources;"
            "print(resources.path('database.rules.json'))",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().startswith(str(target))
