"""Leases of the apps using an ``--embedded`` server: it stops once the last one has let go."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable

from aiohttp import web

from desktop_chat.core.paths import admin_proof
from desktop_chat.server.access import request_token
from desktop_chat.server.auth_http import guarded, json_response, read_body
from desktop_chat.server.credentials import AuthError

__all__ = [
    "ADMIN_LEASES",
    "DEFAULT_FIRST_LEASE_WAIT",
    "DEFAULT_LEASE_TTL",
    "LeaseApi",
    "Leases",
    "add_lease_routes",
]

log = logging.getLogger("desktop_chat.server")

ADMIN_LEASES = "/_admin/leases"
ADMIN_PROOF = "/_admin/proof"
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")
DEFAULT_LEASE_TTL = 15.0
"""Seconds a lease lasts unless renewed (apps renew every 5 s)."""
DEFAULT_FIRST_LEASE_WAIT = 60.0
"""Seconds an embedded server waits for its first lease before it gives up and stops."""
UNAUTHORIZED = "UNAUTHORIZED : the admin API needs 'Authorization: Bearer <admin secret>'"
_HOLDER = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class Leases:
    """Who holds the server, until when; calls *on_empty* once when nobody does any more.

    "Nobody" means: there was at least one lease and the last one was released or expired,
    or no lease arrived within *first_wait* seconds of :meth:`watch`.
    """

    def __init__(
        self,
        ttl: float = DEFAULT_LEASE_TTL,
        first_wait: float = DEFAULT_FIRST_LEASE_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or first_wait <= 0:
            raise ValueError("the lease TTL and the first-lease wait must be positive")
        self.ttl = ttl
        self.first_wait = first_wait
        self._clock = clock
        self._until: dict[str, float] = {}
        self._ever = False
        self._closing = False
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._until)

    @property
    def closing(self) -> bool:
        """True once the server decided to stop: new leases are refused."""
        return self._closing

    def grant(self, holder: str) -> float:
        """Take or renew *holder*'s lease; returns its TTL in seconds."""
        if self._closing:
            raise AuthError("UNAVAILABLE : the server is shutting down", 503)
        if holder not in self._until:
            log.info("lease taken by %s (%d held)", holder, len(self._until) + 1)
        self._until[holder] = self._clock() + self.ttl
        self._ever = True
        return self.ttl

    def release(self, holder: str) -> bool:
        """Drop *holder*'s lease; False if it held none."""
        held = self._until.pop(holder, None) is not None
        if held:
            log.info("lease released by %s (%d left)", holder, len(self._until))
            self._changed.set()
        return held

    def _expire(self) -> None:
        now = self._clock()
        for holder, until in list(self._until.items()):
            if until <= now:
                del self._until[holder]
                log.warning("lease of %s expired: that app quit without saying so", holder)

    def watch(self, on_empty: Callable[[], None]) -> None:
        """Start watching (from now the first lease is awaited); *on_empty* is called once."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._watch(on_empty), name="leases"
            )

    async def _watch(self, on_empty: Callable[[], None]) -> None:
        started = self._clock()
        tick = min(1.0, self.ttl / 4)
        while True:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):  # (not wait_for: it can lose a cancel)
                async with asyncio.timeout(tick):
                    await self._changed.wait()
            self._expire()
            if self._ever and not self._until:
                log.info("the last app let go of the server: stopping")
                break
            if not self._ever and self._clock() - started >= self.first_wait:
                log.warning("no app took a lease within %g s: stopping", self.first_wait)
                break
        self._closing = True
        on_empty()

    async def close(self) -> None:
        """Stop watching."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class LeaseApi:
    """``POST /_admin/leases`` ``{"id"}`` takes or renews a lease; ``DELETE
    /_admin/leases/{id}`` releases it. Only for whoever holds the admin secret."""

    def __init__(self, leases: Leases, is_admin: Callable[[str | None], bool]) -> None:
        self.leases = leases
        self.is_admin = is_admin

    def _require_admin(self, request: web.Request) -> None:
        if not self.is_admin(request_token(request)):
            raise AuthError(UNAUTHORIZED, 401)

    @staticmethod
    def _holder(value: object) -> str:
        if not isinstance(value, str) or _HOLDER.fullmatch(value) is None:
            raise AuthError("INVALID_ARGUMENT : a lease id is 1-128 letters, digits, or ._:-")
        return value

    async def take(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        body = await read_body(request)
        holder = self._holder(body.get("id"))
        ttl = self.leases.grant(holder)
        return json_response({"id": holder, "ttl": ttl, "leases": len(self.leases)})

    async def drop(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        holder = self._holder(request.match_info["holder"])
        released = self.leases.release(holder)
        return json_response({"id": holder, "released": released, "leases": len(self.leases)})


def add_lease_routes(
    app: web.Application, leases: Leases, is_admin: Callable[[str | None], bool]
) -> None:
    """Register the lease routes (before any catch-all route)."""
    api = LeaseApi(leases, is_admin)
    app.router.add_route("*", ADMIN_LEASES, guarded(api.take, ("POST",)))
    app.router.add_route("*", f"{ADMIN_LEASES}/{{holder}}", guarded(api.drop, ("DELETE",)))


def add_proof_route(app: web.Application, secret: str) -> None:
    """``GET /_admin/proof?nonce=N``: this server shows it holds the data dir's admin secret
    (``admin_proof``), so that the app sends the secret to no other program on its port."""

    async def proof(request: web.Request) -> web.Response:
        nonce = request.query.get("nonce", "")
        if _NONCE.fullmatch(nonce) is None:
            raise AuthError("INVALID_ARGUMENT : nonce: 16-128 letters, digits, _ or -")
        return json_response({"proof": admin_proof(secret, nonce)})

    app.router.add_route("*", ADMIN_PROOF, guarded(proof, ("GET",)))
