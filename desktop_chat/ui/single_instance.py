"""One app per profile: a later launch asks it to show itself and open its desktopchat:// link."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from desktop_chat.core.links import DeepLink, InvalidLinkError, parse_link

if TYPE_CHECKING:
    from desktop_chat.ui.main_window import MainWindow

__all__ = ["OPEN", "SHOW", "LinkRouter", "SingleInstance", "bring_to_front"]

log = logging.getLogger("desktop_chat.ui")

SHOW = b"show\n"
"""What a second instance sends to the first."""
OPEN = b"open "
"""Then, if it was started with a link: ``open <link>\n`` (the first one opens it)."""
_MAX_MESSAGE = 4096


def bring_to_front(window: QWidget) -> None:
    """Show *window* (restored if minimised), raise it and give it the keyboard focus."""
    if window.isMinimized():
        window.showNormal()
    else:
        window.show()
    window.raise_()
    window.activateWindow()


class SingleInstance(QObject):
    """A QLocalServer named after the profile (and user): whoever listens first is *the*
    instance. :meth:`acquire` is False in a later launch, after it has told the first one
    to show itself (:attr:`showRequested` fires there).

    The blocking waits happen only in :meth:`acquire`, at start-up, before the event loop.
    """

    showRequested = Signal()
    linkRequested = Signal(str)  # a link a later launch was given (not checked yet)

    def __init__(self, key: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self._server: QLocalServer | None = None
        self._buffers: dict[QLocalSocket, bytes] = {}
        self._link: str | None = None

    @property
    def primary(self) -> bool:
        """True once this process holds the profile."""
        return self._server is not None and self._server.isListening()

    def acquire(self, timeout_ms: int = 2000, link: str | None = None) -> bool:
        """True if this is the first instance; False if another one runs (and was asked to
        show itself, and to open *link* if given)."""
        self._link = " ".join(link.split()) if link else None  # (one line, whatever it holds)
        if self.primary:
            return True
        if self._tell_running(timeout_ms):
            return False
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.key):
            if self._tell_running(timeout_ms):  # another launch won a race
                server.deleteLater()
                return False
            QLocalServer.removeServer(self.key)  # the socket file of a crashed instance
            if not server.listen(self.key):
                log.warning(
                    "cannot claim the single-instance name %s (%s): running without it",
                    self.key,
                    server.errorString(),
                )
                server.deleteLater()
                return True
        server.newConnection.connect(self._accept)
        self._server = server
        return True

    def _tell_running(self, timeout_ms: int) -> bool:
        socket = QLocalSocket()
        socket.connectToServer(self.key)
        if not socket.waitForConnected(timeout_ms):
            return False
        socket.write(SHOW)
        if self._link:
            socket.write(OPEN + self._link.encode("utf-8", "replace")[: _MAX_MESSAGE - 8] + b"\n")
        socket.flush()
        socket.waitForBytesWritten(timeout_ms)
        socket.disconnectFromServer()
        if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(timeout_ms)
        log.info("another instance runs this profile: asked it to show itself")
        return True

    def _accept(self) -> None:
        assert self._server is not None
        while (connection := self._server.nextPendingConnection()) is not None:
            self._buffers[connection] = b""
            connection.readyRead.connect(self._ready_read)
            connection.disconnected.connect(self._disconnected)
            self._read(connection)

    def _ready_read(self) -> None:
        connection = self.sender()
        if isinstance(connection, QLocalSocket):
            self._read(connection)

    def _disconnected(self) -> None:
        connection = self.sender()
        if isinstance(connection, QLocalSocket):
            self._finish(connection)

    def _read(self, connection: QLocalSocket) -> None:
        if connection not in self._buffers or connection.bytesAvailable() <= 0:
            return
        data = self._buffers[connection] + bytes(connection.readAll().data())
        while b"\n" in data:
            line, data = data.split(b"\n", 1)
            if line.strip() == SHOW.strip():
                log.info("a second launch asked to show the window")
                self.showRequested.emit()
            elif line.startswith(OPEN):
                self.linkRequested.emit(line[len(OPEN) :].decode("utf-8", "replace").strip())
        if len(data) > _MAX_MESSAGE:  # not one of ours: drop it
            connection.abort()
            data = b""
        self._buffers[connection] = data

    def _finish(self, connection: QLocalSocket) -> None:
        if connection not in self._buffers:  # closing: it is being deleted already
            return
        self._read(connection)
        del self._buffers[connection]
        connection.deleteLater()

    def close(self) -> None:
        """Give the name up (on quit)."""
        connections = list(self._buffers)
        self._buffers.clear()  # from now on their signals are ignored
        for connection in connections:
            connection.deleteLater()  # (not abort(): it re-enters their signals)
        if self._server is not None:
            self._server.close()
            self._server.deleteLater()
            self._server = None


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
