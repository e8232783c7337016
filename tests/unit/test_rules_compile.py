"""The generated rule functions agree with the closure evaluator on random expressions."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop_chat.server.rules_compile import compile_rule
from desktop_chat.server.rules_eval import WRITE_VARIABLES, Ctx, compile_closures
from desktop_chat.server.rules_parser import RulesError
from desktop_chat.server.rules_values import UNLOADED, AfterTree, Snapshot, plain_view

VARIABLES = WRITE_VARIABLES | {"$w"}

ATOMS = st.sampled_from(
    [
        "1",
        "0",
        "2.5",
        "1e999",
        "-3",
        "true",
        "false",
        "null",
        "'a'",
        "'_'",
        "''",
        "'é😀'",
        "auth",
        "now",
        "$w",
        "data",
        "newData",
        "root",
        "auth.uid",
        "data.val()",
        "newData.val()",
        "newData.child('a').val()",
        "data.child('a/b').val()",
    ]
)
POSTFIX = st.sampled_from(
    [
        ".uid",
        ".length",
        ".a",
        ".val()",
        ".child('a')",
        ".child('a/b')",
        ".child($w)",
        ".child('a.b')",
        ".child(1)",
        ".exists()",
        ".parent()",
        ".hasChild('a')",
        ".hasChild('b/c')",
        ".hasChildren()",
        ".hasChildren(['a', 'b'])",
        ".hasChildren([])",
        ".hasChildren(['a', $w])",
        ".hasChildren(['a', 1])",
        ".isString()",
        ".isNumber()",
        ".isBoolean()",
        ".numChildren()",
        ".getPriority()",
        ".beginsWith('a')",
        ".endsWith($w)",
        ".contains('b')",
        ".replace('a', 'b')",
        ".toLowerCase()",
        ".toUpperCase()",
        ".matches(/^a.*$/)",
        ".matches(/B/i)",
        ".child('a').exists()",
    ]
)
BINARY = st.sampled_from(
    ["==", "===", "!=", "!==", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "&&", "||"]
)


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, POSTFIX).map(lambda p: f"({p[0]}){p[1]}"),
        st.tuples(st.sampled_from(["!", "-"]), inner).map(lambda p: f"{p[0]}({p[1]})"),
        st.tuples(inner, BINARY, inner).map(lambda p: f"({p[0]}) {p[1]} ({p[2]})"),
        st.tuples(inner, BINARY, ATOMS).map(lambda p: f"({p[0]}) {p[1]} {p[2]}"),
        st.tuples(ATOMS, BINARY, inner).map(lambda p: f"{p[0]} {p[1]} ({p[2]})"),
        st.tuples(inner, inner, inner).map(lambda p: f"({p[0]}) ? ({p[1]}) : ({p[2]})"),
        st.tuples(inner, inner).map(lambda p: f"({p[0]}) && ({p[1]}) && ({p[0]})"),
    )


EXPRESSIONS = st.recursive(
    st.tuples(ATOMS, POSTFIX).map(lambda p: f"({p[0]}){p[1]}") | ATOMS, _extend, max_leaves=12
)
LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.5, "a", "ab", "B", "a_b"])
)
TREES = st.recursive(
    LEAVES,
    lambda inner: (
        st.dictionaries(st.sampled_from(["a", "b", "c", "x"]), inner, max_size=3)
        | st.fixed_dictionaries({".value": LEAVES, ".priority": st.integers(0, 2)})
    ),
    max_leaves=8,
)
AUTHS = st.sampled_from([None, {"uid": "a"}, {"uid": "a_b"}, {"uid": 1}, {"token": {}}])


def _ctx(root: Any, new: Any, auth: Any, wild: str, loaded: bool, errors: list[str]) -> Ctx:
    path = ("x", "a")
    before, after = plain_view(root), AfterTree(root, [(path, new)])
    old_node = before(path) if loaded else UNLOADED
    new_node = after(path) if loaded else UNLOADED
    data, new_data = Snapshot(before, path, old_node), Snapshot(after, path, new_node)
    return Ctx(auth, 5, Snapshot(before, ()), data, new_data, None, {"$w": wild}, errors)


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    source=EXPRESSIONS,
    root=TREES,
    new=TREES,
    auth=AUTHS,
    wild=st.sampled_from(["a", "b", "a_b", "A"]),
    loaded=st.booleans(),
)
def test_generated_rules_match_closures(
    source: str, root: Any, new: Any, auth: Any, wild: str, loaded: bool
) -> None:
    try:
        expected_rule = compile_closures(source, "/r", VARIABLES)
    except RulesError as exc:
        try:
            compile_rule(source, "/r", VARIABLES)
        except RulesError as other:
            assert str(other) == str(exc)
            return
        raise AssertionError(f"compiled {source!r}; the closure compiler said {exc}") from None
    rule = compile_rule(source, "/r", VARIABLES)
    tree = {"x": root}
    expected_errors: list[str] = []
    expected = expected_rule(_ctx(tree, new, auth, wild, loaded, expected_errors))
    errors: list[str] = []
    assert rule(_ctx(tree, new, auth, wild, loaded, errors)) is expected, source
    assert errors == expected_errors, source


def test_too_deep_for_python_falls_back_to_closures() -> None:
    source = " + ".join(["1"] * 400) + " > 0"
    rule = compile_rule(source, "/r", VARIABLES)
    errors: list[str] = []
    assert rule(_ctx({}, None, None, "a", True, errors)) is True
    assert errors == []


def test_literal_strings_are_embedded_safely() -> None:
    source = "newData.val() === '\\')) or __import__(\\'os\\') or ((\\''"
    rule = compile_rule(source, "/r", VARIABLES)
    errors: list[str] = []
    assert rule(_ctx({}, "x", None, "a", True, errors)) is False
    assert errors == []
