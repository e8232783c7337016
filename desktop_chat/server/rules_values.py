"""Values in rules: snapshots before/after a write, the query variable, and the regex dialect."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeAlias

from desktop_chat.core.errors import InvalidPathError
from desktop_chat.core.paths import Path, check_key
from desktop_chat.core.query import UNSET, Query
from desktop_chat.core.values import Node, render

__all__ = [
    "NUM",
    "SNAPSHOT_METHODS",
    "UNLOADED",
    "AfterTree",
    "EvalError",
    "Snapshot",
    "View",
    "plain_view",
    "query_variables",
    "translate_regex",
    "type_name",
    "utf16_len",
]

View: TypeAlias = Callable[[Path], Node]
"""The value stored at a path of one version of the tree (before or after a write)."""

UNLOADED: Any = object()
"""A snapshot's value not looked up yet."""
NUM = (int, float)
_CHILD_PATHS: dict[str, Path] = {}  # child() arguments already split and checked


class EvalError(Exception):
    """A rule expression failed while being evaluated (a type error, a null's property, ...)."""


def _get(root: Node, path: Path) -> Node:
    node = root  # keys never start with ".", so a {".value": ...} leaf yields None like a leaf
    for key in path:
        if type(node) is not dict:
            return None
        node = node.get(key)
    return node


def plain_view(root: Node) -> View:
    """A view of the tree *root* as it is."""
    return partial(_get, root)


def _with(node: Node, rest: Path, value: Node) -> Node:
    """*node* with *value* put at *rest* below it, copying only the objects on the way."""
    if not rest:
        return value
    key, base = rest[0], node if isinstance(node, dict) and ".value" not in node else {}
    child = _with(base.get(key), rest[1:], value)
    if child is None:
        if key not in base:
            return node  # deleting below a leaf or a missing key changes nothing
        out = {k: v for k, v in base.items() if k != key}
        return out if any(k != ".priority" for k in out) else None
    out = dict(base)
    out[key] = child
    return out


class AfterTree:
    """The tree as it will be once *writes* are applied in order to *root*, built lazily per
    path by copying only what a write changes; *root* is never mutated.

    Each write is (path, value) with the value in stored form (``normalize``) and server values
    already resolved; None deletes. Empty objects vanish as the database makes them.
    """

    __slots__ = ("_base", "_cache", "_root", "_writes")

    def __init__(
        self, root: Node, writes: Sequence[tuple[Path, Node]], base: View | None = None
    ) -> None:
        self._root, self._writes = root, writes
        self._base = base
        """How values of *root* are looked up, if not directly (see ``RuleSet.can_write``)."""
        self._cache: dict[Path, Node] = {}

    def __call__(self, path: Path) -> Node:
        value = self._cache.get(path, UNLOADED)
        if value is not UNLOADED:
            return value
        writes, depth, start = self._writes, len(path), 0
        for index in range(len(writes) - 1, -1, -1):  # the last write at or above path wins
            write_path, written = writes[index]
            if write_path == path[: len(write_path)]:
                value, start = _get(written, path[len(write_path) :]), index + 1
                break
        else:
            value = _get(self._root, path) if self._base is None else self._base(path)
        for write_path, written in writes[start:]:  # then the later writes below path
            if len(write_path) > depth and path == write_path[:depth]:
                value = _with(value, write_path[depth:], written)
        self._cache[path] = value
        return value

    def exists(self, path: Path) -> bool:
        """Whether *path* holds a value after the writes, without building it when a write
        below *path* puts a value there."""
        if path not in self._cache:
            depth = len(path)
            for write_path, written in reversed(self._writes):
                if write_path == path[: len(write_path)]:
                    break  # a write at or above path decides: build it
                if path == write_path[:depth] and written is not None:
                    return True
        return self(path) is not None


class Snapshot:
    """``data``, ``newData`` and ``root`` in rules: a location in one version of the tree."""

    __slots__ = ("_node", "path", "view")

    def __init__(self, view: View, path: Path, node: Node = UNLOADED) -> None:
        self.view, self.path, self._node = view, path, node

    @property
    def node(self) -> Node:
        if self._node is UNLOADED:
            self._node = self.view(self.path)
        return self._node

    def child(self, path: object) -> Snapshot:
        if type(path) is not str:
            raise EvalError(f"child() takes a string, not {type_name(path)}")
        keys = _CHILD_PATHS.get(path)
        if keys is None:
            keys = tuple(key for key in path.split("/") if key)
            try:
                for key in keys:
                    check_key(key)
            except InvalidPathError as exc:
                raise EvalError(f"child({path!r}): {exc}") from None
            if len(_CHILD_PATHS) >= 4096:
                _CHILD_PATHS.clear()
            _CHILD_PATHS[path] = keys
        node = self._node
        if node is UNLOADED:  # look the child up alone: its parent may be large to build
            return Snapshot(self.view, self.path + keys)
        for key in keys:
            node = node.get(key) if isinstance(node, dict) and ".value" not in node else None
        return Snapshot(self.view, self.path + keys, node)

    def exists(self) -> bool:
        node = self._node
        if node is UNLOADED:
            if isinstance(self.view, AfterTree):
                return self.view.exists(self.path)
            node = self._node = self.view(self.path)
        return node is not None


def query_variables(query: Query | None) -> dict[str, Any]:
    """The ``query`` variable: orderBy* (booleans; orderByChild a path or null), limits and
    bounds (null when absent). ``equalTo`` is set when the start and end bounds are equal."""
    if query is None:
        return dict.fromkeys(
            ("orderByChild", "startAt", "endAt", "equalTo", "limitToFirst", "limitToLast")
        ) | dict.fromkeys(("orderByKey", "orderByValue", "orderByPriority"), False)
    start = None if query.start_at is UNSET else query.start_at
    end = None if query.end_at is UNSET else query.end_at
    both = query.start_at is not UNSET and query.end_at is not UNSET and start == end
    return {
        "orderByKey": query.order_by == "$key",
        "orderByValue": query.order_by == "$value",
        "orderByPriority": query.order_by == "$priority",
        "orderByChild": None if query.order_by.startswith("$") else query.order_by,
        "startAt": start,
        "endAt": end,
        "equalTo": start if both else None,
        "limitToFirst": query.limit_first,
        "limitToLast": query.limit_last,
    }


def type_name(value: object) -> str:
    """The rules language's name for the type of *value*."""
    if value is None:
        return "null"
    names = {bool: "boolean", int: "number", float: "number", str: "string", dict: "object"}
    if type(value) in names:
        return names[type(value)]
    return {Snapshot: "snapshot", list: "array", re.Pattern: "regex"}.get(type(value), "value")


def utf16_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def leaf(node: Node) -> Node:
    return node[".value"] if isinstance(node, dict) and ".value" in node else node


def _has_kids(node: Node) -> bool:
    return isinstance(node, dict) and ".value" not in node and any(k != ".priority" for k in node)


def _strings(values: list[Any], method: str) -> list[str]:
    for value in values:
        if type(value) is not str:
            raise EvalError(f"{method}() takes strings, not {type_name(value)}")
    return values


# --- regular expressions -------------------------------------------------------------------

_CLASS_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_", "s": r"\s", "S": r"\S", "D": r"\D", "W": r"\W"}
_ATOM_ESCAPES = {
    "d": "[0-9]", "D": "[^0-9]", "w": "[A-Za-z0-9_]", "W": "[^A-Za-z0-9_]", "s": r"\s", "S": r"\S",
}  # fmt: skip
_CONTROL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
_QUANTIFIER = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_ANY = "[^\n\r\u2028\u2029]"  # JavaScript's "." does not match line terminators


def _escape(text: str, pos: int, in_class: bool) -> str:
    char = text[pos] if pos < len(text) else ""
    if not char:
        raise ValueError("pattern ends with a lone backslash")
    if char in _ATOM_ESCAPES:
        return _CLASS_ESCAPES[char] if in_class else _ATOM_ESCAPES[char]
    if char in _CONTROL_ESCAPES:
        return re.escape(_CONTROL_ESCAPES[char])
    if char.isalnum():
        raise ValueError(f"unsupported escape \\{char}")
    return re.escape(char)


def _char_class(text: str, pos: int) -> tuple[str, int]:
    """Translate the class starting after ``[`` at *pos*; return it and the index after ``]``."""
    negate = pos < len(text) and text[pos] == "^"
    pos += negate
    items: list[tuple[str, str]] = []  # ("char", c) or ("set", translated) or ("dash", "-")
    while pos < len(text) and text[pos] != "]":
        char = text[pos]
        if char == "\\":
            escaped = _escape(text, pos + 1, True)
            nxt = text[pos + 1]
            literal = _CONTROL_ESCAPES.get(nxt, nxt)
            items.append(("set", escaped) if nxt in _ATOM_ESCAPES else ("char", literal))
            pos += 2
        else:
            items.append(("dash", "-") if char == "-" else ("char", char))
            pos += 1
    if pos >= len(text):
        raise ValueError("unterminated character class")
    if not items:
        return (r"[\s\S]" if negate else "(?!)"), pos + 1
    out, index = [], 0
    while index < len(items):
        kind, value = items[index]
        if (
            kind == "char"
            and index + 2 < len(items)
            and items[index + 1][0] == "dash"
            and items[index + 2][0] == "char"
        ):
            end = items[index + 2][1]
            if end < value:
                raise ValueError(f"range out of order in character class: {value}-{end}")
            out.append(f"{re.escape(value)}-{re.escape(end)}")
            index += 3
            continue
        out.append(value if kind == "set" else re.escape(value))
        index += 1
    return "[" + ("^" if negate else "") + "".join(out) + "]", pos + 1


def translate_regex(source: str, flags: str) -> re.Pattern[str]:
    """Compile a Firebase rules regex (a JavaScript-like subset) to a Python pattern.

    Supported: literals, ``.``, classes and ranges, ``\\d \\w \\s`` and their negations,
    groups ``( )`` and ``(?: )``, alternation, ``* + ? {n,m}`` (and lazy forms), ``^`` only
    first and ``$`` only last, and the ``i`` flag. Anything else raises ValueError.
    """
    if flags not in ("", "i"):
        raise ValueError(f"unsupported flags {flags!r} (only 'i' is allowed)")
    out: list[str] = []
    pos, size, quantified = 0, len(source), False
    while pos < size:
        char = source[pos]
        was_quantifier = False
        if char == "\\":
            out.append(_escape(source, pos + 1, False))
            pos += 2
        elif char == "[":
            translated, pos = _char_class(source, pos + 1)
            out.append(translated)
        elif char == "^":
            if pos != 0:
                raise ValueError("^ is only allowed as the first character")
            out.append(r"\A")
            pos += 1
        elif char == "$":
            if pos != size - 1:
                raise ValueError("$ is only allowed as the last character")
            out.append(r"\Z")
            pos += 1
        elif char == "(":
            if source.startswith("(?", pos) and not source.startswith("(?:", pos):
                raise ValueError("only ( ) and (?: ) groups are supported")
            out.append(source[pos : pos + (3 if source.startswith("(?:", pos) else 1)])
            pos += len(out[-1])
        elif char in ")|":
            out.append(char)
            pos += 1
        elif char == ".":
            out.append(_ANY)
            pos += 1
        elif char in "*+?" or (char == "{" and _QUANTIFIER.match(source, pos)):
            if char == "?" and quantified:
                out.append("?")  # lazy form of the previous quantifier
                pos += 1
            elif quantified:
                raise ValueError(f"nothing to repeat at {char!r}")
            else:
                match = _QUANTIFIER.match(source, pos) if char == "{" else None
                out.append(match.group() if match else char)
                pos = match.end() if match else pos + 1
                was_quantifier = True
        else:
            out.append(re.escape(char))
            pos += 1
        quantified = was_quantifier
    try:
        return re.compile("".join(out), re.IGNORECASE if flags else 0)
    except (re.error, OverflowError) as exc:  # (a repetition count too large, say)
        raise ValueError(str(exc)) from None


def _s_val(snap: Snapshot) -> Any:
    return render(snap.node)


def _s_parent(snap: Snapshot) -> Snapshot:
    if not snap.path:
        raise EvalError("parent() of the root")
    return Snapshot(snap.view, snap.path[:-1])


def _s_has_children(snap: Snapshot, names: list[Any] | None = None) -> bool:
    if not names:
        return _has_kids(snap.node)
    return all(snap.child(name).exists() for name in _strings(names, "hasChildren"))


def _s_num_children(snap: Snapshot) -> int:
    node = snap.node
    return sum(k != ".priority" for k in node) if _has_kids(node) else 0


def _s_priority(snap: Snapshot) -> Any:
    node = snap.node
    return node.get(".priority") if isinstance(node, dict) else None


SNAPSHOT_METHODS: dict[str, tuple[tuple[int, ...], Callable[..., Any]]] = {
    "val": ((0,), _s_val),
    "child": ((1,), Snapshot.child),
    "parent": ((0,), _s_parent),
    "exists": ((0,), Snapshot.exists),
    "hasChild": ((1,), lambda snap, path: snap.child(path).exists()),
    "hasChildren": ((0, 1), _s_has_children),
    "numChildren": ((0,), _s_num_children),
    "isNumber": ((0,), lambda snap: type(leaf(snap.node)) in NUM),
    "isString": ((0,), lambda snap: type(leaf(snap.node)) is str),
    "isBoolean": ((0,), lambda snap: type(leaf(snap.node)) is bool),
    "getPriority": ((0,), _s_priority),
}
