"""Listeners hear a multi-path write in the order of its paths: a message's own stream first."""

from __future__ import annotations

import asyncio
from pathlib import Path

from desktop_chat.core.query import parse_query
from desktop_chat.core.values import normalize
from desktop_chat.server.database import Database, SetOp, WriteRequest
from desktop_chat.server.rules import RuleSet
from desktop_chat.server.store import Store
from desktop_chat.server.streams import Hub, Listener


class Recording:
    """A sink that notes which listener got each frame, in order."""

    def __init__(self, name: str, heard: list[str]) -> None:
        self.name, self.heard = name, heard

    def write(self, frame: bytes) -> None:
        self.heard.append(self.name)

    def buffered(self) -> int:
        return 0

    def abort(self) -> None:
        pass


def _update(body: dict[str, object]) -> WriteRequest:
    ops = []
    for key, value in body.items():
        path = tuple(key.split("/"))
        ops.append(SetOp(path, normalize(value, path).value))
    return WriteRequest(ops)


def test_listeners_hear_an_update_in_the_order_of_its_paths(tmp_path: Path) -> None:
    async def main() -> None:
        db = Database(Store(tmp_path / "store.sqlite"), Hub(), RuleSet.allow_all())
        await db.start()
        try:
            await db.write(_update({"a/old": 1, "b/old": 1, "c/old": 1}))
            heard: list[str] = []
            listeners = {
                "a (query)": Listener(
                    ("a",), parse_query({"orderBy": '"$key"', "limitToLast": "5"}), 1 << 20
                ),
                "b": Listener(("b",), None, 1 << 20),
                "c": Listener(("c",), None, 1 << 20),
                "root": Listener((), None, 1 << 20),
            }
            for name, listener in listeners.items():
                await db.listen(listener)
                listener.attach(Recording(name, heard))
            await db.write(_update({"c/new": 2, "a/new": 2, "b/new": 2}))
            # (the root hears the first path; it gets a put per change)
            assert list(dict.fromkeys(heard)) == ["root", "c", "a (query)", "b"]
            heard.clear()
            await db.write(_update({"b/new": 3, "a/new": 3, "c/new": 3}))
            assert list(dict.fromkeys(heard)) == ["root", "b", "a (query)", "c"]
        finally:
            await db.close()

    asyncio.run(main())
