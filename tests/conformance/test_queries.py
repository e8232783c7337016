"""firebase-admin queries: order_by_child / key / value with limits and range filters."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any

import pytest
from firebase_admin import db

PEOPLE: dict[str, dict[str, Any]] = {
    "alan": {"name": "Alan", "age": 41, "height": 1.78, "team": "red", "stats": {"score": 30}},
    "ada": {"name": "Ada", "age": 36, "height": 1.65, "team": "blue", "stats": {"score": 50}},
    "grace": {"name": "Grace", "age": 85, "height": 1.6, "team": "red", "stats": {"score": 50}},
    "linus": {"name": "Linus", "age": 54, "height": 1.8, "team": "green", "stats": {"score": 10}},
    "barbara": {"name": "Barbara", "age": 36, "height": 1.7, "team": "blue"},
    "edsger": {"name": "Edsger", "age": 72, "team": "green", "stats": {"score": 40}},
}

SCORES: dict[str, Any] = {
    "f": False,
    "t": True,
    "n": 2,
    "n2": -1.5,
    "big": 1e300,
    "s": "str",
    "s2": "abc",
    "o": {"x": 1},
    "tie1": 3,
    "tie2": 3,
}


@pytest.fixture
def people(root: db.Reference) -> db.Reference:
    ref = root.child("people")
    ref.set(PEOPLE)
    return ref


@pytest.fixture
def scores(root: db.Reference) -> db.Reference:
    ref = root.child("scores")
    ref.set(SCORES)
    return ref


def expect_people(result: Any, keys: list[str]) -> None:
    """*result* is an OrderedDict of exactly these people, in this order."""
    assert isinstance(result, OrderedDict), result
    assert list(result) == keys
    assert result == OrderedDict((key, PEOPLE[key]) for key in keys)


# --- order_by_child ---------------------------------------------------------------------------


def test_order_by_child_sorts_with_key_tiebreak(people: db.Reference) -> None:
    expect_people(
        people.order_by_child("age").get(),
        ["ada", "barbara", "alan", "linus", "edsger", "grace"],
    )


def test_order_by_child_limits(people: db.Reference) -> None:
    expect_people(people.order_by_child("age").limit_to_first(3).get(), ["ada", "barbara", "alan"])
    expect_people(people.order_by_child("age").limit_to_last(2).get(), ["edsger", "grace"])
    expect_people(
        people.order_by_child("age").limit_to_last(5).get(),
        ["barbara", "alan", "linus", "edsger", "grace"],
    )
    expect_people(
        people.order_by_child("age").limit_to_first(100).get(),
        ["ada", "barbara", "alan", "linus", "edsger", "grace"],
    )


def test_order_by_child_ranges(people: db.Reference) -> None:
    by_age = people.order_by_child
    expect_people(by_age("age").start_at(41).get(), ["alan", "linus", "edsger", "grace"])
    expect_people(by_age("age").end_at(54).get(), ["ada", "barbara", "alan", "linus"])
    expect_people(by_age("age").start_at(40).end_at(72).get(), ["alan", "linus", "edsger"])
    expect_people(by_age("age").start_at(36).limit_to_first(1).get(), ["ada"])
    expect_people(by_age("age").end_at(85).limit_to_last(2).get(), ["edsger", "grace"])
    assert not by_age("age").start_at(36.5).end_at(40.9).get()
    assert not by_age("age").start_at(100).get()


def test_order_by_child_equal_to(people: db.Reference) -> None:
    expect_people(people.order_by_child("age").equal_to(36).get(), ["ada", "barbara"])
    expect_people(people.order_by_child("age").equal_to(36).limit_to_last(1).get(), ["barbara"])
    expect_people(people.order_by_child("age").equal_to(36).limit_to_first(1).get(), ["ada"])
    expect_people(people.order_by_child("team").equal_to("red").get(), ["alan", "grace"])
    assert not people.order_by_child("team").equal_to("purple").get()
    assert not people.order_by_child("age").equal_to("36").get()  # a string is not a number


def test_order_by_child_strings(people: db.Reference) -> None:
    by_team = people.order_by_child("team")
    expect_people(by_team.get(), ["ada", "barbara", "edsger", "linus", "alan", "grace"])
    expect_people(
        people.order_by_child("team").start_at("green").get(), ["edsger", "linus", "alan", "grace"]
    )
    expect_people(people.order_by_child("team").end_at("blue").get(), ["ada", "barbara"])
    expect_people(
        people.order_by_child("team").start_at("c").end_at("q").get(), ["edsger", "linus"]
    )


def test_order_by_child_missing_values_come_first(people: db.Reference) -> None:
    expect_people(people.order_by_child("height").limit_to_first(2).get(), ["edsger", "grace"])
    expect_people(people.order_by_child("height").start_at(1.7).get(), ["barbara", "alan", "linus"])
    expect_people(people.order_by_child("nonexistent").limit_to_last(2).get(), ["grace", "linus"])


def test_order_by_nested_child(people: db.Reference) -> None:
    expect_people(
        people.order_by_child("stats/score").get(),
        ["barbara", "linus", "alan", "edsger", "ada", "grace"],
    )
    expect_people(people.order_by_child("stats/score").equal_to(50).get(), ["ada", "grace"])
    expect_people(
        people.order_by_child("stats/score").start_at(20).limit_to_first(2).get(),
        ["alan", "edsger"],
    )


# --- order_by_key -----------------------------------------------------------------------------


def test_order_by_key(people: db.Reference) -> None:
    all_keys = ["ada", "alan", "barbara", "edsger", "grace", "linus"]
    expect_people(people.order_by_key().get(), all_keys)
    expect_people(people.order_by_key().limit_to_first(2).get(), ["ada", "alan"])
    expect_people(people.order_by_key().limit_to_last(2).get(), ["grace", "linus"])
    expect_people(people.order_by_key().start_at("b").end_at("f").get(), ["barbara", "edsger"])
    expect_people(people.order_by_key().start_at("alan").get(), all_keys[1:])
    expect_people(people.order_by_key().end_at("alan").get(), ["ada", "alan"])
    expect_people(people.order_by_key().equal_to("grace").get(), ["grace"])
    expect_people(people.order_by_key().start_at("g").limit_to_first(1).get(), ["grace"])
    assert not people.order_by_key().equal_to("nobody").get()


def test_order_by_key_with_integer_keys_first(root: db.Reference) -> None:
    """Firebase orders keys that are 32-bit integers first, numerically, then the rest."""
    ref = root.child("mixed")
    ref.set({"1": "one", "2": "two", "10": "ten", "a": "A", "b": "B", "-3": "minus"})
    # firebase-admin sorts keys as plain strings on its side, so compare the chosen sets
    assert set(ref.order_by_key().limit_to_first(3).get()) == {"-3", "1", "2"}
    assert set(ref.order_by_key().limit_to_last(3).get()) == {"10", "a", "b"}
    assert set(ref.order_by_key().start_at("2").end_at("a").get()) == {"2", "10", "a"}


def test_order_by_key_on_push_ids_is_insertion_order(root: db.Reference) -> None:
    chat = root.child("chat")
    keys = [chat.push({"text": f"message {i}"}).key for i in range(6)]
    result = chat.order_by_key().limit_to_last(3).get()
    assert list(result) == keys[3:]
    result = chat.order_by_key().start_at(keys[1]).limit_to_first(2).get()
    assert list(result) == keys[1:3]


# --- order_by_value ---------------------------------------------------------------------------


def test_order_by_value_type_order(scores: db.Reference) -> None:
    result = scores.order_by_value().get()
    assert list(result) == ["f", "t", "n2", "n", "tie1", "tie2", "big", "s2", "s", "o"]
    assert result == OrderedDict((key, SCORES[key]) for key in result)


def test_order_by_value_limits_and_ranges(scores: db.Reference) -> None:
    def keys(query: db.Query) -> list[str]:
        result = query.get()
        return list(result) if result else []

    assert keys(scores.order_by_value().limit_to_first(3)) == ["f", "t", "n2"]
    assert keys(scores.order_by_value().limit_to_last(2)) == ["s", "o"]
    assert keys(scores.order_by_value().start_at(-10).end_at(10)) == ["n2", "n", "tie1", "tie2"]
    assert keys(scores.order_by_value().equal_to(3)) == ["tie1", "tie2"]
    assert keys(scores.order_by_value().equal_to(3).limit_to_first(1)) == ["tie1"]
    assert keys(scores.order_by_value().equal_to(True)) == ["t"]
    assert keys(scores.order_by_value().equal_to(False)) == ["f"]
    assert keys(scores.order_by_value().end_at(True)) == ["f", "t"]
    assert keys(scores.order_by_value().start_at("a").end_at("m")) == ["s2"]
    assert keys(scores.order_by_value().start_at(2).limit_to_first(2)) == ["n", "tie1"]


def test_query_on_missing_location_is_empty(root: db.Reference) -> None:
    assert not root.child("nothing").order_by_key().limit_to_first(2).get()
    assert not root.child("nothing").order_by_child("x").equal_to(1).get()


# --- against a model of Firebase's ordering ---------------------------------------------------


def _value_rank(value: Any) -> tuple[Any, ...]:
    if value is None:
        return (0,)
    if value is False:
        return (1,)
    if value is True:
        return (2,)
    if isinstance(value, int | float):
        return (3, value)
    if isinstance(value, str):
        return (4, value)
    return (5,)


def _key_rank(key: str) -> tuple[Any, ...]:
    try:
        number = int(key)
    except ValueError:
        return (1, key)
    if str(number) == key and -(2**31) <= number < 2**31:
        return (0, number)
    return (1, key)


def _child(value: Any, path: str) -> Any:
    for part in path.split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def model_query(data: dict[str, Any], order_by: str, params: dict[str, Any]) -> list[str]:
    """The keys a Firebase query selects, in Firebase's order (not firebase-admin's)."""

    def index(key: str) -> tuple[Any, ...]:
        if order_by == "$key":
            return _key_rank(key)
        return _value_rank(data[key] if order_by == "$value" else _child(data[key], order_by))

    def bound(value: Any) -> tuple[Any, ...]:
        return _key_rank(value) if order_by == "$key" else _value_rank(value)

    keys = sorted(data, key=lambda key: (index(key), _key_rank(key)))
    if "equal_to" in params:
        params = {**params, "start_at": params["equal_to"], "end_at": params["equal_to"]}
    if "start_at" in params:
        keys = [key for key in keys if index(key) >= bound(params["start_at"])]
    if "end_at" in params:
        keys = [key for key in keys if index(key) <= bound(params["end_at"])]
    if "limit_to_first" in params:
        keys = keys[: params["limit_to_first"]]
    if "limit_to_last" in params:
        keys = keys[max(0, len(keys) - params["limit_to_last"]) :]
    return keys


_RANGES: dict[str, list[dict[str, Any]]] = {
    "age": [
        {},
        {"start_at": 36},
        {"end_at": 41},
        {"start_at": 37, "end_at": 80},
        {"equal_to": 36},
        {"equal_to": 85},
        {"start_at": "a"},
    ],
    "stats/score": [{}, {"start_at": 30}, {"end_at": 40}, {"equal_to": 50}],
    "team": [{}, {"start_at": "green"}, {"end_at": "green"}, {"equal_to": "blue"}],
    "$key": [
        {},
        {"start_at": "b"},
        {"end_at": "grace"},
        {"start_at": "alan", "end_at": "linus"},
        {"equal_to": "ada"},
    ],
}
_LIMITS: list[dict[str, int]] = [
    {},
    {"limit_to_first": 1},
    {"limit_to_first": 4},
    {"limit_to_last": 1},
    {"limit_to_last": 3},
]


@pytest.mark.parametrize("order_by", list(_RANGES))
def test_queries_match_model(people: db.Reference, order_by: str) -> None:
    checked = 0
    for filters, limit in itertools.product(_RANGES[order_by], _LIMITS):
        params = {**filters, **limit}
        query = people.order_by_key() if order_by == "$key" else people.order_by_child(order_by)
        for name, value in params.items():
            query = getattr(query, name)(value)
        expected = model_query(PEOPLE, order_by, params)
        result = query.get()
        got = list(result) if result else []
        assert sorted(got) == sorted(expected), (order_by, params)
        if order_by != "$key":  # firebase-admin orders keys as plain strings, Firebase does not
            assert got == expected, (order_by, params)
        assert all(result[key] == PEOPLE[key] for key in got)
        checked += 1
    assert checked == len(_RANGES[order_by]) * len(_LIMITS)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"limit_to_first": 4},
        {"limit_to_last": 4},
        {"start_at": 2},
        {"end_at": "m"},
        {"start_at": False, "end_at": 3},
        {"equal_to": "str"},
    ],
    ids=repr,
)
def test_value_queries_match_model(scores: db.Reference, params: dict[str, Any]) -> None:
    query = scores.order_by_value()
    for name, value in params.items():
        query = getattr(query, name)(value)
    result = query.get()
    assert (list(result) if result else []) == model_query(SCORES, "$value", params)
