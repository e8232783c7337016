"""One running app per profile: a second launch asks the first to show itself, then exits."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QWidget

__all__ = ["OPEN", "SHOW", "SingleInstance", "bring_to_front"]

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
