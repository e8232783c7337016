"""Putting the Socket.IO layer together: in the data server, or as a node of its own."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import web
from yarl import URL

from desktop_chat.server.auth_api import CERTS_PATH, IDENTITY
from desktop_chat.server.datadir import ADMIN_SECRET_ENV
from desktop_chat.server.errors import ServerError
from desktop_chat.server.limits import Limits
from desktop_chat.server.metrics import CONTENT_TYPE, Metrics
from desktop_chat.server.presence import MemoryPresence, Presence, RedisPresence
from desktop_chat.server.realtime import Realtime, RealtimeSettings
from desktop_chat.server.realtime_auth import TokenVerifier
from desktop_chat.server.realtime_data import RealtimeData
from desktop_chat.server.remote_tokens import CertVerifier, sweep_revoked

__all__ = [
    "EMULATOR_VARIABLES",
    "TESTING_ENV",
    "NodeBackend",
    "add_ops_routes",
    "is_firebase_url",
    "make_realtime",
    "node_backend",
]

log = logging.getLogger("desktop_chat.server")

TESTING_ENV = "DESKTOP_CHAT_TESTING"
"""Set to 1 by the test suite: lets a Firebase-mode node talk to the emulator variables."""
EMULATOR_VARIABLES = ("FIREBASE_DATABASE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST")


def is_firebase_url(url: str) -> bool:
    """Whether *url* is a Firebase Realtime Database (``*.firebaseio.com`` or a regional
    ``*.firebasedatabase.app``)."""
    host = (URL(url).host or "").lower()
    return host.endswith((".firebaseio.com", ".firebasedatabase.app"))


def make_realtime(
    verifier: TokenVerifier,
    data: RealtimeData,
    redis_url: str | None,
    settings: RealtimeSettings | None = None,
    node_id: str | None = None,
    limits: Limits | None = None,
) -> Realtime:
    """The Socket.IO layer, with presence in Redis when *redis_url* is given."""
    node = node_id or uuid.uuid4().hex[:12]
    presence: Presence = RedisPresence(redis_url, node) if redis_url else MemoryPresence()
    return Realtime(
        verifier,
        data,
        presence,
        Metrics(node),
        redis_url=redis_url,
        settings=settings,
        limits=limits,
    )


def add_ops_routes(app: web.Application, realtime: Realtime) -> None:
    """``GET /healthz`` and ``GET /metrics`` (Prometheus text) for operators."""

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({**realtime.metrics.healthz(), "tasks": len(asyncio.all_tasks())})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=realtime.metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE}
        )

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)


@dataclass(slots=True)
class NodeBackend:
    """What a ``--socketio-only`` node checks tokens with and reads and writes data through."""

    verifier: TokenVerifier
    data: RealtimeData
    closers: list[Callable[[], Awaitable[None]]]
    description: str
    sweep: Callable[[Realtime, float], Coroutine[Any, Any, None]] | None = None
    """Ends sockets whose credentials were revoked since their handshake, every so often."""


def node_backend(
    database_url: str, project_id: str, *, firebase: bool | None = None
) -> NodeBackend:
    """The backend for *database_url*: Firebase (firebase-admin, service-account credentials
    from ``GOOGLE_APPLICATION_CREDENTIALS``) or our data server (its admin secret from
    ``DESKTOP_CHAT_ADMIN_SECRET``, tokens checked against its published certificates)."""
    use_firebase = is_firebase_url(database_url) if firebase is None else firebase
    if use_firebase:
        return _firebase_backend(database_url, project_id)
    from desktop_chat.server.realtime_data import RestData

    secret = os.environ.get(ADMIN_SECRET_ENV, "")
    if not secret:
        raise ServerError(
            f"--socketio-only against a desktop-chat-server needs its admin secret in "
            f"{ADMIN_SECRET_ENV} (the file admin-secret in its data dir)"
        )
    base = URL(database_url).with_query(None).with_path("/")
    lookup = base.with_path(f"{IDENTITY}/v1/accounts:lookup").with_query(key=project_id)
    verifier = CertVerifier(str(base.with_path(CERTS_PATH)), project_id, lookup_url=str(lookup))
    data = RestData(database_url, secret)
    sweep = partial(sweep_revoked, verifier)
    return NodeBackend(verifier, data, [verifier.close], f"desktop-chat-server at {base}", sweep)


def _firebase_backend(database_url: str, project_id: str) -> NodeBackend:
    set_emulators = [name for name in EMULATOR_VARIABLES if os.environ.get(name)]
    if set_emulators and os.environ.get(TESTING_ENV) != "1":
        raise ServerError(
            f"refusing to serve Firebase with {', '.join(set_emulators)} set: firebase-admin "
            "would skip checking token signatures; unset them (they are for tests only)"
        )
    try:
        import firebase_admin
        from firebase_admin import credentials
    except ImportError as exc:
        raise ServerError(
            "Firebase mode needs firebase-admin: pip install 'desktop_chat[firebase]'"
        ) from exc
    from desktop_chat.server.realtime_auth import FirebaseVerifier
    from desktop_chat.server.realtime_data import FirebaseAdminData

    options: dict[str, Any] = {"databaseURL": database_url, "projectId": project_id}
    name = f"socketio-{uuid.uuid4().hex[:8]}"
    try:
        if set_emulators:  # tests: the emulators take no credentials
            app = firebase_admin.initialize_app(options=options, name=name)
        else:
            app = firebase_admin.initialize_app(credentials.ApplicationDefault(), options, name)
    except (ValueError, OSError) as exc:
        raise ServerError(f"cannot set up firebase-admin: {exc}") from exc

    async def delete_app() -> None:
        firebase_admin.delete_app(app)

    return NodeBackend(
        FirebaseVerifier(app, check_revoked=True),
        FirebaseAdminData(app),
        [delete_app],
        f"Firebase at {database_url}",
    )
