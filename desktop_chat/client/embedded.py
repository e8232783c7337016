"""The embedded desktop-chat-server: found through server.json or started, held by a lease."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import secrets
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import aiohttp
import orjson

from desktop_chat.client.errors import ClientError
from desktop_chat.client.transport import Backoff, TaskTracker
from desktop_chat.core.paths import admin_proof

__all__ = [
    "ADMIN_SECRET_ENV",
    "NAMESPACE",
    "EmbeddedServer",
    "EmbeddedServerError",
    "read_admin_secret",
    "server_command",
]

log = logging.getLogger("desktop_chat.client")

ADMIN_SECRET_ENV = "DESKTOP_CHAT_ADMIN_SECRET"
NAMESPACE = "desktop-chat"
"""The database name the embedded server serves (its default ``--namespace``)."""
LEASES = "/_admin/leases"
PROOF = "/_admin/proof"
LOG_FILE = "server.log"
_MAX_LOG = 2 * 1024 * 1024


class EmbeddedServerError(ClientError):
    """The embedded server could not be found or started."""


def server_command() -> list[str]:
    """How to run ``desktop-chat-server``: this interpreter, or a bundled app's own executable
    (which runs the server's CLI when its first argument is ``--serve-embedded``)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--serve-embedded"]
    return [sys.executable, "-m", "desktop_chat.server"]


def read_admin_secret(data_dir: Path) -> str | None:
    """The server's admin secret: ``$DESKTOP_CHAT_ADMIN_SECRET``, else the data dir's file."""
    from_env = os.environ.get(ADMIN_SECRET_ENV)
    if from_env:
        return from_env
    try:
        secret = (data_dir / "admin-secret").read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return secret or None


def _published(data_dir: Path) -> str | None:
    """The URL ``server.json`` names, or None (missing, unreadable, not ours)."""
    try:
        info = orjson.loads((data_dir / "server.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(info, dict):
        return None
    host, port = info.get("host"), info.get("port")
    if not isinstance(host, str) or not isinstance(port, int) or not 0 < port < 65536:
        return None
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{host}:{port}"


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


class EmbeddedServer:
    """One app's hold on the local server of *data_dir*.

    :meth:`start` reuses the server that ``server.json`` names if it answers and accepts our
    admin secret, else starts one (``serve --port 0 --embedded``) as a detached process, and
    takes a lease that a tracked task renews every *renew_every* seconds. :meth:`release`
    gives the lease back; the server stops by itself when no app holds one any more (or
    when an app died and its lease expired). The server is never stopped by a signal.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        server_args: Sequence[str] = (),
        renew_every: float = 5.0,
        start_timeout: float = 60.0,
        stop_timeout: float = 20.0,
        command: Sequence[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.server_args = list(server_args)
        self.renew_every = renew_every
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.command = list(command) if command is not None else server_command()
        self.lease_id = f"app-{os.getpid()}-{secrets.token_hex(6)}"
        self.namespace = NAMESPACE
        self.url: str | None = None
        self.leased = False
        """False when the server found is not an ``--embedded`` one (it takes no leases)."""
        self.process: subprocess.Popen[bytes] | None = None
        """The server process, if this object started it."""
        self._http: aiohttp.ClientSession | None = None
        self._tasks = TaskTracker("embedded server")

    async def __aenter__(self) -> EmbeddedServer:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.release()

    # finding and starting ----------------------------------------------------------------
    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        return self._http

    def _headers(self) -> dict[str, str]:
        secret = read_admin_secret(self.data_dir)
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    async def _call(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        """(status, JSON answer) of an admin request; status 0 when there is no answer."""
        data = orjson.dumps(body) if body is not None else None
        try:
            async with self._session().request(
                method, url, data=data, headers=self._headers()
            ) as response:
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return 0, None
        with contextlib.suppress(orjson.JSONDecodeError):
            return response.status, orjson.loads(raw) if raw else None
        return response.status, None

    async def _take(self, url: str) -> bool | None:
        """Take (or renew) our lease on the server at *url*: True when done (or the server
        takes no leases but is ours), None when it may say yes later (no answer, shutting
        down), False when it is not our data dir's server."""
        proven = await self._proven(url)
        if proven is not True:
            return proven
        status, _ = await self._call("POST", url + LEASES, {"id": self.lease_id})
        if status == 200:
            self.leased = True
            return True
        if status == 404:  # a server run by hand: no leases; usable if the secret is ours
            admin, _ = await self._call("GET", url + "/_admin/users")
            if admin == 200:
                log.info("the server at %s is not --embedded: used without a lease", url)
                self.leased = False
                return True
            return False
        if status in (0, 503):
            return None
        log.info("the server at %s refused a lease (HTTP %d)", url, status)
        return False

    async def _proven(self, url: str) -> bool | None:
        """Whether the server at *url* holds our data dir's admin secret, shown without our
        sending it (another local user could have taken a dead server's port): True, False,
        or None when it does not answer (yet)."""
        secret = read_admin_secret(self.data_dir)
        if secret is None:
            return False
        nonce = secrets.token_urlsafe(24)
        try:
            async with self._session().get(url + PROOF, params={"nonce": nonce}) as response:
                if response.status >= 500:
                    return None  # (starting or stopping: ask again)
                answer = await response.json(content_type=None) if response.status == 200 else {}
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            return None
        proof = answer.get("proof") if isinstance(answer, dict) else None
        if isinstance(proof, str) and hmac.compare_digest(proof, admin_proof(secret, nonce)):
            return True  # (asked again at every renewal: the server may have died since)
        log.warning("the server at %s could not show it is ours: not using it", url)
        return False

    async def _answers(self, url: str) -> bool:
        try:
            async with self._session().get(url + "/healthz") as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    def _spawn(self, port: int) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_path = self.data_dir / LOG_FILE
        with contextlib.suppress(OSError):
            if log_path.stat().st_size > _MAX_LOG:
                os.replace(log_path, log_path.with_suffix(".log.1"))
        args = [
            *self.command,
            *("serve", "--data-dir", str(self.data_dir), "--port", str(port), "--embedded"),
            *self.server_args,
        ]
        options: dict[str, Any] = {}
        if sys.platform == "win32":
            flags = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW
            options["creationflags"] = flags
        else:
            options["start_new_session"] = True  # outlives this app if others hold it
        log_file: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - the child keeps it
        try:
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                **options,
            )
        except OSError as exc:
            raise EmbeddedServerError(f"cannot start the local server: {exc}") from exc
        finally:
            log_file.close()
        log.info("started the local server (pid %d) in %s", self.process.pid, self.data_dir)

    def _log_tail(self) -> str:
        try:
            lines = (self.data_dir / LOG_FILE).read_text("utf-8", "replace").splitlines()
        except OSError:
            return ""
        errors = [line for line in lines[-20:] if "error" in line.lower()]
        return (errors or lines[-3:] or [""])[-1].strip()

    async def _acquire(self, port: int = 0) -> str:
        """A leased (or usable) server's URL: found, or started (on *port*, 0: any)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        spawns = 0
        while True:
            url = _published(self.data_dir)
            taken = await self._take(url) if url is not None else False
            if taken:
                assert url is not None
                return url
            process = self.process
            if process is not None and process.poll() is not None:
                self.process = None  # it lost a race for the dir, or failed: look again
                detail = self._log_tail()
                log.info("the local server exited (%s): %s", process.returncode, detail)
                if spawns >= 3:
                    raise EmbeddedServerError(
                        f"the local server does not start: {detail or 'no reason given'} "
                        f"(see {self.data_dir / LOG_FILE})"
                    )
            # None: a server there may yet answer (or is stopping); else none is ours
            stale = taken is False or url is None or not await self._answers(url)
            if self.process is None and stale:
                self._spawn(port if spawns == 0 else 0)
                spawns += 1
            if loop.time() > deadline:
                raise EmbeddedServerError(
                    f"the local server in {self.data_dir} did not answer within "
                    f"{self.start_timeout:g} s (see {self.data_dir / LOG_FILE})"
                )
            await asyncio.sleep(0.1)

    async def start(self) -> str:
        """The server's URL (``http://127.0.0.1:PORT``), found or started, with our lease."""
        if self.url is not None:
            return self.url
        try:
            self.url = await self._acquire()
        except BaseException:
            await self._close_http()
            raise
        if self.leased:
            self._tasks.spawn(self._renew(), "lease renewal")
        log.info("using the local server at %s", self.url)
        return self.url

    async def _renew(self) -> None:
        """Renew the lease; if the server went away (the machine slept past the TTL, or it
        crashed), start it again, on the same port so that clients reconnect to it."""
        backoff = Backoff(base=0.5, cap=max(0.5, self.renew_every))
        while True:
            await asyncio.sleep(self.renew_every)
            assert self.url is not None
            if await self._take(self.url) is True:
                backoff.reset()
                continue
            log.warning("lost the local server at %s: starting it again", self.url)
            try:
                url = await self._acquire(_port_of(self.url))
            except EmbeddedServerError as exc:
                log.error("cannot restart the local server: %s", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            if url != self.url:
                log.warning("the local server moved from %s to %s", self.url, url)
                self.url = url

    # letting go --------------------------------------------------------------------------
    async def release(self) -> None:
        """Give our lease back; a server we started and nobody else holds is waited for."""
        await self._tasks.close()
        url, self.url = self.url, None
        process, self.process = self.process, None
        if url is None and process is not None:  # released while starting: let it go too
            url = await self._answering(process)
        remaining = 0
        if url is not None and (self.leased or process is not None):
            if process is not None:
                # One we started may not hold our lease yet (a restart under way), and one
                # never leased waits for a first lease: take ours so that dropping it counts.
                await self._take(url)
            status, answer = await self._call("DELETE", f"{url}{LEASES}/{self.lease_id}")
            if status == 200 and isinstance(answer, dict):
                remaining = int(answer.get("leases") or 0)
        self.leased = False
        await self._close_http()
        if process is None:
            return
        if remaining:
            log.info("the local server stays up for %d other app(s)", remaining)
            with warnings.catch_warnings():  # detached on purpose: it is not ours alone
                warnings.simplefilter("ignore", ResourceWarning)
                del process
            return
        await self._wait_exit(process)

    async def _answering(self, process: subprocess.Popen[bytes]) -> str | None:
        """The URL of the server *process* is starting, once it answers (None if it ends)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_timeout
        while process.poll() is None and loop.time() < deadline:
            url = _published(self.data_dir)
            if url is not None and await self._answers(url):
                return url
            await asyncio.sleep(0.05)
        return None

    async def _wait_exit(self, process: subprocess.Popen[bytes]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_timeout
        while process.poll() is None:
            if loop.time() > deadline:
                log.error("the local server did not stop within %g s: killed", self.stop_timeout)
                process.kill()
                await asyncio.sleep(0.2)
                deadline = loop.time() + self.stop_timeout
            await asyncio.sleep(0.05)
        log.info("the local server stopped (exit code %d)", process.returncode)

    async def _close_http(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
