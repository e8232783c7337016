"""Unit tests for rule evaluation: variables, snapshots, methods, operators, and access checks."""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import pytest

from desktop_chat.core.paths import Path
from desktop_chat.core.query import Query
from desktop_chat.server.rules import RuleSet
from desktop_chat.server.rules_eval import index_error_message
from desktop_chat.server.rules_values import AfterTree

ALICE: dict[str, Any] = {
    "uid": "alice",
    "provider": "password",
    "token": {
        "email": "alice@example.com",
        "email_verified": True,
        "name": "Alice",
        "firebase": {"sign_in_provider": "password"},
        "admin": False,
    },
}
BOB: dict[str, Any] = {"uid": "bob", "provider": "anonymous", "token": {}}
NOW = 1_700_000_000_000

TREE: dict[str, Any] = {
    "allow_writes": True,
    "users": {
        "alice": {"name": "Alice", "age": 30, "vip": True, "bio": "ünï 😀"},
        "bob": {"name": "Bob", "age": 25},
    },
    "ranked": {".value": 5, ".priority": 2},
    "ordered": {"a": 1, ".priority": "p"},
    "list": {"0": "x", "1": "y"},
}


def nest(path: Path, rules: dict[str, Any]) -> dict[str, Any]:
    for key in reversed(path):
        rules = {key: rules}
    return {"rules": rules}


def read(
    expr: str,
    path: Path = ("users", "alice"),
    auth: dict[str, Any] | None = ALICE,
    query: Query | None = None,
    errors: list[str] | None = None,
) -> bool:
    rules = RuleSet.from_document(nest(path, {".read": expr}))
    return rules.can_read(path, auth, TREE, NOW, query, errors)


def write(
    expr: str,
    value: Any,
    path: Path = ("users", "alice"),
    auth: dict[str, Any] | None = ALICE,
    errors: list[str] | None = None,
) -> bool:
    rules = RuleSet.from_document(nest(path, {".write": expr}))
    return rules.can_write([(path, value)], auth, TREE, NOW, errors=errors)


# --- operators and literals -------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "true",
        "!false",
        "true && true",
        "false || true",
        "1 + 2 === 3",
        "0.1 + 0.2 > 0.3",
        "7 - 10 == -3",
        "6 * 7 == 42",
        "7 / 2 == 3.5",
        "6 / 2 == 3",
        "7 % 3 == 1",
        "-7 % 3 == -1",  # JavaScript: the sign of the dividend
        "7.5 % 2 == 1.5",
        "-(2) == -2",
        "'ab' + 'cd' == 'abcd'",
        "'a' < 'b' && 'b' <= 'b' && 'c' > 'b' && 'c' >= 'c'",
        "'B' < 'a'",
        "1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3",
        "1 == 1.0",
        "1 != '1'",
        "true != 1",
        "null == null",
        "'x' !== null",
        "1 === 1 ? true : false",
        "false ? false : true",
        "(1 + 2) * 3 == 9",
        "1 + 2 * 3 == 7",
        "1e3 == 1000",
        ".5 == 0.5",
        "'it\\'s' == \"it's\"",
        "'\\u00e9' == 'é'",
        "false || false || true",
        "true && (false || true)",
        "'\\ud83d\\ude00' < '\\uffff'",  # UTF-16 code units, as Firebase (code points differ)
    ],
)
def test_true_expressions(expr: str) -> None:
    errors: list[str] = []
    assert read(expr, errors=errors), errors
    assert errors == []


@pytest.mark.parametrize(
    "expr", ["false", "!true", "true && false", "false || false", "1 == 2", "'a' == 'A'"]
)
def test_false_expressions(expr: str) -> None:
    errors: list[str] = []
    assert not read(expr, errors=errors)
    assert errors == []


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("1 < 'a'", "cannot compare number < string"),
        ("null < 1", "cannot compare null < number"),
        ("true > false", "cannot compare boolean > boolean"),
        ("'a' + 1 == 'a1'", "cannot add string and number"),
        ("1 + true == 2", "cannot add number and boolean"),
        ("'a' - 'b' == 0", "cannot compute string - string"),
        ("1 / 0 > 0", "division by zero"),
        ("1 % 0 == 0", "division by zero"),
        ("-'a' == 'a'", "cannot apply - to string"),
        ("!1", "cannot apply ! to number"),
        ("!null", "cannot apply ! to null"),
        ("1 && true", "&& needs booleans, got number"),
        ("true && 'yes'", "&& needs booleans, got string"),
        ("false || null", "|| needs booleans, got null"),
        ("'x' ? true : false", "?: needs a boolean condition, got string"),
        ("data == null", "cannot compare snapshot with null"),
        ("data.val().matches(/a/)", "matches() is a string method; got object"),
        ("data.val().name.contains(1)", "contains() takes a string, not number"),
        ("data.child(1).exists()", "child() takes a string, not number"),
        ("data.child('a.b').exists()", "Invalid key"),
        ("data.hasChildren(['name', 1])", "hasChildren() takes strings, not number"),
        ("root.parent().exists()", "parent() of the root"),
        ("data.val().length == 4", None),  # an object has no "length": null == 4 is false
        ("data.exists", "cannot read .exists of snapshot"),
        ("auth.uid.length.length == 1", "cannot read .length of number"),
        ("now.foo == 1", "cannot read .foo of number"),
        ("'abc'.foo == 1", "cannot read .foo of string"),
        ("1", "evaluated to number, not a boolean"),
        ("'true'", "evaluated to string, not a boolean"),
        ("null", "evaluated to null, not a boolean"),
        ("data.val()", "evaluated to object, not a boolean"),
        ("data", "evaluated to snapshot, not a boolean"),
        ("auth", "evaluated to object, not a boolean"),
    ],
)
def test_type_errors_deny_and_are_recorded(expr: str, reason: str | None) -> None:
    errors: list[str] = []
    assert not read(expr, errors=errors)
    if reason is None:
        assert errors == []
    else:
        assert len(errors) == 1
        assert errors[0].startswith("/rules/users/alice/.read: ")
        assert reason in errors[0]


def test_evaluation_errors_are_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="desktop_chat.server.rules"):
        assert not read("auth.uid == 'x'", auth=None)
    assert "/rules/users/alice/.read" in caplog.text
    assert "cannot read .uid of null" in caplog.text


# --- variables --------------------------------------------------------------------------------


def test_auth() -> None:
    assert read("auth != null")
    assert not read("auth != null", auth=None)
    assert read("auth == null", auth=None)
    assert read("auth.uid == 'alice'")
    assert read("auth.provider == 'password'")
    assert read("auth.token.email == 'alice@example.com'")
    assert read("auth.token.email_verified == true")
    assert read("auth.token.name == 'Alice'")
    assert read("auth.token.firebase.sign_in_provider == 'password'")
    assert read("auth.token.admin === false")
    assert read("auth.token.missing == null")  # an absent claim is null
    assert not read("auth.token.email_verified == true", auth=BOB)
    errors: list[str] = []
    assert not read("auth.uid == 'alice'", auth=None, errors=errors)
    assert "cannot read .uid of null" in errors[0]
    assert read("auth == null || auth.uid == 'x'", auth=None)  # short-circuit: no error


def test_wildcards_bind_path_keys() -> None:
    rules = RuleSet.from_document(
        {"rules": {"users": {"$uid": {"$field": {".read": "$uid == auth.uid && $field != 'x'"}}}}}
    )
    assert rules.can_read(("users", "alice", "name"), ALICE, TREE, NOW)
    assert not rules.can_read(("users", "bob", "name"), ALICE, TREE, NOW)
    assert not rules.can_read(("users", "alice", "x"), ALICE, TREE, NOW)
    rules = RuleSet.from_document({"rules": {"$n": {".read": "$n == '42'"}}})
    assert rules.can_read(("42",), None, TREE, NOW)  # keys stay strings
    assert not RuleSet.from_document({"rules": {"$n": {".read": "$n == 42"}}}).can_read(
        ("42",), None, TREE, NOW
    )


def test_data_root_and_now() -> None:
    assert read("data.child('name').val() == 'Alice'")
    assert read("data.exists() && data.hasChild('age')")
    assert read("root.child('users/bob/age').val() == 25")
    assert read("root.child('allow_writes').val() === true")
    assert read("data.parent().child('bob').exists()")
    assert read("data.parent().parent().child('allow_writes').val() == true")
    assert read("now == 1700000000000")
    assert read("now > 0 && data.child('age').val() < now")


def test_query_variable() -> None:
    variables = [
        "query.orderByKey",
        "query.orderByValue",
        "query.orderByPriority",
        "query.orderByChild",
        "query.startAt",
        "query.endAt",
        "query.equalTo",
        "query.limitToFirst",
        "query.limitToLast",
    ]
    flags = ("orderByKey", "orderByValue", "orderByPriority")
    plain = " && ".join(f"{v} == {'false' if v[6:] in flags else 'null'}" for v in variables)
    assert read(plain)
    by_key = Query(order_by="$key", limit_first=10)
    assert read("query.orderByKey && query.limitToFirst <= 1000", query=by_key)
    assert not read("query.orderByKey && query.limitToFirst <= 5", query=by_key)
    assert not read("query.orderByKey && query.limitToFirst <= 1000")  # no query: denied
    assert read("query.orderByValue", query=Query(order_by="$value"))
    assert read("query.orderByPriority", query=Query(order_by="$priority"))
    child = Query(order_by="age", start_at=18, end_at=65, limit_last=3)
    assert read(
        "query.orderByChild == 'age' && query.startAt == 18 && query.endAt == 65 "
        "&& query.equalTo == null && query.limitToLast == 3 && !query.orderByKey",
        query=child,
    )
    equal = Query(order_by="email", start_at="a@b.c", end_at="a@b.c")
    assert read("query.equalTo == 'a@b.c' && query.orderByChild == 'email'", query=equal)
    assert read(
        "query.orderByChild == 'profile/age'", query=Query(order_by="profile/age")
    )  # a nested child path
    errors: list[str] = []
    assert not read("query.limitToFirst <= 1000", errors=errors)  # null <= 1000: type error
    assert "cannot compare null <= number" in errors[0]


# --- snapshot methods -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "data.val().name == 'Alice'",
        "data.child('name').val() == 'Alice'",
        "data.child('name').isString()",
        "data.child('age').isNumber() && !data.child('age').isString()",
        "data.child('vip').isBoolean() && !data.child('vip').isNumber()",
        "!data.isString() && !data.isNumber() && !data.isBoolean()",
        "data.exists() && !data.child('nope').exists()",
        "data.hasChild('name') && !data.hasChild('nope')",
        "root.hasChild('users/bob/name')",
        "data.hasChildren()",
        "data.hasChildren(['name', 'age'])",
        "!data.hasChildren(['name', 'nope'])",
        "data.hasChildren([])",
        "!data.child('name').hasChildren()",
        "data.numChildren() == 4",
        "data.child('name').numChildren() == 0",
        "root.child('users').numChildren() == 2",
        "data.child('nope').numChildren() == 0",
        "!data.child('nope').hasChildren()",
        "data.child('nope').val() == null",
        "data.parent().child('alice').child('age').val() == 30",
        "root.child('/users//alice/').child('name').val() == 'Alice'",
        "data.child('').child('name').exists()",
        "data.getPriority() == null",
        "root.child('ranked').val() == 5",
        "root.child('ranked').getPriority() == 2",
        "root.child('ranked').isNumber()",
        "!root.child('ranked').hasChildren()",
        "root.child('ranked').numChildren() == 0",
        "!root.child('ranked/x').exists()",
        "root.child('ordered').getPriority() == 'p'",
        "root.child('ordered').numChildren() == 1",
        "root.child('ordered').val().a == 1",
        "root.child('ordered').hasChildren(['a'])",
        "root.child('list').child('0').val() == 'x'",
        "root.child('users/alice/name').parent().parent().hasChild('bob')",
    ],
)
def test_snapshot_methods(expr: str) -> None:
    errors: list[str] = []
    assert read(expr, errors=errors), errors


def test_val_hides_priorities() -> None:
    errors: list[str] = []
    assert not read("root.child('ordered').val().priority == 'p'", errors=errors)
    assert read("root.child('ordered').val().a == 1")
    assert errors == []


# --- string methods ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "'abc'.length == 3",
        "''.length == 0",
        "data.child('bio').val().length == 6",  # UTF-16 units: the emoji counts twice
        "'hello world'.contains('o w')",
        "!'hello'.contains('x')",
        "'hello'.beginsWith('he') && !'hello'.beginsWith('lo')",
        "'hello'.endsWith('lo') && !'hello'.endsWith('he')",
        "'Hello'.toLowerCase() == 'hello'",
        "'Hello'.toUpperCase() == 'HELLO'",
        "'a.b.c'.replace('.', '/') == 'a/b/c'",  # replaces every occurrence
        "'aaa'.replace('a', '') == ''",
        "'foobar'.matches(/^foo/)",
        "!'barfoo'.matches(/^foo/)",
        "'YES'.matches(/^yes$/i)",
        "auth.token.email.matches(/^[A-Z0-9._%+-]+@[A-Z0-9.-]+\\.[A-Z]{2,4}$/i)",
        "('a' + 'b').toUpperCase().length == 2",
        "data.child('name').val().toLowerCase().beginsWith('ali')",
    ],
)
def test_string_methods(expr: str) -> None:
    errors: list[str] = []
    assert read(expr, errors=errors), errors


# --- reads ------------------------------------------------------------------------------------


def test_reads_cascade_and_never_descend() -> None:
    rules = RuleSet.from_document(
        {
            "rules": {
                "public": {".read": True, "secret": {".read": False}},
                "users": {"$uid": {".read": "auth != null && auth.uid == $uid"}},
            }
        }
    )
    assert rules.can_read(("public", "secret", "deep"), None, TREE, NOW)  # cannot be revoked
    assert rules.can_read(("users", "alice"), ALICE, TREE, NOW)
    assert rules.can_read(("users", "alice", "name"), ALICE, TREE, NOW)
    assert not rules.can_read(("users", "bob"), ALICE, TREE, NOW)
    assert not rules.can_read(("users",), ALICE, TREE, NOW)  # reads never descend
    assert not rules.can_read((), ALICE, TREE, NOW)
    assert not rules.can_read(("other",), ALICE, TREE, NOW)  # no rule: denied


def test_named_child_wins_over_wildcard() -> None:
    rules = RuleSet.from_document(
        {"rules": {"rooms": {"lobby": {".read": True}, "$room": {".read": False}}}}
    )
    assert rules.can_read(("rooms", "lobby"), None, TREE, NOW)
    assert not rules.can_read(("rooms", "other"), None, TREE, NOW)


def test_allow_all_and_deny_all() -> None:
    assert RuleSet.allow_all().can_read((), None, TREE, NOW)
    assert RuleSet.allow_all().can_write([(("a",), 1)], None, TREE, NOW)
    assert not RuleSet.deny_all().can_read((), ALICE, TREE, NOW)
    assert not RuleSet.deny_all().can_write([(("a",), 1)], ALICE, TREE, NOW)


# --- writes: documented examples --------------------------------------------------------------

OWNER_ONLY = RuleSet.from_json(
    """{
  "rules": {
    "users": {
      "$uid": {
        // only the owner may write their own node
        ".write": "$uid === auth.uid",
        ".validate": "newData.hasChildren(['name', 'age'])",
        "name": { ".validate": "newData.isString() && newData.val().length < 100" },
        "age": { ".validate": "newData.isNumber() && newData.val() >= 0" },
        "$other": { ".validate": false }
      }
    }
  }
}"""
)


def test_owner_only_pattern() -> None:
    profile = {"name": "Al", "age": 31}
    assert OWNER_ONLY.can_write([(("users", "alice"), profile)], ALICE, TREE, NOW)
    assert not OWNER_ONLY.can_write([(("users", "bob"), profile)], ALICE, TREE, NOW)
    assert not OWNER_ONLY.can_write([(("users", "alice"), profile)], None, TREE, NOW)
    assert OWNER_ONLY.can_write([(("users", "alice", "name"), "Ally")], ALICE, TREE, NOW)


def test_validate_has_children_and_string_length() -> None:
    def ok(value: Any, path: Path = ("users", "alice")) -> bool:
        return OWNER_ONLY.can_write([(path, value)], ALICE, TREE, NOW)

    assert not ok({"name": "Al"})  # age missing
    assert not ok({"name": "x" * 100, "age": 1})
    assert ok({"name": "x" * 99, "age": 1})
    assert not ok({"name": 5, "age": 1})
    assert not ok({"name": "Al", "age": -1})
    assert not ok({"name": "Al", "age": 1, "extra": True})  # "$other": false
    assert not ok("Al", ("users", "alice", "age"))
    assert not ok(True, ("users", "alice", "nickname"))


def test_validate_is_skipped_for_deletes() -> None:
    assert OWNER_ONLY.can_write([(("users", "alice"), None)], ALICE, TREE, NOW)
    assert OWNER_ONLY.can_write([(("users", "alice", "vip"), None)], ALICE, TREE, NOW)
    # deleting a required child: the parent's .validate sees it missing
    assert not OWNER_ONLY.can_write([(("users", "alice", "age"), None)], ALICE, TREE, NOW)


def test_root_flag() -> None:
    rules = RuleSet.from_document(
        {"rules": {".write": "root.child('allow_writes').val() === true"}}
    )
    assert rules.can_write([(("x",), 1)], None, TREE, NOW)
    closed = {**TREE, "allow_writes": False}
    assert not rules.can_write([(("x",), 1)], None, closed, NOW)


def test_create_only() -> None:
    assert write("!data.exists()", {"n": 1}, ("users", "carol"))
    assert not write("!data.exists()", {"n": 1}, ("users", "alice"))
    assert write("data.exists() && !newData.exists()", None, ("users", "alice"))  # delete only


def test_timestamp_not_in_the_future() -> None:
    rules = RuleSet.from_document(
        {"rules": {"msgs": {"$m": {".write": True, "at": {".validate": "newData.val() <= now"}}}}}
    )
    assert rules.can_write([(("msgs", "m", "at"), NOW)], None, TREE, NOW)
    assert not rules.can_write([(("msgs", "m", "at"), NOW + 1)], None, TREE, NOW)
    assert not rules.can_write([(("msgs", "m", "at"), "soon")], None, TREE, NOW)  # type error


def test_new_data_sees_the_tree_after_the_write() -> None:
    assert write("newData.val() == 'Al' && data.val() == 'Alice'", "Al", ("users", "alice", "name"))
    assert write(
        "newData.parent().child('age').val() == 30 && newData.parent().child('name').val() == 'Al'",
        "Al",
        ("users", "alice", "name"),
    )
    assert write("newData.child('name').val() == 'X'", {"name": "X"}, ("users", "bob"))
    assert write("!newData.child('age').exists()", {"name": "X"}, ("users", "bob"))  # replaced
    assert write("root.child('users/bob/name').val() == 'Bob'", {"name": "X"}, ("users", "bob"))


def test_writes_cascade_and_cannot_be_revoked() -> None:
    rules = RuleSet.from_document({"rules": {"a": {".write": True, "b": {".write": False}}}})
    assert rules.can_write([(("a", "b"), 1)], None, TREE, NOW)


def test_writes_descend_to_children_that_change() -> None:
    rules = RuleSet.from_document(
        {
            "rules": {
                "users": {
                    "$uid": {
                        "name": {".write": "auth.uid == $uid"},
                        "age": {".write": "auth.uid == $uid"},
                    }
                }
            }
        }
    )
    tree = {"users": {"alice": {"name": "Alice", "age": 30}, "bob": {"name": "Bob"}}}
    assert rules.can_write([(("users", "alice"), {"name": "A", "age": 1})], ALICE, tree, NOW)
    assert rules.can_write([(("users", "alice"), None)], ALICE, tree, NOW)
    assert rules.can_write([(("users", "carol"), None)], ALICE, tree, NOW) is False  # no change
    # the unchanged children of a write need no rule of their own
    same = {**TREE["users"]["alice"], "name": "A"}
    assert rules.can_write([(("users", "alice"), same)], ALICE, TREE, NOW)
    # a changed child with no rule granting it: denied
    assert not rules.can_write([(("users", "alice"), {"name": "A", "x": 1})], ALICE, TREE, NOW)
    assert not rules.can_write([(("users", "bob"), {"name": "A"})], ALICE, TREE, NOW)
    # replacing alice's node would delete vip and bio too, which no rule grants
    assert not rules.can_write([(("users", "alice"), {"name": "A", "age": 1})], ALICE, TREE, NOW)
    assert not rules.can_write([(("users", "alice"), None)], ALICE, TREE, NOW)
    assert not rules.can_write([(("users",), None)], ALICE, tree, NOW)  # bob's name too
    assert rules.can_write([(("users",), {"bob": {"name": "Bob"}})], ALICE, tree, NOW)
    # a write that changes nothing is allowed only by a grant at or above it
    assert not rules.can_write([(("users", "alice", "bio"), "ünï 😀")], ALICE, TREE, NOW)
    # a leaf at a location without a grant cannot change, even with grants below
    tree = {"users": {"alice": "just a string"}}
    assert not rules.can_write([(("users", "alice"), {"name": "A"})], ALICE, tree, NOW)


def test_priority_changes_need_a_grant_where_they_happen() -> None:
    rules = RuleSet.from_document({"rules": {"ordered": {"a": {".write": True}}}})
    assert rules.can_write([(("ordered",), {"a": 2, ".priority": "p"})], None, TREE, NOW)
    assert not rules.can_write([(("ordered",), {"a": 1, ".priority": "q"})], None, TREE, NOW)


def test_multi_path_update_is_all_or_nothing() -> None:
    rules = RuleSet.from_document(
        {
            "rules": {
                "users": {"$uid": {".write": "$uid == auth.uid"}},
                "counts": {
                    "$uid": {
                        ".write": "$uid == auth.uid",
                        ".validate": "newData.isNumber() && "
                        "newData.parent().parent().child('users/' + $uid + '/name').exists()",
                    }
                },
            }
        }
    )
    good = [(("users", "alice", "name"), "A"), (("counts", "alice"), 1)]
    assert rules.can_write(good, ALICE, TREE, NOW)
    one_bad = [(("users", "alice", "name"), "A"), (("counts", "bob"), 1)]
    assert not rules.can_write(one_bad, ALICE, TREE, NOW)
    invalid = [(("users", "alice", "name"), "A"), (("counts", "alice"), "one")]
    assert not rules.can_write(invalid, ALICE, TREE, NOW)
    # every write sees the same after-tree: the name deleted by one path fails the other
    gone = [(("users", "alice", "name"), None), (("counts", "alice"), 1)]
    assert not rules.can_write(gone, ALICE, TREE, NOW)


def test_validate_runs_above_the_write_and_only_where_data_changed() -> None:
    rules = RuleSet.from_document(
        {
            "rules": {
                ".write": True,
                "users": {
                    "$uid": {
                        ".validate": "newData.child('name').isString()",
                        "age": {".validate": "newData.val() < 100"},
                    }
                },
            }
        }
    )
    # alice/age is unchanged and bob/age is invalid in the old data: only changes are checked
    tree = copy.deepcopy(TREE)
    tree["users"]["bob"]["age"] = 500
    assert rules.can_write([(("users", "alice", "vip"), False)], None, tree, NOW)
    users = {**tree["users"], "carol": {"name": "C"}}
    assert rules.can_write([(("users",), users)], None, tree, NOW)
    assert not rules.can_write([(("users", "alice", "age"), 100)], None, tree, NOW)
    # the ancestor users/alice is validated although the write is below it
    tree["users"]["alice"]["name"] = 7
    assert not rules.can_write([(("users", "alice", "vip"), False)], None, tree, NOW)


def test_query_rules_example() -> None:
    rules = RuleSet.from_document(
        {"rules": {"messages": {".read": "query.orderByKey && query.limitToFirst <= 1000"}}}
    )
    path = ("messages",)
    assert rules.can_read(path, None, TREE, NOW, Query(order_by="$key", limit_first=1000))
    assert not rules.can_read(path, None, TREE, NOW, Query(order_by="$key", limit_first=1001))
    assert not rules.can_read(path, None, TREE, NOW, Query(order_by="$value", limit_first=10))
    assert not rules.can_read(path, None, TREE, NOW)


# --- indexes ----------------------------------------------------------------------------------


def test_index_defined() -> None:
    rules = RuleSet.from_document(
        {
            "rules": {
                "dinos": {".indexOn": ["height", "stats/weight"]},
                "scores": {".indexOn": ".value"},
                "rooms": {"$room": {".indexOn": "sentAt"}},
            }
        }
    )
    assert rules.index_defined(("dinos",), "height")
    assert rules.index_defined(("dinos",), "stats/weight")
    assert rules.index_defined(("dinos",), "/stats/weight/")
    assert not rules.index_defined(("dinos",), "length")
    assert rules.index_defined(("dinos",), "$key")
    assert rules.index_defined(("anything", "at", "all"), "$priority")
    assert not rules.index_defined(("dinos",), "$value")
    assert rules.index_defined(("scores",), "$value")
    assert rules.index_defined(("rooms", "r1"), "sentAt")
    assert not rules.index_defined(("rooms",), "sentAt")
    assert not rules.index_defined(("nowhere", "deep"), "x")
    assert (
        index_error_message(("dinos",), "length")
        == 'Index not defined, add ".indexOn": "length", for path "/dinos", to the rules'
    )
    assert index_error_message((), "$value").endswith('".value", for path "/", to the rules')


# --- the after-tree ---------------------------------------------------------------------------


def test_after_tree_is_lazy_exact_and_leaves_root_alone() -> None:
    root = copy.deepcopy(TREE)
    before = copy.deepcopy(root)
    after = AfterTree(
        root,
        [
            (("users", "alice", "name"), None),
            (("users", "bob"), None),
            (("list", "0", "deep"), 1),  # below a leaf: the leaf becomes an object
            (("ranked", "x"), None),  # deleting below a leaf changes nothing
            (("new", "a", "b"), "c"),
        ],
    )
    assert after(("users", "alice")) == {"age": 30, "vip": True, "bio": "ünï 😀"}
    assert after(("users", "bob")) is None
    assert after(("users",)) == {"alice": {"age": 30, "vip": True, "bio": "ünï 😀"}}
    assert after(("list",)) == {"0": {"deep": 1}, "1": "y"}
    assert after(("ranked",)) == {".value": 5, ".priority": 2}
    assert after(("new",)) == {"a": {"b": "c"}}
    assert after(()) is not root
    assert after.exists(("new", "a"))
    assert not after.exists(("users", "bob", "name"))
    assert root == before  # never mutated
    emptied = AfterTree({"a": {"b": 1, ".priority": 3}}, [(("a", "b"), None)])
    assert emptied(("a",)) is None
    assert emptied(()) is None  # empty objects vanish all the way up
    later = AfterTree({}, [(("a",), {"b": 1}), (("a", "c"), 2), (("a",), {"d": 3})])
    assert later(("a",)) == {"d": 3}
    assert later(("a", "c")) is None


def test_can_write_accepts_a_caller_after_function() -> None:
    after_root = {"users": {"alice": {"name": "Zed", "age": 1}}}

    def after(path: Path) -> Any:
        node: Any = after_root
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    writes = [(("users", "alice"), after_root["users"]["alice"])]
    assert OWNER_ONLY.can_write(writes, ALICE, TREE, NOW, after=after)


# --- speed ------------------------------------------------------------------------------------

CHAT_RULES = """{
  "rules": {
    "conversations": {
      "$cid": {
        ".read": "auth != null && data.child('members/' + auth.uid).exists()",
        ".write": "auth != null && (!data.exists() || data.child('members/' + auth.uid).exists())",
        ".validate": "newData.hasChildren(['members'])"
      }
    },
    "messages": {
      "$cid": {
        "$mid": {
          ".write": "root.child('conversations/' + $cid + '/members/' + auth.uid).exists()",
          ".validate": "newData.hasChildren(['text', 'sender', 'sentAt'])",
          "text": { ".validate": "newData.isString() && newData.val().length <= 4000" },
          "sender": { ".validate": "newData.val() === auth.uid" },
          "sentAt": { ".validate": "newData.isNumber() && newData.val() <= now" },
          "$other": { ".validate": false }
        }
      }
    }
  }
}"""


def test_a_message_write_is_checked_fast() -> None:
    rules = RuleSet.from_json(CHAT_RULES)
    root = {
        "conversations": {"c1": {"members": {"alice": True, "bob": True}}},
        "messages": {
            "c1": {f"m{i}": {"text": "hi", "sender": "bob", "sentAt": 1} for i in range(5000)}
        },
    }
    writes = [(("messages", "c1", "new"), {"text": "hello", "sender": "alice", "sentAt": NOW})]
    assert rules.can_write(writes, ALICE, root, NOW)
    assert not rules.can_write(writes, BOB, root, NOW)
    start = time.perf_counter()
    for _ in range(2000):
        rules.can_write(writes, ALICE, root, NOW)
    per_write = (time.perf_counter() - start) / 2000
    assert per_write < 500e-6  # typically ~20 µs; generous for slow CI machines
