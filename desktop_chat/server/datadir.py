"""The server's data dir: its place, the lock that allows one server per dir, the admin secret."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import IO, Any

import platformdirs

from desktop_chat.server.errors import DataDirLockedError, ServerError

__all__ = ["DataDir", "default_data_dir"]

log = logging.getLogger("desktop_chat.server")

ADMIN_SECRET_ENV = "DESKTOP_CHAT_ADMIN_SECRET"
MIN_SECRET = 16
"""The shortest admin secret taken from the environment (a made one has 43 characters)."""


def default_data_dir() -> Path:
    """The platform's per-user data directory for the embedded server."""
    return Path(platformdirs.user_data_dir("desktop-chat", appauthor=False)) / "server"


class DataDir:
    """A server data dir: ``store.sqlite3``, ``admin-secret``, ``server.lock``, ``server.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock_file: IO[bytes] | None = None

    @property
    def store_file(self) -> Path:
        return self.root / "store.sqlite3"

    def create(self) -> None:
        """Make the directory private to the user, creating it if it is missing."""
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            if os.name == "posix" and self.root.stat().st_mode & 0o077:
                log.warning("the data dir %s was open to other users: made private", self.root)
                os.chmod(self.root, 0o700)  # (messages and accounts are nobody else's)
        except OSError as exc:
            raise ServerError(f"cannot create the data dir {self.root}: {exc}") from exc

    def lock(self) -> None:
        """Take the data dir for this process, or raise DataDirLockedError."""
        handle = open(self.root / "server.lock", "a+b")  # noqa: SIM115 - held until unlock()
        try:
            if sys.platform == "win32":
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise DataDirLockedError(
                f"the data dir {self.root} is in use by a running desktop-chat-server"
            ) from None
        self._lock_file = handle

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    @property
    def server_info_file(self) -> Path:
        return self.root / "server.json"

    def publish(self, host: str, port: int) -> None:
        """Write ``server.json`` (``{"port", "pid", "host"}``) so tools find the running server."""
        info = json.dumps({"port": port, "pid": os.getpid(), "host": host})
        temporary = self.root / "server.json.tmp"
        temporary.write_text(info + "\n", encoding="utf-8")
        os.replace(temporary, self.server_info_file)

    def unpublish(self) -> None:
        """Remove ``server.json``, if this process holds the dir (and so wrote it)."""
        if self._lock_file is not None:
            self.server_info_file.unlink(missing_ok=True)

    def published(self) -> dict[str, Any] | None:
        """What ``server.json`` says, or None if it is missing or unreadable."""
        try:
            info = json.loads(self.server_info_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    def admin_secret(self) -> str:
        """The admin secret: from the environment, else the data dir's (made on first start)."""
        from_env = os.environ.get(ADMIN_SECRET_ENV)
        if from_env:
            if len(from_env) < MIN_SECRET:
                raise ServerError(
                    f"{ADMIN_SECRET_ENV} is shorter than {MIN_SECRET} characters: too easy to guess"
                )
            return from_env
        path = self.root / "admin-secret"
        with contextlib.suppress(FileNotFoundError):
            secret = path.read_text(encoding="ascii").strip()
            if secret:
                return secret
        secret = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret + "\n")
        return secret
