"""The client's Firebase layer (AuthClient, Database, streams) against the real server process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import keyring
import pytest
from aiohttp import web

from desktop_chat.client.auth import AuthClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.errors import (
    AuthError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    TransactionError,
)
from desktop_chat.client.rtdb import Database, QuerySpec, StaticToken
from desktop_chat.client.streams import StreamEvent, Subscription
from desktop_chat.client.token_store import SERVICE, KeyringTokenStore, MemoryTokenStore
from desktop_chat.client.transport import Backoff
from tests.support.auth import PASSWORD, decode
from tests.support.server import ServerProcess

FAST = ["--scrypt-n", "16"]


def run(main: Callable[[], Awaitable[None]], timeout: float = 40) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await main()

    asyncio.run(bounded())


@pytest.fixture(scope="module")
def ruled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with the shipped rules and fast password hashing for the module."""
    server = ServerProcess(tmp_path_factory.mktemp("client") / "data", FAST, rules=None).start()
    yield server
    server.kill()


def local(server: ServerProcess) -> BackendConfig:
    return BackendConfig.from_values({"server_url": server.url, "namespace": server.namespace})


def admin(server: ServerProcess) -> Database:
    secret = (server.data_dir / "admin-secret").read_text().strip()
    return Database(local(server), StaticToken(secret))


@asynccontextmanager
async def user(
    server: ServerProcess, email: str, config: BackendConfig | None = None
) -> AsyncIterator[tuple[AuthClient, Database]]:
    """A signed-up user: their AuthClient (memory token store) and Database."""
    config = config or local(server)
    auth = AuthClient(config, token_store=MemoryTokenStore())
    db = Database(config, auth, http=auth.http)
    try:
        await auth.sign_up(email, PASSWORD)
        yield auth, db
    finally:
        await db.close()
        await auth.close()


async def next_event(sub: Subscription, seconds: float = 10) -> StreamEvent:
    async with asyncio.timeout(seconds):
        return await anext(sub)


async def until(predicate: Callable[[], bool], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("condition not met in time")


def profile(name: str, role: str = "student") -> dict[str, str]:
    return {"displayName": name, "role": role}


def test_auth_sign_up_in_refresh_lookup_update_and_errors(ruled: ServerProcess) -> None:
    async def main() -> None:
        store = MemoryTokenStore()
        auth = AuthClient(local(ruled), token_store=store)
        other = AuthClient(local(ruled), token_store=store)
        try:
            ann = await auth.sign_up("ann@example.com", PASSWORD, display_name="Ann")
            assert ann.email == "ann@example.com" and ann.display_name == "Ann"
            assert auth.signed_in and not auth.persistent
            assert decode(await auth.token())[1]["sub"] == ann.uid
            assert await store.load(ann.uid) is not None

            failures = [
                (auth.sign_up("ann@example.com", PASSWORD), {"EMAIL_EXISTS"}),
                (auth.sign_up("bob@example.com", "123"), {"WEAK_PASSWORD"}),
                (auth.sign_in("ann@example.com", "wrong-1"), {"INVALID_PASSWORD"}),
                (auth.sign_in("nobody@example.com", PASSWORD), {"EMAIL_NOT_FOUND"}),
            ]
            for attempt, codes in failures:
                with pytest.raises(AuthError) as caught:
                    await attempt
                assert caught.value.code in codes | {"INVALID_LOGIN_CREDENTIALS"}, caught.value
            assert auth.user == ann  # failed attempts leave the session alone

            await auth.refresh()
            assert auth.refreshes == 1 and decode(await auth.token())[1]["sub"] == ann.uid
            info = await auth.lookup()
            assert info["localId"] == ann.uid and info["email"] == "ann@example.com"
            updated = await auth.update_profile(display_name="Ann B", photo_url="https://p/a.png")
            assert (updated.display_name, updated.photo_url) == ("Ann B", "https://p/a.png")
            assert (await auth.lookup())["displayName"] == "Ann B"
            assert (await auth.update_profile(photo_url=None)).photo_url is None
            assert "photoUrl" not in await auth.lookup()

            restoring = asyncio.create_task(other.restore(ann.uid))  # the stored refresh token
            await asyncio.sleep(0)  # under way: a token asked for now waits for it
            assert decode(await other.token())[1]["sub"] == ann.uid
            restored = await restoring
            assert restored is not None and restored.display_name == "Ann B"
            again = await other.sign_in("ann@example.com", PASSWORD)
            assert again.uid == ann.uid and again.display_name == "Ann B"

            await auth.sign_out()
            assert not auth.signed_in and await store.load(ann.uid) is None
            with pytest.raises(AuthError) as caught:
                await auth.token()
            assert caught.value.code == "NOT_SIGNED_IN"
            assert await AuthClient(local(ruled), token_store=store).restore(ann.uid) is None
        finally:
            await auth.close()
            await other.close()

    run(main)


def test_refresh_token_in_the_keychain_or_memory_only(ruled: ServerProcess) -> None:
    """With a keychain the refresh token goes there (service desktop_chat, the uid); with
    keyring's fail backend (this CI machine) it stays in memory and persistent is False."""
    from keyring.backends import fail

    from tests.unit.test_client_config import _DictKeyring

    async def main() -> None:
        backend = _DictKeyring()
        auth = AuthClient(local(ruled), token_store=KeyringTokenStore(backend))
        try:
            uid = (await auth.sign_up("kim@example.com", PASSWORD)).uid
            assert auth.persistent and set(backend.items) == {(SERVICE, uid)}
            await auth.refresh()
            fresh = AuthClient(local(ruled), token_store=KeyringTokenStore(backend))
            try:
                assert (await fresh.restore(uid)) == auth.user
            finally:
                await fresh.close()
            await auth.sign_out()
            assert backend.items == {}
        finally:
            await auth.close()

        previous = keyring.get_keyring()
        keyring.set_keyring(fail.Keyring())
        try:
            memory = await AuthClient.create(local(ruled))
        finally:
            keyring.set_keyring(previous)
        try:
            await memory.sign_in("kim@example.com", PASSWORD)
            assert memory.signed_in and not memory.persistent
        finally:
            await memory.close()

    run(main)


def test_rest_under_the_shipped_rules(ruled: ServerProcess) -> None:
    async def main() -> None:
        root = admin(ruled)
        async with (
            user(ruled, "rita@example.com") as (rita_auth, rita),
            user(ruled, "sid@example.com") as (sid_auth, sid),
            user(ruled, "carl@example.com") as (_, carl),
        ):
            r, s = rita_auth.user.uid, sid_auth.user.uid  # type: ignore[union-attr]
            anonymous = Database(local(ruled))
            await rita.set(f"users/{r}", profile("Rita"))
            assert await sid.get(f"users/{r}") == profile("Rita")
            await rita.update(f"users/{r}", {"displayName": "Rita B", "photoURL": "https://p"})
            await rita.update("/", {f"users/{r}/role": "provider"})  # multi-path at the root
            assert await rita.get(("users", r)) == {
                "displayName": "Rita B",
                "photoURL": "https://p",
                "role": "provider",
            }
            refused: list[Awaitable[Any]] = [
                rita.set(f"users/{s}", profile("Not Sid")),  # someone else's profile
                rita.set(f"users/{r}", {"displayName": "No role"}),  # fails .validate
                rita.update(f"users/{r}", {"role": "admin"}),
                rita.get("bookings"),  # closed to users
                anonymous.get("users"),
            ]
            for attempt in refused:
                with pytest.raises(PermissionDeniedError):
                    await attempt
            await anonymous.close()
            await rita.delete(f"users/{r}")
            assert await rita.get(f"users/{r}") is None

            cid = "_".join(sorted([r, s]))
            ids = []
            for text in ("one", "two", "three"):
                message = {
                    "senderId": r,
                    "receiverId": s,
                    "text": text,
                    "timestamp": {".sv": "timestamp"},
                    "read": False,
                    "type": "text",
                }
                ids.append(await rita.push(f"conversations/{cid}/messages", message))
                await asyncio.sleep(0.002)  # distinct server timestamps
            assert all(len(i) == 20 for i in ids) and ids == sorted(ids)
            latest = await sid.query(
                f"conversations/{cid}/messages", QuerySpec("timestamp", limit_to_last=2)
            )
            assert [key for key, _ in latest] == ids[1:]
            assert [value["text"] for _, value in latest] == ["two", "three"]
            by_key = await root.query(f"conversations/{cid}/messages", QuerySpec("$key"))
            assert [key for key, _ in by_key] == ids
            with pytest.raises(PermissionDeniedError):
                await carl.get(f"conversations/{cid}/messages")
            with pytest.raises(PermissionDeniedError):
                await carl.query(f"conversations/{cid}/messages", QuerySpec("timestamp"))
            with pytest.raises(InvalidRequestError):  # no .indexOn for text
                await sid.query(f"conversations/{cid}/messages", QuerySpec("text"))
            with pytest.raises(InvalidRequestError):  # refused locally
                await sid.get("bad.key")

            odd = "a b%?&=#é"  # percent-encoded in the URL, stored as is
            with pytest.raises(InvalidRequestError):
                await root.set(f"misc/{odd}", 1)
            odd = "a b%?&=é"
            await root.set(("misc", odd), {"n": 1})
            assert await root.get("misc") == {odd: {"n": 1}}
            assert await root.get("conversations", shallow=True) == {cid: True}
        await root.close()

    run(main)


def test_transactions_under_contention(ruled: ServerProcess) -> None:
    async def main() -> None:
        databases = [admin(ruled) for _ in range(3)]
        calls = 0

        def increment(value: Any) -> Any:
            nonlocal calls
            calls += 1
            return (value or 0) + 1

        async def bump(db: Database, times: int) -> None:
            for _ in range(times):
                await db.transaction("counters/c", increment)

        try:
            await asyncio.gather(*(bump(databases[i % 3], 5) for i in range(8)))
            assert await databases[0].get("counters/c") == 40
            assert calls > 40  # writers did collide, and retried from the 412 answers

            def refuse(value: Any) -> Any:
                raise ValueError("abort")

            with pytest.raises(ValueError):
                await databases[0].transaction("counters/c", refuse)
            assert await databases[0].get("counters/c") == 40

            def overtaken(value: Any) -> Any:
                if value == 40:  # another writer lands between our read and our write
                    ruled.put("counters/c", 100)
                return value + 1

            with pytest.raises(TransactionError):
                await databases[0].transaction("counters/c", overtaken, max_attempts=1)
            assert await databases[0].transaction("counters/c", overtaken) == 101
            value, etag = await databases[1].get_with_etag("counters/c")
            assert value == 101 and etag
        finally:
            for db in databases:
                await db.close()

    run(main)


def test_stream_events_and_resync_after_kill_and_restart_on_the_same_port(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "data", FAST, rules=None).start()

    async def main() -> None:
        root = admin(server)
        async with user(server, "ann@example.com") as (auth, db):
            uid = auth.user.uid  # type: ignore[union-attr]
            await db.set(f"users/{uid}", profile("Ann"))
            held = db.listen("users", backoff=Backoff(base=30, cap=30))  # reconnects on demand
            auto = db.listen("users", backoff=Backoff(base=0.1, cap=0.5))
            first = await next_event(held)
            assert first.resync and first.value == {uid: profile("Ann")}
            await root.set("users/zed", profile("Zed", "provider"))
            event = await next_event(held)
            assert (event.kind, event.path, event.data) == (
                "put",
                ("zed",),
                profile("Zed", "provider"),
            )
            await db.update(f"users/{uid}", {"displayName": "Ann 2"})
            event = await next_event(held)
            assert event.value == {uid: profile("Ann 2"), "zed": profile("Zed", "provider")}
            assert not event.resync

            await asyncio.to_thread(server.kill)
            await until(lambda: not held.connected and not auto.connected)
            server.requested_port = server.port
            await asyncio.to_thread(server.start)
            await root.delete("users/zed")  # changes made while the streams were away
            await root.set("users/yan", profile("Yan"))
            held.reconnect_now()
            resync = await next_event(held)
            expected = {uid: profile("Ann 2"), "yan": profile("Yan")}
            assert resync.resync and resync.value == expected  # replaced whole: zed is gone
            assert held.value == expected and held.stats.connects == 2
            await until(lambda: auto.value == expected and auto.stats.connects >= 2)
            await root.set("users/yan/displayName", "Yan 2")
            assert (await next_event(held)).value["yan"]["displayName"] == "Yan 2"
        await root.close()

    try:
        run(main)
    finally:
        server.kill()


def test_stream_is_cancelled_when_access_is_revoked(ruled: ServerProcess) -> None:
    async def main() -> None:
        root = admin(ruled)
        async with user(ruled, "sam@example.com") as (auth, db):
            uid = auth.user.uid  # type: ignore[union-attr]
            booking = {
                "skillId": "s1",
                "date": "2026-12-01",
                "slotId": "x",
                "studentId": uid,
                "providerId": "p1",
                "status": "requested",
                "createdAt": 1,
            }
            await root.set("bookings/b1", booking)
            sub = db.listen("bookings/b1")
            assert (await next_event(sub)).value == booking
            await root.set("bookings/b1/studentId", "someone-else")  # access goes away
            with pytest.raises(PermissionDeniedError, match="Permission denied"):
                await next_event(sub)
            with pytest.raises(StopAsyncIteration):
                await next_event(sub)
            forbidden = db.listen("bookings/b2")
            with pytest.raises(PermissionDeniedError):
                await next_event(forbidden)
            assert not db.subscriptions or all(s.closed for s in db.subscriptions)
        await root.close()

    run(main)


def test_streams_and_writes_survive_many_token_refreshes(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", [*FAST, "--token-ttl", "3"], rules=None).start()

    class StaleFirst:
        """Hands out an expired token first: the database must refresh and retry once."""

        def __init__(self, auth: AuthClient, stale: str) -> None:
            self.auth, self.stale, self.refreshed = auth, stale, 0

        async def token(self) -> str:
            return self.stale

        async def force_refresh(self, stale: str | None = None) -> str:
            self.refreshed += 1
            return await self.auth.force_refresh(stale)

    async def main() -> None:
        root = admin(server)
        async with user(server, "tom@example.com") as (auth, db):
            uid = auth.user.uid  # type: ignore[union-attr]
            first_token = await auth.token()
            sub = db.listen(f"users/{uid}")
            states: list[bool] = []
            sub.add_state_listener(states.append)
            assert (await next_event(sub)).value is None
            seen: list[int] = []
            started = time.monotonic()
            n = 0
            while time.monotonic() - started < 8:
                n += 1
                await db.set(f"users/{uid}", {"displayName": f"Tom {n}", "role": "student"})
                while not seen or seen[-1] != n:  # each write arrives, over refreshes
                    event = await next_event(sub)
                    if event.value is not None:
                        seen.append(int(event.value["displayName"].split()[1]))
                await asyncio.sleep(0.25)
            assert seen[-1] == n and seen == sorted(seen)
            assert sub.stats.auth_revoked >= 2, sub.stats
            assert states == [True], states  # an expired token is no "offline" blip
            assert auth.refreshes >= 2 and not sub.closed

            stale = StaleFirst(auth, first_token)  # long expired by now
            late = Database(local(server), stale)
            try:
                assert (await late.get(f"users/{uid}"))["displayName"] == f"Tom {n}"
                assert stale.refreshed == 1
            finally:
                await late.close()
        await root.close()

    try:
        run(main)
    finally:
        server.kill()


def test_firebase_style_urls_through_the_emulator_variables(ruled: ServerProcess) -> None:
    host = f"127.0.0.1:{ruled.port}"
    env = {
        "DESKTOP_CHAT_DATABASE_URL": f"https://{ruled.namespace}.firebaseio.com",
        "FIREBASE_DATABASE_EMULATOR_HOST": host,
        "FIREBASE_AUTH_EMULATOR_HOST": host,
    }
    config = BackendConfig.load(None, env=env, default_file=False)
    assert config.mode == "firebase" and config.database_params == {"ns": ruled.namespace}

    async def main() -> None:
        async with user(ruled, "fay@example.com", config) as (auth, db):
            uid = auth.user.uid  # type: ignore[union-attr]
            await db.set(f"users/{uid}", profile("Fay"))
            sub = db.listen(f"users/{uid}")
            assert (await next_event(sub)).value == profile("Fay")
            await db.update(f"users/{uid}", {"displayName": "Fay 2"})
            assert (await next_event(sub)).value == profile("Fay 2")
            await sub.close()
            elsewhere = {**env, "DESKTOP_CHAT_DATABASE_URL": "https://elsewhere.firebaseio.com"}
            other = BackendConfig.load(None, env=elsewhere, default_file=False)
            async with user(ruled, "gus@example.com", other) as (_, wrong):
                with pytest.raises(NotFoundError):
                    await wrong.get("users")

    run(main)


def test_stream_follows_a_307_to_another_origin_with_the_token_in_the_query(
    ruled: ServerProcess,
) -> None:
    async def main() -> None:
        async def redirect(request: web.Request) -> web.StreamResponse:
            # like Firebase sending a stream to another host; the Location keeps the query
            raise web.HTTPTemporaryRedirect(f"{ruled.url}{request.path_qs}")

        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", redirect)
        front = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await front.setup()
        await web.TCPSite(front, "127.0.0.1", 0).start()
        fronted = local(ruled).with_server(
            f"http://127.0.0.1:{front.addresses[0][1]}", ruled.namespace
        )
        try:
            async with user(ruled, "hal@example.com") as (auth, db):
                uid = auth.user.uid  # type: ignore[union-attr]
                await db.set(f"users/{uid}", profile("Hal"))
                via = Database(fronted, auth)
                try:
                    sub = via.listen(f"users/{uid}")
                    assert (await next_event(sub)).value == profile("Hal")
                    assert sub.stats.redirects == 1
                finally:
                    await via.close()
        finally:
            await front.cleanup()

    run(main)
