"""Hostile input for tests/integration/test_hostile_surfaces.py: a staged server, strategies."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from desktop_chat import resources
from desktop_chat.server.rules_parser import load_json
from tests.support.chat import FAST
from tests.support.server import ServerProcess
from tests.support.sockets import account, link

T = TypeVar("T")
NO_LIMITS = [
    f"--limit={what}_per_{who}=0" for what in ("writes", "events") for who in ("user", "address")
]
"""Rate limits off: every input reaches the validation (the limits have tests of their own)."""
LIMIT = 64 * 1024
"""The largest Socket.IO packet the server takes (RealtimeSettings.max_payload)."""
TIMEOUT = 10.0
"""Seconds any one answer may take: past that the server hangs, and the test fails."""


def fuzz(examples: int) -> settings:
    """The same examples on every run (CI repeats itself), however slow the server."""
    slow = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=slow,
    )


@dataclass
class Stage:
    """A server with the shipped rules, three signed-up users and what they share."""

    server: ServerProcess
    uids: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    cids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, directory: Path) -> Stage:
        """Alice and bob share a conversation, bob and carol another; carol blocked alice."""
        stage = cls(ServerProcess(directory, [*FAST, *NO_LIMITS], rules=None).start())
        for name in ("alice", "bob", "carol"):
            stage.uids[name], stage.tokens[name] = account(stage.server, name)
            role = "provider" if name == "bob" else "student"
            stage.server.put(f"users/{stage.uids[name]}", {"displayName": name, "role": role})
        for pair, (a, b) in {"ab": ("alice", "bob"), "bc": ("bob", "carol")}.items():
            stage.cids[pair] = link(stage.server, stage.uids[a], stage.uids[b])
        stage.server.put(f"blocks/{stage.uids['carol']}/{stage.uids['alice']}", True)
        stage.server.put("skills/s1", {"providerId": stage.uids["bob"], "title": "Guitar"})
        return stage

    def fill(self, value: T) -> T:
        """*value* (text, bytes, JSON) with ``~alice`` (a uid), ``~alice-token`` (an ID token),
        ``~ab`` (alice and bob's conversation), ``~big`` and ``~huge`` (packets just under and
        over the limit) filled in. ``~`` is never URL-quoted; the examples stay short."""
        if isinstance(value, dict):
            return {self.fill(k): self.fill(v) for k, v in value.items()}  # type: ignore[return-value]
        if isinstance(value, list):
            return [self.fill(item) for item in value]  # type: ignore[return-value]
        if not isinstance(value, str | bytes):
            return value
        pairs = [("~huge", "y" * (LIMIT + 1)), ("~big", "x" * (LIMIT - 5000))]
        pairs += [(f"~{n}-token", t) for n, t in self.tokens.items()]
        pairs += [(f"~{pair}", cid) for pair, cid in self.cids.items()]
        pairs += [(f"~{n}", uid) for n, uid in self.uids.items()]
        for mark, real in pairs:
            if isinstance(value, str):
                value = value.replace(mark, real)  # type: ignore[assignment]
            else:
                value = value.replace(mark.encode(), real.encode())  # type: ignore[assignment]
        return value

    def survived(self) -> None:
        """The process still runs and never printed a traceback."""
        assert self.server.proc is not None and self.server.proc.poll() is None
        log = "".join(self.server.stderr_lines)
        assert "Traceback" not in log, log[log.index("Traceback") - 300 :][:3000]


class Loop:
    """An asyncio loop in a thread: the async Socket.IO peers, driven from sync hypothesis."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 2 * TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        self.loop.close()


def is_ack(answer: Any) -> bool:
    """``{"ok": true}`` or ``{"ok": false, "error": {"code": 4xx, "message": "..."}}``."""
    if answer == {"ok": True}:
        return True
    error = answer.get("error") if isinstance(answer, dict) else None
    return (
        isinstance(error, dict)
        and answer.get("ok") is False
        and error.get("code") in (400, 401, 403, 429)
        and isinstance(error.get("message"), str)
    )


# --- strategies -------------------------------------------------------------------------------

RULES: dict[str, Any] = load_json(resources.read_text("database.rules.json"))["rules"]


def _rule_paths(node: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for key, child in node.items():
        if not key.startswith(".") and isinstance(child, dict):
            yield from _rule_paths(child, (*path, key))


RULE_PATHS = list(_rule_paths(RULES))
NAMES = sorted({key for path in RULE_PATHS for key in path})
PEOPLE = ["~alice", "~bob", "~carol", "~ab", "~bc", "s1", "k1", "2030-01-01"]
keys = st.sampled_from([*NAMES, *PEOPLE, ".sv", ".priority", "0", "-1"]) | st.text(
    st.characters(codec="utf-8"), max_size=10
)
"""Keys of the tree, good and bad."""
ascii_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)
"""Header text (a leading space would be refused by requests, not by the server)."""
header_bytes = st.binary(max_size=24).map(lambda b: bytes(c for c in b if 0x20 < c != 0x7F))
"""Header bytes past ASCII too: aiohttp hands them over with surrogate escapes."""
WORDS = [*PEOPLE, "student", "provider", "text", "requested", "message", "x" * 5000]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(WORDS),
)
json_values = st.recursive(
    st.one_of(scalars, st.sampled_from([{".sv": "timestamp"}, {".sv": {"increment": 1}}])),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=4),
    max_leaves=12,
)
ODD_BODIES = [b"", b"{", b"NaN", b"1e400", b'{"a": 1,}', b"\xff\xfe", b'{".sv": "x"}', b"[" * 40]
json_bodies = json_values.map(lambda value: json.dumps(value).encode())
bodies = st.one_of(
    st.none(), json_bodies, json_bodies, st.binary(max_size=64), st.sampled_from(ODD_BODIES)
)
HTTP_METHODS = ["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND"]
HTTP_METHODS += ["QUERY", "PURGE", "M-SEARCH", "LINK", "REPORT", "ACL", "COPY", "LOCK", "MERGE"]
methods = st.sampled_from(HTTP_METHODS[:5] * 3 + HTTP_METHODS)
"""Methods aiohttp's parser lets through: another is its own plain 400 (and a traceback in
the log when the connection had served a request before: aiohttp logs that at ERROR)."""
QUERY_WORDS = ['"$key"', '"$value"', '"$priority"', '"timestamp"', '"studentId"', '"~alice"']
QUERY_WORDS += ["1", "-1", "1.5", "null", "true", "pretty", "silent", "export", "{", "%ZZ", "%FF"]
PARAMS = ["orderBy", "startAt", "endAt", "equalTo", "limitToFirst", "limitToLast", "shallow"]
PARAMS += ["print", "format", "ns", "auth", "access_token", "x-http-method-override"]


@st.composite
def urls(draw: st.DrawFn) -> str:
    """A path the rules know (with likely or junk keys for their wildcards), maybe some junk
    below it, maybe a query: each part is often clean, so that the rest gets deep."""
    people = draw(st.sampled_from([st.sampled_from(PEOPLE), keys]))
    parts = [draw(people) if key[0] == "$" else key for key in draw(st.sampled_from(RULE_PATHS))]
    parts += draw(st.lists(keys, max_size=3)) if draw(st.booleans()) else []
    safe = draw(st.sampled_from(["", "", "/", "%", "$.[]"]))
    url = "/" + "/".join(quote(part, safe=safe) for part in parts)
    url += draw(st.sampled_from([".json"] * 6 + ["", ".js", "/.json", ".json/x"]))
    names, words = st.sampled_from(PARAMS) | ascii_text, st.sampled_from(QUERY_WORDS) | st.text()
    pairs = draw(st.lists(st.tuples(names, words), max_size=4)) if draw(st.booleans()) else []
    equals = draw(st.sampled_from(["=", "=", "", "=="]))
    query = "&".join(f"{quote(n, safe='')}{equals}{quote(v, safe='%')}" for n, v in pairs)
    return f"{url}?{query}" if query else url


TOKENS = ["~alice-token", "~bob-token", "Bearer ~alice-token", "Bearer ~bob-token", "Bearer "]
TOKENS += ["Bearer ~alice-token.", "Bearer x~bob-token", "Bearer a.b.c", "Basic abc", "bearer x"]
junk_headers = st.fixed_dictionaries(
    {},
    optional={
        "Authorization": st.sampled_from(TOKENS)
        | ascii_text.map("Bearer {}".format)
        | ascii_text
        | header_bytes,
        "X-HTTP-Method-Override": methods | ascii_text | header_bytes,
        "if-match": st.sampled_from(["null_etag", "*", "x"]) | header_bytes,
        "if-none-match": st.sampled_from(["null_etag", "*"]) | header_bytes,
        "X-Firebase-ETag": st.sampled_from(["true", "TRUE", "false"]) | header_bytes,
        "Content-Type": st.sampled_from(["application/json", "text/plain"]) | header_bytes,
        "Accept": st.sampled_from(["application/json", "*/*", "text/html"]) | ascii_text,
    },
).filter(lambda h: "event-stream" not in str(h.get("Accept", "")))  # a stream never ends
headers = junk_headers | st.sampled_from(TOKENS[2:4]).map(lambda token: {"Authorization": token})


SERVER_TIME = {".sv": "timestamp"}
LIKELY: dict[str, Any] = {
    **dict.fromkeys(["$uid", "senderId", "providerId", "studentId", "bookedBy"], "~me"),
    **dict.fromkeys(["$otherUid", "$participant", "receiverId", "id"], "~other"),
    **dict.fromkeys(["timestamp", "createdAt", "updatedAt", "lastMessageAt"], SERVER_TIME),
    **{"$cid": "~ab", "$messageId": "m1", "$notificationId": "n2", "$bookingId": "k1"},
    **{"$skillId": "s1", "$date": "2030-01-01", "$slotId": "t1", "$other": "other"},
    **{"read": False, "type": "text", "text": "hi", "role": "student", "displayName": "Me"},
    **{"name": "Other", "unreadCount": 0, "kind": "message", "title": "t", "status": "requested"},
    **{"skillId": "s1", "date": "2030-01-01", "slotId": "t1", "price": 1},
}
"""A key or value the shipped rules may well take, by rule name: "~me" and "~other" become the
writer and the other side of alice and bob's conversation."""


def records(rules: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped like what *rules* expect (their children, a wildcard's), mostly with
    likely leaves, sometimes with junk."""
    leaves = scalars | st.just(SERVER_TIME)
    names = [key for key in rules if not key.startswith(".") and isinstance(rules[key], dict)]
    if not names or depth > 3:
        return leaves

    def child(key: str) -> st.SearchStrategy[Any]:
        inner = records(rules[key], depth + 1)
        return st.just(LIKELY[key]) | inner if key in LIKELY else inner

    named = {key: child(key) for key in names if not key.startswith("$")}
    likely = {key: named.pop(key) for key in list(named) if key in LIKELY}
    some = st.fixed_dictionaries({}, optional=named | likely)
    full = st.fixed_dictionaries(likely, optional=named)
    wild: st.SearchStrategy[dict[str, Any]] = st.just({})
    for key in (key for key in names if key.startswith("$")):  # (one at most)
        wild = st.dictionaries(
            st.sampled_from([LIKELY.get(key, "~x"), *PEOPLE]) | keys, child(key), max_size=2
        )
    merged = st.tuples(some | full, wild).map(lambda both: {**both[1], **both[0]})
    return st.one_of(merged, merged, merged, leaves)


def _swap(value: Any, marks: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {_swap(k, marks): _swap(v, marks) for k, v in value.items()}
    return marks.get(value, value) if isinstance(value, str) else value


@st.composite
def writes(draw: st.DrawFn) -> tuple[str, str, Any, str]:
    """(method, path, value, credential): a write the shipped rules have an opinion on, by
    alice or bob (often on their own things), nobody, or a bad token."""
    who = draw(st.sampled_from(["alice", "bob", "alice", "", "x.y.z"]))
    marks = (
        {"~me": "~bob", "~other": "~alice"} if who == "bob" else {"~me": "~alice", "~other": "~bob"}
    )
    path = draw(st.sampled_from(RULE_PATHS))
    rules = RULES
    for key in path:
        rules = rules[key]
    odd = st.sampled_from(PEOPLE) | keys
    parts = [
        k if k[0] != "$" else LIKELY.get(k, "~x") if draw(st.integers(0, 3)) else draw(odd)
        for k in path
    ]
    parts += [draw(keys)] if draw(st.integers(0, 3)) == 0 else []
    method = draw(st.sampled_from(["PUT", "PUT", "PATCH", "POST", "DELETE"]))
    value = _swap(draw(records(rules)), marks)
    token = f"~{who}-token" if who in ("alice", "bob") else who
    return method, "/".join(quote(_swap(part, marks), safe="") for part in parts), value, token


EVENTS = ["join", "leave", "typing", "message", "connect_error", "presence", "user-typing", "x"]
RESERVED = ("connect", "disconnect", "*")
"""Names python-socketio hands to the server's own handlers (refused with an error ack)."""
event_names = st.sampled_from([*EVENTS, *RESERVED]) | st.text(min_size=1, max_size=20)
conversation_ids = st.sampled_from(["~ab", "~bc", "~bob_~alice", "no_one", "a/b", "x" * 800]) | keys
socket_payloads = st.one_of(
    json_values,
    st.binary(max_size=64),
    st.fixed_dictionaries(
        {"conversationId": conversation_ids | scalars},
        optional={"isTyping": st.booleans() | scalars, "extra": json_values},
    ),
    st.sampled_from(["~big", {"conversationId": "~ab", "isTyping": True, "pad": "~big"}]),
)
"""One argument (two are pinned by a test of their own), nothing over the packet limit."""
