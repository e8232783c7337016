"""Start at login: an XDG autostart entry, a macOS LaunchAgent, or the Windows Run key."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "APP_ID",
    "RUN_KEY",
    "RUN_VALUE",
    "Autostart",
    "AutostartError",
    "desktop_entry",
    "launch_agent",
    "launch_command",
    "run_value",
]

log = logging.getLogger("desktop_chat.ui")

APP_ID = "app.desktopchat.DesktopChat"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "Desktop Chat"


class AutostartError(OSError):
    """The login item could not be written or removed (the message says where and why)."""


def launch_command() -> list[str]:
    """How to start this app: a bundle's own executable, the installed ``desktop-chat``
    script, or this interpreter running the app's module."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    script = shutil.which("desktop-chat")
    return [script] if script else [sys.executable, "-m", "desktop_chat.app"]


def _quoted(argument: str) -> str:
    """One argument for a desktop entry's Exec key (quoted where it needs to be)."""
    if argument and not any(c in argument for c in " \t\n\"'\\><~|&;$*?#()`"):
        return argument
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in argument)
    return f'"{escaped}"'


def desktop_entry(command: Sequence[str]) -> str:
    """The XDG autostart entry that runs *command*."""
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Desktop Chat\n"
        "Comment=Messages and bookings of the skill-sharing marketplace\n"
        f"Exec={' '.join(_quoted(part) for part in command)}\n"
        f"Icon={APP_ID}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def launch_agent(command: Sequence[str]) -> bytes:
    """The macOS LaunchAgent property list that runs *command* at login."""
    record = {"Label": APP_ID, "ProgramArguments": list(command), "RunAtLoad": True}
    return plistlib.dumps(record)


def run_value(command: Sequence[str]) -> str:
    """The Windows Run key's value data for *command* (quoted as Windows parses it)."""
    return subprocess.list2cmdline(list(command))


class Autostart:
    """This user's login item for the app on *platform* (``sys.platform`` by default); files
    go under *home* / the XDG config dir of *env*. Off by default: nothing exists until
    :meth:`enable`."""

    def __init__(
        self,
        platform: str | None = None,
        home: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.platform = platform or sys.platform
        self.env = os.environ if env is None else env
        self.home = Path(home) if home is not None else Path.home()

    @property
    def path(self) -> Path | None:
        """The file that is the login item (None on Windows: a registry value)."""
        if self.platform.startswith("win"):
            return None
        if self.platform == "darwin":
            return self.home / "Library" / "LaunchAgents" / f"{APP_ID}.plist"
        config = self.env.get("XDG_CONFIG_HOME") or str(self.home / ".config")
        return Path(config) / "autostart" / f"{APP_ID}.desktop"

    def enabled(self) -> bool:
        path = self.path
        if path is not None:
            return path.is_file()
        return self._registry_value() is not None

    def enable(self, command: Sequence[str] | None = None) -> None:
        """Start the app at login (with *command*, by default :func:`launch_command`)."""
        command = list(command or launch_command())
        path = self.path
        try:
            if path is None:
                self._set_registry_value(run_value(command))
                return
            data = launch_agent(command) if self.platform == "darwin" else None
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            if data is not None:
                partial.write_bytes(data)
            else:
                partial.write_text(desktop_entry(command), encoding="utf-8")
            partial.replace(path)
        except OSError as exc:
            where = path or RUN_KEY
            raise AutostartError(f"could not turn on start at login ({where}): {exc}") from exc
        log.info("start at login: on (%s)", path or RUN_KEY)

    def disable(self) -> None:
        """Do not start the app at login (nothing to do if it was not on)."""
        path = self.path
        try:
            if path is None:
                self._set_registry_value(None)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            where = path or RUN_KEY
            raise AutostartError(f"could not turn off start at login ({where}): {exc}") from exc
        log.info("start at login: off")

    # Windows ------------------------------------------------------------------------------
    def _registry_value(self) -> str | None:  # pragma: no cover - Windows only
        winreg: Any = importlib.import_module("winreg")

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, _ = winreg.QueryValueEx(key, RUN_VALUE)
        except OSError:
            return None
        return str(value)

    def _set_registry_value(self, data: str | None) -> None:  # pragma: no cover - Windows
        winreg: Any = importlib.import_module("winreg")

        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            if data is not None:
                winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ, data)
            else:
                with contextlib.suppress(FileNotFoundError):
                    winreg.DeleteValue(key, RUN_VALUE)
