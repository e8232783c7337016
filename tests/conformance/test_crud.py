"""firebase-admin set, get, push, update and delete against a real server."""

from __future__ import annotations

import re
from typing import Any

import firebase_admin
import pytest
from firebase_admin import db

PUSH_ID = re.compile(r"^[-0-9A-Za-z_]{20}$")


@pytest.mark.parametrize(
    "value",
    [
        "text",
        "",
        'héllo ✓ 漢字 "q" \\ /',
        0,
        -7,
        2**40,
        3.25,
        True,
        False,
        {"a": 1, "b": {"c": "d", "e": [1, 2, 3]}},
        [10, "x", {"y": True}],
    ],
    ids=repr,
)
def test_set_then_get_round_trips(root: db.Reference, value: Any) -> None:
    root.child("v").set(value)
    assert root.child("v").get() == value
    assert root.get() == {"v": value}


def test_set_replaces_whole_value(root: db.Reference) -> None:
    root.set({"a": 1, "b": {"c": 2, "d": 3}})
    root.child("b").set({"e": 4})
    assert root.get() == {"a": 1, "b": {"e": 4}}
    root.set("leaf")
    assert root.get() == "leaf"
    root.child("under/the/leaf").set(1)  # a leaf above becomes an object
    assert root.get() == {"under": {"the": {"leaf": 1}}}


def test_get_of_missing_location_is_none(root: db.Reference) -> None:
    assert root.get() is None
    assert root.child("a/b/c").get() is None
    root.child("a").set(1)
    assert root.child("a/b").get() is None  # below a leaf


def test_empty_objects_and_nulls_are_not_stored(root: db.Reference) -> None:
    root.set({"keep": 1, "empty": {}, "nothing": None, "deep": {"er": {}}})
    assert root.get() == {"keep": 1}
    assert root.get(shallow=True) == {"keep": True}


def test_shallow_get(root: db.Reference) -> None:
    root.set({"a": {"x": 1}, "b": 2, "c": "s"})
    assert root.get(shallow=True) == {"a": True, "b": True, "c": True}
    assert root.child("b").get(shallow=True) == 2


def test_push_creates_ordered_children(root: db.Reference) -> None:
    messages = root.child("messages")
    refs = [messages.push({"n": i}) for i in range(5)]
    keys = [ref.key for ref in refs]
    assert all(key is not None and PUSH_ID.match(key) for key in keys), keys
    assert keys == sorted(keys), "push ids must sort in creation order"
    assert len(set(keys)) == 5
    assert messages.get() == {key: {"n": i} for i, key in enumerate(keys)}
    assert refs[2].get() == {"n": 2}
    assert refs[0].path == f"{messages.path}/{keys[0]}"


def test_push_default_and_scalar_values(root: db.Reference) -> None:
    empty = root.push()
    scalar = root.push(42)
    assert empty.get() == ""
    assert scalar.get() == 42


def test_multi_path_update_touches_only_named_leaves(root: db.Reference) -> None:
    users = root.child("users")
    users.set(
        {
            "alan": {"name": "Alan Turing", "nickname": "al", "born": 1912},
            "grace": {"name": "Grace Hopper", "nickname": "gh", "born": 1906},
            "ada": {"name": "Ada Lovelace", "born": 1815},
        }
    )
    users.update({"alan/nickname": "Alan The Great", "grace/nickname": "Amazing Grace"})
    assert users.get() == {
        "alan": {"name": "Alan Turing", "nickname": "Alan The Great", "born": 1912},
        "grace": {"name": "Grace Hopper", "nickname": "Amazing Grace", "born": 1906},
        "ada": {"name": "Ada Lovelace", "born": 1815},
    }


def test_multi_path_update_creates_deletes_and_replaces(root: db.Reference) -> None:
    root.set({"a": {"x": 1, "y": 2}, "b": {"x": 1, "y": 2}, "c": 3})
    root.update(
        {
            "a": {"z": 9},  # a nested object replaces that child whole
            "b/y": None,  # null deletes
            "c": None,
            "d/e/f": "new",  # missing parents are created
        }
    )
    assert root.get() == {"a": {"z": 9}, "b": {"x": 1}, "d": {"e": {"f": "new"}}}


def test_update_top_level_keys_merges(root: db.Reference) -> None:
    root.set({"a": 1, "b": 2})
    root.update({"b": 20, "c": 30})
    assert root.get() == {"a": 1, "b": 20, "c": 30}


def test_update_at_database_root(app: firebase_admin.App, root: db.Reference) -> None:
    """Multi-path keys from the root reach deep into the tree, like fan-out writes do."""
    assert root.key is not None
    base = f"conformance/{root.key}"
    db.reference("/", app=app).update({f"{base}/x/a": 1, f"{base}/y/b": 2})
    assert root.get() == {"x": {"a": 1}, "y": {"b": 2}}


def test_delete_removes_value_and_empty_parents(root: db.Reference) -> None:
    root.set({"keep": 1, "drop": {"deep": {"leaf": True}}})
    root.child("drop/deep/leaf").delete()
    assert root.get() == {"keep": 1}
    root.child("keep").delete()
    assert root.get() is None
    root.child("never/was/here").delete()  # deleting nothing is fine
    assert root.get() is None


def test_delete_whole_subtree(root: db.Reference) -> None:
    root.set({"sub": {str(i): {"v": i} for i in range(20)}, "other": 1})
    root.child("sub").delete()
    assert root.get() == {"other": 1}


def test_numeric_looking_keys_render_as_array_like_firebase(root: db.Reference) -> None:
    root.set({"0": "a", "1": "b", "2": "c"})
    assert root.get() == ["a", "b", "c"]
    root.set({"1": "b", "3": "d"})  # sparse, but at least half full: an array with holes
    assert root.get() == [None, "b", None, "d"]
    root.set({"1": "b", "9": "j"})  # too sparse: stays an object
    assert root.get() == {"1": "b", "9": "j"}
