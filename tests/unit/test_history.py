"""History on disk: a database keeping one or two children per history collection in memory
answers every read and sends every stream frame exactly as one keeping everything."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from desktop_chat.core.paths import Path as DataPath
from desktop_chat.core.query import parse_query
from desktop_chat.core.values import normalize
from desktop_chat.server import store as store_module
from desktop_chat.server.database import Database, SetOp, WriteRequest
from desktop_chat.server.errors import HttpError
from desktop_chat.server.history import History
from desktop_chat.server.rules import RuleSet
from desktop_chat.server.store import Store
from desktop_chat.server.streams import Hub, Listener

RULES = RuleSet.from_document(
    {
        "rules": {
            ".read": True,
            ".write": True,
            "conversations": {"$c": {"messages": {".indexOn": ["ts"]}}},
            "notifications": {"$u": {".indexOn": ["ts"]}},
        }
    }
)
COLLECTIONS: list[DataPath] = [
    ("conversations", "c0", "messages"),
    ("conversations", "c1", "messages"),
    ("notifications", "u0"),
]
KEYS = [f"-k{n:02d}" for n in range(14)] + ["sessionReminder_a", "0plain"]
LISTENERS: list[tuple[DataPath, dict[str, str] | None]] = [
    (COLLECTIONS[0], {"orderBy": '"$key"', "limitToLast": "3"}),
    (COLLECTIONS[0], {"orderBy": '"ts"', "limitToLast": "2"}),
    (COLLECTIONS[1], {"orderBy": '"ts"', "startAt": "5"}),
    (COLLECTIONS[2], {"orderBy": '"$key"', "limitToFirst": "2"}),
    (COLLECTIONS[2], {"orderBy": '"ts"', "limitToLast": "3"}),
    (("notifications",), {"orderBy": '"$key"', "limitToFirst": "1"}),
    (COLLECTIONS[1], None),
    ((*COLLECTIONS[0], "-k03"), None),
    (("conversations",), None),
    ((), None),
]
QUERIES: list[dict[str, str] | None] = [
    None,
    {"orderBy": '"$key"', "limitToLast": "2"},
    {"orderBy": '"ts"', "limitToFirst": "3"},
    {"orderBy": '"ts"', "endAt": "4"},
]


class Frames:
    """A sink keeping what a stream was sent: each event and its data (objects compare
    without their keys' order, which JSON does not fix)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def write(self, frame: bytes) -> None:
        for event in frame.split(b"\n\n"):
            if event:
                kind, data = event.split(b"\n")
                self.sent.append((kind.decode(), orjson.loads(data.removeprefix(b"data: "))))

    def buffered(self) -> int:
        return 0

    def abort(self) -> None:
        pass


@contextlib.asynccontextmanager
async def opened(file: Path, keep: int, grace: float = 0.0) -> AsyncIterator[Database]:
    """A started database on *file* keeping *keep* children per history collection."""
    db = Database(Store(file), Hub(), RULES, history=History(keep, grace=grace))
    await db.start()
    try:
        yield db
    finally:
        await db.close()


def _copy(value: Any) -> bytes:
    """*value* as it is now (the database's objects change in place as it writes)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _message(rng: random.Random) -> dict[str, Any]:
    return {"ts": rng.randrange(10), "t": rng.choice(["hi", "yo", "ok"])}


def _op(rng: random.Random) -> tuple[str, Any]:
    """One random step: a write (its SetOps) or a read (path and query)."""
    collection = rng.choice(COLLECTIONS)
    key = rng.choice(KEYS)
    kind = rng.randrange(10)
    if kind <= 2:
        return "write", [((*collection, key), _message(rng))]
    if kind == 3:
        return "write", [((*collection, key, "ts"), rng.choice([rng.randrange(10), None]))]
    if kind == 4:
        return "write", [((*collection, key), None)]
    if kind == 5:
        other = rng.choice(COLLECTIONS)
        body = {(*collection, key): _message(rng), (*other, rng.choice(KEYS)): _message(rng)}
        return "write", list(body.items())
    if kind == 6:
        target = rng.choice([collection, collection[:-1], ("conversations",)])
        value = rng.choice([None, {"-k05": _message(rng)}, {"meta": 1}])
        if target == ("conversations",) and value is not None:
            value = {"c1": {"messages": value}}
        return "write", [(target, value)]
    if kind == 7:
        return "write", [((*collection, key, "ts"), {".sv": {"increment": 1}})]
    path = rng.choice([collection, (*collection, key), collection[:-1], ()])
    return "read", (path, rng.choice(QUERIES) if path == collection else None)


async def _run(file: Path, keep: int, steps: list[tuple[str, Any]]) -> tuple[list[Any], Any]:
    """Play *steps* on a fresh database in *file* keeping *keep* children per history
    collection; what every read and every stream got, and its History."""
    history = History(keep, grace=0.0)
    db = Database(Store(file), Hub(), RULES, history=history)
    await db.start()
    seen: list[Any] = []
    streams: list[tuple[Listener, Frames]] = []
    try:
        for number, (kind, detail) in enumerate(steps):
            if number % 15 == 0 and LISTENERS:  # a stream opens now and then, on cold data too
                path, params = LISTENERS[(number // 15) % len(LISTENERS)]
                listener = Listener(path, parse_query(params) if params else None, 1 << 30)
                first = await db.listen(listener)
                sink = Frames()
                sink.write(first)
                listener.attach(sink)
                streams.append((listener, sink))
            if kind == "read":
                path, params = detail
                query = parse_query(params) if params else None
                seen.append(_copy(await db.read(path, query=query)))
                continue
            ops = []
            for path, value in detail:
                written = normalize(value, path)
                ops.append((SetOp(path, written.value), written.has_server_values))
            request = WriteRequest([op for op, _ in ops], any(sv for _, sv in ops))
            try:
                seen.append(_copy((await db.write(request)).values))
            except HttpError as exc:
                seen.append(exc.status)
        seen.append(_copy(await db.read(())))
        seen.append([sink.sent for _, sink in streams])
    finally:
        await db.close()
    return seen, history


@pytest.mark.parametrize("seed", range(12))
def test_reads_and_streams_are_the_same_with_history_on_disk(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    steps = [_op(rng) for _ in range(220)]

    async def main() -> None:
        whole, _ = await _run(tmp_path / "whole.sqlite3", 0, steps)
        for keep in (1, 2):
            partial, history = await _run(tmp_path / f"keep{keep}.sqlite3", keep, steps)
            assert partial == whole, f"keep={keep} differs"
            assert history.restores > 0  # (the steps did go to disk and back)

    asyncio.run(main())


def test_a_restarted_server_keeps_old_history_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "LOAD_STEP", 7)  # (trimmed while it loads, too)

    async def main() -> None:
        store = tmp_path / "store.sqlite3"
        messages = {f"-m{n:03d}": {"ts": n} for n in range(40)}
        async with opened(store, 0) as db:
            await db.write(WriteRequest([SetOp(COLLECTIONS[0], normalize(messages).value)]))
        async with opened(store, 4) as db:
            assert db.history.cold == 1
            assert len(db.root["conversations"]["c0"]["messages"]) == 4
            assert await db.read((*COLLECTIONS[0], "-m001")) == {"ts": 1}
            assert await db.read(COLLECTIONS[0]) == messages

    asyncio.run(main())


def test_deleting_what_memory_holds_of_a_collection_keeps_what_is_on_disk(tmp_path: Path) -> None:
    async def main() -> None:
        async with opened(tmp_path / "store.sqlite3", 1) as db:
            messages = {f"-m{n}": {"ts": n} for n in range(5)}
            for key, value in messages.items():
                await db.write(WriteRequest([SetOp((*COLLECTIONS[0], key), value)]))
            held = list(db.root["conversations"]["c0"]["messages"])
            assert db.history.cold == 1 and held == ["-m4"]
            await db.write(WriteRequest([SetOp((*COLLECTIONS[0], "-m4"), None)]))
            del messages["-m4"]
            assert await db.read(COLLECTIONS[0]) == messages

    asyncio.run(main())


def test_a_writes_answer_is_what_it_wrote(tmp_path: Path) -> None:
    """The answer is a copy: neither trimming nor a later write of the same batch changes it."""

    async def main() -> None:
        async with opened(tmp_path / "store.sqlite3", 1) as db:
            body = {f"-m{n}": {"ts": n} for n in range(5)}
            first = asyncio.ensure_future(
                db.write(WriteRequest([SetOp(COLLECTIONS[0], normalize(body).value)]))
            )
            later = db.write(WriteRequest([SetOp((*COLLECTIONS[0], "-m0", "ts"), 99)]))
            answer, _ = await asyncio.gather(first, later)
            assert answer.values == [body] and db.history.cold == 1

    asyncio.run(main())


def test_history_read_back_while_another_read_back_is_under_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two collections read back at once each see the latest commit (a read held open on a
    shared connection would give the second one an old snapshot: missing children, and a
    delete that then cut the whole conversation from disk)."""
    started, release = threading.Event(), threading.Event()
    slow = {"armed": False}

    def loads(raw: bytes) -> Any:
        if slow["armed"]:  # the first read back stalls while parsing its rows
            slow["armed"] = False
            started.set()
            release.wait(10)
        return orjson.loads(raw)

    monkeypatch.setattr(
        store_module,
        "orjson",
        SimpleNamespace(loads=loads, dumps=orjson.dumps, JSONDecodeError=orjson.JSONDecodeError),
    )
    one, other = COLLECTIONS[0], COLLECTIONS[1]

    async def main() -> None:
        store = tmp_path / "store.sqlite3"
        try:
            async with opened(store, 1, grace=10.0) as db:
                for n in range(3):
                    await db.write(WriteRequest([SetOp((*one, f"-a{n}"), {"ts": n})]))
                slow["armed"] = True
                stalled = asyncio.ensure_future(db.read(one))
                assert await asyncio.to_thread(started.wait, 10)
                for n in range(3):
                    await db.write(WriteRequest([SetOp((*other, f"-z{n}"), {"ts": n})]))
                assert db.history.coldness(other) is not None
                assert sorted(await db.read(other)) == ["-z0", "-z1", "-z2"]
                release.set()
                assert sorted(await stalled) == ["-a0", "-a1", "-a2"]
                await db.write(WriteRequest([SetOp((*other, "-z2"), None)]))
        finally:
            release.set()
        async with opened(store, 0) as again:
            assert sorted(await again.read(other)) == ["-z0", "-z1"]

    asyncio.run(main())
