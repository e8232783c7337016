"""desktopchat:// links: from the command line or a later launch, into the main window."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from desktop_chat.core.deep_links import DeepLink, InvalidLinkError, parse_link
from desktop_chat.ui.single_instance import SingleInstance, bring_to_front

if TYPE_CHECKING:
    from desktop_chat.ui.main_window import MainWindow

__all__ = ["LinkRouter"]

log = logging.getLogger("desktop_chat.ui")

WAIT_MS = 250
"""How often a link given before any main window exists looks for one again."""
GIVE_UP_MS = 10 * 60_000
"""How long it waits (signing in can take a while) before it is dropped, with a log line."""


def _main_window() -> MainWindow | None:
    from desktop_chat.ui.main_window import MainWindow

    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
    return found[-1] if found else None


class LinkRouter(QObject):
    """Opens each link in the signed-in main window (waiting for one to exist); a link that
    cannot be opened is refused with a message saying why, never silently."""

    refused = Signal(str)  # the sentence shown

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pending: list[DeepLink] = []
        self.opened: list[DeepLink] = []
        self._waited = 0
        self._timer = QTimer(self)
        self._timer.setInterval(WAIT_MS)
        self._timer.timeout.connect(self._flush)

    @classmethod
    def install(cls, instance: SingleInstance, link: str | None) -> LinkRouter:
        """A router for the links of later launches (through *instance*) and for *link*, the
        one this launch was given, if any."""
        router = cls(instance)
        instance.linkRequested.connect(router.open)
        app = QApplication.instance()
        if app is not None:  # macOS hands a running app its links as QFileOpenEvents
            app.installEventFilter(router)
        if link:
            router.open(link)
        return router

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            url = event.url()
            if url.scheme().lower() == "desktopchat":
                self.open(url.toString())
                return True
        return False

    def open(self, text: str) -> None:
        try:
            link = parse_link(text)
        except InvalidLinkError as exc:
            self._refuse(f"This link cannot be opened: {exc}.")
            return
        self.pending.append(link)
        self._waited = 0
        self._flush()

    def _flush(self) -> None:
        window = _main_window()
        if window is None:
            self._waited += WAIT_MS
            if self._waited > GIVE_UP_MS:
                log.warning("no window to open %s in: dropped", ", ".join(map(str, self.pending)))
                self.pending.clear()
            if self.pending and not self._timer.isActive():
                self._timer.start()
            elif not self.pending:
                self._timer.stop()
            return
        self._timer.stop()
        links, self.pending = self.pending, []
        bring_to_front(window)
        for link in links:
            problem = window.open_link(link)
            if problem is None:
                self.opened.append(link)
            else:
                self._refuse(problem)

    def _refuse(self, sentence: str) -> None:
        log.info("link refused: %s", sentence)
        self.refused.emit(sentence)
        parent: QWidget | None = _main_window()
        box = QMessageBox(QMessageBox.Icon.Information, "Desktop Chat", sentence, parent=parent)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()
