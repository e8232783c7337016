"""The tray, D-Bus notifications and sounds on a real X server, session bus and sound server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.desktop.marks import desktop_marks

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCREENSHOT = ROOT / "build" / "screenshots" / "tray.png"
TOOLS = {
    "xvfb-run": "xvfb", "dbus-run-session": "dbus", "trayer": "trayer", "xdotool": "xdotool",
    "pulseaudio": "pulseaudio", "pactl": "pulseaudio-utils",
}  # fmt: skip

pytestmark = desktop_marks(TOOLS, "X11 / D-Bus / PulseAudio")


def run(scenario: str, out: Path) -> dict[str, Any]:
    """Runs the harness in its own X server, session bus and sound server; its RESULT."""
    done = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", "dbus-run-session", "--",
         "bash", str(HERE / "stack.sh"), str(out), scenario],
        env={**__import__("os").environ, "PYTHON": sys.executable, "QT_QPA_PLATFORM": "xcb"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def records(out: Path) -> list[dict[str, Any]]:
    path = out / "notify.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_tray_icon_shows_with_the_unread_count(tmp_path: Path) -> None:
    result = run("tray", tmp_path)
    assert result["available"] and result["visible"]
    assert result["unread"] == 3 and result["tooltip"] == "Desktop Chat: 3 unread"
    x, y, width, height = result["geometry"]
    assert width > 0 and height > 0
    from PySide6.QtGui import QColor, QImage

    image = QImage(str(tmp_path / "screen.png"))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    image.copy(x - 40, 0, width + 80, height + 10).save(str(SCREENSHOT))
    pixels = [(x + i, y + j) for i in range(width) for j in range(height)]
    colours = {QColor(image.pixel(px, py)).name() for px, py in pixels}
    assert len(colours) > 10, "the tray icon is not painted where the tray says it is"
    reds = [c for c in colours if QColor(c).red() > 180 and QColor(c).green() < 90]
    assert reds, "no red badge on the icon"


def test_a_new_message_notifies_once_per_burst_and_opens_on_click(tmp_path: Path) -> None:
    result = run("notify", tmp_path)
    assert result["backend"] == "DBusNotifications"
    notifies = [r for r in records(tmp_path) if r["call"] == "Notify"]
    # Full text, then name only, then nothing: one notification, replaced; DND and mute: none.
    assert [(r["summary"], r["body"]) for r in notifies] == [
        ("Ann", "Hello Bob"),
        ("2 new messages from Ann", ""),
        ("Desktop Chat", "3 new messages"),
    ]
    assert [r["replaces"] for r in notifies] == [0, 1, 1]
    assert notifies[0]["actions"] == ["default", "Open", "mark-read", "Mark as read"]
    assert result["opened"] == ["ann1_bob1"] and result["visible"]


def test_without_a_notification_service_the_tray_balloon_shows_and_a_click_opens(
    tmp_path: Path,
) -> None:
    result = run("balloon", tmp_path)
    assert result["balloons"] == 1
    from PySide6.QtGui import QImage

    x, y, width, height = result["tip"]
    image = QImage(str(tmp_path / "screen.png"))
    image.copy(x, y, width, height).save(str(SCREENSHOT.with_name("tray-balloon.png")))
    assert result["opened"] == ["ann1_bob1"] and result["visible"]
    assert ["mark_read", "ann1_bob1"] not in result["calls"]  # opening it does the reading


def test_closing_the_window_hides_it_to_the_tray_and_says_so_once(tmp_path: Path) -> None:
    result = run("close", tmp_path)
    assert result["hidden"] and result["attached"] and result["hint"]
    assert result["balloons"] == 1  # the one-time explanation
    from PySide6.QtGui import QImage

    x, y, width, height = result["tip"]
    image = QImage(str(tmp_path / "screen.png"))
    image.copy(x, y, width, height).save(str(SCREENSHOT.with_name("tray-close-hint.png")))
    assert result["hidden_again"] and result["still_attached"]
    assert result["balloons_again"] == 0  # said once only


def test_a_new_message_plays_its_sound_unless_muted(tmp_path: Path) -> None:
    result = run("sound", tmp_path)
    assert result["played"] == ["message"] and result["status"] == "Status.Ready"
    inputs = (tmp_path / "inputs.txt").read_text()
    assert "protocol-native" in inputs, f"no sink input while playing: {inputs!r}"
    assert result["played_muted"] == []
