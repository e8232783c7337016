"""The client's exceptions: one root, ClientError, and how Firebase's error answers map to them."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = [
    "AuthError",
    "BadRequestError",
    "ClientError",
    "ConfigError",
    "DatabaseError",
    "InvalidRequestError",
    "NetworkError",
    "NotFoundError",
    "NotSignedInError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "ServerError",
    "TokenExpiredError",
    "TransactionError",
    "auth_error_from_body",
    "database_error",
]

PERMISSION_DENIED = "Permission denied"
TOKEN_EXPIRED = "Auth token is expired"


class ClientError(Exception):
    """Root of every exception raised by desktop_chat.client."""


class ConfigError(ClientError):
    """The settings file or the environment describe no usable backend."""


class NetworkError(ClientError):
    """The server could not be reached, or the connection broke before an answer."""


class NotSignedInError(ClientError):
    """The call needs an account: sign up or sign in first."""


class ProtocolError(ClientError):
    """The server answered something the protocol does not allow (bad JSON, wrong shape)."""


class InvalidRequestError(ClientError):
    """A request that can never succeed: a bad path, value or query (locally or a 400)."""


class AuthError(ClientError):
    """Firebase Auth refused a request. ``code`` is Firebase's message code (``EMAIL_EXISTS``,
    ``INVALID_PASSWORD``, ``TOKEN_EXPIRED``, ...), ``message`` its whole message."""

    def __init__(self, code: str, message: str = "", status: int = 400) -> None:
        self.code = code
        self.message = message or code
        self.status = status
        super().__init__(self.message)

    @property
    def detail(self) -> str:
        """The part after ``CODE : `` (``WEAK_PASSWORD : Password should be ...``), if any."""
        _, _, rest = self.message.partition(" : ")
        return rest.strip()


class DatabaseError(ClientError):
    """The database answered an error: ``status`` is the HTTP status, ``message`` its text."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}" if status else message)


class PermissionDeniedError(DatabaseError):
    """The security rules refused the request (401 ``Permission denied``), or a stream was
    cancelled because read access went away."""

    def __init__(self, message: str = PERMISSION_DENIED, status: int = 401) -> None:
        super().__init__(status, message)


class TokenExpiredError(DatabaseError):
    """The database refused the ID token (401: expired or unparseable) even after a refresh."""


class BadRequestError(DatabaseError, InvalidRequestError):
    """400: the database refused the request as malformed (bad value, key, query, no index)."""


class NotFoundError(DatabaseError):
    """404: no such database or namespace."""


class ServerError(DatabaseError, NetworkError):
    """A 5xx answer (or 503 while the server shuts down): worth retrying later."""


class RateLimitedError(DatabaseError, NetworkError):
    """A 429: the server's limit for this user or address was reached; retry later (the
    outbox and the streams back off, nothing counts as failed)."""


class TransactionError(DatabaseError):
    """A transaction gave up: too many conflicting writers, or a 412 without an ETag."""


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


def auth_error_from_body(status: int, body: bytes) -> AuthError:
    """An AuthError from a Google-shaped error answer.

    Google answers ``{"error": {"code": 400, "message": "WEAK_PASSWORD : ..."}}``; OAuth-style
    endpoints may answer ``{"error": "invalid_grant", "error_description": ...}``. Anything
    else still becomes an AuthError, with a code naming the HTTP status.
    """
    payload = _json(body)
    error = payload.get("error") if isinstance(payload, dict) else None
    message = ""
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message = error["message"]
    elif isinstance(error, str):
        description = payload.get("error_description") if isinstance(payload, dict) else None
        message = f"{error} : {description}" if isinstance(description, str) else error
    message = message.strip()
    if not message:
        text = body[:200].decode("utf-8", "replace").strip()
        return AuthError(f"HTTP_{status}", f"HTTP_{status} : {text}" if text else "", status)
    code = message.partition(" : ")[0].strip().split(" ", 1)[0]
    return AuthError(code.upper() if code else f"HTTP_{status}", message, status)


def database_error(status: int, body: bytes) -> DatabaseError:
    """The exception for a Realtime Database error answer ``{"error": "..."}``."""
    payload = _json(body)
    message = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(message, str):
        message = body[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"
    if status == 401:
        if message == PERMISSION_DENIED:
            return PermissionDeniedError(message)
        return TokenExpiredError(status, message)
    if status == 400:
        return BadRequestError(status, message)
    if status == 404:
        return NotFoundError(status, message)
    if status == 412:
        return TransactionError(status, message)
    if status == 429:
        return RateLimitedError(status, message)
    if status >= 500:
        return ServerError(status, message)
    return DatabaseError(status, message)
