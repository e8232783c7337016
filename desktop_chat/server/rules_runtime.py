"""Runtime support for generated rules: the names a generated rule function may use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from desktop_chat.core.errors import InvalidPathError
from desktop_chat.core.paths import Path, check_key
from desktop_chat.core.values import Node, render
from desktop_chat.server.errors import PageFaultError
from desktop_chat.server.rules_eval import _BINARY, _STRING_METHODS, Ctx, _equal, _note
from desktop_chat.server.rules_values import (
    NUM,
    SNAPSHOT_METHODS,
    UNLOADED,
    AfterTree,
    EvalError,
    Snapshot,
    leaf,
    type_name,
    utf16_len,
)

__all__ = ["GLOBALS", "OPS", "failure", "literal_keys", "non_boolean"]

OPS = {"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge", "+": "_add", "-": "_sub"}
OPS |= {"*": "_mul", "/": "_div", "%": "_mod"}


def literal_keys(path: str) -> Path | None:
    """The keys ``child(path)`` goes down for a literal *path*, or None if it would fail."""
    keys = tuple(key for key in path.split("/") if key)
    try:
        for key in keys:
            check_key(key)
    except InvalidPathError:
        return None
    return keys


def _member(value: Any, name: str) -> Any:
    if type(value) is dict:
        return value.get(name)
    if type(value) is str and name == "length":
        return utf16_len(value)
    raise EvalError(f"cannot read .{name} of {type_name(value)}")


def _receiver(value: Any, method: str, kind_name: str) -> Any:
    raise EvalError(f"{method}() is a {kind_name} method; got {type_name(value)}")


def _str_arg(value: Any, method: str) -> str:
    raise EvalError(f"{method}() takes a string, not {type_name(value)}")


def _not_bool(value: Any, op: str) -> bool:
    raise EvalError(f"{op} needs booleans, got {type_name(value)}")


def _cond(value: Any) -> bool:
    raise EvalError(f"?: needs a boolean condition, got {type_name(value)}")


def _unary(op: str, value: Any) -> Any:
    if op == "!" and type(value) is bool:
        return not value
    if op == "-" and type(value) in NUM:
        return -value
    raise EvalError(f"cannot apply {op} to {type_name(value)}")


def _down(node: Node, keys: Path) -> Node:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) and ".value" not in node else None
    return node


def _val(snap: Snapshot) -> Any:
    """``snap.val()``."""
    node = snap._node
    if node is UNLOADED:
        node = snap.node
    return render(node) if isinstance(node, dict) else node


def _child_val(snap: Snapshot, keys: Path) -> Any:
    """``snap.child(path).val()`` for a literal path split into valid *keys*."""
    node = snap._node
    node = snap.view(snap.path + keys) if node is UNLOADED else _down(node, keys)
    return render(node) if isinstance(node, dict) else node


def _child_exists(snap: Snapshot, keys: Path) -> bool:
    """``snap.child(path).exists()`` for a literal path split into valid *keys*."""
    node = snap._node
    if node is not UNLOADED:
        return _down(node, keys) is not None
    view, path = snap.view, snap.path + keys
    if isinstance(view, AfterTree):
        return view.exists(path)
    return view(path) is not None


def _has_all(snap: Snapshot, paths: tuple[Path, ...]) -> bool:
    """``snap.hasChildren([...])`` for a non-empty list of literal paths."""
    return all(_child_exists(snap, keys) for keys in paths)


def failure(where: str) -> Callable[[Ctx, Exception], bool]:
    """What a generated rule at *where* does with an exception: note it, deny."""

    def fail(c: Ctx, exc: Exception) -> bool:
        if isinstance(exc, PageFaultError):  # data on disk: the database reads it and asks again
            raise exc
        if isinstance(exc, EvalError):
            _note(c, where, str(exc))
        else:
            _note(c, where, f"{type(exc).__name__}: {exc}")
        return False

    return fail


def non_boolean(where: str) -> Callable[[Ctx, Any], bool]:
    """What a generated rule at *where* does with a result other than true: deny."""

    def result(c: Ctx, value: Any) -> bool:
        if value is not False:
            _note(c, where, f"evaluated to {type_name(value)}, not a boolean")
        return False

    return result


GLOBALS: dict[str, Any] = {
    "__builtins__": {},
    "type": type,
    "len": len,
    "bool": bool,
    "str": str,
    "dict": dict,
    "int": int,
    "float": float,
    "Exception": Exception,
    "_U": UNLOADED,
    "_Snapshot": Snapshot,
    "_render": render,
    "_leaf": leaf,
    "_NUM": NUM,
    "_u16": utf16_len,
    "_member": _member,
    "_receiver": _receiver,
    "_str_arg": _str_arg,
    "_not_bool": _not_bool,
    "_cond": _cond,
    "_unary": _unary,
    "_has_all": _has_all,
    "_val": _val,
    "_child_val": _child_val,
    "_child_exists": _child_exists,
    "_eq": _equal,
    **{name: _BINARY[op] for op, name in OPS.items()},
    **{f"_sm_{name}": method for name, (_, method) in SNAPSHOT_METHODS.items()},
    **{f"_st_{name}": method for name, (_, method) in _STRING_METHODS.items()},
}
