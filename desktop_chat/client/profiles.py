"""Where a profile keeps its data, and the refresh-token store behind "keep me signed in"."""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from desktop_chat.client.errors import ConfigError
from desktop_chat.client.token_store import (
    DeferredTokenStore,
    MemoryTokenStore,
    RefreshTokenStore,
)

__all__ = [
    "DATA_DIR_ENV",
    "DEFAULT_PROFILE",
    "DEMO_PROFILE",
    "Profile",
    "SessionTokenStore",
    "data_root",
]

log = logging.getLogger("desktop_chat.client")

DATA_DIR_ENV = "DESKTOP_CHAT_DATA_DIR"
"""Overrides the platform's user data dir (tests, portable installs)."""
DEFAULT_PROFILE = "default"
DEMO_PROFILE = "demo"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def data_root() -> Path:
    """``$DESKTOP_CHAT_DATA_DIR``, else the platform's user data dir for ``desktop-chat``
    (the ``desktop-chat-server`` default data dir is its ``server/`` folder)."""
    override = os.environ.get(DATA_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("desktop-chat", appauthor=False))


@dataclass(frozen=True, slots=True)
class Profile:
    """A named set of accounts and a local server. The default profile lives at the data
    root itself (``server/``, ``client/``), others under ``profiles/<name>/``."""

    name: str
    root: Path

    @classmethod
    def named(cls, name: str | None = None, root: Path | None = None) -> Profile:
        """The profile *name* (None: the default) under *root* (None: :func:`data_root`)."""
        name = DEFAULT_PROFILE if name is None else name
        if _NAME.fullmatch(name) is None:
            raise ConfigError(
                f"invalid profile name {name!r}: use up to 64 letters, digits, '-' or '_'"
            )
        return cls(name, (root or data_root()).resolve())

    @property
    def directory(self) -> Path:
        if self.name == DEFAULT_PROFILE:
            return self.root
        return self.root / "profiles" / self.name

    @property
    def server_dir(self) -> Path:
        """The embedded server's data dir."""
        return self.directory / "server"

    @property
    def client_dir(self) -> Path:
        """The ChatClient's data dir (the account caches and outboxes)."""
        return self.directory / "client"

    @property
    def session_marker(self) -> Path:
        """Names the account whose session the keychain keeps (see SessionTokenStore)."""
        return self.client_dir / "kept-session"

    def client_dir_for(self, part: str) -> Path:
        """A further client data dir, for a second account shown at once (``--demo``)."""
        return self.directory / f"client-{part}"

    @property
    def instance_key(self) -> str:
        """A name for this profile's single-instance lock: per user, data root and profile,
        short enough for a local socket path."""
        try:
            user = getpass.getuser()
        except Exception:  # no user name in this environment
            user = str(os.getuid()) if hasattr(os, "getuid") else "user"
        digest = hashlib.sha256(f"{user}\0{self.root}\0{self.name}".encode()).hexdigest()
        return f"desktop-chat-{digest[:20]}"


class SessionTokenStore:
    """The OS keychain while :attr:`remember` ("keep me signed in") is set, else memory only.

    Turning :attr:`remember` off before signing in keeps that session's refresh token in
    this process's memory and deletes the account's keychain entry, so the next start asks
    to sign in again. With a *marker* file, the uid whose token the keychain keeps is noted
    there too: the next start can show that account's cached chats before asking the keychain.
    """

    def __init__(
        self, keychain: RefreshTokenStore, remember: bool = True, marker: Path | None = None
    ) -> None:
        self.keychain = keychain
        self.memory = MemoryTokenStore()
        self.remember = remember
        self.marker = marker
        self._forgotten: set[str] = set()

    @property
    def persistent(self) -> bool:
        return self.remember and self.keychain.persistent

    async def save(self, account: str, token: str) -> None:
        if self.remember:
            self._forgotten.discard(account)
            await self.memory.delete(account)
            await self.keychain.save(account, token)
            if not await self.kept(account):
                await asyncio.to_thread(self._mark, account)
            return
        await self.memory.save(account, token)
        if account not in self._forgotten:
            self._forgotten.add(account)
            await self.keychain.delete(account)
            await asyncio.to_thread(self._mark, None, account)

    async def load(self, account: str) -> str | None:
        token = await self.memory.load(account)
        if token is not None or not self.remember:
            return token
        return await self.keychain.load(account)

    async def delete(self, account: str) -> None:
        await self.memory.delete(account)
        await asyncio.to_thread(self._mark, None, account)
        await self.keychain.delete(account)

    async def ready(self) -> None:
        """Choose a lazily chosen keychain now: :attr:`persistent` is known from then on."""
        if isinstance(self.keychain, DeferredTokenStore):
            await self.keychain.opened()

    async def kept(self, account: str | None) -> bool:
        """Whether the marker says the keychain keeps *account*'s session (no keychain call)."""
        if account is None or self.marker is None:
            return False
        return await asyncio.to_thread(self._marked) == account

    def _marked(self) -> str | None:
        assert self.marker is not None
        try:
            return self.marker.read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError):
            return None  # no marker (or an unreadable one): ask the keychain

    def _mark(self, account: str | None, unless_other: str | None = None) -> None:
        """Note *account* in the marker (None: remove it, if it names *unless_other*)."""
        if self.marker is None:
            return
        try:
            if account is not None:
                self.marker.parent.mkdir(parents=True, exist_ok=True)
                self.marker.write_text(account, encoding="utf-8")
            elif self._marked() == unless_other:
                self.marker.unlink(missing_ok=True)
        except OSError as exc:  # only a hint: the keychain decides
            log.warning("cannot note the kept session in %s: %s", self.marker, exc)

    async def has_session(self, account: str | None) -> bool:
        """True when a refresh token for *account* is kept (so no sign-in is needed)."""
        return account is not None and await self.load(account) is not None
