"""Checking the Firebase ID token of a Socket.IO handshake: our own tokens, or Firebase's."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from desktop_chat.server.errors import ServerError
from desktop_chat.server.tokens import TokenError

if TYPE_CHECKING:
    import firebase_admin

__all__ = [
    "MAX_TOKEN_BYTES",
    "FirebaseVerifier",
    "LocalVerifier",
    "TokenRefused",
    "TokenVerifier",
]

log = logging.getLogger("desktop_chat.server")

MAX_TOKEN_BYTES = 8 * 1024
"""Longer tokens are refused unread; Firebase ID tokens are about 1 KB."""

UNAUTHORIZED = 401
UNAVAILABLE = 503
_EXPIRED = "the ID token has expired; refresh it and connect again"
_INVALID = "the ID token is not valid"
_CANNOT_CHECK = "the server cannot check ID tokens right now; try again shortly"


class TokenRefused(ServerError):  # noqa: N818 - the name the Socket.IO layer expects
    """A handshake refused: ``code`` 401 (bad, missing or expired token) or 503 (cannot
    check tokens now), and a ``message`` fit to send to the client."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TokenVerifier(Protocol):
    async def verify(self, token: object) -> str:
        """The uid of a valid ID token, or TokenRefused."""
        ...


def _shape(token: object) -> str:
    """*token* if it may be a JWT at all; a missing, non-string or huge one is a 401."""
    if token is None or token == "":
        raise TokenRefused(UNAUTHORIZED, "no ID token: connect with auth {token: <ID token>}")
    if not isinstance(token, str):
        raise TokenRefused(UNAUTHORIZED, "the ID token must be a string")
    if len(token) > MAX_TOKEN_BYTES or len(token.encode("utf-8", "replace")) > MAX_TOKEN_BYTES:
        raise TokenRefused(UNAUTHORIZED, f"the ID token is longer than {MAX_TOKEN_BYTES} bytes")
    return token


def _uid(claims: object) -> str:
    subject = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(subject, str) or not subject:
        raise TokenRefused(UNAUTHORIZED, _INVALID)
    return subject


class LocalVerifier:
    """Our own RS256 tokens, checked by the server's AuthService (``verify_user``)."""

    def __init__(self, check: Callable[[str], Awaitable[dict[str, Any]]]) -> None:
        self._check = check

    async def verify(self, token: object) -> str:
        text = _shape(token)
        try:
            claims = await self._check(text)
        except TokenError as exc:
            if exc.reason == "expired":
                raise TokenRefused(UNAUTHORIZED, _EXPIRED) from None
            if exc.reason in ("revoked", "user disabled", "user not found"):
                raise TokenRefused(UNAUTHORIZED, f"{_INVALID} ({exc.reason})") from None
            raise TokenRefused(UNAUTHORIZED, _INVALID) from None
        except Exception:
            log.exception("checking an ID token failed unexpectedly")
            raise TokenRefused(UNAVAILABLE, _CANNOT_CHECK) from None
        return _uid(claims)


class FirebaseVerifier:
    """Firebase ID tokens, checked by firebase-admin in a worker thread.

    With *check_revoked*, firebase-admin also asks Firebase Auth whether the user signed out
    everywhere or was disabled: one request per handshake.
    """

    def __init__(self, app: firebase_admin.App, *, check_revoked: bool = False) -> None:
        try:
            from firebase_admin import auth, exceptions
            from google.auth import exceptions as google_exceptions
        except ImportError as exc:
            raise ServerError(
                f"firebase-admin is needed to check Firebase ID tokens ({exc}); "
                "install it with: pip install firebase-admin"
            ) from None
        self.app = app
        self.check_revoked = check_revoked
        self._auth: Any = auth
        self._firebase_error: type[Exception] = exceptions.FirebaseError
        self._google_error: type[Exception] = google_exceptions.GoogleAuthError

    async def verify(self, token: object) -> str:
        text = _shape(token)
        auth = self._auth
        try:
            claims = await asyncio.to_thread(
                auth.verify_id_token, text, app=self.app, check_revoked=self.check_revoked
            )
        except auth.ExpiredIdTokenError:
            raise TokenRefused(UNAUTHORIZED, _EXPIRED) from None
        except auth.RevokedIdTokenError:
            raise TokenRefused(UNAUTHORIZED, f"{_INVALID} (revoked)") from None
        except auth.UserDisabledError:
            raise TokenRefused(UNAUTHORIZED, f"{_INVALID} (user disabled)") from None
        except auth.UserNotFoundError:
            raise TokenRefused(UNAUTHORIZED, f"{_INVALID} (user not found)") from None
        except auth.InvalidIdTokenError:
            raise TokenRefused(UNAUTHORIZED, _INVALID) from None
        except auth.CertificateFetchError as exc:
            log.warning("cannot fetch Firebase's token certificates: %s", exc)
            raise TokenRefused(UNAVAILABLE, _CANNOT_CHECK) from None
        except self._firebase_error as exc:
            log.warning("Firebase Auth cannot check an ID token now: %s", exc)
            raise TokenRefused(UNAVAILABLE, _CANNOT_CHECK) from None
        except (ValueError, self._google_error) as exc:  # the token's shape was checked: setup
            log.error("firebase-admin cannot check ID tokens (credentials, project id?): %s", exc)
            raise TokenRefused(UNAVAILABLE, _CANNOT_CHECK) from None
        except Exception:
            log.exception("checking a Firebase ID token failed unexpectedly")
            raise TokenRefused(UNAVAILABLE, _CANNOT_CHECK) from None
        return _uid(claims)
