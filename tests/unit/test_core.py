"""Unit tests for the core: keys and paths, value normalising and rendering, set_in, push IDs."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_chat.core.errors import InvalidDataError, InvalidPathError
from desktop_chat.core.paths import (
    MAX_DEPTH,
    MAX_KEY_BYTES,
    PUSH_CHARS,
    PushIdGenerator,
    check_key,
    is_prefix,
    join,
    parse_path,
    push_id_time,
    relative,
)
from desktop_chat.core.tree import get, iter_leaves, set_in
from desktop_chat.core.values import (
    NULL_ETAG,
    ServerValue,
    etag,
    normalize,
    render,
    resolve_server_values,
)

# --- paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["a", "A-z_09", "-", "ü", "é" * 10, "😀", "x y", "\x80", "0", "-1", "~!@%^&*()"]
)
def test_valid_keys(key: str) -> None:
    check_key(key)


@pytest.mark.parametrize("char", [".", "$", "#", "[", "]", "/", "\x00", "\x1f", "\n", "\x7f"])
@pytest.mark.parametrize("where", ["alone", "start", "middle", "end"])
def test_forbidden_characters(char: str, where: str) -> None:
    key = {"alone": char, "start": char + "ab", "middle": "a" + char + "b", "end": "ab" + char}
    with pytest.raises(InvalidPathError):
        check_key(key[where])


@pytest.mark.parametrize("code", [*range(0x20), 0x7F])
def test_every_control_character_is_refused(code: int) -> None:
    with pytest.raises(InvalidPathError):
        check_key(f"a{chr(code)}b")


def test_empty_key_is_refused() -> None:
    with pytest.raises(InvalidPathError):
        check_key("")


@pytest.mark.parametrize(
    ("unit", "count"),
    [("a", MAX_KEY_BYTES), ("é", MAX_KEY_BYTES // 2), ("€", MAX_KEY_BYTES // 3)],
)
def test_key_of_exactly_768_bytes_is_accepted(unit: str, count: int) -> None:
    key = unit * count
    assert len(key.encode()) == MAX_KEY_BYTES
    check_key(key)
    with pytest.raises(InvalidPathError):
        check_key(key + "a")


def test_key_limit_counts_bytes_not_characters() -> None:
    four_byte = "😀" * (MAX_KEY_BYTES // 4)  # 192 characters, 768 bytes
    check_key(four_byte)
    with pytest.raises(InvalidPathError):
        check_key(four_byte + "😀")  # 193 characters, 772 bytes
    with pytest.raises(InvalidPathError):
        check_key("é" * 385)  # 385 characters, 770 bytes


def test_parse_path_forms() -> None:
    assert parse_path("/") == ()
    assert parse_path("") == ()
    assert parse_path("a/b") == ("a", "b")
    assert parse_path("/a//b/") == ("a", "b")
    with pytest.raises(InvalidPathError):
        parse_path("a/b.c")
    with pytest.raises(InvalidPathError):
        parse_path("a/" + "x" * (MAX_KEY_BYTES + 1))


def test_path_depth_limit() -> None:
    deepest = "/".join(f"k{i}" for i in range(MAX_DEPTH))
    assert len(parse_path(deepest)) == MAX_DEPTH
    with pytest.raises(InvalidPathError):
        parse_path(deepest + "/one-more")


def test_join_prefix_relative() -> None:
    assert join(()) == "/"
    assert join(("a", "b")) == "/a/b"
    assert is_prefix((), ("a",))
    assert is_prefix(("a",), ("a",))
    assert is_prefix(("a",), ("a", "b"))
    assert not is_prefix(("a", "b"), ("a",))
    assert not is_prefix(("a",), ("ab",))
    assert relative(("a",), ("a", "b", "c")) == ("b", "c")
    assert relative(("a",), ("a",)) == ()
    with pytest.raises(InvalidPathError):
        relative(("x",), ("a", "b"))


# --- values: normalize ------------------------------------------------------------------------


def test_normalize_scalars() -> None:
    for value in (None, True, False, 0, -5, 2**60, 1.5, "", "text"):
        assert normalize(value).value == value
    assert not normalize("x").has_server_values


def test_integral_floats_become_ints() -> None:
    assert normalize(3.0).value == 3
    assert type(normalize(3.0).value) is int
    assert type(normalize(-0.0).value) is int
    assert type(normalize({"a": 2.0}).value["a"]) is int
    assert normalize(2.5).value == 2.5
    big = float(2**60)  # beyond 2**53: stays a float, as it cannot be exact
    assert type(normalize(big).value) is float


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused(bad: float) -> None:
    with pytest.raises(InvalidDataError):
        normalize({"a": bad})


def test_arrays_become_index_objects() -> None:
    assert normalize([1, 2, 3]).value == {"0": 1, "1": 2, "2": 3}
    assert normalize(["a", None, "c"]).value == {"0": "a", "2": "c"}
    assert normalize({"l": [[1], [2, 3]]}).value == {"l": {"0": {"0": 1}, "1": {"0": 2, "1": 3}}}
    assert normalize([]).value is None
    assert normalize([None, None]).value is None


def test_empty_objects_and_nulls_disappear() -> None:
    assert normalize({}).value is None
    assert normalize({"a": {}, "b": None, "c": {"d": {}}}).value is None
    assert normalize({"a": {}, "b": 1}).value == {"b": 1}
    assert normalize({"a": {"b": {"c": None}}, "x": [None, {}]}).value is None


def test_keys_inside_values_are_checked() -> None:
    for bad in ("a.b", "$x", "#", "[", "]", "a/b", "\x01", "x" * 769, ""):
        with pytest.raises(InvalidDataError):
            normalize({"ok": {bad: 1}})


def test_unsupported_types_are_refused() -> None:
    with pytest.raises(InvalidDataError):
        normalize({"a": object()})
    with pytest.raises(InvalidDataError):
        normalize({"a": (1, 2)})


def test_server_value_placeholders() -> None:
    written = normalize({"t": {".sv": "timestamp"}, "n": {".sv": {"increment": 2}}})
    assert written.has_server_values
    assert written.value == {"t": ServerValue("timestamp"), "n": ServerValue("increment", 2)}
    assert normalize({".sv": {"increment": -1.5}}).value == ServerValue("increment", -1.5)


@pytest.mark.parametrize(
    "spec",
    [
        "now",
        "Timestamp",
        None,
        1,
        {"increment": "1"},
        {"increment": True},
        {"increment": None},
        {"increment": 1, "extra": 2},
        {"decrement": 1},
        {},
        ["timestamp"],
    ],
)
def test_unknown_server_values_are_refused(spec: Any) -> None:
    with pytest.raises(InvalidDataError):
        normalize({"a": {".sv": spec}})


def test_server_value_must_stand_alone() -> None:
    with pytest.raises(InvalidDataError):
        normalize({".sv": "timestamp", "other": 1})
    with pytest.raises(InvalidDataError):
        normalize({"a": {".sv": "timestamp", ".priority": 1}})


def test_priority_and_value_forms() -> None:
    assert normalize({".value": 5}).value == 5
    assert normalize({".value": 5, ".priority": 1}).value == {".value": 5, ".priority": 1}
    assert normalize({".value": {"a": 1}, ".priority": "p"}).value == {"a": 1, ".priority": "p"}
    assert normalize({"a": 1, ".priority": 2.5}).value == {"a": 1, ".priority": 2.5}
    assert normalize({".value": None, ".priority": 1}).value is None
    assert normalize({".priority": 1}).value is None  # a priority alone is no value
    assert normalize({".value": 5, ".priority": None}).value == 5
    with pytest.raises(InvalidDataError):
        normalize({".value": 1, "x": 2})
    for bad in (True, [1], {"a": 1}):
        with pytest.raises(InvalidDataError):
            normalize({"a": 1, ".priority": bad})


def _nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for index in range(depth):
        value = {f"k{index}": value}
    return value


def test_value_depth_limit() -> None:
    assert normalize(_nested(MAX_DEPTH)).value is not None  # leaf at depth 32
    with pytest.raises(InvalidDataError):
        normalize(_nested(MAX_DEPTH + 1))
    base = tuple(f"p{i}" for i in range(10))
    assert normalize(_nested(MAX_DEPTH - 10), base).value is not None
    with pytest.raises(InvalidDataError):
        normalize(_nested(MAX_DEPTH - 9), base)
    with pytest.raises(InvalidDataError):
        normalize([_nested(MAX_DEPTH)])  # arrays count as a level too


def test_value_written_below_the_depth_limit_is_refused() -> None:
    """A value (even a scalar) written at a location deeper than 32 levels cannot be stored."""
    too_deep = tuple(f"p{i}" for i in range(MAX_DEPTH + 1))
    with pytest.raises((InvalidDataError, InvalidPathError)):
        normalize("scalar", too_deep)


# --- values: render and etag ------------------------------------------------------------------


def test_render_arrays_rule() -> None:
    assert render({"0": "a", "1": "b"}) == ["a", "b"]
    assert render({"0": "a", "2": "c"}) == ["a", None, "c"]  # max 2 < 2 * 2 keys
    assert render({"0": "a", "3": "d"}) == ["a", None, None, "d"]  # max 3 < 2 * 2 keys
    assert render({"0": "a", "4": "e"}) == {"0": "a", "4": "e"}  # max 4 >= 2 * 2 keys
    assert render({"1": "b"}) == [None, "b"]  # max 1 < 2 * 1
    assert render({"2": "c"}) == {"2": "c"}  # max 2 >= 2 * 1
    assert render({"0": "a"}) == ["a"]
    assert render({"00": "a", "1": "b"}) == {"00": "a", "1": "b"}  # leading zero: not an index
    assert render({"-1": "a", "0": "b"}) == {"-1": "a", "0": "b"}
    assert render({"0": "a", "x": "b"}) == {"0": "a", "x": "b"}
    assert render({"a": {"0": 1, "1": {"0": 2}}}) == {"a": [1, [2]]}


def test_render_drops_priorities_and_export_keeps_them() -> None:
    node = {"a": {".value": 1, ".priority": 2}, "b": {"c": 3, ".priority": "p"}, ".priority": 9}
    assert render(node) == {"a": 1, "b": {"c": 3}}
    assert render(node, export=True) == node
    assert render({".value": "x", ".priority": 1}) == "x"
    # an index object with a priority stays an object in export form
    indexed = {"0": "a", "1": "b", ".priority": 1}
    assert render(indexed) == ["a", "b"]
    assert render(indexed, export=True) == indexed


def test_render_round_trips_normalize() -> None:
    raw = {"list": ["x", "y"], "obj": {"k": 1.5, "n": None}, "s": "t"}
    assert render(normalize(raw).value) == {"list": ["x", "y"], "obj": {"k": 1.5}, "s": "t"}


def test_etag() -> None:
    assert etag(None) == NULL_ETAG
    assert etag({"a": 1, "b": 2}) == etag({"b": 2, "a": 1})
    assert etag({"a": 1}) != etag({"a": 2})
    assert etag({"a": 1}) != etag({"a": 1, ".priority": 1})
    assert etag(1) != etag("1")


def test_resolve_server_values() -> None:
    stored = {"n": 5, "p": {".value": 2, ".priority": 1}, "s": "x"}

    def current(path: tuple[str, ...]) -> Any:
        return get(stored, path)

    node = {
        "n": ServerValue("increment", 2),
        "p": ServerValue("increment", 1),
        "s": ServerValue("increment", 3),
        "new": ServerValue("increment", 4),
        "t": ServerValue("timestamp"),
        "f": ServerValue("increment", 0.5),
    }
    resolved = resolve_server_values(node, (), current, 1234)
    assert resolved == {"n": 7, "p": 3, "s": 3, "new": 4, "t": 1234, "f": 0.5}
    assert resolve_server_values(ServerValue("timestamp"), ("a",), current, 99) == 99


# --- tree.set_in ------------------------------------------------------------------------------


def test_set_in_replaces_a_leaf_with_an_object() -> None:
    root = {"a": 1}
    replaced = set_in(root, ("a", "b", "c"), 2)
    assert replaced.root == {"a": {"b": {"c": 2}}}
    assert replaced.path == ("a",)
    assert replaced.old == 1
    leaf_priority = {"a": {".value": 1, ".priority": 5}}
    replaced = set_in(leaf_priority, ("a", "x"), 3)
    assert replaced.root == {"a": {"x": 3}}
    assert replaced.path == ("a",)
    assert replaced.old == {".value": 1, ".priority": 5}


def test_set_in_below_a_scalar_root() -> None:
    replaced = set_in(7, ("a",), 1)
    assert replaced.root == {"a": 1}
    assert replaced.path == ()
    assert replaced.old == 7
    replaced = set_in(7, ("a",), None)  # deleting below a leaf changes nothing
    assert replaced.root == 7
    assert replaced.old is None


def test_set_in_on_an_empty_tree() -> None:
    replaced = set_in(None, ("a", "b"), 1)
    assert replaced.root == {"a": {"b": 1}}
    assert replaced.old is None
    assert set_in(None, (), 5).root == 5
    assert set_in({"a": 1}, (), None).root is None


def test_set_in_prunes_empty_parents() -> None:
    root = {"a": {"b": {"c": 1}}, "x": 1}
    replaced = set_in(root, ("a", "b", "c"), None)
    assert replaced.root == {"x": 1}
    assert replaced.path == ("a",)  # cut at the highest parent left empty, kept whole for undo
    assert replaced.old == {"b": {"c": 1}}
    assert set_in({"a": {"b": 1}}, ("a", "b"), None).root is None
    kept = set_in({"a": {"b": 1, "c": 2}}, ("a", "b"), None).root
    assert kept == {"a": {"c": 2}}


def test_set_in_prunes_parents_left_with_only_a_priority() -> None:
    root = {"a": {"b": 1, ".priority": 3}, "x": 1}
    assert set_in(root, ("a", "b"), None).root == {"x": 1}
    assert set_in({"b": 1, ".priority": 3}, ("b",), None).root is None


def test_set_in_deleting_what_is_absent_changes_nothing() -> None:
    root = {"a": {"b": 1}}
    replaced = set_in(root, ("a", "zz"), None)
    assert replaced.root == {"a": {"b": 1}}
    assert replaced.old is None
    replaced = set_in(root, ("q", "r"), None)
    assert replaced.root == {"a": {"b": 1}}
    assert replaced.old is None


def test_set_in_old_value_is_detached() -> None:
    root = {"a": {"b": {"c": 1}}}
    replaced = set_in(root, ("a",), {"z": 2})
    assert replaced.old == {"b": {"c": 1}}
    set_in(replaced.root, ("a", "z"), None)
    assert replaced.old == {"b": {"c": 1}}


_KEYS = st.sampled_from(["a", "b", "c", "0"])
_LEAVES = st.one_of(st.integers(-3, 3), st.sampled_from(["s", True, False]))
_TREES = st.recursive(
    _LEAVES,
    lambda children: st.dictionaries(_KEYS, children, min_size=1, max_size=3),
    max_leaves=10,
)
_PATHS = st.lists(_KEYS, max_size=4).map(tuple)


@settings(max_examples=300, deadline=None)
@given(
    tree=st.one_of(st.none(), _TREES),
    path=_PATHS,
    value=st.one_of(st.none(), _TREES),
)
def test_set_in_then_undo_restores_the_tree(tree: Any, path: tuple[str, ...], value: Any) -> None:
    original = copy.deepcopy(tree)
    replaced = set_in(tree, path, copy.deepcopy(value))
    assert get(replaced.root, path) == value
    undone = set_in(replaced.root, replaced.path, replaced.old)
    assert undone.root == original


def test_set_in_undo_restores_a_pruned_priority() -> None:
    """Deleting the last child of an object with a priority prunes it; undo must bring it back."""
    original = {"a": {"b": 1, ".priority": 3}, "x": 1}
    replaced = set_in(copy.deepcopy(original), ("a", "b"), None)
    assert replaced.root == {"x": 1}
    undone = set_in(replaced.root, replaced.path, replaced.old)
    assert undone.root == original


def test_iter_leaves() -> None:
    node = {"a": {"b": 1, "c": {".value": "x", ".priority": 2}}, "d": True}
    assert dict(iter_leaves(node, ())) == {
        "a/b": b"1",
        "a/c/.value": b'"x"',
        "a/c/.priority": b"2",
        "d": b"true",
    }
    assert dict(iter_leaves(node, ("p", "q"))) == {
        "p/q/a/b": b"1",
        "p/q/a/c/.value": b'"x"',
        "p/q/a/c/.priority": b"2",
        "p/q/d": b"true",
    }
    assert list(iter_leaves(5, ("z",))) == [("z", b"5")]
    assert list(iter_leaves(5, ())) == [("", b"5")]
    assert list(iter_leaves(None, ("z",))) == []


# --- push IDs ---------------------------------------------------------------------------------


def test_push_id_shape_and_time_prefix() -> None:
    now = 1_700_000_000_123
    generator = PushIdGenerator(clock_ms=lambda: now, random_bits=lambda bits: 12345)
    push_id = generator()
    assert len(push_id) == 20
    assert set(push_id) <= set(PUSH_CHARS)
    assert push_id_time(push_id) == now
    stamp = ""
    rest = now
    for _ in range(8):
        stamp = PUSH_CHARS[rest % 64] + stamp
        rest //= 64
    assert push_id[:8] == stamp


def test_push_chars_are_in_ascii_order() -> None:
    assert list(PUSH_CHARS) == sorted(PUSH_CHARS)
    assert len(PUSH_CHARS) == 64


def test_push_ids_rise_strictly_within_one_millisecond() -> None:
    generator = PushIdGenerator(clock_ms=lambda: 1000, random_bits=lambda bits: 2**40)
    ids = [generator() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {push_id_time(push_id) for push_id in ids} == {1000}


def test_push_ids_rise_when_the_clock_goes_back() -> None:
    times = iter([5000, 5000, 4000, 4999, 6000, 6000])
    generator = PushIdGenerator(clock_ms=lambda: next(times), random_bits=lambda bits: 7)
    ids = [generator() for _ in range(6)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 6
    assert [push_id_time(push_id) for push_id in ids] == [5000] * 4 + [6000] * 2


def test_push_id_random_part_carries() -> None:
    generator = PushIdGenerator(clock_ms=lambda: 1, random_bits=lambda bits: 64 * 5 + 63)
    first = generator()
    second = generator()
    assert first[8:] == "-" * 10 + PUSH_CHARS[5] + "z"
    assert second[8:] == "-" * 10 + PUSH_CHARS[6] + "-"
    assert first < second


def test_push_id_random_part_full_rollover_keeps_rising() -> None:
    generator = PushIdGenerator(clock_ms=lambda: 1, random_bits=lambda bits: 2**bits - 1)
    first = generator()
    assert first[8:] == "z" * 12
    second = generator()
    assert second > first
    third = generator()
    assert third > second


def test_push_ids_from_later_milliseconds_sort_later() -> None:
    clock = iter(range(10, 10_000, 7))
    generator = PushIdGenerator(clock_ms=lambda: next(clock), random_bits=lambda bits: 2**bits - 1)
    ids = [generator() for _ in range(200)]
    assert ids == sorted(ids)


def test_push_id_time_rejects_non_ids() -> None:
    for bad in ("short", "x" * 21, "!" * 20):
        with pytest.raises(ValueError, match="push id"):
            push_id_time(bad)
