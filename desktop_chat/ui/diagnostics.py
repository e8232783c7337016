"""Logs that rotate in the platform log dir, crash reports, and the About box's build facts."""

from __future__ import annotations

import logging
import logging.handlers
import os
import platform
import re
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import platformdirs

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMessageBox, QWidget

__all__ = [
    "LOG_FILE",
    "Redactor",
    "build_facts",
    "crash_reports",
    "install_crash_handler",
    "log_dir",
    "mark_seen",
    "offer_crash_reports",
    "redact",
    "setup_logging",
    "show_about",
    "write_crash_report",
]

log = logging.getLogger("desktop_chat.ui")

LOG_FILE = "desktop-chat.log"
LOG_BYTES = 1 << 20
LOG_KEEP = 5
_SECRETS = re.compile(
    r"""(?ix)
    ( (?:auth|key|token|idToken|refresh_token|refreshToken|id_token|access_token|password
        |secret|admin[_-]?secret)["']?\s*[:=]\s*["']? )   # a name, then = or :
    ( [^\s"'&,;}]+ )                                        # its value
    | ( Bearer\s+ ) ( [A-Za-z0-9._~+/-]+=* )
    """
)


def redact(text: str) -> str:
    """*text* with the values of tokens, keys, passwords and secrets replaced by ``***``."""

    def hide(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return f"{match.group(1)}***"
        return f"{match.group(3)}***"

    return _SECRETS.sub(hide, text)


class Redactor(logging.Filter):
    """Keeps secrets out of every record a handler writes (message and traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        return True


def log_dir(env: dict[str, str] | None = None) -> Path:
    """Where logs and crash reports go: ``$DESKTOP_CHAT_LOG_DIR``, else the platform's user
    log dir."""
    env = dict(os.environ) if env is None else env
    chosen = env.get("DESKTOP_CHAT_LOG_DIR")
    return Path(chosen) if chosen else Path(platformdirs.user_log_dir("desktop-chat", False))


def setup_logging(level: int, directory: Path | None = None) -> Path | None:
    """Log to stderr and to a rotating file (1 MB, 5 kept) in *directory* (the log dir);
    secrets never reach either. Returns the file, or None if it cannot be written (then
    stderr only, said once)."""
    directory = directory or log_dir()
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "desktop_chat", False)]:
        root.removeHandler(old)  # (set up again: replaced, not doubled)
        old.close()
    root.setLevel(level)
    redactor = Redactor()
    console = logging.StreamHandler()
    console.desktop_chat = True  # type: ignore[attr-defined]
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console.addFilter(redactor)
    root.addHandler(console)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        file = logging.handlers.RotatingFileHandler(
            directory / LOG_FILE, maxBytes=LOG_BYTES, backupCount=LOG_KEEP, encoding="utf-8"
        )
    except OSError as exc:
        log.warning("logging to stderr only: %s", exc)
        return None
    file.desktop_chat = True  # type: ignore[attr-defined]
    file.setLevel(min(level, logging.INFO))
    file.setFormatter(
        logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    )
    file.addFilter(redactor)
    root.addHandler(file)
    root.setLevel(min(level, logging.INFO))
    console.setLevel(level)
    return directory / LOG_FILE


def write_crash_report(
    kind: type[BaseException],
    error: BaseException,
    trace: TracebackType | None,
    directory: Path | None = None,
) -> Path | None:
    """A ``crash-<time>.txt`` with the build facts and the (redacted) traceback."""
    directory = directory or log_dir()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = "".join(traceback.format_exception(kind, error, trace))
    facts = "\n".join(f"{name}: {value}" for name, value in build_facts().items())
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"crash-{stamp}-{os.getpid()}.txt"
        path.write_text(f"Desktop Chat crash report\n{facts}\n\n{redact(text)}", "utf-8")
    except OSError as exc:
        log.error("no crash report could be written: %s", exc)
        return None
    return path


def install_crash_handler(directory: Path | None = None) -> None:
    """Unhandled exceptions (main thread, other threads) are logged and written as a crash
    report, which the next start offers to show."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None):  # type: ignore[no-untyped-def]
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, error, trace)
            return
        path = write_crash_report(kind, error, trace, directory)
        log.critical("unhandled error (report: %s)", path, exc_info=(kind, error, trace))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook


def crash_reports(directory: Path | None = None) -> list[Path]:
    """Crash reports not shown yet, newest first."""
    directory = directory or log_dir()
    try:
        found = [p for p in directory.glob("crash-*.txt") if p.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda path: path.name, reverse=True)


def mark_seen(report: Path) -> None:
    """The report was offered: keep it (``.seen``), never offer it again."""
    try:
        report.replace(report.with_suffix(".seen"))
    except OSError as exc:
        log.warning("crash report %s stays: %s", report, exc)


def offer_crash_reports(parent: QWidget, directory: Path | None = None) -> QMessageBox | None:
    """If the app crashed since it last asked: say so, and offer to show the report (the
    newest); every report is offered once."""
    from PySide6.QtCore import Qt, QUrl
    from PySide6.QtGui import QDesktopServices
    from PySide6.QtWidgets import QMessageBox

    reports = crash_reports(directory)
    if not reports:
        return None
    newest = reports[0]
    for report in reports:
        mark_seen(report)
    shown = newest.with_suffix(".seen")
    box = QMessageBox(
        QMessageBox.Icon.Information,
        "Desktop Chat",
        "Desktop Chat closed unexpectedly last time. A report was saved (no messages, "
        f"passwords or tokens are in it):\n{shown}",
        QMessageBox.StandardButton.Close,
        parent,
    )
    show = box.addButton("Show the report", QMessageBox.ButtonRole.AcceptRole)
    show.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(shown))))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setModal(False)
    box.show()
    return box


def show_about(parent: QWidget) -> QMessageBox:
    """The About box: the version and what this build is."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    facts = "\n".join(f"{name}: {value}" for name, value in build_facts().items())
    box = QMessageBox(QMessageBox.Icon.NoIcon, "About Desktop Chat", "Desktop Chat", parent=parent)
    box.setInformativeText("The messenger of the skill-sharing marketplace.\n\n" + facts)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setModal(False)
    box.show()
    return box


def build_facts() -> dict[str, str]:
    """What the About box and crash reports say about this build."""
    import desktop_chat

    try:
        from PySide6 import __version__ as pyside
        from PySide6.QtCore import qVersion

        qt = f"{qVersion()} (PySide6 {pyside})"
    except ImportError:  # (a crash before Qt was loaded)
        qt = "not loaded"
    frozen = getattr(sys, "frozen", False)
    return {
        "Version": desktop_chat.__version__,
        "Build": "installed bundle" if frozen else "Python package",
        "Python": platform.python_version(),
        "Qt": qt,
        "System": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "Logs": str(log_dir()),
    }
