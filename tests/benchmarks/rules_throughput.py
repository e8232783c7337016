"""Benchmark 4: signed-in users' message writes per second, full shipped rules vs rules off.

Two servers of the same build run side by side: one with the shipped ``database.rules.json``,
one with rules that let any signed-in user read and write anything. Each gets the same users
(signed up through its own Auth endpoints), profiles and conversations, then wrk drives
``rules.lua`` at each in turn: every request is one user's write with ``?auth=<ID token>``.

- ``create``: a message create, ``PUT /conversations/<cid>/messages/<id>.json`` (the goal);
- ``send``: the app's whole send, one multi-path ``PATCH`` at the root (reported only).

A denial would make a rules run look fast, so any non-2xx fails the row, and the stored
messages must account for every 2xx answer.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import requests

from tests.benchmarks.harness import (
    OWNER_HEADERS,
    BenchResult,
    run_wrk,
    start_server,
    stop_server,
    wrk_errors,
)
from tests.support.auth import sign_up
from tests.support.server import ServerProcess

LUA_SCRIPT = Path(__file__).with_name("rules.lua")
GOAL_RATIO = 0.7
RULES_OFF = {"rules": {".read": "auth != null", ".write": "auth != null"}}
MODES = ("create", "send")
MODE_PREFIX = {"create": "c", "send": "s"}  # rules.lua's message ids start with this


@dataclass(frozen=True, slots=True)
class User:
    uid: str
    token: str
    name: str


@dataclass(frozen=True, slots=True)
class Sender:
    """One direction of one conversation: who writes, to whom, where."""

    cid: str
    sender: User
    receiver: User


def conversation_id(a: str, b: str) -> str:
    return f"{min(a, b)}_{max(a, b)}"


def message(sender: Sender) -> dict[str, Any]:
    """A new text message, exactly as rules.lua writes it."""
    return {
        "senderId": sender.sender.uid,
        "receiverId": sender.receiver.uid,
        "text": "hello",
        "timestamp": {".sv": "timestamp"},
        "read": False,
        "type": "text",
    }


def send_update(sender: Sender, mid: str) -> dict[str, Any]:
    """The whole send as one root PATCH, exactly as rules.lua writes it."""
    cid, me, them = sender.cid, sender.sender.uid, sender.receiver.uid
    now = {".sv": "timestamp"}
    return {
        f"conversations/{cid}/messages/{mid}": message(sender),
        f"conversations/{cid}/metadata/lastMessageAt": now,
        f"userConversations/{me}/{cid}/lastMessage": "hello",
        f"userConversations/{me}/{cid}/lastMessageAt": now,
        f"userConversations/{them}/{cid}/lastMessage": "hello",
        f"userConversations/{them}/{cid}/lastMessageAt": now,
        f"userConversations/{them}/{cid}/unreadCount": {".sv": {"increment": 1}},
        f"notifications/{them}/{mid}": {
            "kind": "message",
            "title": "New message",
            "body": "hello",
            "senderId": me,
            "createdAt": now,
            "read": False,
            "link": {"conversationId": cid},
        },
    }


def _request(
    server: ServerProcess,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    **params: str,
) -> requests.Response:
    """One request to ``/<path>.json``: as *token*'s user (``?auth=``), else as the admin."""
    return requests.request(
        method,
        f"{server.url}/{path}.json",
        params={**params, "auth": token} if token is not None else params,
        data=None if body is None else orjson.dumps(body),
        headers=OWNER_HEADERS if token is None else None,
        timeout=30,
    )


def _ok(response: requests.Response) -> Any:
    if not 200 <= response.status_code < 300:
        raise RuntimeError(
            f"{response.request.method} {response.url.split('?')[0]}: "
            f"HTTP {response.status_code} {response.text[:200]}"
        )
    return response.json() if response.content else None


def seed(server: ServerProcess, users: int) -> list[Sender]:
    """Sign up *users* users, write their profiles, and a conversation between each neighbour.

    User i talks with user i+1 (a ring), so every user is in two conversations and every
    conversation has two senders.
    """
    people: list[User] = []
    for n in range(users):
        account = sign_up(server, f"bench{n}@example.com")
        people.append(User(account["localId"], account["idToken"], f"User {n}"))
    update: dict[str, Any] = {}
    for n, person in enumerate(people):
        update[f"users/{person.uid}"] = {
            "displayName": person.name,
            "role": "provider" if n % 2 else "student",
        }
    senders: list[Sender] = []
    pairs = {tuple(sorted((n, (n + 1) % users))) for n in range(users)}
    for a, b in sorted(pairs):
        one, two = people[a], people[b]
        cid = conversation_id(one.uid, two.uid)
        update[f"conversations/{cid}/metadata"] = {
            "participants": {one.uid: True, two.uid: True},
            "createdAt": {".sv": "timestamp"},
            "lastMessageAt": {".sv": "timestamp"},
        }
        for me, them in ((one, two), (two, one)):
            update[f"userConversations/{me.uid}/{cid}"] = {
                "otherUser": {"id": them.uid, "name": them.name},
                "lastMessage": "",
                "lastMessageAt": {".sv": "timestamp"},
                "unreadCount": 0,
            }
            senders.append(Sender(cid, me, them))
    _ok(_request(server, "PATCH", "", update))
    return senders


def preflight(server: ServerProcess, senders: list[Sender], full_rules: bool) -> None:
    """Every sender's create and send succeed once (warming up), and the rules do bite."""
    for n, sender in enumerate(senders):
        mid = f"w{n}"
        _ok(
            _request(
                server,
                "PUT",
                f"conversations/{sender.cid}/messages/{mid}",
                message(sender),
                sender.sender.token,
            )
        )
        _ok(_request(server, "PATCH", "", send_update(sender, f"{mid}x"), sender.sender.token))
    if full_rules:  # a forged sender, and a second create of an existing id, are refused
        sender = senders[0]
        forged = {**message(sender), "senderId": sender.receiver.uid}
        for body, mid in ((forged, "forged"), (message(sender), "w0")):
            path = f"conversations/{sender.cid}/messages/{mid}"
            response = _request(server, "PUT", path, body, sender.sender.token)
            if response.status_code != 401:
                raise RuntimeError(f"the shipped rules allowed a bad write: {response.status_code}")


def count_stored(server: ServerProcess, senders: list[Sender]) -> dict[str, Any]:
    """Stored messages and notifications per id prefix, and the receivers' unread counts."""
    messages = dict.fromkeys(MODE_PREFIX.values(), 0)
    notifications = dict.fromkeys(MODE_PREFIX.values(), 0)
    for cid in sorted({sender.cid for sender in senders}):
        keys = _ok(_request(server, "GET", f"conversations/{cid}/messages", shallow="true"))
        for key in keys or {}:
            if key[0] in messages:
                messages[key[0]] += 1
    for uid in sorted({sender.receiver.uid for sender in senders}):
        keys = _ok(_request(server, "GET", f"notifications/{uid}", shallow="true"))
        for key in keys or {}:
            if key[0] in notifications:
                notifications[key[0]] += 1
    unread = 0
    for sender in senders:
        entry = _ok(
            _request(server, "GET", f"userConversations/{sender.receiver.uid}/{sender.cid}")
        )
        unread += int(entry["unreadCount"])
    return {"messages": messages, "notifications": notifications, "unread": unread}


def _pairs_file(path: Path, senders: list[Sender]) -> Path:
    path.write_text(
        "".join(f"{s.cid} {s.sender.uid} {s.receiver.uid} {s.sender.token}\n" for s in senders)
    )
    return path


def _run(
    server: ServerProcess,
    pairs: Path,
    mode: str,
    seconds: float,
    connections: int,
    threads: int,
) -> dict[str, Any]:
    summary = run_wrk(server.url, seconds, connections, threads, LUA_SCRIPT, [str(pairs), mode])
    summary["errors"] = wrk_errors(summary)
    return summary


def _check(run: dict[str, Any], stored: int, what: str) -> list[str]:
    """Problems with one wrk run: errors, or stored messages that do not match the 2xx count.

    wrk stops with requests in flight: those may be stored without an answer, so the stored
    count lies between the 2xx answers and the requests written.
    """
    problems = []
    if run["errors"]:
        problems.append(f"{what}: {run['errors']} errors (first: {run['first_failure']!r})")
    if run["ok"] == 0:
        problems.append(f"{what}: no 2xx answers")
    if not run["ok"] <= stored <= run["sent"]:
        problems.append(f"{what}: {stored} stored for {run['ok']} 2xx of {run['sent']} sent")
    return problems


def run_rules(
    seconds: float = 8.0, connections: int = 64, threads: int = 2, users: int = 8
) -> BenchResult:
    """2xx message writes per second with the full rules, as a ratio of the same with rules off.

    The runs alternate (off, full for creates; full, off for sends) so drift over the run
    does not favour either side.
    """
    with tempfile.TemporaryDirectory(prefix="bench-rules-") as tmp:
        directory = Path(tmp)
        off_rules = directory / "rules-off.json"
        off_rules.write_bytes(orjson.dumps(RULES_OFF))
        fast = ["--scrypt-n", "16"]
        servers = {
            "off": start_server(directory / "off", fast, rules=off_rules),
            "full": start_server(directory / "full", fast, rules=None),
        }
        try:
            runs: dict[str, dict[str, dict[str, Any]]] = {"off": {}, "full": {}}
            stored: dict[str, dict[str, Any]] = {}
            senders: dict[str, list[Sender]] = {}
            pairs: dict[str, Path] = {}
            for side, server in servers.items():
                senders[side] = seed(server, users)
                preflight(server, senders[side], full_rules=side == "full")
                pairs[side] = _pairs_file(directory / f"{side}.pairs", senders[side])
            for mode, order in zip(MODES, itertools.cycle([("off", "full"), ("full", "off")])):
                for side in order:
                    runs[side][mode] = _run(
                        servers[side], pairs[side], mode, seconds, connections, threads
                    )
            for side, server in servers.items():
                stored[side] = count_stored(server, senders[side])
        finally:
            for server in servers.values():
                stop_server(server)
    problems: list[str] = []
    for side in ("off", "full"):
        counts = stored[side]
        problems += _check(runs[side]["create"], counts["messages"]["c"], f"{side} create")
        send = runs[side]["send"]
        problems += _check(send, counts["messages"]["s"], f"{side} send")
        # every stored send is whole: its notification and its unread +1 (and the preflight's)
        preflight_sends = len(senders[side])
        if counts["notifications"]["s"] != counts["messages"]["s"]:
            problems.append(f"{side} send: notifications do not match messages: {counts}")
        if counts["unread"] != counts["messages"]["s"] + preflight_sends:
            problems.append(f"{side} send: unread counts do not match messages: {counts}")
    ratios = {
        mode: runs["full"][mode]["per_second"] / runs["off"][mode]["per_second"]
        if runs["off"][mode]["per_second"]
        else 0.0
        for mode in MODES
    }
    full, off = runs["full"]["create"], runs["off"]["create"]
    figure = f"ratio {ratios['create']:.3f} (root PATCH send {ratios['send']:.3f})"
    if problems:
        figure += f" ({len(problems)} problems)"
    return BenchResult(
        name=f"Rules write throughput (wrk {threads}t/{connections}c)",
        ours=f"{full['per_second']:,.0f} msg/s full rules",
        baseline=f"{off['per_second']:,.0f} msg/s rules off",
        figure=figure,
        goal=f">= {GOAL_RATIO}",
        passed=not problems and ratios["create"] >= GOAL_RATIO,
        details={
            "users": users,
            "senders": len(senders["full"]),
            "wrk_seconds": seconds,
            "ratio": ratios["create"],
            "send_ratio": ratios["send"],
            "runs": {
                side: {
                    mode: {key: value for key, value in run.items() if key != "wrk_output"}
                    for mode, run in by_mode.items()
                }
                for side, by_mode in runs.items()
            },
            "wrk_output": {
                f"{side} {mode}": run["wrk_output"]
                for side, by_mode in runs.items()
                for mode, run in by_mode.items()
            },
            "stored": stored,
            "problems": problems,
        },
    )
