"""HTTP plumbing of the sign-in endpoints: Google's error shape, bodies, method guards."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from desktop_chat.server.credentials import AuthError
from desktop_chat.server.errors import ServerError

__all__ = ["Handler", "google_error", "guarded", "json_response", "read_body", "text_field"]

log = logging.getLogger("desktop_chat.server")

MAX_AUTH_BODY = 64 * 1024
_REASONS = {401: "unauthorized", 404: "notFound", 405: "notFound", 500: "backendError"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def google_error(message: str, status: int = 400) -> web.Response:
    """An error in Google's API shape: ``{"error": {"code", "message", "errors": [...]}}``."""
    reason = _REASONS.get(status, "invalid")
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def json_response(value: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(value), content_type="application/json", headers=headers)


BROWSER_FORMS = frozenset(
    {"text/plain", "multipart/form-data", "application/x-www-form-urlencoded"}
)
"""The bodies a web page may send to any site without a CORS preflight."""


async def read_body(
    request: web.Request, form: bool = False, limit: int = MAX_AUTH_BODY
) -> dict[str, Any]:
    """The request's JSON object (or form fields, when *form* and the body is a form).
    An empty body is ``{}``; anything else is AuthError ``INVALID_JSON``."""
    too_large = AuthError(f"INVALID_JSON : the request body is larger than {limit} bytes", 413)
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(1 << 16):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    raw = b"".join(chunks)
    if request.content_type in BROWSER_FORMS and not (
        form and request.content_type == "application/x-www-form-urlencoded"
    ):  # (what a page of another site may post without asking: never taken as JSON)
        raise AuthError("INVALID_JSON : send the JSON body as Content-Type: application/json")
    if form and request.content_type == "application/x-www-form-urlencoded":
        try:
            fields = urllib.parse.parse_qs(raw.decode("utf-8"), strict_parsing=bool(raw))
        except (UnicodeDecodeError, ValueError) as exc:
            raise AuthError("INVALID_JSON : the form body cannot be parsed") from exc
        return {key: values[-1] for key, values in fields.items()}
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise AuthError(f"INVALID_JSON : Invalid JSON payload received. {exc}") from exc
    if not isinstance(value, dict):
        raise AuthError("INVALID_JSON : Invalid JSON payload received. Expected an object.")
    return value


def text_field(body: dict[str, Any], name: str) -> str | None:
    """An optional string field; another type is INVALID_JSON."""
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise AuthError(f"INVALID_JSON : Invalid value at '{name}': expected a string")


def guarded(handler: Handler, methods: tuple[str, ...] = ("POST",)) -> Handler:
    """Answer AuthError and wrong methods in Google's error shape, never with a traceback."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        if request.method not in methods:
            return google_error(f"NOT_FOUND : {request.method} is not supported here", 405)
        try:
            return await handler(request)
        except AuthError as exc:
            return google_error(exc.message, exc.status)
        except ServerError as exc:  # the accounts file failed, say: not the caller's fault
            log.error("%s %s failed: %s", request.method, request.path, exc)
            return google_error("INTERNAL_ERROR : the server could not complete this", 500)

    return wrapper
