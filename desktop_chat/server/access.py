"""Who may use the database until rules exist: admins only (admin secret, or emulator owner)."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from desktop_chat.server.errors import HttpError

__all__ = ["Access", "request_token"]

log = logging.getLogger("desktop_chat.server")

EMULATOR_OWNER = "owner"


def request_token(request: web.Request) -> str | None:
    """The credential a request carries: ``Authorization: Bearer``, ``access_token`` or ``auth``."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.query.get("access_token") or request.query.get("auth") or None


class Access:
    """Decides whether a request is an admin's. Everyone else is refused with 401."""

    def __init__(self, admin_secret: str, emulator_admin: bool) -> None:
        self._secret = admin_secret.encode()
        self._emulator_admin = emulator_admin
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
        return hmac.compare_digest(token.encode(), self._secret)

    def require_admin(self, request: web.Request) -> None:
        if not self.is_admin(request_token(request)):
            raise HttpError(401, "Permission denied")
