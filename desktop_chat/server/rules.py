"""Firebase Realtime Database security rules: loading a rules document, deciding access."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from os import PathLike
from typing import Any

from desktop_chat.core.errors import InvalidPathError
from desktop_chat.core.paths import MAX_DEPTH, Path, check_key
from desktop_chat.core.query import Query
from desktop_chat.core.values import Node
from desktop_chat.server.rules_compile import compile_rule
from desktop_chat.server.rules_eval import READ_VARIABLES, WRITE_VARIABLES, Ctx, Rule, deny
from desktop_chat.server.rules_parser import RulesError, load_json
from desktop_chat.server.rules_values import (
    UNLOADED,
    AfterTree,
    Snapshot,
    View,
    plain_view,
    query_variables,
)

__all__ = ["RuleNode", "RuleSet", "RulesError"]


class RuleNode:
    """The rules at one level: its expressions, named children and at most one ``$wildcard``."""

    __slots__ = (
        "children",
        "index_on",
        "read",
        "validate",
        "validates_below",
        "wildcard",
        "write",
        "writes_here_or_below",
    )

    def __init__(self) -> None:
        self.read: Rule | None = None
        self.write: Rule | None = None
        self.validate: Rule | None = None
        self.index_on: frozenset[str] = frozenset()
        self.children: dict[str, RuleNode] = {}
        self.wildcard: tuple[str, RuleNode] | None = None  # ("$name", its rules)
        self.writes_here_or_below = False
        self.validates_below = False

    def step(self, key: str, bindings: dict[str, str]) -> tuple[RuleNode | None, dict[str, str]]:
        """The rules for child *key* (a named child wins over the wildcard) and the bindings."""
        child = self.children.get(key)
        if child is not None:
            return child, bindings
        if self.wildcard is None:
            return None, bindings
        name, rules = self.wildcard
        return rules, {**bindings, name: key}


def _index_on(value: object, where: str) -> frozenset[str]:
    entries = [value] if isinstance(value, str) else value
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise RulesError(f"{where}: expected a string or a list of strings")
    out = set()
    for entry in entries:
        keys = [key for key in entry.split("/") if key] if entry != ".value" else []
        try:
            for key in keys if keys or entry == ".value" else [""]:
                check_key(key)
        except InvalidPathError as exc:
            raise RulesError(f"{where}: bad index {entry!r}: {exc}") from None
        out.add("/".join(keys) or entry)
    return frozenset(out)


def _build(spec: object, where: str, wildcards: frozenset[str], depth: int = 0) -> RuleNode:
    if not isinstance(spec, dict):
        raise RulesError(f"{where}: expected an object of rules, got {json.dumps(spec)}")
    if depth > MAX_DEPTH:
        raise RulesError(f"{where}: rules nested deeper than paths can go ({MAX_DEPTH} keys)")
    node = RuleNode()
    for key, value in spec.items():
        here = f"{where}/{key}"
        if key == ".read":
            node.read = compile_rule(value, here, READ_VARIABLES | wildcards)
        elif key == ".write":
            node.write = compile_rule(value, here, WRITE_VARIABLES | wildcards)
        elif key == ".validate":
            node.validate = compile_rule(value, here, WRITE_VARIABLES | wildcards)
        elif key == ".indexOn":
            node.index_on = _index_on(value, here)
        elif key.startswith("."):
            known = ".read, .write, .validate or .indexOn"
            raise RulesError(f"{here}: unknown rule type {key} (expected {known})")
        elif key.startswith("$"):
            if node.wildcard is not None:
                raise RulesError(f"{here}: a second wildcard beside {node.wildcard[0]}")
            if key in wildcards:
                raise RulesError(f"{here}: wildcard {key} is already bound above")
            if not re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", key):
                raise RulesError(f"{here}: bad wildcard name (use $ then letters, digits, _)")
            node.wildcard = (key, _build(value, here, wildcards | {key}, depth + 1))
        else:
            try:
                check_key(key)
            except InvalidPathError as exc:
                raise RulesError(f"{here}: {exc}") from None
            node.children[key] = _build(value, here, wildcards, depth + 1)
    below = [*node.children.values(), *([node.wildcard[1]] if node.wildcard else [])]
    node.writes_here_or_below = node.write is not None or any(
        child.writes_here_or_below for child in below
    )
    node.validates_below = any(c.validate is not None or c.validates_below for c in below)
    return node


def _kids(node: Node) -> dict[str, Node]:
    return node if isinstance(node, dict) and ".value" not in node else {}


def _own(node: Node) -> tuple[Node, Node]:
    """What a location holds apart from its children: a leaf value and a priority."""
    if not isinstance(node, dict):
        return node, None
    return node.get(".value"), node.get(".priority")


class _Write:
    """One write check's shared state: the two trees and the variables of every rule."""

    __slots__ = ("after", "auth", "before", "errors", "granted", "now", "root", "validated")

    def __init__(
        self,
        auth: dict[str, Any] | None,
        now: int,
        before: View,
        after: View,
        errors: list[str] | None,
    ) -> None:
        self.auth, self.now, self.before, self.after, self.errors = auth, now, before, after, errors
        self.root = Snapshot(before, ())
        self.validated: set[Path] = set()
        self.granted: dict[Path, bool] = {}
        """Each ``.write`` answer by location: the paths of one update share their ancestors'."""

    def ctx(self, path: Path, bindings: dict[str, str], old: Node, new: Node) -> Ctx:
        data, new_data = Snapshot(self.before, path, old), Snapshot(self.after, path, new)
        return Ctx(self.auth, self.now, self.root, data, new_data, None, bindings, self.errors)

    def valid(self, rule: Rule, path: Path, bindings: dict[str, str], old: Node, new: Node) -> bool:
        """A ``.validate`` at *path* holds, or is skipped: new value null, or checked already."""
        if path in self.validated:
            return True
        self.validated.add(path)
        new_data = Snapshot(self.after, path, new)
        if new is None or (new is UNLOADED and not new_data.exists()):
            return True
        data, auth = Snapshot(self.before, path, old), self.auth
        return rule(Ctx(auth, self.now, self.root, data, new_data, None, bindings, self.errors))


class RuleSet:
    """A loaded rules document; answers whether reads, writes and queries are allowed. Pure:
    no I/O but ``from_file``, and the trees passed in are never mutated. Usage::

        rules = RuleSet.from_json(text)  # or from_file(path), from_document(obj): RulesError
        rules.can_read(path, auth, root, now_ms, query=None)  # query: core.query.Query
        rules.can_write([(path, value), ...], auth, root, now_ms)  # see can_write
        rules.index_defined(path, "$key" | "$value" | "$priority" | "child/path")

    ``auth`` is None or a dict ``{"uid": ..., "provider": ..., "token": {ID token claims}}``;
    ``root`` is the stored tree before any write, looked up through ``view`` if one is given
    (the database's, which may raise PageFaultError); paths are Path tuples. Any rule that fails to
    evaluate (a type error, ``auth.uid`` with no auth, ...) or yields a non-boolean is false;
    pass ``errors=[]`` to collect why (also logged at debug on ``desktop_chat.server.rules``).

    Reads cascade down (a grant cannot be revoked deeper) and never descend. A write at L is
    allowed when a ``.write`` at L or above grants it, or else when every changed child of L is
    allowed by the rules at that child (recursively); a write that changes nothing needs a
    grant. Then every ``.validate`` at and above L, and below L where the value changed, must
    hold wherever the new value is not null (deletes are not validated).
    """

    def __init__(self, root: RuleNode) -> None:
        self._root = root

    @classmethod
    def from_document(cls, document: object) -> RuleSet:
        """Rules from a parsed document ``{"rules": {...}}``."""
        if not isinstance(document, dict) or "rules" not in document:
            raise RulesError('rules file: expected an object {"rules": {...}}')
        for key in document:
            if key != "rules":
                raise RulesError(f"/{key}: unknown top-level key (only 'rules' is allowed)")
        return cls(_build(document["rules"], "/rules", frozenset()))

    @classmethod
    def from_json(cls, text: str) -> RuleSet:
        """Rules from JSON text, which may hold ``//`` and ``/* */`` comments."""
        return cls.from_document(load_json(text))

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> RuleSet:
        """Rules from a JSON file (UTF-8)."""
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesError(f"{path}: cannot read the rules file: {exc}") from None
        return cls.from_json(text)

    @classmethod
    def allow_all(cls) -> RuleSet:
        """Everyone may read and write everything (tests, local development)."""
        return cls.from_document({"rules": {".read": True, ".write": True}})

    @classmethod
    def deny_all(cls) -> RuleSet:
        """Nobody may read or write anything (admins bypass rules elsewhere)."""
        return cls.from_document({"rules": {}})

    def can_read(
        self,
        path: Path,
        auth: dict[str, Any] | None,
        root: Node,
        now_ms: int,
        query: Query | None = None,
        errors: list[str] | None = None,
        view: View | None = None,
    ) -> bool:
        """Whether *auth* may read *path* (with *query*, if one): a ``.read`` at or above it
        must grant. Rule failures are appended to *errors* when it is a list."""
        root_snap = Snapshot(view, ()) if view is not None else Snapshot(plain_view(root), (), root)
        view, variables = root_snap.view, query_variables(query)
        node: RuleNode | None = self._root
        bindings: dict[str, str] = {}
        for depth in range(len(path) + 1):
            if node is None:
                return False
            if node.read not in (None, deny):
                data = Snapshot(view, path[:depth])
                ctx = Ctx(auth, now_ms, root_snap, data, None, variables, bindings, errors)
                if node.read(ctx):
                    return True
            if depth < len(path):
                node, bindings = node.step(path[depth], bindings)
        return False

    def can_write(
        self,
        writes: Sequence[tuple[Path, Node]],
        auth: dict[str, Any] | None,
        root: Node,
        now_ms: int,
        after: View | None = None,
        errors: list[str] | None = None,
        view: View | None = None,
    ) -> bool:
        """Whether *auth* may make *writes* (one set, or a multi-path update): all or nothing.

        Each write is (path, value) with the value in stored form (``normalize``), server
        values resolved with *now_ms*, None to delete. *root* is the tree before. The tree after
        is derived lazily from *root* and *writes*; or pass *after*, a function giving the value
        at any path once all writes are applied. Rule failures are appended to *errors*.
        """
        before = view or plain_view(root)
        check = _Write(auth, now_ms, before, after or AfterTree(root, writes, view), errors)
        for path, _ in writes:
            if not self._write_allowed(path, check):
                return False
        return all(self._valid(path, check) for path, _ in writes)

    def _write_allowed(self, path: Path, check: _Write) -> bool:
        node: RuleNode | None = self._root
        bindings: dict[str, str] = {}
        for depth in range(len(path) + 1):
            if node is None:
                return False
            if node.write not in (None, deny):
                here = path[:depth]
                granted = check.granted.get(here)
                if granted is None:
                    granted = node.write(check.ctx(here, bindings, UNLOADED, UNLOADED))
                    check.granted[here] = granted
                if granted:
                    return True
            if depth < len(path):
                node, bindings = node.step(path[depth], bindings)
        if node is None:
            return False
        old, new = check.before(path), check.after(path)
        if old is new or old == new:
            return False  # a write that changes nothing is allowed only by a grant
        return self._descend(node, path, bindings, old, new, check)

    def _descend(
        self,
        node: RuleNode,
        path: Path,
        bindings: dict[str, str],
        old: Node,
        new: Node,
        check: _Write,
    ) -> bool:
        """Not granted at or above *path*: each changed child must be allowed on its own."""
        if not node.writes_here_or_below or _own(old) != _own(new):
            return False
        old_kids, new_kids = _kids(old), _kids(new)
        for key in old_kids.keys() | new_kids.keys():
            if key == ".priority":
                continue
            old_kid, new_kid = old_kids.get(key), new_kids.get(key)
            if old_kid is new_kid or old_kid == new_kid:
                continue
            child, child_bindings = node.step(key, bindings)
            if child is None:
                return False
            child_path = (*path, key)
            if child.write not in (None, deny) and child.write(
                check.ctx(child_path, child_bindings, old_kid, new_kid)
            ):
                continue
            if not self._descend(child, child_path, child_bindings, old_kid, new_kid, check):
                return False
        return True

    def _valid(self, path: Path, check: _Write) -> bool:
        node: RuleNode | None = self._root
        bindings: dict[str, str] = {}
        after = check.after
        for depth in range(len(path) + 1):
            if node is None:
                return True
            if node.validate is not None:
                here = path[:depth]
                at_write = depth == len(path)  # cheap to look up there; above, maybe not
                old = check.before(here) if at_write else UNLOADED
                new = after(here) if at_write else UNLOADED
                if not check.valid(node.validate, here, bindings, old, new):
                    return False
            if depth < len(path):
                node, bindings = node.step(path[depth], bindings)
        if node is None or not node.validates_below:
            return True
        return self._valid_below(node, path, bindings, check.before(path), after(path), check)

    def _valid_below(
        self,
        node: RuleNode,
        path: Path,
        bindings: dict[str, str],
        old: Node,
        new: Node,
        check: _Write,
    ) -> bool:
        old_kids = _kids(old)
        for key, new_kid in _kids(new).items():
            old_kid = old_kids.get(key)
            if key == ".priority" or old_kid is new_kid or old_kid == new_kid:
                continue
            child, child_bindings = node.step(key, bindings)
            if child is None:
                continue
            child_path = (*path, key)
            if child.validate is not None and not check.valid(
                child.validate, child_path, child_bindings, old_kid, new_kid
            ):
                return False
            if child.validates_below and not self._valid_below(
                child, child_path, child_bindings, old_kid, new_kid, check
            ):
                return False
        return True

    def index_defined(self, path: Path, order_by: str) -> bool:
        """Whether a query at *path* ordered by *order_by* has its index: ``$key`` and
        ``$priority`` always do; ``$value`` needs ``.indexOn: ".value"``; a child path needs
        that path in the ``.indexOn`` of the rules at *path* (wildcards match)."""
        if order_by in ("$key", "$priority"):
            return True
        node: RuleNode | None = self._root
        for key in path:
            if node is None:
                return False
            node, _ = node.step(key, {})
        if node is None:
            return False
        wanted = ".value" if order_by == "$value" else "/".join(k for k in order_by.split("/") if k)
        return wanted in node.index_on
