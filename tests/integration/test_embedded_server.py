"""The embedded server: started or reused per data dir, held by leases, gone after the last app."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import requests

from desktop_chat.client.embedded import EmbeddedServer, read_admin_secret, server_command
from tests.support.chat import FAST, run, until
from tests.support.server import OWNER, ServerProcess

SHORT_TTL = [*FAST, "--lease-ttl", "2"]
SERVE = [sys.executable, "-m", "desktop_chat.server", "serve", "--port", "0", "--embedded"]


def dir_free(data_dir: Path) -> bool:
    """True when no server holds *data_dir* (its lock can be taken) and none is published."""
    if (data_dir / "server.json").exists():
        return False
    with open(data_dir / "server.lock", "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return True


def answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def published_pid(data_dir: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return int(json.loads((data_dir / "server.json").read_text())["pid"])
    return None


async def until_free(data_dir: Path, seconds: float = 60) -> None:
    async def free() -> bool:
        return dir_free(data_dir)

    await until(free, seconds)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data dir whose server, if a test leaves one behind, is killed at the end."""
    directory = tmp_path / "server"
    yield directory
    pid = published_pid(directory)
    if pid is not None:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def test_start_reuse_and_stop_after_the_last_release(data_dir: Path) -> None:
    async def main() -> None:
        first = EmbeddedServer(data_dir, server_args=FAST)
        url = await first.start()
        assert first.process is not None and first.leased
        assert answers(url)
        second = EmbeddedServer(data_dir, server_args=FAST)
        assert await second.start() == url  # the same server, not a second one
        assert second.process is None
        await second.release()
        assert answers(url)  # the first still holds it
        process = first.process
        await first.release()
        assert process.poll() == 0  # exited by itself, cleanly
        assert dir_free(data_dir)

    run(main)


def test_the_server_outlives_its_starter_while_another_app_holds_it(data_dir: Path) -> None:
    async def main() -> None:
        starter = EmbeddedServer(data_dir, server_args=FAST)
        url = await starter.start()
        other = EmbeddedServer(data_dir)
        await other.start()
        await starter.release()
        assert answers(url)
        assert not dir_free(data_dir)
        await other.release()
        await until_free(data_dir)
        assert not answers(url)

    run(main)


APP = """
import asyncio, sys
from pathlib import Path
from desktop_chat.client.embedded import EmbeddedServer

async def main():
    server = EmbeddedServer(Path(sys.argv[1]), server_args=sys.argv[2:], renew_every=0.5)
    print(await server.start(), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_the_server_stops_when_the_last_app_died(data_dir: Path) -> None:
    app = subprocess.Popen(
        [sys.executable, "-c", APP, str(data_dir), *SHORT_TTL],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None
        url = app.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        time.sleep(3)  # longer than the TTL: the renewals keep it up
        assert answers(url)
    finally:
        app.kill()  # kill -9: no release, the lease just stops being renewed
        app.wait(30)
        if app.stdout is not None:
            app.stdout.close()

    async def main() -> None:
        await until_free(data_dir)

    run(main)
    assert not answers(url)


def test_a_server_that_never_gets_a_lease_stops(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SERVE, "--lease-wait", "1", "--data-dir", str(tmp_path / "d"), *FAST],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "listening on" in result.stdout
    assert "no app took a lease" in result.stderr
    assert dir_free(tmp_path / "d")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("who", ["nobody", "another data dir's server"])
def test_a_stale_server_json_is_ignored(data_dir: Path, tmp_path: Path, who: str) -> None:
    other = None
    if who == "nobody":
        port = free_port()
    else:
        other = ServerProcess(tmp_path / "other", FAST).start()
        port = other.port
    data_dir.mkdir(parents=True)
    (data_dir / "server.json").write_text(json.dumps({"port": port, "pid": 1, "host": "127.0.0.1"}))

    async def main() -> None:
        server = EmbeddedServer(data_dir, server_args=FAST)
        url = await server.start()
        assert url != f"http://127.0.0.1:{port}"
        assert server.process is not None and server.leased
        await server.release()

    try:
        run(main)
        assert dir_free(data_dir)
        if other is not None:
            assert other.get("") is None  # the other server was left alone
    finally:
        if other is not None:
            other.kill()


def test_an_impostor_on_the_published_port_never_gets_the_secret(data_dir: Path) -> None:
    """Another program on the port ``server.json`` names (say another local user's, after our
    server died) answers every request with 200: it must not see the admin secret."""
    from aiohttp import web

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    data_dir.mkdir(parents=True)
    published = {"port": port, "pid": 1, "host": "127.0.0.1"}
    (data_dir / "server.json").write_text(json.dumps(published))
    secret = "a-secret-of-our-own-0123456789"
    (data_dir / "admin-secret").write_text(secret)
    os.chmod(data_dir / "admin-secret", 0o600)
    heard: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        heard.append(request.headers.get("Authorization", ""))
        return web.json_response({"proof": "0" * 64, "id": "x", "ttl": 15, "leases": 1})

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", anything)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.SockSite(runner, listener).start()
        try:
            server = EmbeddedServer(data_dir, server_args=FAST)
            url = await server.start()
            assert url != f"http://127.0.0.1:{port}" and server.process is not None
            await server.release()
        finally:
            await runner.cleanup()

    run(main)
    assert heard, "the impostor was never asked to show it is ours"
    assert not any(secret in header for header in heard)
    assert dir_free(data_dir)


def test_an_impostor_taking_the_port_later_never_gets_the_secret(data_dir: Path) -> None:
    """Our server dies while the app runs and another program takes its port before the next
    lease renewal: the renewal asks it to show it is ours first, and tells it nothing."""
    from aiohttp import web

    heard: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        heard.append(request.headers.get("Authorization", ""))
        return web.json_response({"proof": "0" * 64, "id": "x", "ttl": 15, "leases": 1})

    async def main() -> None:
        server = EmbeddedServer(data_dir, server_args=FAST, renew_every=0.3)
        url = await server.start()
        assert server.process is not None
        port = int(url.rsplit(":", 1)[1])
        server.process.kill()  # (dies: its port is free for anyone)
        server.process.wait()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", anything)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            await until(lambda: _true(bool(heard)), 20)  # a renewal came to it
            await asyncio.sleep(1.0)
        finally:
            await runner.cleanup()
        await server.release()

    run(main)
    secret = read_admin_secret(data_dir)
    assert heard and secret is not None and not any(secret in header for header in heard)


async def _true(value: bool) -> bool:
    return value


def test_the_server_shows_it_holds_the_secret(server: ServerProcess) -> None:
    from desktop_chat.core.paths import admin_proof

    secret = (server.data_dir / "admin-secret").read_text().strip()
    nonce = "n" * 32
    answer = requests.get(f"{server.url}/_admin/proof", params={"nonce": nonce}, timeout=10)
    assert answer.json() == {"proof": admin_proof(secret, nonce)}
    assert admin_proof("another-secret", nonce) != answer.json()["proof"]
    for bad in ("", "short", "x" * 129, "n" * 31 + "/"):
        refused = requests.get(f"{server.url}/_admin/proof", params={"nonce": bad}, timeout=10)
        assert refused.status_code == 400


async def call(
    method: str, url: str, headers: dict[str, str], body: object = None
) -> tuple[int, object]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, json=body, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


def test_the_lease_routes_need_the_admin_secret(data_dir: Path, server: ServerProcess) -> None:
    async def main() -> None:
        embedded = EmbeddedServer(data_dir, server_args=FAST)
        url = await embedded.start()
        leases = f"{url}/_admin/leases"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer owner"}):
            assert (await call("POST", leases, headers, {"id": "x"}))[0] == 401
            assert (await call("DELETE", f"{leases}/x", headers))[0] == 401
        admin = {"Authorization": f"Bearer {read_admin_secret(data_dir)}"}
        taken = await call("POST", leases, admin, {"id": "tool-1"})
        assert taken == (200, {"id": "tool-1", "ttl": 15.0, "leases": 2})
        assert (await call("POST", leases, admin, {"id": "a b"}))[0] == 400
        dropped = await call("DELETE", f"{leases}/tool-1", admin)
        assert dropped == (200, {"id": "tool-1", "released": True, "leases": 1})
        await embedded.release()
        # a server run without --embedded has no lease routes
        status, _ = await call("POST", f"{server.url}/_admin/leases", OWNER, {"id": "x"})
        assert status != 200

    run(main)


def test_a_lost_server_is_started_again_on_the_same_port(data_dir: Path) -> None:
    async def main() -> None:
        embedded = EmbeddedServer(data_dir, server_args=FAST, renew_every=0.2)
        url = await embedded.start()
        assert embedded.process is not None
        crashed = embedded.process.pid
        embedded.process.kill()  # a crash
        embedded.process.wait(30)

        async def back() -> bool:
            pid = published_pid(data_dir)
            return pid is not None and pid != crashed and answers(url)

        await until(back, 60)
        assert embedded.url == url
        assert answers(url)
        await embedded.release()
        assert dir_free(data_dir)

    run(main, timeout=90)


def test_a_bundled_app_starts_the_server_through_its_own_executable(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert server_command() == [sys.executable, "--serve-embedded"]
    monkeypatch.delattr(sys, "frozen")
    # what the bundle's executable runs: desktop_chat.app's main, as `python -m` does here
    app = [sys.executable, "-m", "desktop_chat.app", "--serve-embedded"]

    async def main() -> None:
        embedded = EmbeddedServer(data_dir, server_args=FAST, command=app)
        url = await embedded.start()
        assert answers(url)
        await embedded.release()
        assert dir_free(data_dir)

    run(main)
