"""`python -m tests.support.app_runner ARGS`: desktop-chat ARGS, with a stand-in main window
for as long as desktop_chat.ui.main_window does not exist yet."""

from __future__ import annotations

import importlib.util
import sys

from PySide6.QtWidgets import QLabel, QMainWindow, QWidget

from desktop_chat.app import WindowFactory, main
from desktop_chat.ui.bridge import ChatBridge


def placeholder(bridge: ChatBridge) -> QWidget:
    """A bare main window naming the signed-in user."""
    window = QMainWindow()
    window.setCentralWidget(QLabel(f"signed in as {bridge.uid}"))
    window.resize(400, 300)
    return window


def factory() -> WindowFactory | None:
    """None (the real MainWindow) once it exists, else the placeholder."""
    if importlib.util.find_spec("desktop_chat.ui.main_window") is not None:
        return None
    return placeholder


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], window_factory=factory()))
