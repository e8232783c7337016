"""Profiles' places, the "keep me signed in" token store, and the server's lease bookkeeping."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from desktop_chat.client.errors import ConfigError
from desktop_chat.client.profiles import DATA_DIR_ENV, Profile, SessionTokenStore, data_root
from desktop_chat.client.token_store import DeferredTokenStore, MemoryTokenStore
from desktop_chat.server.credentials import AuthError
from desktop_chat.server.leases import Leases


def test_profiles_have_their_own_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert data_root() == tmp_path
    default = Profile.named()
    assert default.server_dir == tmp_path.resolve() / "server"  # desktop-chat-server's default
    work = Profile.named("work")
    assert work.server_dir == tmp_path.resolve() / "profiles" / "work" / "server"
    assert work.client_dir != default.client_dir
    assert work.client_dir_for("leo") != work.client_dir
    keys = {
        default.instance_key,
        work.instance_key,
        Profile.named("work", tmp_path / "x").instance_key,
    }
    assert len(keys) == 3
    assert all(len(key) < 40 for key in keys)
    for bad in ("", "../up", "a/b", "x" * 65, "-dash"):
        with pytest.raises(ConfigError):
            Profile.named(bad)


class Keychain(MemoryTokenStore):
    persistent = True


def test_keep_me_signed_in_chooses_the_keychain_or_memory() -> None:
    async def main() -> None:
        keychain = Keychain()
        await keychain.save("u1", "old")
        store = SessionTokenStore(keychain)
        assert store.persistent and await store.has_session("u1")
        store.remember = False  # "keep me signed in" unchecked, then a sign-in
        assert not store.persistent
        await store.save("u1", "new")
        assert await keychain.load("u1") is None  # the old keychain session is gone
        assert await store.load("u1") == "new"
        await store.save("u1", "newer")  # a refresh stays in memory
        assert await store.load("u1") == "newer" and await keychain.load("u1") is None
        store.remember = True
        await store.save("u2", "kept")
        assert await keychain.load("u2") == "kept"
        await store.delete("u1")
        assert not await store.has_session("u1")
        assert not await store.has_session(None)

    asyncio.run(main())


def test_the_marker_names_the_account_the_keychain_keeps(tmp_path: Path) -> None:
    async def main() -> None:
        opened: list[Keychain] = []

        async def open_keychain() -> Keychain:
            opened.append(Keychain())
            return opened[-1]

        marker = Profile.named("p", root=tmp_path).session_marker
        store = SessionTokenStore(DeferredTokenStore(open_keychain), marker=marker)
        assert not await store.kept("u1") and opened == []  # no keychain asked yet
        assert not store.persistent  # (not chosen yet)
        await store.ready()
        assert store.persistent and len(opened) == 1
        await store.save("u1", "token")  # kept: the marker names u1
        assert await store.kept("u1") and not await store.kept("u2")
        assert marker.read_text() == "u1"

        again = SessionTokenStore(DeferredTokenStore(open_keychain), marker=marker)
        assert await again.kept("u1") and len(opened) == 1  # a restart: no keychain call
        store.remember = False  # the next sign-in is not kept: the marker goes
        await store.save("u1", "other")
        assert not await again.kept("u1") and not marker.exists()
        store.remember = True
        await store.save("u2", "token")
        await store.delete("u1")  # another account's removal leaves u2's marker alone
        assert await store.kept("u2")
        await store.delete("u2")
        assert not marker.exists()
        marker.write_bytes(b"\xff\xfe")  # damaged: only a hint, so it counts as none
        assert not await store.kept("u2")

    asyncio.run(main())


def test_the_deferred_store_opens_once_even_when_asked_at_once() -> None:
    async def main() -> None:
        calls: list[int] = []

        async def slow_open() -> MemoryTokenStore:
            calls.append(1)
            await asyncio.sleep(0.01)
            return Keychain()

        deferred = DeferredTokenStore(slow_open)
        await asyncio.gather(deferred.save("a", "1"), deferred.load("a"), deferred.opened())
        assert calls == [1] and deferred.persistent and await deferred.load("a") == "1"

    asyncio.run(main())


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_leases_are_granted_renewed_released_and_expire() -> None:
    clock = Clock()
    leases = Leases(ttl=10, first_wait=60, clock=clock)
    assert leases.grant("a") == 10
    leases.grant("b")
    clock.now = 8
    leases.grant("a")  # renewed: until 18
    clock.now = 12
    leases._expire()
    assert len(leases) == 1  # b expired
    assert leases.release("a") and not leases.release("a")
    assert len(leases) == 0


def test_the_watch_stops_after_the_last_lease_and_refuses_new_ones() -> None:
    async def main() -> None:
        leases = Leases(ttl=0.2, first_wait=60)
        stopped = asyncio.Event()
        leases.watch(stopped.set)
        leases.grant("a")
        await asyncio.sleep(0.1)
        assert not stopped.is_set()
        leases.release("a")
        await asyncio.wait_for(stopped.wait(), 30)
        assert leases.closing
        with pytest.raises(AuthError) as refused:
            leases.grant("late")
        assert refused.value.status == 503
        await leases.close()

    asyncio.run(main())


def test_the_watch_gives_up_without_a_first_lease() -> None:
    async def main() -> None:
        leases = Leases(ttl=5, first_wait=0.2)
        stopped = asyncio.Event()
        leases.watch(stopped.set)
        await asyncio.wait_for(stopped.wait(), 30)
        await leases.close()

    asyncio.run(main())
