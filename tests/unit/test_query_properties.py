"""Property tests: query answers match a plain reference implementation of Firebase ordering."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from desktop_chat.core.query import parse_query
from desktop_chat.core.values import normalize

# --- the reference ----------------------------------------------------------------------------
# Written from Firebase's documented ordering; where the documentation is loose, the details
# follow Firebase's own SDKs (ChildKey.compareTo and Utilities.tryParseInt in the Java SDK,
# nameCompare/tryParseInt in the JS SDK), since clients sort with them and the server's limits
# must cut the same list:
# - a key is an "integer key" when it is an optional "-" then at most 10 digits (11 characters
#   at most, leading zeros allowed) and its value fits in 32 bits; integer keys come first, by
#   value, equal values ("1", "01") by length; then all other keys as strings;
# - strings compare by UTF-16 code units (Java's String.compareTo, JavaScript's <).


def _cmp(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


def _cmp_strings(a: str, b: str) -> int:
    return _cmp(_utf16(a), _utf16(b))


def _int_key(key: str) -> int | None:
    if not 0 < len(key) <= 11:
        return None
    digits = key[1:] if key.startswith("-") else key
    if not digits or any(char not in "0123456789" for char in digits):
        return None
    number = -int(digits) if key.startswith("-") else int(digits)
    return number if -(2**31) <= number <= 2**31 - 1 else None


def cmp_keys(a: str, b: str) -> int:
    int_a, int_b = _int_key(a), _int_key(b)
    if int_a is not None and int_b is not None:
        # Firebase ties "00" and "-0" (same value, same length); any fixed order will do.
        return _cmp(int_a, int_b) or _cmp(len(a), len(b)) or _cmp(a, b)
    if int_a is not None:
        return -1
    if int_b is not None:
        return 1
    return _cmp_strings(a, b)


def _rank(value: Any) -> int:
    if value is None:
        return 0
    if value is False:
        return 1
    if value is True:
        return 2
    if isinstance(value, int | float):
        return 3
    if isinstance(value, str):
        return 4
    return 5


def cmp_values(a: Any, b: Any) -> int:
    """null < false < true < numbers < strings < objects; objects all tie."""
    rank_a, rank_b = _rank(a), _rank(b)
    if rank_a != rank_b:
        return _cmp(rank_a, rank_b)
    if rank_a == 3:
        return _cmp(a, b)
    if rank_a == 4:
        return _cmp_strings(a, b)
    return 0


def cmp_priorities(a: Any, b: Any) -> int:
    """No priority first, then numbers, then strings."""

    def rank(priority: Any) -> int:
        return 0 if priority is None else 2 if isinstance(priority, str) else 1

    if rank(a) != rank(b):
        return _cmp(rank(a), rank(b))
    if isinstance(a, str):
        return _cmp_strings(a, b)
    if a is None:
        return 0
    return _cmp(a, b)


def _plain(node: Any) -> Any:
    """A stored node as the value it stands for: a leaf with a priority is its bare value."""
    if isinstance(node, dict) and ".value" in node:
        return node[".value"]
    return node


def _priority(node: Any) -> Any:
    return node.get(".priority") if isinstance(node, dict) else None


def _child_at(node: Any, path: list[str]) -> Any:
    for key in path:
        node = _plain(node)
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return _plain(node)


def reference(tree: Any, spec: dict[str, Any]) -> list[tuple[str, Any]]:
    """The children of *tree* that *spec* selects, in order."""
    if not isinstance(tree, dict) or ".value" in tree:
        return []
    order_by = spec["orderBy"]
    children = [(key, child) for key, child in tree.items() if key != ".priority"]
    index: Callable[[str, Any], Any]
    compare: Callable[[Any, Any], int]
    if order_by == "$key":
        index, compare = (lambda key, child: key), cmp_keys
    elif order_by == "$priority":
        index, compare = (lambda key, child: _priority(child)), cmp_priorities
    elif order_by == "$value":
        index, compare = (lambda key, child: _plain(child)), cmp_values
    else:
        path = [part for part in order_by.split("/") if part]
        index, compare = (lambda key, child: _child_at(child, path)), cmp_values

    def keep(key: str, child: Any) -> bool:
        value = index(key, child)
        checks: dict[str, Callable[[int], bool]] = {
            "startAt": lambda c: c >= 0,
            "startAfter": lambda c: c > 0,
            "endAt": lambda c: c <= 0,
            "endBefore": lambda c: c < 0,
            "equalTo": lambda c: c == 0,
        }
        return all(
            test(compare(value, spec[name])) for name, test in checks.items() if name in spec
        )

    def order(left: tuple[str, Any], right: tuple[str, Any]) -> int:
        by_index = compare(index(*left), index(*right))
        return by_index or cmp_keys(left[0], right[0])

    selected = sorted((item for item in children if keep(*item)), key=functools.cmp_to_key(order))
    if "limitToFirst" in spec:
        selected = selected[: spec["limitToFirst"]]
    if "limitToLast" in spec:
        count = spec["limitToLast"]
        selected = selected[-count:] if count else []
    return selected


# --- random trees and queries -----------------------------------------------------------------

_TRICKY_KEYS = [
    "0",
    "1",
    "2",
    "10",
    "-1",
    "-10",
    "007",
    "07",
    "00",
    "-0",
    "-007",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "00000000001",
    "000000000001",
    "1a",
    "a",
    "b",
    "B",
    "_",
    "-",
    "--",
    "~",
    "é",
    "\ufb01",
    "\uffee",
    "😀",
    "a😀",
    "a\uffee",
]
KEYS = st.one_of(
    st.sampled_from(_TRICKY_KEYS),
    st.text(alphabet="-_0123456789abAB", min_size=1, max_size=4),
)
_STRINGS = st.one_of(
    st.sampled_from(["", "a", "b", "B", "10", "9", "é", "\uffee", "😀", "\ufb01"]),
    st.text(alphabet="ab0-_ 😀\uffee", max_size=3),
)
_NUMBERS = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([2**31, -(2**31) - 1, 2**53, 1e300, -1e-300]),
    st.floats(-5, 5, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 1)),
)
SCALARS = st.one_of(st.booleans(), _NUMBERS, _STRINGS)
PRIORITIES = st.one_of(st.none(), _NUMBERS, _STRINGS)
CHILD_FIELDS = ["ts", "name", "nested"]
CHILD_PATHS = ["ts", "name", "nested/x", "nested/x/y", "missing", "/ts/", "-1", "0"]


@st.composite
def child_values(draw: st.DrawFn) -> Any:
    """One child: a scalar or an object with some of the fields orderBy child reads."""
    kind = draw(st.sampled_from(["scalar", "object", "object", "object"]))
    if kind == "scalar":
        value: Any = draw(SCALARS)
    else:
        value = {}
        for field in CHILD_FIELDS:
            if draw(st.booleans()):
                value[field] = draw(
                    st.one_of(
                        SCALARS,
                        st.fixed_dictionaries({"x": st.one_of(SCALARS, st.just({"y": 1}))}),
                        st.just({"other": 1}),
                    )
                )
        for key in draw(st.lists(st.sampled_from(["-1", "0", "z"]), max_size=2)):
            value[key] = draw(SCALARS)
        if not value:
            value = {"z": 0}
    priority = draw(PRIORITIES)
    if priority is not None:
        if isinstance(value, dict):
            value = {**value, ".priority": priority}
        else:
            value = {".value": value, ".priority": priority}
    return value


TREES = st.dictionaries(KEYS, child_values(), max_size=12).map(lambda raw: normalize(raw).value)


@st.composite
def query_specs(draw: st.DrawFn) -> dict[str, Any]:
    order_by = draw(st.sampled_from(["$key", "$value", "$priority", "child"]))
    if order_by == "child":
        order_by = draw(st.sampled_from(CHILD_PATHS))
    if order_by == "$key":
        bounds: st.SearchStrategy[Any] = KEYS
    elif order_by == "$priority":
        bounds = PRIORITIES
    else:
        bounds = st.one_of(st.none(), SCALARS)
    spec: dict[str, Any] = {"orderBy": order_by}
    if draw(st.integers(0, 3)) == 0:
        spec["equalTo"] = draw(bounds)
    else:
        for name in draw(
            st.lists(
                st.sampled_from(["startAt", "startAfter", "endAt", "endBefore"]),
                unique=True,
                max_size=2,
            )
        ):
            spec[name] = draw(bounds)
    limit = draw(st.sampled_from([None, "limitToFirst", "limitToLast"]))
    if limit is not None:
        spec[limit] = draw(st.integers(0, 6))
    return spec


def _params(spec: dict[str, Any]) -> dict[str, str]:
    return {name: orjson.dumps(value).decode() for name, value in spec.items()}


def _check(tree: Any, spec: dict[str, Any]) -> None:
    query = parse_query(_params(spec))
    assert query is not None
    expected = reference(tree, spec)
    assert [key for key, _ in query.ordered(tree)] == [key for key, _ in expected]
    assert query.apply(tree) == (dict(expected) or None)


# --- the properties ---------------------------------------------------------------------------


@settings(max_examples=600, deadline=None)
@given(tree=TREES, spec=query_specs())
@example(tree={"007": 1, "7": 1, "8": 1, "a": 1}, spec={"orderBy": "$key", "limitToFirst": 2})
@example(tree={"-0": 1, "0": 1, "1": 1}, spec={"orderBy": "$key", "endAt": "0"})
@example(tree={"\uffee": 1, "😀": 1}, spec={"orderBy": "$key", "limitToFirst": 1})
@example(tree={"a": "\uffee", "b": "😀"}, spec={"orderBy": "$value", "limitToLast": 1})
def test_query_matches_reference(tree: Any, spec: dict[str, Any]) -> None:
    _check(tree, spec)


@settings(max_examples=200, deadline=None)
@given(tree=TREES, order_by=st.sampled_from(["$key", "$value", "$priority", *CHILD_PATHS]))
def test_unfiltered_order_is_total_and_complete(tree: Any, order_by: str) -> None:
    """Without filters every child comes back once, in the reference order."""
    _check(tree, {"orderBy": order_by})


@settings(max_examples=200, deadline=None)
@given(tree=TREES, spec=query_specs(), count=st.integers(0, 6))
def test_limits_cut_the_ordered_list(tree: Any, spec: dict[str, Any], count: int) -> None:
    """limitToFirst/limitToLast are the ends of the unlimited answer, whatever the filters."""
    spec.pop("limitToFirst", None)
    spec.pop("limitToLast", None)
    full = parse_query(_params(spec))
    first = parse_query(_params({**spec, "limitToFirst": count}))
    last = parse_query(_params({**spec, "limitToLast": count}))
    assert full is not None and first is not None and last is not None
    everything = full.ordered(tree)
    assert first.ordered(tree) == everything[:count]
    assert last.ordered(tree) == (everything[-count:] if count else [])


def test_reference_examples() -> None:
    """The reference itself, on the documented ordering."""
    tree = normalize(
        {
            "k1": None,
            "k2": False,
            "k3": True,
            "k4": 2,
            "k5": 1.5,
            "k6": "b",
            "k7": "a",
            "k8": {"x": 1},
            "k0": {"y": 1},
        }
    ).value
    ordered = [key for key, _ in reference(tree, {"orderBy": "$value"})]
    assert ordered == ["k2", "k3", "k5", "k4", "k7", "k6", "k0", "k8"]
    keys = {key: 1 for key in ["b", "10", "-5", "a", "9", "2147483648", "007", "7"]}
    ordered = [key for key, _ in reference(keys, {"orderBy": "$key"})]
    assert ordered == ["-5", "7", "007", "9", "10", "2147483648", "a", "b"]
