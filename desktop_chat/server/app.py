"""The server process: one aiohttp application on one port, started and stopped cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from yarl import URL

from desktop_chat.resources import read_text as read_resource
from desktop_chat.server.access import Access
from desktop_chat.server.auth_api import add_auth_routes
from desktop_chat.server.auth_service import AuthService, AuthSettings
from desktop_chat.server.credentials import ScryptParams
from desktop_chat.server.database import Database
from desktop_chat.server.datadir import DataDir
from desktop_chat.server.errors import ServerError
from desktop_chat.server.exposure import LOOPBACK, host_check, listen, tls_context
from desktop_chat.server.history import HISTORY_IN_MEMORY, History
from desktop_chat.server.leases import Leases, add_lease_routes, add_proof_route
from desktop_chat.server.limits import Limits, LimitSettings
from desktop_chat.server.notifications import add_notification_routes
from desktop_chat.server.realtime import Realtime, RealtimeSettings
from desktop_chat.server.realtime_app import add_ops_routes, make_realtime, node_backend
from desktop_chat.server.realtime_auth import LocalVerifier
from desktop_chat.server.realtime_data import LocalData
from desktop_chat.server.reminders import Reminders
from desktop_chat.server.rest import RestApi, RestSettings
from desktop_chat.server.rules import RulesError, RuleSet
from desktop_chat.server.store import Durability, Store
from desktop_chat.server.streams import Hub

__all__ = ["DATABASE_KEY", "Server", "ServerConfig", "SocketNode", "listen", "serve"]

log = logging.getLogger("desktop_chat.server")

DATABASE_KEY: web.AppKey[Database] = web.AppKey("database", Database)


def load_rules(file: Path | None) -> RuleSet:
    """The rules from *file*, or the shipped ``database.rules.json``; RulesError if not usable."""
    if file is None:
        return RuleSet.from_json(read_resource("database.rules.json"))
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"cannot read the rules file {file}: {exc}") from exc
    return RuleSet.from_json(text)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything `desktop-chat-server serve` takes."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 9000
    namespace: str = "desktop-chat"
    emulator_admin: bool = False
    keep_alive: float = 30.0
    max_body: int = 16 * 1024 * 1024
    stream_buffer: int = 4 * 1024 * 1024
    durability: Durability = "normal"
    project_id: str = "desktop-chat"
    token_ttl: int = 3600
    scrypt_n: int = 2**15
    max_failed_sign_ins: int = 5
    rules_file: Path | None = None
    """The rules to enforce; None means the shipped ``database.rules.json``."""
    redis_url: str | None = None
    """Socket.IO across nodes (AsyncRedisManager) and presence counts in Redis."""
    socketio_only: bool = False
    """Serve only Socket.IO, against the data backend at *database_url*."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure: bool = False
    """Serve plain HTTP on an address other than loopback anyway (not recommended)."""
    database_url: str | None = None
    firebase: bool | None = None
    """Whether *database_url* is Firebase (None: tell by its host name)."""
    typing_rate: float = 5.0
    """Typing events a socket may send per second on average (bursts of twice that)."""
    embedded: bool = False
    """Started by the desktop app: stop once the last app's lease is gone (``leases.py``)."""
    lease_ttl: float = 15.0
    lease_wait: float = 60.0
    reminder_minutes: float = 15.0
    """Minutes before a confirmed booking's session its people get a reminder; 0: none."""
    limits: LimitSettings = field(default_factory=LimitSettings)
    """Per user and per address: write and event rates, open streams and sockets."""
    history_in_memory: int = HISTORY_IN_MEMORY
    """Newest children of each history collection kept in memory (0: all; see History)."""


class Server:
    """Owns the data dir, the store, the database and the HTTP listener."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.data_dir = DataDir(config.data_dir)
        self.db: Database | None = None
        self.auth: AuthService | None = None
        self.realtime: Realtime | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0
        self.leases: Leases | None = None
        self.reminders: Reminders | None = None
        self._sweeping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = self.config
        self.data_dir.create()
        self.data_dir.lock()
        try:
            rules = await asyncio.to_thread(load_rules, config.rules_file)
            store = await asyncio.to_thread(Store, self.data_dir.store_file, config.durability)
            self.db = Database(store, Hub(), rules, history=History(config.history_in_memory))
            await self.db.start()
            self.auth = await asyncio.to_thread(
                AuthService.open,
                self.data_dir.root,
                AuthSettings(
                    project_id=config.project_id,
                    token_ttl=config.token_ttl,
                    scrypt=ScryptParams(n=config.scrypt_n),
                    max_failures=config.max_failed_sign_ins,
                ),
            )
            secret = self.data_dir.admin_secret()
            access = Access(secret, config.emulator_admin, self.auth.verify_user)
            limits = Limits(config.limits)
            api = RestApi(
                self.db,
                access,
                RestSettings(
                    config.namespace, config.max_body, config.keep_alive, config.stream_buffer
                ),
                limits,
            )
            self.realtime = make_realtime(
                LocalVerifier(self.auth.verify_user),
                LocalData(self.db),
                config.redis_url,
                realtime_settings(config),
                limits=limits,
            )
            await self.realtime.start()
            self.db.commit_hooks.append(self.realtime.on_commit)
            app = web.Application(
                client_max_size=config.max_body + 1, middlewares=host_check(config)
            )
            app[DATABASE_KEY] = self.db
            self.realtime.attach(app)
            add_ops_routes(app, self.realtime)
            add_auth_routes(app, self.auth, access.is_admin)
            add_notification_routes(app, self.db, self.auth, access.is_admin)
            add_proof_route(app, secret)
            if config.embedded:
                self.leases = Leases(config.lease_ttl, config.lease_wait)
                add_lease_routes(app, self.leases, access.is_admin)
            app.router.add_route("*", r"/{tail:[\s\S]*}", api.handle)  # (newlines too)
            self._runner, self._site, self.port = await listen(
                app, config.host, config.port, tls_context(config)
            )
            self._sweeping = asyncio.create_task(self._revocations(), name="revocations")
            lead_ms = round(config.reminder_minutes * 60_000)
            if lead_ms > 0:
                self.reminders = Reminders(self.db, lead_ms)
                self.reminders.start()
        except BaseException:
            await self.stop()
            raise

    async def _revocations(self) -> None:
        """Every few seconds, end the streams and sockets of credentials revoked since they
        were checked (signed out everywhere, password changed, account disabled)."""
        while True:
            await asyncio.sleep(REVOCATION_SWEEP)
            auth, db, realtime = self.auth, self.db, self.realtime
            if auth is None or db is None or realtime is None:
                return
            ended = db.hub.revoke(auth.still_valid)
            ended += await realtime.revoke(auth.token_still_valid)
            if ended:
                log.info("ended %d streams and sockets of revoked credentials", ended)

    async def stop(self) -> None:
        """Stop accepting, finish accepted writes, close streams and the store, free the dir."""
        if self._sweeping is not None:
            self._sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeping
            self._sweeping = None
        if self.reminders is not None:  # before the database: it writes through it
            await self.reminders.close()
            self.reminders = None
        if self.leases is not None:
            await self.leases.close()
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self.realtime is not None:  # marks its users offline: before the store closes
            await self.realtime.close()
            self.realtime = None
        if self.db is not None:
            await self.db.close()
            self.db = None
        self.data_dir.unpublish()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.auth is not None:
            await asyncio.to_thread(self.auth.close)
            self.auth = None
        self.data_dir.unlock()


def realtime_settings(config: ServerConfig) -> RealtimeSettings:
    rate = config.typing_rate
    return RealtimeSettings(typing_rate=rate, typing_burst=max(1, int(rate * 2)))


REVOCATION_SWEEP = 2.0
"""Seconds between looks for streams and sockets whose credentials were revoked."""
NODE_REVOCATION_SWEEP = 10.0
"""The same on a Socket.IO node, which asks the data server about each token in use."""


class SocketNode:
    """``serve --socketio-only``: Socket.IO (and /healthz, /metrics) against a data backend
    elsewhere, usually one of several nodes sharing Redis."""

    def __init__(self, config: ServerConfig) -> None:
        if not config.database_url:
            raise ServerError("--socketio-only needs --database-url")
        self.config = config
        self.realtime: Realtime | None = None
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._sweeping: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> None:
        config = self.config
        assert config.database_url is not None
        remote = URL(config.database_url)
        if remote.scheme == "http" and remote.host not in LOOPBACK and not config.insecure:
            raise ServerError(
                f"--database-url {remote.with_query(None)} is plain HTTP to another machine: "
                "the admin secret and the tokens' certificates would cross the network in "
                "clear; use https, or --insecure to do it anyway"
            )
        backend = node_backend(config.database_url, config.project_id, firebase=config.firebase)
        self._closers = backend.closers
        try:
            self.realtime = make_realtime(
                backend.verifier,
                backend.data,
                config.redis_url,
                realtime_settings(config),
                limits=Limits(config.limits),
            )
            await self.realtime.start()
            if backend.sweep is not None:  # (Firebase checks revocation at the handshake)
                sweeping = backend.sweep(self.realtime, NODE_REVOCATION_SWEEP)
                self._sweeping = asyncio.create_task(sweeping, name="revocations")
            app = web.Application(middlewares=host_check(config))
            self.realtime.attach(app)
            add_ops_routes(app, self.realtime)
            self._runner, self._site, self.port = await listen(
                app, config.host, config.port, tls_context(config)
            )
        except BaseException:
            await self.stop()
            raise
        log.info("Socket.IO node for %s", backend.description)

    async def stop(self) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeping
            self._sweeping = None
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self.realtime is not None:
            await self.realtime.close()
            self.realtime = None
        for close in self._closers:
            try:
                await close()
            except Exception:
                log.exception("closing the data backend failed")
        self._closers = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def serve(config: ServerConfig) -> None:
    """Run until SIGTERM or SIGINT, then shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":  # before "listening": a stop right after it must be clean
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    server = SocketNode(config) if config.socketio_only else Server(config)
    try:
        await server.start()
        if isinstance(server, Server):  # first: "listening" means findable
            server.data_dir.publish(config.host, server.port)
        scheme = "https" if config.tls_cert is not None else "http"
        print(f"listening on {scheme}://{config.host}:{server.port}", flush=True)
        if isinstance(server, Server) and server.leases is not None:
            server.leases.watch(stop.set)  # the last lease gone: the same stop as SIGTERM
        await stop.wait()
        log.info("shutting down")
    finally:
        if sys.platform != "win32":
            for signum in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(signum)
        await server.stop()
