"""Where refresh tokens are kept: the OS keychain (keyring), else memory only, never a file."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # keyring loads when the keychain is first used (it costs start-up time)
    from keyring.backend import KeyringBackend

__all__ = [
    "SERVICE",
    "DeferredTokenStore",
    "KeyringTokenStore",
    "MemoryTokenStore",
    "RefreshTokenStore",
    "keychain_usable",
    "open_token_store",
]

log = logging.getLogger("desktop_chat.client")

SERVICE = "desktop_chat"
"""The keychain service name refresh tokens are stored under (the account is the uid)."""

NO_KEYCHAIN_WARNING = (
    "no usable OS keychain (keyring backend %s): the refresh token is kept in memory only "
    "and you will have to sign in again after the app restarts"
)


class RefreshTokenStore(Protocol):
    """Keeps one refresh token per account (uid)."""

    @property
    def persistent(self) -> bool:
        """True when tokens outlive the process (a real keychain)."""
        ...

    async def save(self, account: str, token: str) -> None: ...

    async def load(self, account: str) -> str | None: ...

    async def delete(self, account: str) -> None: ...


class MemoryTokenStore:
    """Tokens in this process's memory only: lost on exit, never written anywhere."""

    persistent = False

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}

    async def save(self, account: str, token: str) -> None:
        self._tokens[account] = token

    async def load(self, account: str) -> str | None:
        return self._tokens.get(account)

    async def delete(self, account: str) -> None:
        self._tokens.pop(account, None)


def keychain_usable(backend: KeyringBackend | None = None) -> bool:
    """False for keyring's fail and null backends (no keychain on this machine)."""
    import keyring

    backend = backend if backend is not None else keyring.get_keyring()
    module = type(backend).__module__
    if module in ("keyring.backends.fail", "keyring.backends.null"):
        return False
    try:
        priority = float(backend.priority)
    except Exception:  # a backend whose priority check itself fails is not usable
        return False
    return priority > 0


class KeyringTokenStore:
    """Tokens in the OS keychain through keyring, under :data:`SERVICE` and the uid.

    keyring is blocking (D-Bus, Keychain, Credential Manager): every call runs in a worker
    thread. If the keychain fails at run time (locked, D-Bus gone), tokens fall back to
    memory and :attr:`persistent` turns False, with a warning; nothing goes to disk.
    """

    def __init__(self, backend: KeyringBackend | None = None, service: str = SERVICE) -> None:
        self._backend = backend
        self.service = service
        self._fallback: MemoryTokenStore | None = None

    @property
    def persistent(self) -> bool:
        return self._fallback is None

    def _keyring(self) -> Any:
        import keyring

        return self._backend if self._backend is not None else keyring.get_keyring()

    def _fail(self, action: str, exc: Exception) -> MemoryTokenStore:
        if self._fallback is None:
            log.warning(
                "keychain %s failed (%s): refresh tokens are now kept in memory only",
                action,
                exc,
            )
            self._fallback = MemoryTokenStore()
        return self._fallback

    async def save(self, account: str, token: str) -> None:
        if self._fallback is not None:
            await self._fallback.save(account, token)
            return
        try:
            await asyncio.to_thread(self._keyring().set_password, self.service, account, token)
        except Exception as exc:  # keyring backends raise many kinds of errors
            await self._fail("write", exc).save(account, token)

    async def load(self, account: str) -> str | None:
        if self._fallback is not None:
            return await self._fallback.load(account)
        try:
            token = await asyncio.to_thread(self._keyring().get_password, self.service, account)
        except Exception as exc:
            return await self._fail("read", exc).load(account)
        return token if isinstance(token, str) and token else None

    async def delete(self, account: str) -> None:
        import keyring.errors

        if self._fallback is not None:
            await self._fallback.delete(account)
            return
        try:
            await asyncio.to_thread(self._keyring().delete_password, self.service, account)
        except keyring.errors.PasswordDeleteError:
            pass  # nothing stored: already gone
        except Exception as exc:
            await self._fail("delete", exc).delete(account)


async def open_token_store(force_memory: bool = False) -> RefreshTokenStore:
    """The keychain store where a usable keychain exists, else a memory store (warned)."""
    if force_memory:
        return MemoryTokenStore()
    try:
        import keyring

        backend = await asyncio.to_thread(keyring.get_keyring)
        usable = await asyncio.to_thread(keychain_usable, backend)
    except Exception as exc:
        log.warning(NO_KEYCHAIN_WARNING, f"error: {exc}")
        return MemoryTokenStore()
    if not usable:
        log.warning(NO_KEYCHAIN_WARNING, type(backend).__module__)
        return MemoryTokenStore()
    return KeyringTokenStore(backend)


class DeferredTokenStore:
    """The store :func:`open_token_store` chooses, chosen on first use: probing the keychain
    loads keyring and may ask D-Bus, which need not happen before the first window shows."""

    def __init__(self, opener: Callable[[], Awaitable[RefreshTokenStore]] = open_token_store):
        self._opener = opener
        self._store: RefreshTokenStore | None = None
        self._lock = asyncio.Lock()

    @property
    def persistent(self) -> bool:
        """As the chosen store's (False until one is chosen: see :meth:`opened`)."""
        return self._store is not None and self._store.persistent

    async def opened(self) -> RefreshTokenStore:
        """The chosen store, choosing it now if need be."""
        async with self._lock:
            if self._store is None:
                self._store = await self._opener()
            return self._store

    async def save(self, account: str, token: str) -> None:
        await (await self.opened()).save(account, token)

    async def load(self, account: str) -> str | None:
        return await (await self.opened()).load(account)

    async def delete(self, account: str) -> None:
        await (await self.opened()).delete(account)
