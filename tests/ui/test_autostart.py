"""Start at login: off by default; the XDG entry, the LaunchAgent and the Run value it writes."""

from __future__ import annotations

import configparser
import plistlib
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from desktop_chat.ui.app_settings import AppSettings, settings_menu
from desktop_chat.ui.autostart import (
    APP_ID,
    Autostart,
    AutostartError,
    desktop_entry,
    launch_agent,
    launch_command,
    run_value,
)

COMMAND = ["/opt/Desktop Chat/desktop-chat", "--profile", "work"]


def test_linux_entry_is_off_until_turned_on_and_gone_when_off(tmp_path: Path) -> None:
    autostart = Autostart("linux", home=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    entry = tmp_path / "cfg" / "autostart" / f"{APP_ID}.desktop"
    assert autostart.path == entry and not autostart.enabled()
    autostart.enable(COMMAND)
    assert autostart.enabled()
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.optionxform = str  # type: ignore[assignment,method-assign]
    parsed.read(entry, encoding="utf-8")
    section = parsed["Desktop Entry"]
    assert section["Type"] == "Application" and section["Icon"] == APP_ID
    assert shlex.split(section["Exec"]) == COMMAND  # the space in the path stays one argument
    if shutil.which("desktop-file-validate"):
        validate = ["desktop-file-validate", str(entry)]
        checked = subprocess.run(validate, capture_output=True, check=False)
        assert checked.returncode == 0, checked.stdout
    autostart.disable()
    assert not entry.exists() and not autostart.enabled()
    autostart.disable()  # (already off: nothing to do)


def test_linux_entry_defaults_to_dot_config(tmp_path: Path) -> None:
    autostart = Autostart("linux", home=tmp_path, env={})
    assert autostart.path == tmp_path / ".config" / "autostart" / f"{APP_ID}.desktop"


def test_macos_launch_agent(tmp_path: Path) -> None:
    autostart = Autostart("darwin", home=tmp_path)
    autostart.enable(COMMAND)
    agent = tmp_path / "Library" / "LaunchAgents" / f"{APP_ID}.plist"
    assert plistlib.loads(agent.read_bytes()) == {
        "Label": APP_ID,
        "ProgramArguments": COMMAND,
        "RunAtLoad": True,
    }
    assert plistlib.loads(launch_agent(COMMAND))["ProgramArguments"] == COMMAND
    autostart.disable()
    assert not agent.exists()


def test_windows_run_value_quotes_as_windows_reads_it() -> None:
    assert Autostart("win32").path is None
    assert run_value(COMMAND) == '"/opt/Desktop Chat/desktop-chat" --profile work'


def test_a_login_item_that_cannot_be_written_says_why(tmp_path: Path) -> None:
    blocked = tmp_path / "cfg"
    blocked.write_text("a file where a directory should be")
    autostart = Autostart("linux", home=tmp_path, env={"XDG_CONFIG_HOME": str(blocked)})
    with pytest.raises(AutostartError, match="could not turn on start at login"):
        autostart.enable(COMMAND)
    assert not autostart.enabled()


def test_the_settings_menu_turns_it_on_and_off(qapp: QApplication, tmp_path: Path) -> None:
    settings = AppSettings(None)
    settings.autostart = Autostart("linux", home=tmp_path, env={})
    menu = settings_menu(settings)
    try:
        item = next(a for a in menu.actions() if a.text() == "Start at login")
        assert item.isCheckable() and not item.isChecked()  # off by default
        item.setChecked(True)
        assert settings.autostart.enabled()
        entry = settings.autostart.path
        assert entry is not None and launch_command()[0] in entry.read_text()
        menu.aboutToShow.emit()  # rebuilt from the OS's own state
        item = next(a for a in menu.actions() if a.text() == "Start at login")
        assert item.isChecked()
        item.setChecked(False)
        assert not settings.autostart.enabled()
    finally:
        menu.deleteLater()


def test_desktop_entry_text() -> None:
    text = desktop_entry(["desktop-chat"])
    assert "Exec=desktop-chat\n" in text and "X-GNOME-Autostart-enabled=true" in text
