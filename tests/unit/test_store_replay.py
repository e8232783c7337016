"""Property test: any writes give the reference tree, live and after reopening the store."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path as FsPath
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from desktop_chat.core.values import normalize
from desktop_chat.server.database import Database, SetOp, WriteRequest
from desktop_chat.server.store import Store
from desktop_chat.server.streams import Hub

NOW_MS = 1_700_000_000_000
Path = tuple[str, ...]

# --- the reference model ----------------------------------------------------------------------
# Stored form, as the server keeps it: objects never empty, a leaf with a priority as
# {".value": v, ".priority": p}, an object with a priority carrying a ".priority" key.


def _is_object(node: Any) -> bool:
    return isinstance(node, dict) and ".value" not in node


def ref_get(node: Any, path: Path) -> Any:
    for key in path:
        if not _is_object(node):
            return None
        node = node.get(key)
    return node


def ref_set(node: Any, path: Path, value: Any) -> Any:
    """The tree after putting *value* (None deletes) at *path*; inputs are not changed."""
    if not path:
        return value
    if not _is_object(node):
        if value is None:
            return node  # deleting below a leaf (or nothing) changes nothing
        node = {}  # a leaf written below becomes an object
    children = dict(node)
    child = ref_set(children.get(path[0]), path[1:], value)
    if child is None:
        children.pop(path[0], None)
    else:
        children[path[0]] = child
    if not any(key != ".priority" for key in children):
        return None  # an object left with no children (maybe a priority) is gone
    return children


def ref_resolve(value: Any, raw: Any, at: Path, before: Any) -> Any:
    """*value* with each {".sv": ...} of the raw JSON replaced, reading increments in *before*."""
    if isinstance(raw, dict) and ".sv" in raw:
        if raw[".sv"] == "timestamp":
            return NOW_MS
        delta = raw[".sv"]["increment"]
        old = ref_get(before, at)
        if isinstance(old, dict) and ".value" in old:
            old = old[".value"]
        if isinstance(old, int | float) and not isinstance(old, bool):
            total = old + delta
            return int(total) if float(total).is_integer() and abs(total) < 2**53 else total
        return delta
    if isinstance(value, dict):
        source = raw if isinstance(raw, dict) else {}
        if isinstance(raw, list):
            source = {str(index): item for index, item in enumerate(raw)}
        return {
            key: child
            if key == ".priority"
            else ref_resolve(child, source.get(key), (*at, key), before)
            for key, child in value.items()
        }
    return value


# --- random writes ----------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "0", "1"])
PATHS = st.lists(KEYS, max_size=3).map(tuple)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([1.5, 2.0, -0.25, 2**40]),
    st.sampled_from(["", "x", "yz"]),
)
_SERVER_VALUES = st.sampled_from(
    [{".sv": "timestamp"}, {".sv": {"increment": 1}}, {".sv": {"increment": -2.5}}]
)
_PRIORITIES = st.sampled_from([1, "p", 2.5])


def _json(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.dictionaries(KEYS, children, max_size=3),
        st.lists(children, max_size=3),
        st.builds(
            lambda d, p: {**d, ".priority": p},
            st.dictionaries(KEYS, children, max_size=3),
            _PRIORITIES,
        ),
        st.builds(lambda v, p: {".value": v, ".priority": p}, _SCALARS, _PRIORITIES),
    )


VALUES = st.recursive(st.one_of(_SCALARS, _SERVER_VALUES), _json, max_leaves=8)


@st.composite
def writes(draw: st.DrawFn) -> tuple[str, list[tuple[Path, Any]]]:
    """A set (one path) or a multi-path update (paths where none is an ancestor of another)."""
    if draw(st.integers(0, 2)) == 0:
        ops: list[tuple[Path, Any]] = []
        for path, value in draw(st.lists(st.tuples(PATHS, VALUES), min_size=1, max_size=4)):
            if path and not any(
                old[: len(path)] == path or path[: len(old)] == old for old, _ in ops
            ):
                ops.append((path, value))
        if ops:
            return "update", ops
    return "set", [(draw(PATHS), draw(VALUES))]


SESSIONS = st.lists(st.lists(writes(), max_size=8), min_size=1, max_size=3)


# --- driving the server's pieces --------------------------------------------------------------


def _request(kind: str, ops: list[tuple[Path, Any]]) -> WriteRequest:
    set_ops = []
    has_server_values = False
    for path, raw in ops:
        written = normalize(raw, path)
        has_server_values = has_server_values or written.has_server_values
        set_ops.append(SetOp(path, written.value))
    del kind  # a set is one op, an update several: the database treats both alike
    return WriteRequest(set_ops, has_server_values)


async def _session(file: FsPath, batches: list[list[tuple[str, list[tuple[Path, Any]]]]]) -> Any:
    """Open the store, apply each batch of writes (all queued at once), close; the final root."""
    db = Database(Store(file), Hub(), clock_ms=lambda: NOW_MS)
    await db.start()
    try:
        for batch in batches:
            await asyncio.gather(*(db.write(_request(kind, ops)) for kind, ops in batch))
        return db.root
    finally:
        await db.close()


def _load(file: FsPath) -> Any:
    store = Store(file)
    try:
        return store.load()
    finally:
        store.close()


def _apply_reference(tree: Any, kind: str, ops: list[tuple[Path, Any]]) -> Any:
    before = tree
    for path, raw in ops:
        value = ref_resolve(normalize(raw, path).value, raw, path, before)
        tree = ref_set(tree, path, value)
    return tree


def _split(writes_: list[Any], cuts: list[int]) -> list[list[Any]]:
    batches, start = [], 0
    for cut in sorted(set(cuts)):
        if start < cut < len(writes_):
            batches.append(writes_[start:cut])
            start = cut
    batches.append(writes_[start:])
    return [batch for batch in batches if batch]


@settings(max_examples=150, deadline=None)
@given(sessions=SESSIONS, cuts=st.lists(st.integers(0, 8), max_size=3))
@example(  # a leaf becomes an object, then its last child goes: the old leaf must not come back
    sessions=[
        [("set", [(("a",), 1)]), ("set", [(("a",), {"x": 2})]), ("set", [(("a", "x"), None)])]
    ],
    cuts=[1, 2],
)
@example(  # deleting the last child of an object with a priority drops the priority too
    sessions=[[("set", [(("a",), {"b": 1, ".priority": 3})]), ("set", [(("a", "b"), None)])]],
    cuts=[],
)
def test_writes_replay_from_the_store(
    sessions: list[list[tuple[str, list[tuple[Path, Any]]]]], cuts: list[int]
) -> None:
    expected: Any = None
    with tempfile.TemporaryDirectory() as tmp:
        file = FsPath(tmp) / "store.sqlite"
        for session in sessions:
            for kind, ops in session:
                expected = _apply_reference(expected, kind, ops)
            live = asyncio.run(_session(file, _split(session, cuts)))
            assert live == expected, "the live tree differs from the reference"
            assert _load(file) == expected, "the reopened store differs from the reference"


def test_reference_model_examples() -> None:
    """The reference model itself, on the rules it encodes."""
    tree = ref_set(None, ("a", "b"), 1)
    assert tree == {"a": {"b": 1}}
    assert ref_set(tree, ("a", "b", "c"), 2) == {"a": {"b": {"c": 2}}}
    assert ref_set(tree, ("a", "b"), None) is None
    assert ref_set({"a": 1}, ("a", "b"), None) == {"a": 1}
    assert ref_set({"a": {"b": 1, ".priority": 2}, "c": 1}, ("a", "b"), None) == {"c": 1}
    assert tree == {"a": {"b": 1}}
    raw = {"n": {".sv": {"increment": 2}}, "t": [{".sv": "timestamp"}]}
    resolved = ref_resolve(normalize(raw).value, raw, (), {"n": 3})
    assert resolved == {"n": 5, "t": {"0": NOW_MS}}
