"""Who is asking: an admin (admin secret, emulator owner), a signed-in user, or nobody."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from desktop_chat.server.errors import HttpError, ServerError

__all__ = ["ADMIN", "ANONYMOUS", "Access", "Caller", "UserVerifier", "request_token"]

log = logging.getLogger("desktop_chat.server")

EMULATOR_OWNER = "owner"
EXPIRED = "Auth token is expired"
UNPARSEABLE = "Could not parse auth token."

UserVerifier = Callable[[str], Awaitable[dict[str, Any]]]
"""Checks a Firebase ID token and returns its claims; raises a ServerError (with a ``reason``
attribute, ``"expired"`` for an expired token) when it is not valid."""


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity behind a request, in the shape the rules see it."""

    admin: bool = False
    auth: dict[str, Any] | None = None
    """The rules' ``auth``: ``{"uid", "token": <claims>, "provider"}``, or None."""
    expires: float | None = None
    """When the ID token expires (epoch seconds): a stream then gets ``auth_revoked``."""

    @property
    def uid(self) -> str | None:
        return None if self.auth is None else str(self.auth["uid"])

    def token_claims(self) -> dict[str, Any]:
        """The ID token's claims (empty when there is none)."""
        token = self.auth.get("token") if self.auth is not None else None
        return token if isinstance(token, dict) else {}


ADMIN = Caller(admin=True)
ANONYMOUS = Caller()


def request_token(request: web.Request) -> str | None:
    """The credential a request carries: ``Authorization: Bearer``, ``access_token`` or ``auth``."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.query.get("access_token") or request.query.get("auth") or None


class Access:
    """Turns a request's credential into a Caller; a bad credential is a 401, never anonymous."""

    def __init__(
        self, admin_secret: str, emulator_admin: bool, verify_user: UserVerifier | None = None
    ) -> None:
        self._secret = admin_secret.encode()
        self._emulator_admin = emulator_admin
        self.verify_user = verify_user
        if emulator_admin:
            log.warning(
                "--emulator-admin: any request with 'Authorization: Bearer owner' is an admin. "
                "Use this only for tests and local development."
            )

    def is_admin(self, token: str | None) -> bool:
        if token is None:
            return False
        if self._emulator_admin and token == EMULATOR_OWNER:
            return True
        return hmac.compare_digest(token.encode(errors="surrogateescape"), self._secret)

    async def caller(self, request: web.Request) -> Caller:
        token = request_token(request)
        if token is None:
            return ANONYMOUS
        if self.is_admin(token):
            return ADMIN
        if self.verify_user is None:
            raise HttpError(401, "Permission denied")
        try:
            claims = await self.verify_user(token)
        except ServerError as exc:
            expired = getattr(exc, "reason", "") == "expired"
            raise HttpError(401, EXPIRED if expired else UNPARSEABLE) from None
        firebase = claims.get("firebase")
        provider = firebase.get("sign_in_provider") if isinstance(firebase, dict) else None
        return Caller(
            auth={"uid": claims["sub"], "token": claims, "provider": provider or "password"},
            expires=float(claims["exp"]),
        )
