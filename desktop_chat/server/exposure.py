"""How the server faces the network: loopback unless told, TLS or an explicit --insecure
off it, no pages of other sites, no DNS rebinding, and the listening socket."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from desktop_chat.server.errors import HttpError, ServerError
from desktop_chat.server.rest import error_response

if TYPE_CHECKING:
    from desktop_chat.server.app import ServerConfig

__all__ = ["LOOPBACK", "host_check", "listen", "tls_context"]

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def host_check(config: ServerConfig) -> list[Middleware]:
    """Requests from web pages of other sites (an ``Origin`` not this server's) get 403: no
    CORS unless configured. On loopback, requests must also name a loopback host: a page whose
    name was pointed at 127.0.0.1 (DNS rebinding) gets 421, not the local server."""

    @web.middleware
    async def same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return error_response(
                HttpError(403, "Requests from other sites' pages are not allowed")
            )
        return await handler(request)

    if config.host not in LOOPBACK:
        return [same_origin]

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            name = request.url.host
        except ValueError:  # (a Host header that is no host at all)
            name = None
        if name not in LOOPBACK:
            return error_response(HttpError(421, f"Misdirected request: host {request.host!r}"))
        return await handler(request)

    return [check, same_origin]


def tls_context(config: ServerConfig) -> ssl.SSLContext | None:
    """The TLS context of ``--tls-cert``/``--tls-key`` (None: plain HTTP). An address other
    than loopback needs TLS, or ``--insecure`` said out loud: ServerError otherwise."""
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ServerError("--tls-cert and --tls-key go together")
    if config.emulator_admin and config.host not in LOOPBACK:
        raise ServerError(
            f"--emulator-admin makes anyone saying 'Bearer owner' the admin: not on --host "
            f"{config.host} (loopback only)"
        )
    if config.tls_cert is None or config.tls_key is None:
        if config.host not in LOOPBACK and not config.insecure:
            raise ServerError(
                f"--host {config.host} would serve the network in plain HTTP: give --tls-cert "
                "and --tls-key, or --insecure to do it anyway"
            )
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ServerError(f"cannot use the TLS certificate {config.tls_cert}: {exc}") from exc
    return context


async def listen(
    app: web.Application, host: str, port: int, tls: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, web.TCPSite, int]:
    """Serve *app* on *host*:*port* (0: any free port), over TLS if *tls*; the runner, the
    site and the port."""
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, shutdown_timeout=5.0, ssl_context=tls)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    addresses = runner.addresses
    return runner, site, int(addresses[0][1]) if addresses else port
