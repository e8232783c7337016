"""Verifying ID tokens on a Socket.IO node with the issuer's published certificates."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from desktop_chat.server.realtime_auth import TokenRefused
from desktop_chat.server.tokens import TokenError, verify_token

if TYPE_CHECKING:
    from desktop_chat.server.realtime import Realtime

__all__ = ["LOOKUPS_AT_ONCE", "CertVerifier", "sweep_revoked"]

log = logging.getLogger("desktop_chat.server")

_MAX_AGE = re.compile(r"max-age=(\d+)")
_DEFAULT_TTL = 3600.0
_MIN_REFETCH = 30.0
"""An unknown key id refetches the certificates at most this often."""
MAX_TOKEN = 8192
LOOKUPS_AT_ONCE = 8
"""Tokens a revocation sweep asks the issuing server about at the same time."""


class CertVerifier:
    """Checks Firebase ID tokens as Firebase's Admin SDKs do: RS256 against the certificates
    published at *certs_url* (Google's securetoken certificates, or the same document that
    ``desktop-chat-server`` serves at that path), cached as long as their ``Cache-Control``
    allows, and the project's audience and issuer. With *lookup_url* (a desktop-chat-server's
    ``accounts:lookup``) it also asks the issuer whether the token still stands — the user
    did not sign out everywhere, change the password or get disabled — as firebase-admin's
    ``check_revoked`` does."""

    def __init__(
        self,
        certs_url: str,
        project_id: str,
        *,
        lookup_url: str | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.certs_url = certs_url
        self.lookup_url = lookup_url
        self.project_id = project_id
        self.timeout = timeout
        self.clock = clock
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._expires = 0.0
        self._fetched = -_MIN_REFETCH
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def verify(self, token: object) -> str:
        """The uid of a valid ID token; TokenRefused 401 (bad token) or 503 (cannot check)."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
            raise TokenRefused(401, "an ID token is required (auth: {token})")
        keys = await self._current(refresh=False)
        try:
            claims = verify_token(token, keys, self.project_id, self.clock())
        except TokenError as exc:
            if exc.reason != "unknown key id":
                raise TokenRefused(401, f"invalid ID token: {exc}") from None
            keys = await self._current(refresh=True)  # the issuer may have rotated its keys
            try:
                claims = verify_token(token, keys, self.project_id, self.clock())
            except TokenError as again:
                raise TokenRefused(401, f"invalid ID token: {again}") from None
        if self.lookup_url is not None:
            await self._still_stands(token)
        return str(claims["sub"])

    async def _still_stands(self, token: str) -> None:
        """TokenRefused 401 if the issuer no longer honours *token*, 503 if it cannot say."""
        assert self.lookup_url is not None
        try:
            async with self._client().post(self.lookup_url, json={"idToken": token}) as answer:
                if answer.status == 200:
                    return
                body: Any = orjson.loads(await answer.read() or b"null")
        except (aiohttp.ClientError, OSError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise TokenRefused(503, f"cannot check the ID token with its issuer: {exc}") from None
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        if answer.status == 400 and isinstance(message, str):
            raise TokenRefused(401, f"the ID token is no longer valid ({message[:100]})")
        raise TokenRefused(503, f"cannot check the ID token: its issuer answered {answer.status}")

    async def revoked(self, tokens: Iterable[str]) -> set[str]:
        """Those of *tokens* the issuer no longer honours (asked a few at a time); a token it
        cannot say anything about stays."""
        if self.lookup_url is None:
            return set()
        gate = asyncio.Semaphore(LOOKUPS_AT_ONCE)
        refused: set[str] = set()

        async def ask(token: str) -> None:
            async with gate:
                try:
                    await self._still_stands(token)
                except TokenRefused as exc:
                    if exc.code == 401:
                        refused.add(token)

        await asyncio.gather(*(ask(token) for token in set(tokens)))
        return refused

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _current(self, *, refresh: bool) -> dict[str, rsa.RSAPublicKey]:
        async with self._lock:
            now = time.monotonic()
            stale = not self._keys or now >= self._expires
            if stale or (refresh and now - self._fetched >= _MIN_REFETCH):
                try:
                    self._keys, ttl = await self._fetch()
                except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                    if stale:
                        why = f"cannot fetch the token certificates: {exc}"
                        raise TokenRefused(503, why) from None
                    log.warning("realtime: keeping cached certificates: %s", exc)
                else:
                    self._fetched, self._expires = now, now + ttl
            return self._keys

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def _fetch(self) -> tuple[dict[str, rsa.RSAPublicKey], float]:
        async with self._client().get(self.certs_url) as response:
            if response.status != 200:
                raise ValueError(f"{self.certs_url} answered {response.status}")
            body: Any = orjson.loads(await response.read())
            cache = response.headers.get("Cache-Control", "")
        if not isinstance(body, dict):
            raise ValueError("the certificates document is not an object")
        keys: dict[str, rsa.RSAPublicKey] = {}
        for kid, pem in body.items():
            try:
                public = x509.load_pem_x509_certificate(str(pem).encode()).public_key()
            except ValueError as exc:
                log.warning("realtime: skipping certificate %r: %s", kid, exc)
                continue
            if isinstance(public, rsa.RSAPublicKey):
                keys[str(kid)] = public
        if not keys:
            raise ValueError("no usable certificate")
        match = _MAX_AGE.search(cache)
        return keys, float(match.group(1)) if match else _DEFAULT_TTL


def _honoured(refused: set[str], token: str) -> bool:
    return token not in refused


async def sweep_revoked(verifier: CertVerifier, realtime: Realtime, every: float) -> None:
    """Every *every* seconds, ask the issuer about the tokens of *realtime*'s sockets and end
    those it no longer honours (their users signed out everywhere, changed the password or
    were disabled since they connected)."""
    while True:
        await asyncio.sleep(every)
        try:
            refused = await verifier.revoked(realtime.tokens())
            if refused:
                ended = await realtime.revoke(partial(_honoured, refused))
                log.info("realtime: ended %d sockets of revoked credentials", ended)
        except Exception:
            log.exception("realtime: the revocation sweep failed; trying again later")
