"""Coverage-guided fuzzing (atheris) of the parsers hostile input reaches, in process; not for CI.

    .venv/bin/pip install atheris==3.0.0
    .venv/bin/python tools/fuzz.py                     # every target with its default budget
    .venv/bin/python tools/fuzz.py --seconds-each 60 --only sse --only rules_expr
    .venv/bin/python tools/fuzz.py --runs 20000        # at most this many inputs per target
    .venv/bin/python tools/fuzz.py --known 'OverflowError: the repetition'   # go past a known bug
    .venv/bin/python tools/fuzz.py --only values --reproduce INPUT_FILE   # one input, traceback

Each target runs in a child process of its own (libFuzzer ends the process when done), with no
server process: the code under test is called directly. The project's own exceptions (the
package roots CoreError, ServerError, ClientError) are the documented answers to bad input; any
other exception, a broken oracle (AssertionError), a 5xx from the REST handler, or one input
running over --timeout seconds (a hang) is a crash. A target that crashes restarts on its corpus
until its budget is spent; crashing inputs and logs are kept in --workdir. The table at the end
gives inputs, seconds and crashes per target.

Rates measured on the 2-core development machine, one target at a time, in inputs per second
(with --known for the bugs already found, so that no target restarts): rest_url ~24,500,
rest_handler ~1,600, values ~4,300, rules_expr ~830, rules_eval ~8,500, sse ~6,100, socketio
~3,900. The default budgets (30+60+40+75+45+30+30 = 310 s; about five and a half minutes of
wall time) give about 1.7 million inputs in all, over the goal of one million; while those bugs
stand, rest_handler, rules_expr and socketio stop after 20 crashes each and it is about 1.6 million.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

INSTALL = "atheris is not installed: run  .venv/bin/pip install atheris==3.0.0"
TIMEOUT = 10
"""Seconds one input may run before libFuzzer calls it a hang."""
MAX_RESTARTS = 20
SCRATCH = Path(tempfile.gettempdir())
"""Where targets make their files (a store, keys): the parent empties it after each child."""
NOW = 1_900_000_000_000
Body = Callable[[bytes], None]
Expected = tuple[type[BaseException], ...]

# --- structured inputs ----------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


UIDS = [*_words("alice bob carol mallory a b"), ""]
CIDS = _words("alice_bob bob_carol alice_carol bob_alice alice_alice a_b_c _ x_")
STRINGS = [
    *UIDS, *CIDS, *_words("timestamp increment text deleted student provider requested"),
    *_words("confirmed 2030-01-01 s1 t1 -Nm0000000000000000a \U0001f600 é a/b a.b $key"),
    "x" * 129, "x" * 769,
]  # fmt: skip
JSON_KEYS = _words(".sv .value .priority 0 1 2 10 -1 007 a b x")
SEED = """{
 "users": {"alice": {"displayName": "Alice", "role": "student"},
           "bob": {"displayName": "Bob", "role": "provider", "photoURL": "p"}},
 "conversations": {"alice_bob": {
   "metadata": {"participants": {"alice": true, "bob": true}, "createdAt": 1},
   "messages": {"-m1": {"senderId": "alice", "receiverId": "bob", "timestamp": 2,
                        "read": false, "type": "text", "text": "hi"},
                "-m2": {"senderId": "bob", "receiverId": "alice", "timestamp": 3, "read": true,
                        "type": "booking_proposal", "text": "book",
                        "slot": {"skillId": "s1", "date": "2030-01-01", "slotId": "t1"}}}}},
 "userConversations": {"alice": {"alice_bob": {
   "otherUser": {"id": "bob", "name": "Bob"}, "unreadCount": 0, "lastMessage": "hi"}}},
 "userStatus": {"alice": {"online": true, "lastSeen": 4}},
 "notifications": {"bob": {"n1": {"kind": "message", "title": "A", "createdAt": 5,
                                  "read": false, "senderId": "alice"}}},
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


def _shipped() -> tuple[Any, dict[str, Any], list[str]]:
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


def _tree() -> Any:
    from desktop_chat.core.values import normalize

    return normalize(json.loads(SEED)).value


def _walk(gen: Gen, rules: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """A path down a rules document (a wildcard takes a likely key) and the rules there."""
    path: list[str] = []
    node: Any = rules
    while gen.num(0, 5) and (names := [k for k in node if not k.startswith(".")]):
        name = gen.pick(names)
        path.append(gen.key() if name.startswith("$") else name)
        node = node[name] if isinstance(node[name], dict) else {}
    return tuple(path), node


def _record(gen: Gen, rules: dict[str, Any], depth: int = 0) -> Any:
    """A value shaped like what the rules at a location expect, with fuzz mixed in."""
    names = [k for k in rules if not k.startswith(".")]
    if not names or depth > 4 or gen.num(0, 7) == 0:
        return gen.pick([NOW, NOW - 1, 0, 1, 5, -1, True, False, None, *STRINGS, gen.value(3)])
    return {
        gen.key() if name.startswith("$") else name: _record(gen, rules[name], depth + 1)
        for name in names
        if gen.num(0, 3)
    }


# --- targets ----------------------------------------------------------------------------------


def rest_url() -> tuple[Body, Expected]:
    """The REST URL as aiohttp hands it over: path keys, query parameters, the query run."""
    import orjson
    from yarl import URL

    from desktop_chat.core.errors import CoreError
    from desktop_chat.core.paths import parse_path
    from desktop_chat.core.query import parse_query
    from desktop_chat.core.tree import get
    from desktop_chat.core.values import render
    from desktop_chat.server.errors import ServerError
    from desktop_chat.server.rules import index_error_message

    rules, tree = _shipped()[0], _tree()

    def body(data: bytes) -> None:
        # aiohttp refuses raw bytes past ASCII in a request target: clients percent-encode them
        target = "".join(chr(b) if b < 0x80 else f"%{b:02X}" for b in data)
        raw_path, _, query_string = target.partition("?")
        try:  # what aiohttp's parser makes of it (it refuses some)
            url = URL.build(path="/" + raw_path, query_string=query_string, encoded=True)
            tail, params = url.path[1:], url.query
        except (ValueError, UnicodeError):
            return
        if not tail.endswith(".json"):
            return
        path, query = parse_path(tail[:-5]), parse_query(params)
        node = get(tree, path)
        if query is not None:
            if query.child_path is not None and not rules.index_defined(path, query.order_by):
                index_error_message(path, query.order_by)
            node = query.apply(node)
        orjson.dumps(render(node, export=params.get("format") == "export"))

    return body, (CoreError, ServerError)


def values() -> tuple[Body, Expected]:
    """Written JSON: normalising, server values, rendering back, ETags; and a round trip."""
    import orjson

    from desktop_chat.core.errors import CoreError
    from desktop_chat.core.tree import get
    from desktop_chat.core.values import etag, normalize, render, resolve_server_values

    tree, keys = _tree(), _shipped()[2]

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
SNAPSHOTS = _words("root data newData data.parent() newData.child($uid)")
SNAPSHOT_CALLS = "val() exists() parent() numChildren() isString() isNumber() isBoolean()"
SNAPSHOT_CALLS += " getPriority() hasChildren() child(%s) hasChild(%s) hasChildren([%s,%s])"
STRING_CALLS = "length contains(%s) beginsWith(%s) endsWith(%s) replace(%s,%s) toLowerCase()"
REGEX = _words(r"^ $ a _ . [a-z] [^0-9] \d \w + * ? {2,3} {99999999999} ( ) (?: | \ / [ ]")
OPERATORS = _words("== === != < <= > >= + - * / % && ||")


def _expression(gen: Gen, depth: int = 0) -> str:
    """A rules expression, mostly well formed, from a small grammar."""
    kind = gen.num(0, 8 if depth < 4 else 1)
    if kind < 2:
        return (
            gen.pick([*_words(ATOMS), "99999999999999999999", "''"]) if kind else repr(gen.text(6))
        )
    if kind in (2, 3, 4):
        call = gen.pick(_words(SNAPSHOT_CALLS if kind < 4 else STRING_CALLS))
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

    tree, keys = _tree(), _shipped()[2]
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

    rules, document, keys = _shipped()
    tree = _tree()
    frozen = orjson.dumps(tree)

    def body(data: bytes) -> None:
        gen = Gen(data, keys)
        uid = gen.pick(UIDS[:4]) if gen.num(0, 5) else gen.text(6)
        auth = None if gen.num(0, 4) == 0 else {"uid": uid, "token": {"sub": uid}}
        writes = []
        for _ in range(gen.num(1, 3)):
            path, here = _walk(gen, document["rules"])
            written = normalize(_record(gen, here) if gen.num(0, 3) else gen.value(), path)
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


def sse() -> tuple[Body, Expected]:
    """The client's SSE parser and Firebase's events, whole and in chunks: both must agree."""
    from desktop_chat.client.errors import ClientError
    from desktop_chat.client.sse import SseParser, apply_event, cancel_message, event_payload
    from desktop_chat.core.errors import CoreError

    def run(chunks: list[bytes], limit: int) -> list[Any]:
        parser, seen, value = SseParser(limit), [], None
        for chunk in chunks:
            for event in parser.feed(chunk):
                seen.append(event)
                if event.event in ("put", "patch"):
                    path, payload = event_payload(event)
                    value = apply_event(value, event.event, path, payload)
                elif event.event in ("cancel", "auth_revoked"):
                    cancel_message(event.data)
        return seen

    def body(data: bytes) -> None:
        step = 1 + data[0] % 7 if data else 1
        chunks = [data[i : i + step] for i in range(0, len(data), step)]
        try:
            small = run(chunks, 64)
        except (ClientError, CoreError):
            small = None
        whole = run([data], 1 << 20)
        assert run(chunks, 1 << 20) == whole, "the events depend on how the bytes were split"
        assert small is None or small == whole

    return body, (ClientError, CoreError)


def socketio() -> tuple[Body, Expected]:
    """What Socket.IO clients send: event payloads, the handshake's auth and its ID token."""
    from desktop_chat.core.errors import CoreError
    from desktop_chat.core.model import other_participant
    from desktop_chat.core.paths import check_key
    from desktop_chat.server.errors import ServerError
    from desktop_chat.server.realtime_auth import _shape, _uid
    from desktop_chat.server.realtime_events import MAX_ID, conversation_payload, typing_payload
    from desktop_chat.server.tokens import TokenIssuer

    issuer = TokenIssuer(Path(tempfile.mkdtemp(dir=SCRATCH)), "fuzz", clock=lambda: 1e9)
    good = issuer.issue("alice", "alice@example.com").split(".")
    keys = ["conversationId", "isTyping", "token", *UIDS[:3], *CIDS[:3]]

    def body(data: bytes) -> None:
        gen = Gen(data, keys, wild=True)
        payload = gen.value()
        if gen.num(0, 2):
            cids = [*CIDS, gen.text(24), gen.value(3), "a" * 769, "\udcff" * 193]
            payload = {"conversationId": gen.pick(cids), "isTyping": gen.pick([True, 1, payload])}
        try:
            if gen.fdp.ConsumeBool():
                cid, typing = typing_payload(payload)
                assert type(typing) is bool
            else:
                cid = conversation_payload(payload)
            assert isinstance(cid, str) and 0 < len(cid) <= MAX_ID
            check_key(cid)
            other_participant(cid, gen.pick(UIDS))
        except (CoreError, ServerError):
            pass
        parts = [*good]
        for _ in range(gen.num(0, 3)):
            parts[gen.num(0, 2)] = gen.pick([gen.text(40), "", "e30", "eyJhbGciOiJub25lIn0"])
        token = gen.pick([".".join(parts), gen.value(2), "x" * 9000])
        if gen.num(0, 15) == 0:  # a token we signed, with odd claims
            claim_values = [NOW // 1000 + 9, 0, -1, True, None, "fuzz", issuer.issuer, "x" * 129]
            claim_values.append(str(gen.fdp.ConsumeUnicodeNoSurrogates(8)))
            names = _words("sub exp iat auth_time aud iss")
            token = issuer.sign({n: gen.pick(claim_values) for n in names if gen.num(0, 4)})
        auth = gen.pick([{"token": token}, token, None, {"token": None}])
        claims = issuer.verify(_shape(auth.get("token") if isinstance(auth, dict) else None))
        assert isinstance(_uid(claims), str)

    return body, (CoreError, ServerError)


def rest_handler() -> tuple[Body, Expected]:
    """The whole REST handler on a live in-process Database: methods, URLs, headers, bodies."""
    import asyncio
    from urllib.parse import quote

    import orjson
    from aiohttp import web
    from aiohttp.http import HttpVersion11, RawRequestMessage
    from aiohttp.streams import StreamReader
    from aiohttp.test_utils import make_mocked_request
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    from desktop_chat.server.access import Access
    from desktop_chat.server.database import Database, SetOp, WriteRequest
    from desktop_chat.server.rest import RestApi, RestSettings
    from desktop_chat.server.store import Store
    from desktop_chat.server.streams import Hub
    from desktop_chat.server.tokens import TokenIssuer

    rules, document, keys = _shipped()
    home = Path(tempfile.mkdtemp(dir=SCRATCH))
    issuer = TokenIssuer(home, "fuzz")
    tokens = [f"Bearer {issuer.issue(uid, f'{uid}@example.com')}" for uid in UIDS[:3]]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    db = Database(Store(home / "store.sqlite"), Hub(), rules)

    async def verify(token: str) -> dict[str, Any]:
        return issuer.verify(token)

    api = RestApi(db, Access("secret", True, verify), RestSettings("fuzz", 4096, 30.0, 1 << 20))
    app = web.Application(client_max_size=4097)
    app.router.add_route("*", "/{tail:.*}", api.handle)
    mock, done = make_mocked_request("GET", "/", loop=loop), [0]
    reset = WriteRequest([SetOp((), _tree())])
    loop.run_until_complete(db.start())

    def headers(gen: Gen) -> list[tuple[str, str]]:
        names = "Authorization X-HTTP-Method-Override if-match if-none-match X-Firebase-ETag"
        words = [*tokens, *_words("Bearer.owner Bearer.secret Bearer. true PUT DELETE PATCH")]
        words = [w.replace(".", " ") for w in words] + _words("null_etag * 0 -1 99999999")
        out = []
        for _ in range(gen.num(0, 4)):
            value = gen.pick(words)
            if gen.num(0, 2) == 0:  # header bytes, as aiohttp decodes them (no control chars)
                raw = gen.fdp.ConsumeBytes(gen.num(0, 16)).decode("utf-8", "surrogateescape")
                raw = "".join(c for c in raw if c >= " " and c != "\x7f")
                value = gen.pick([raw, f"Bearer {raw}", value.replace(".", f".{raw}", 1)])
            out.append((gen.pick([*_words(names), "Content-Type", "Accept", "X-Other"]), value))
        return [(n, v) for n, v in out if "event-stream" not in v]  # a stream never ends

    def target(gen: Gen) -> str:
        path = list(_walk(gen, document["rules"])[0]) if gen.num(0, 3) else list(gen.path(4))
        url = "/" + "/".join(quote(key, safe=gen.pick(["", "/", "$.%"])) for key in path)
        url += gen.pick([".json", ".json", ".json", "", ".js", "/.json"])
        names = "ns orderBy startAt endAt equalTo limitToFirst limitToLast shallow print format"
        names += " auth access_token x-http-method-override"
        words = _words('fuzz true pretty silent export "$key" "timestamp" 1 "a"')
        pairs = [(gen.pick(_words(names)), gen.pick([*words, gen.text(10)])) for _ in range(3)]
        query = "&".join(f"{n}={quote(v, safe='')}" for n, v in pairs[: gen.num(0, 3)])
        return f"{url}?{query}" if query else url

    async def one(gen: Gen) -> None:
        method = gen.pick(_words("GET PUT POST PATCH DELETE HEAD OPTIONS FOO"))
        raw, listed, value = target(gen), headers(gen), gen.value()
        try:
            payload = orjson.dumps(value) if gen.num(0, 4) else gen.fdp.ConsumeBytes(64)
        except TypeError:
            payload = b"{"
        listed.append(("Content-Length", str(len(payload))))  # aiohttp's parser checks it
        path, _, query_string = raw.partition("?")
        url = URL.build(path=path, query_string=query_string, encoded=True)
        encoded = tuple((n.encode(), v.encode("utf-8", "surrogateescape")) for n, v in listed)
        hdrs = CIMultiDictProxy(CIMultiDict(listed))
        message = RawRequestMessage(
            method, raw, HttpVersion11, hdrs, encoded, False, None, False, False, url
        )
        body = StreamReader(mock.protocol, 1 << 16, loop=loop)
        body.feed_data(payload)
        body.feed_eof()
        request = web.Request(message, body, mock.protocol, mock._payload_writer, mock.task, loop)
        match = await app.router.resolve(request)
        if "tail" not in match:  # aiohttp answers by itself (404): our code is not reached
            return
        match.add_app(app)
        request._match_info = match
        before = db.root
        response = await api.handle(request)
        assert isinstance(response, web.Response), type(response)
        answer = response.body if isinstance(response.body, bytes) else b""
        assert response.status < 500, (response.status, answer)
        if 400 <= response.status < 500 and response.status != 412:
            error = orjson.loads(answer or b"null")
            assert isinstance(error, dict) and isinstance(error.get("error"), str), error
            assert db.root is before or db.root == before, "a refused request changed the tree"
        elif response.status == 200 and answer:
            orjson.loads(answer)

    def body(data: bytes) -> None:
        if done[0] % 200 == 0:
            loop.run_until_complete(db.write(reset))
        done[0] += 1
        loop.run_until_complete(one(Gen(data, keys)))

    return body, ()


# --- running ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    build: Callable[[], tuple[Body, Expected]]
    seconds: float
    """The default budget."""
    max_len: int = 4096
    seeds: Callable[[], list[bytes]] = lambda: [b""]
    """The first corpus (a function: it may import the code under test, once instrumented)."""

    @property
    def doc(self) -> str:
        return (self.build.__doc__ or "").strip()


def _rules_seeds() -> list[bytes]:
    """Every expression of the shipped rules (mode "!"), and a small rules file (mode "{")."""
    found = [b'{"rules": {".read": "auth != null", "$k": {".indexOn": ["a", "b/c"]}}}']

    def walk(node: dict[str, Any]) -> None:
        for key, child in node.items():
            if key in (".read", ".write", ".validate") and isinstance(child, str):
                found.append(b"!" + child.encode())
            elif isinstance(child, dict):
                walk(child)

    walk(_shipped()[1])
    return found


TARGETS = {
    target.name: target
    for target in (
        Target("rest_url", rest_url, 30, seeds=lambda: [
            b"users/alan.json?orderBy=%22age%22&limitToLast=1&ns=x", b".json?shallow=true",
            b"bookings.json?orderBy=%22studentId%22&equalTo=%22alice%22&print=pretty",
            b"a/b%2Fc.json?orderBy=%22$key%22&startAt=%22b%22&limitToFirst=2&format=export",
        ]),
        Target("rest_handler", rest_handler, 60),
        Target("values", values, 40, seeds=lambda: [
            b'{"a": {".sv": "timestamp"}, "b": [1, null, {"c": 2.0}], ".priority": 1}',
            b'{".value": 5, ".priority": "p"}', b'[{".sv": {"increment": 1}}]', b'"x"',
        ]),
        Target("rules_expr", rules_expr, 75, max_len=8192, seeds=_rules_seeds),
        Target("rules_eval", rules_eval, 45),
        Target("sse", sse, 30, max_len=8192, seeds=lambda: [
            b'event: put\ndata: {"path": "/", "data": {"a": 1}}\n\n',
            b'\xef\xbb\xbfevent: patch\r\ndata: {"path": "/a",\r\n'
            b'data: "data": {"b/c": 2}}\r\n\r\n',
            b"event: keep-alive\ndata: null\n\n: comment\nretry: 10\nid: 7\n\n",
            b'event: cancel\ndata: "Permission denied"\n\nevent: auth_revoked\ndata: x\n\n',
        ]),
        Target("socketio", socketio, 30),
    )
}  # fmt: skip


@dataclass(slots=True)
class Outcome:
    """What fuzzing one target gave."""

    name: str
    runs: int = 0
    known: int = 0
    """Inputs that raised an error matching --known: counted, not crashes."""
    seconds: float = 0.0
    crashes: list[str] = field(default_factory=list)
    """One entry per crash: why, and the files holding its input and its log."""


def _child(target: Target, args: argparse.Namespace) -> None:
    """Fuzz one target in this process; libFuzzer exits it at the end."""
    import atheris

    global SCRATCH
    SCRATCH = args.workdir / "scratch"
    SCRATCH.mkdir(exist_ok=True)
    with atheris.instrument_imports(include=["desktop_chat"]):
        body, expected = target.build()
    count, done = args.workdir / f"{target.name}.runs", [0, 0]
    known = re.compile("|".join(args.known)) if args.known else None

    def one(data: bytes) -> None:
        done[0] += 1
        if done[0] & 0x3FF == 0:
            count.write_text(f"{done[0]} {done[1]}")
        try:
            body(data)
        except expected:
            pass
        except Exception as exc:
            if known is not None and known.search(f"{type(exc).__name__}: {exc}"):
                done[1] += 1
                return
            count.write_text(f"{done[0]} {done[1]}")
            raise

    corpus = args.workdir / "corpus" / target.name
    corpus.mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(target.seeds()):
        (corpus / f"seed-{index}").write_bytes(seed)
    options = [f"-max_total_time={max(1, round(args.seconds))}", f"-timeout={args.timeout}"]
    options += [f"-max_len={target.max_len}", f"-artifact_prefix={args.workdir}/{target.name}-"]
    options += ["-rss_limit_mb=2048", *([f"-runs={args.runs}"] if args.runs else [])]
    atheris.Setup([sys.argv[0], *options, str(corpus)], one)
    atheris.Fuzz()


_DONE = re.compile(r"^Done (\d+) runs in", re.MULTILINE)
_STAT = re.compile(r"^#(\d+)\s", re.MULTILINE)
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


def _why(log: str) -> str:
    """One line on why a child stopped early."""
    if "Uncaught Python exception" in log:
        lines = log.split("Uncaught Python exception", 1)[1].splitlines()
        return lines[1].strip()[:200] if len(lines) > 1 else "uncaught exception"
    for mark in ("Timeout", "out-of-memory", "deadly signal"):
        if mark in log:
            return mark
    return log.strip().splitlines()[-1] if log.strip() else "died without a word"


def _fuzz(target: Target, seconds: float, args: argparse.Namespace) -> Outcome:
    """Fuzz *target* for *seconds* in child processes, starting a new one after each crash."""
    outcome, start = Outcome(target.name), time.monotonic()
    count = args.workdir / f"{target.name}.runs"
    while True:
        count.unlink(missing_ok=True)
        left = start + seconds - time.monotonic()
        command = [sys.executable, __file__, "--child", target.name, "--seconds", f"{left:.1f}"]
        command += ["--workdir", str(args.workdir), "--timeout", str(args.timeout)]
        command += [f"--known={known}" for known in args.known]
        command += ["--runs", str(args.runs - outcome.runs)] if args.runs else []
        child = subprocess.run(
            command, check=False, capture_output=True, text=True, errors="replace"
        )
        shutil.rmtree(args.workdir / "scratch", ignore_errors=True)
        log = child.stdout + child.stderr
        counted = [int(n) for n in count.read_text().split()] if count.exists() else [0, 0]
        finished = _DONE.search(log)
        stats = [int(n) for n in _STAT.findall(log)]
        outcome.runs += int(finished.group(1)) if finished else max([counted[0], *stats])
        outcome.known += counted[1]
        if child.returncode == 0 and finished:
            break
        artifact = _ARTIFACT.search(log)
        log_file = args.workdir / f"{target.name}-crash-{len(outcome.crashes) + 1}.log"
        log_file.write_text(log)
        where = artifact.group(1) if artifact else "(no input saved)"
        outcome.crashes.append(f"{_why(log)}\n    input: {where}\n    log: {log_file}")
        print(f"  crash: {outcome.crashes[-1]}", flush=True)
        spent = args.runs is not None and outcome.runs >= args.runs
        if start + seconds - time.monotonic() < 2 or spent or len(outcome.crashes) >= MAX_RESTARTS:
            break
    outcome.seconds = time.monotonic() - start
    return outcome


def _table(outcomes: list[Outcome]) -> str:
    """Inputs, seconds, rate, crashes and known errors per target, and their totals."""
    rows = [["target", "inputs", "seconds", "inputs/s", "crashes", "known"]]
    total = Outcome("total", sum(o.runs for o in outcomes), sum(o.known for o in outcomes))
    total.seconds = sum(o.seconds for o in outcomes)
    total.crashes = [crash for o in outcomes for crash in o.crashes]
    for o in [*outcomes, total]:
        rate = f"{o.runs / o.seconds:,.0f}" if o.seconds else "-"
        rows.append([o.name, f"{o.runs:,}", f"{o.seconds:.1f}", rate, str(len(o.crashes))])
        rows[-1].append(f"{o.known:,}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    rule = "-" * len(lines[0])
    return "\n".join([lines[0], rule, *lines[1:-1], rule, lines[-1]])


def _reproduce(target: Target, file: Path) -> int:
    """Run one saved input through *target*, without atheris: a crash shows its traceback."""
    body, expected = target.build()
    try:
        body(file.read_bytes())
    except expected as exc:
        print(f"a documented error: {type(exc).__name__}: {exc}")
        return 0
    print("no error")
    return 0


def main(argv: list[str] | None = None) -> int:
    names = list(TARGETS)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", action="append", choices=names, help="a target (repeatable)")
    parser.add_argument("--seconds-each", type=float, help="one time budget for every target")
    parser.add_argument("--runs", type=int, help="at most this many inputs per target")
    parser.add_argument("--timeout", type=int, default=TIMEOUT, help="hang guard: s per input")
    known = "an error already reported, as a regex on 'Type: message': counted, not a crash"
    parser.add_argument("--known", action="append", default=[], metavar="REGEX", help=known)
    parser.add_argument("--workdir", type=Path, help="corpus and crashes (default: a temp dir)")
    parser.add_argument("--reproduce", type=Path, help="run this one input through --only")
    parser.add_argument("--child", choices=names, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        import atheris  # noqa: F401
    except ImportError:
        print(INSTALL, file=sys.stderr)
        return 2
    if args.reproduce is not None:
        if len(args.only or []) != 1:
            parser.error("--reproduce needs exactly one --only NAME")
        return _reproduce(TARGETS[args.only[0]], args.reproduce)
    if args.child is not None:
        _child(TARGETS[args.child], args)
        return 0
    args.workdir = args.workdir or Path(tempfile.gettempdir()) / "desktop-chat-fuzz"
    args.workdir.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for name in args.only or names:
        target = TARGETS[name]
        seconds = target.seconds if args.seconds_each is None else args.seconds_each
        print(f"{name}, {seconds:g} s: {target.doc}", flush=True)
        outcomes.append(_fuzz(target, seconds, args))
    print()
    print(_table(outcomes))
    crashes = [f"{o.name}: {crash}" for o in outcomes for crash in o.crashes]
    if crashes:
        print("\nCrashes (run one again: tools/fuzz.py --only TARGET --reproduce INPUT):")
        print("\n".join(crashes))
    print(f"\nCorpus, crash inputs and logs: {args.workdir}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
