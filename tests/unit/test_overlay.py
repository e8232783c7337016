"""overlay_get: the tree as a write would leave it, read without changing the tree."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from desktop_chat.core.paths import Path
from desktop_chat.core.tree import get, overlay_get, set_in
from desktop_chat.core.values import Node, normalize

_KEYS = st.sampled_from(["a", "b", "c"])
_PATHS = st.lists(_KEYS, min_size=1, max_size=3).map(tuple)
_LEAVES = st.one_of(st.none(), st.integers(0, 3), st.sampled_from(["s", True]))
_VALUES = st.recursive(
    _LEAVES, lambda inner: st.dictionaries(_KEYS, inner, min_size=1, max_size=3), max_leaves=6
).map(lambda value: normalize(value).value)  # stored form: no nulls or empty objects inside


def _tree(ops: list[tuple[Path, Node]]) -> Node:
    root: Node = None
    for path, value in ops:
        root = set_in(root, path, copy.deepcopy(value)).root
    return root


@given(
    st.lists(st.tuples(_PATHS, _VALUES), max_size=5),
    st.lists(st.tuples(_PATHS, _VALUES), max_size=3),
    st.lists(_KEYS, max_size=4).map(tuple),
)
def test_overlay_equals_applying_the_writes(
    seed: list[tuple[Path, Node]], writes: list[tuple[Path, Node]], probe: Path
) -> None:
    # Writes of one update never overlap: keep the first of any pair where one is under another.
    kept: list[tuple[Path, Node]] = []
    for path, value in writes:
        if all(path[: len(p)] != p and p[: len(path)] != path for p, _ in kept):
            kept.append((path, value))
    root = _tree(seed)
    before = copy.deepcopy(root)
    expected = _tree([*seed, *kept])
    assert overlay_get(root, kept, probe) == get(expected, probe)
    assert root == before  # the tree itself is untouched


def test_overlay_prunes_emptied_parents() -> None:
    root = {"a": {"b": 1}, "x": 1}
    assert overlay_get(root, [(("a", "b"), None)], ()) == {"x": 1}
    assert overlay_get(root, [(("a", "b"), None)], ("a",)) is None
    assert root == {"a": {"b": 1}, "x": 1}
