"""The server's exceptions: one root, HTTP errors in Firebase's shape, and store failures."""

from __future__ import annotations


class ServerError(Exception):
    """Root of every exception raised by desktop_chat.server."""


class HttpError(ServerError):
    """A request that ends in a Firebase-style ``{"error": "..."}`` answer."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.body = body
        """An answer body other than ``{"error": message}`` (a 412 carries the current value)."""


class StoreError(ServerError):
    """The SQLite store cannot be opened or written."""


class ForeignStoreError(StoreError):
    """The data dir holds a file that is not a store of ours, or one from a newer version."""


class PageFaultError(ServerError):
    """A lookup needs collections that are partly on disk: read them back, then try again.

    Rules evaluation lets it through (any other failure in a rule denies)."""

    def __init__(self, paths: list[tuple[str, ...]]) -> None:
        super().__init__(f"{len(paths)} collections needed from disk")
        self.paths = paths


class DataDirLockedError(ServerError):
    """Another process (a running server) holds the data dir."""
