"""Shared fuzz inputs and the data-layer fuzz targets (values, rules) for tools/fuzz.py."""

# Nothing here imports desktop_chat at module level: the targets import it when built, inside
# atheris.instrument_imports, so that the code under test is instrumented.

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCRATCH = Path(tempfile.gettempdir())
"""Where targets make their files (a store, keys): the parent empties it after each child."""
# The driver's child process rebinds it (fuzz_targets.SCRATCH = ...): read it when building.
NOW = 1_900_000_000_000
Body = Callable[[bytes], None]
Expected = tuple[type[BaseException], ...]

# --- structured inputs ----------------------------------------------------------------------


def wordlist(text: str) -> list[str]:
    return text.split()


UIDS = [*wordlist("alice bob carol mallory a b"), ""]
CIDS = wordlist("alice_bob bob_carol alice_carol bob_alice alice_alice a_b_c _ x_")
STRINGS = [
    *UIDS, *CIDS, *wordlist("timestamp increment text deleted student provider requested"),
    *wordlist("confirmed 2030-01-01 s1 t1 -Nm0000000000000000a \U0001f600 é a/b a.b $key"),
    "x" * 129, "x" * 769,
]  # fmt: skip
JSON_KEYS = wordlist(".sv .value .priority 0 1 2 10 -1 007 a b x")
SEED = """{
 "users": {"alice": {"displayName": "Alice", "role": "student"},
           "bob": {"displayName": "Bob", "role": "provider", "photoURL": "p"}},
 "conversations": {"alice_bob": {
   "metadata": {"participants": {"alice": true, "bob": true}, "createdAt": 1},
   "messages": {"-m0": {"senderId": "alice", "receiverId": "bob", "timestamp": 1,
                        "read": true, "type": "text", "text": "first"},
                "-m1": {"senderId": "alice", "receiverId": "bob", "timestamp": 2,
                        "read": false, "type": "text", "text": "hi"},
                "-m2": {"senderId": "bob", "receiverId": "alice", "timestamp": 3, "read": true,
                        "type": "booking_proposal", "text": "book",
                        "slot": {"skillId": "s1", "date": "2030-01-01", "slotId": "t1"}}}}},
 "userConversations": {"alice": {"alice_bob": {
   "otherUser": {"id": "bob", "name": "Bob"}, "unreadCount": 0, "lastMessage": "hi"}}},
 "userStatus": {"alice": {"online": true, "lastSeen": 4}},
 "notifications": {"bob": {"n0": {"kind": "message", "title": "Z", "createdAt": 4,
                                  "read": true, "senderId": "alice"},
                           "n1": {"kind": "message", "title": "A", "createdAt": 5,
                                  "read": false, "senderId": "alice"},
                           "n2": {"kind": "review", "title": "B", "createdAt": 6,
                                  "read": false}}},
 "blocks": {"carol": {"alice": true}},
 "skills": {"s1": {"providerId": "bob", "title": "Guitar", "price": 10, "durationMinutes": 60}},
 "skillAvailability": {"s1": {"2030-01-01": {"t1": {"start": 1, "end": 2, "available": true}}}},
 "bookings": {"k1": {"skillId": "s1", "date": "2030-01-01", "slotId": "t1", "createdAt": 6,
                     "studentId": "alice", "providerId": "bob", "status": "requested"}}
}"""
"""A small data tree the shipped rules make sense of."""


class Gen:
    """Values, keys and texts carved out of fuzz bytes by a FuzzedDataProvider."""

    def __init__(self, data: bytes, keys: list[str], wild: bool = False) -> None:
        import atheris

        self.fdp = atheris.FuzzedDataProvider(data)
        self.keys = keys
        self.wild = wild
        """Python's json module's values too (python-socketio): lone surrogates, NaN, inf."""

    def num(self, low: int, high: int) -> int:
        return int(self.fdp.ConsumeIntInRange(low, high))

    def pick(self, items: list[Any]) -> Any:
        return items[self.num(0, len(items) - 1)]

    def text(self, size: int = 12) -> str:
        consume = self.fdp.ConsumeUnicode if self.wild else self.fdp.ConsumeUnicodeNoSurrogates
        return str(consume(self.num(0, size)))

    def key(self) -> str:
        return self.pick(self.keys) if self.num(0, 3) else self.text(8)

    def path(self, most: int = 5) -> tuple[str, ...]:
        return tuple(self.key() for _ in range(self.num(0, most)))

    def value(self, depth: int = 0) -> Any:
        kind = self.num(0, 12 if depth < 5 else 5)
        if kind < 2:
            return None if kind == 0 else self.fdp.ConsumeBool()
        if kind == 2:  # orjson gives -2**63 to 2**64 - 1; json (wild), up to 100 digits
            big = 10**99 if self.wild else 2**63
            return self.num(-big, 2 * big - 1) if self.num(0, 1) else self.num(-3, 3)
        if kind == 3:
            return float(self.fdp.ConsumeFloat() if self.wild else self.fdp.ConsumeRegularFloat())
        if kind in (4, 5):
            return self.pick(STRINGS) if kind == 4 else self.text(24)
        if kind in (6, 7, 8):
            return {self.key(): self.value(depth + 1) for _ in range(self.num(0, 4))}
        if kind == 9:
            return [self.value(depth + 1) for _ in range(self.num(0, 4))]
        if kind == 10:
            return {".sv": self.pick(["timestamp", {"increment": self.value(4)}, self.value(4)])}
        if kind == 11:
            return {".value": self.value(depth + 1), ".priority": self.value(depth + 1)}
        deep = self.value(5)
        for _ in range(self.num(25, 40)):
            deep = {self.key(): deep}
        return deep


def shipped() -> tuple[Any, dict[str, Any], list[str]]:
    """The shipped rules as a RuleSet and as a document, and every key they name."""
    from desktop_chat import resources
    from desktop_chat.server.rules import RuleSet
    from desktop_chat.server.rules_parser import load_json

    text = resources.read_text("database.rules.json")
    document, found = load_json(text), set(JSON_KEYS + UIDS[:4] + CIDS[:4])

    def walk(node: Any) -> None:
        for key, child in node.items() if isinstance(node, dict) else ():
            found.add(key)
            walk(child)

    walk(document)
    return RuleSet.from_json(text), document, sorted(found)


def seed_tree() -> Any:
    from desktop_chat.core.values import normalize

    return normalize(json.loads(SEED)).value


def walk_rules(gen: Gen, rules: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """A path down a rules document (a wildcard takes a likely key) and the rules there."""
    path: list[str] = []
    node: Any = rules
    while gen.num(0, 5) and (names := [k for k in node if not k.startswith(".")]):
        name = gen.pick(names)
        path.append(gen.key() if name.startswith("$") else name)
        node = node[name] if isinstance(node[name], dict) else {}
    return tuple(path), node


def record(gen: Gen, rules: dict[str, Any], depth: int = 0) -> Any:
    """A value shaped like what the rules at a location expect, with fuzz mixed in."""
    names = [k for k in rules if not k.startswith(".")]
    if not names or depth > 4 or gen.num(0, 7) == 0:
        return gen.pick([NOW, NOW - 1, 0, 1, 5, -1, True, False, None, *STRINGS, gen.value(3)])
    return {
        gen.key() if name.startswith("$") else name: record(gen, rules[name], depth + 1)
        for name in names
        if gen.num(0, 3)
    }


# --- targets: values and rules ------------------------------------------------------


def values() -> tuple[Body, Expected]:
    """Written JSON: normalising, server values, rendering back, ETags; and a round trip."""
    import orjson

    from desktop_chat.core.errors import CoreError
    from desktop_chat.core.tree import get
    from desktop_chat.core.values import etag, normalize, render, resolve_server_values

    tree, keys = seed_tree(), shipped()[2]

    def body(data: bytes) -> None:
        gen = Gen(data[1:], keys)
        value, base = gen.value(), gen.path(8)
        if data[:1] in (b"{", b"[", b'"'):
            try:
                value, base = orjson.loads(data), ()
            except orjson.JSONDecodeError:
                return  # the server's 400, before any of our code
        written = normalize(value, base)
        node = resolve_server_values(written.value, base, lambda p: get(tree, p), NOW)
        orjson.dumps(render(node))  # what a GET answers must encode
        etag(node)
        again = normalize(orjson.loads(orjson.dumps(render(node, export=True))), base)
        assert again.value == node, f"export does not read back: {node!r} -> {again.value!r}"

    return body, (CoreError,)


ATOMS = "auth auth.uid auth.token.email now $uid $cid true null 0 -1 1.5 1e308 query.equalTo"
SNAPSHOTS = wordlist("root data newData data.parent() newData.child($uid)")
SNAPSHOT_CALLS = "val() exists() parent() numChildren() isString() isNumber() isBoolean()"
SNAPSHOT_CALLS += " getPriority() hasChildren() child(%s) hasChild(%s) hasChildren([%s,%s])"
STRING_CALLS = "length contains(%s) beginsWith(%s) endsWith(%s) replace(%s,%s) toLowerCase()"
REGEX = wordlist(r"^ $ a _ . [a-z] [^0-9] \d \w + * ? {2,3} {99999999999} ( ) (?: | \ / [ ]")
OPERATORS = wordlist("== === != < <= > >= + - * / % && ||")


def _expression(gen: Gen, depth: int = 0) -> str:
    """A rules expression, mostly well formed, from a small grammar."""
    kind = gen.num(0, 8 if depth < 4 else 1)
    if kind < 2:
        return (
            gen.pick([*wordlist(ATOMS), "99999999999999999999", "''"])
            if kind
            else repr(gen.text(6))
        )
    if kind in (2, 3, 4):
        call = gen.pick(wordlist(SNAPSHOT_CALLS if kind < 4 else STRING_CALLS))
        args = tuple(_expression(gen, depth + 1) for _ in range(call.count("%s")))
        receiver = gen.pick(SNAPSHOTS) if kind < 4 else f"({_expression(gen, depth + 1)})"
        return f"{receiver}.{call % args}"
    if kind == 5:
        source = "".join(gen.pick(REGEX) for _ in range(gen.num(0, 8)))
        return f"{_expression(gen, depth + 1)}.matches(/{source}/{gen.pick(['', 'i', 'g'])})"
    if kind == 6:
        op = gen.pick(OPERATORS)
        return f"({_expression(gen, depth + 1)} {op} {_expression(gen, depth + 1)})"
    if kind == 7:
        return f"{gen.pick(['!', '-'])}{_expression(gen, depth + 1)}"
    return "({} ? {} : {})".format(*(_expression(gen, depth + 1) for _ in range(3)))


_INTERNAL = re.compile(r": (TypeError|AttributeError|KeyError|IndexError|NameError|Unbound\w+): ")


def rules_expr() -> tuple[Body, Expected]:
    """Rule expressions and rules files: parsing, compiling, and evaluating both compilations."""
    from desktop_chat.core.errors import CoreError
    from desktop_chat.core.tree import get
    from desktop_chat.core.values import normalize, resolve_server_values
    from desktop_chat.server.errors import ServerError
    from desktop_chat.server.rules import RuleSet
    from desktop_chat.server.rules_compile import compile_rule
    from desktop_chat.server.rules_eval import WRITE_VARIABLES, Ctx, compile_closures
    from desktop_chat.server.rules_values import AfterTree, Snapshot, plain_view

    tree, keys = seed_tree(), shipped()[2]
    variables, where = WRITE_VARIABLES | {"$uid", "$cid"}, "/rules/$uid/$cid/.write"

    def body(data: bytes) -> None:
        mode, gen = data[:1], Gen(data[1:], keys)
        if mode == b"{":
            RuleSet.from_json(data.decode("utf-8", "replace"))
            return
        text = data[1:].decode("utf-8", "replace") if mode == b"!" else _expression(gen)
        generated = compile_rule(text, where, variables)
        closures = compile_closures(text, where, variables)
        path = ("conversations", gen.pick(CIDS), gen.key())
        try:  # a write in stored form, as the rules get it
            stored = normalize(gen.value(2), path).value
        except CoreError:
            stored = None
        write = [(path, resolve_server_values(stored, path, lambda p: get(tree, p), NOW))]
        auth = None if gen.num(0, 3) == 0 else {"uid": gen.pick(UIDS), "token": {}}
        bindings = {"$uid": gen.pick(UIDS), "$cid": gen.pick([*CIDS, gen.text()])}
        answers = []
        for rule in (generated, closures):
            errors: list[str] = []
            before, after = plain_view(tree), AfterTree(tree, write)
            data_, new = Snapshot(before, path), Snapshot(after, path)
            answers.append(
                rule(Ctx(auth, NOW, Snapshot(before, ()), data_, new, None, bindings, errors))
            )
            internal = [e for e in errors if _INTERNAL.search(e)]
            assert not internal, f"a rule failed inside Python: {internal} ({text!r})"
        assert all(type(a) is bool for a in answers), f"not a boolean: {answers} for {text!r}"
        assert answers[0] == answers[1], f"the compilers disagree on {text!r}: {answers}"

    return body, (CoreError, ServerError)


def rules_eval() -> tuple[Body, Expected]:
    """The shipped rules deciding fuzzed reads and writes (multi-path updates too)."""
    import orjson

    from desktop_chat.core.errors import CoreError
    from desktop_chat.core.query import parse_query
    from desktop_chat.core.tree import get
    from desktop_chat.core.values import normalize, resolve_server_values
    from desktop_chat.server.errors import ServerError

    rules, document, keys = shipped()
    tree = seed_tree()
    frozen = orjson.dumps(tree)

    def body(data: bytes) -> None:
        gen = Gen(data, keys)
        uid = gen.pick(UIDS[:4]) if gen.num(0, 5) else gen.text(6)
        auth = None if gen.num(0, 4) == 0 else {"uid": uid, "token": {"sub": uid}}
        writes = []
        for _ in range(gen.num(1, 3)):
            path, here = walk_rules(gen, document["rules"])
            written = normalize(record(gen, here) if gen.num(0, 3) else gen.value(), path)
            value = resolve_server_values(written.value, path, lambda p: get(tree, p), NOW)
            writes.append((path, value))
        allowed = rules.can_write(writes, auth, tree, NOW, errors=[])
        assert type(allowed) is bool
        foreign = any(
            p[:1] in [("users",), ("blocks",)] and p[1:2] not in [(), (uid,)] for p, _ in writes
        )
        assert not (allowed and (auth is None or foreign)), f"{auth} may write {writes}"
        names = ["orderBy", "equalTo", "limitToFirst", "startAt"]
        words = ['"studentId"', '"providerId"', '"$key"', f'"{uid}"', "1", gen.text(5)]
        params = {gen.pick(names): gen.pick(words) for _ in range(gen.num(0, 3))}
        query = parse_query(params) if "orderBy" in params else None
        readable = rules.can_read(writes[0][0], auth, tree, NOW, query, errors=[])
        assert type(readable) is bool and not (readable and auth is None)
        assert orjson.dumps(tree) == frozen, "the rules changed the tree"

    return body, (CoreError, ServerError)


def rules_seeds() -> list[bytes]:
    """Every expression of the shipped rules (mode "!"), and a small rules file (mode "{")."""
    found = [b'{"rules": {".read": "auth != null", "$k": {".indexOn": ["a", "b/c"]}}}']

    def walk(node: dict[str, Any]) -> None:
        for key, child in node.items():
            if key in (".read", ".write", ".validate") and isinstance(child, str):
                found.append(b"!" + child.encode())
            elif isinstance(child, dict):
                walk(child)

    walk(shipped()[1])
    return found
