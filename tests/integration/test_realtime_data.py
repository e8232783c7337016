"""RealtimeData backends against real data: in process, over REST, and through firebase-admin."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import firebase_admin
import pytest

from desktop_chat.core.values import normalize, render
from desktop_chat.server.database import Database, SetOp, WriteRequest
from desktop_chat.server.datadir import DataDir
from desktop_chat.server.errors import ServerError
from desktop_chat.server.realtime_data import (
    FirebaseAdminData,
    LocalData,
    RealtimeData,
    RealtimeDataError,
    RestData,
    UserStatus,
)
from desktop_chat.server.store import Store
from desktop_chat.server.streams import Hub
from tests.conformance.support import new_app
from tests.support.server import ServerProcess

ANN, BOB, CAT, DAN = "ann1", "bob2", "cat3", "dan4"
SEED: dict[str, Any] = {
    "conversations": {
        f"{ANN}_{BOB}": {
            "metadata": {"participants": {ANN: True, BOB: True}, "createdAt": 1},
            "messages": {"m1": {"senderId": ANN, "text": "hi"}},
        },
        f"{ANN}_{CAT}": {"metadata": {"participants": {ANN: True, CAT: False}}},
        f"{BOB}_{CAT}": {"messages": {"m1": {"text": "no metadata"}}},
    },
    "userConversations": {
        ANN: {
            f"{ANN}_{BOB}": {"otherUser": {"id": BOB, "name": "Bob"}, "unreadCount": 0},
            f"{ANN}_{CAT}": {"otherUser": {"id": CAT}},
            "junk1": "not an entry",
            "junk2": {"otherUser": {"id": 5}},
            "junk3": {"otherUser": {"id": ANN}},
            "junk4": {"otherUser": "Dan"},
            "junk5": {"lastMessage": "no other user"},
        },
        BOB: {"x": {"otherUser": {"id": "bad.key"}}},
    },
    "userStatus": {
        BOB: {"online": True, "lastSeen": 1700000000123},
        CAT: {"online": False},
        DAN: "garbage",
    },
}
SECRET_SENTINEL = "never-in-a-message"


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


async def check_reads_and_writes(data: RealtimeData) -> None:
    """The same answers from every backend for SEED; writes ann's status."""
    assert await data.participants(f"{ANN}_{BOB}") == frozenset({ANN, BOB})
    assert await data.participants(f"{ANN}_{CAT}") == frozenset({ANN})  # only the ones marked true
    assert await data.participants(f"{BOB}_{CAT}") is None  # no participants map
    assert await data.participants("nobody_here") is None
    assert await data.contacts(ANN) == {BOB, CAT}
    assert await data.contacts(BOB) == frozenset()
    assert await data.contacts(DAN) == frozenset()
    assert await data.statuses([BOB, CAT, DAN, "eve5", BOB]) == {
        BOB: UserStatus(online=True, last_seen=1700000000123),
        CAT: UserStatus(online=False, last_seen=None),
    }
    assert await data.statuses([]) == {}
    await data.write_status(ANN, True, 1700000000999)
    assert (await data.statuses([ANN]))[ANN] == UserStatus(True, 1700000000999)
    await data.write_status(ANN, False, 1700000001000)
    assert (await data.statuses([ANN]))[ANN] == UserStatus(False, 1700000001000)


async def check_bad_ids(data: RealtimeData) -> None:
    for bad in ("a/b", "a.b", "", "x" * 800, 7, None):
        with pytest.raises(RealtimeDataError, match="invalid"):
            await data.participants(bad)  # type: ignore[arg-type]
        with pytest.raises(RealtimeDataError, match="invalid uid"):
            await data.contacts(bad)  # type: ignore[arg-type]
        with pytest.raises(RealtimeDataError, match="invalid uid"):
            await data.statuses([ANN, bad])  # type: ignore[list-item]
        with pytest.raises(RealtimeDataError, match="invalid uid"):
            await data.write_status(bad, True, 1)  # type: ignore[arg-type]
    with pytest.raises(RealtimeDataError, match="lastSeen"):
        await data.write_status(ANN, True, "now")  # type: ignore[arg-type]


def admin_secret(server: ServerProcess) -> str:
    return DataDir(server.data_dir).admin_secret()


def test_local_data(tmp_path: Path) -> None:
    async def main() -> None:
        database = Database(Store(tmp_path / "store.sqlite3"), Hub())
        await database.start()
        await database.write(WriteRequest([SetOp((), normalize(SEED).value)]))
        data = LocalData(database)
        try:
            await check_reads_and_writes(data)
            await check_bad_ids(data)
            stored = render(await database.read(("userStatus", ANN)))
            assert stored == {"online": False, "lastSeen": 1700000001000}
        finally:
            await data.close()
            await database.close()
        with pytest.raises(RealtimeDataError, match="cannot write /userStatus/ann1"):
            await data.write_status(ANN, True, 1)  # the database is shutting down

    run(main)


def test_rest_data(server: ServerProcess) -> None:
    server.put("", SEED)

    async def main() -> None:
        data = RestData(server.database_url, admin_secret(server))
        try:
            await check_reads_and_writes(data)
            await check_bad_ids(data)
        finally:
            await data.close()
        await data.close()  # twice is fine

    run(main)
    assert server.get(f"userStatus/{ANN}") == {"online": False, "lastSeen": 1700000001000}


def test_rest_data_failures(server: ServerProcess) -> None:
    async def main() -> None:
        wrong = RestData(server.database_url, SECRET_SENTINEL)
        other_ns = RestData(f"{server.url}?ns=elsewhere", admin_secret(server))
        try:
            with pytest.raises(RealtimeDataError, match="answered 401") as refused:
                await wrong.contacts(ANN)
            assert SECRET_SENTINEL not in str(refused.value)
            with pytest.raises(RealtimeDataError, match="answered 404"):
                await other_ns.participants(f"{ANN}_{BOB}")
            await asyncio.to_thread(server.kill)
            with pytest.raises(RealtimeDataError, match="cannot reach the data server") as down:
                await wrong.write_status(ANN, True, 1)
            assert SECRET_SENTINEL not in str(down.value)
        finally:
            await wrong.close()
            await other_ns.close()
        for url in ("ftp://example.com", "not a url", "http://"):
            with pytest.raises(RealtimeDataError, match="database URL"):
                RestData(url, "secret")
        with pytest.raises(RealtimeDataError, match="admin secret"):
            RestData(server.database_url, "")

    run(main)


def test_firebase_admin_data(server: ServerProcess) -> None:
    server.put("", SEED)
    app = new_app(server)
    try:

        async def main() -> None:
            data = FirebaseAdminData(app)
            await check_reads_and_writes(data)
            await check_bad_ids(data)
            await data.close()

        run(main)
        assert server.get(f"userStatus/{ANN}") == {"online": False, "lastSeen": 1700000001000}
        server.kill()

        async def unreachable() -> None:
            with pytest.raises(RealtimeDataError, match="Firebase get of /userStatus/ann1"):
                await FirebaseAdminData(app).statuses([ANN])

        run(unreachable)
    finally:
        firebase_admin.delete_app(app)


def test_realtime_data_errors_are_server_errors() -> None:
    assert issubclass(RealtimeDataError, ServerError)
