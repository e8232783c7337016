"""Fuzz targets for what arrives over the wire: REST URLs and requests, SSE, Socket.IO."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import fuzz_targets
from fuzz_targets import (
    CIDS,
    NOW,
    UIDS,
    Body,
    Expected,
    Gen,
    seed_tree,
    shipped,
    walk_rules,
    wordlist,
)


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

    rules, tree = shipped()[0], seed_tree()

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

    issuer = TokenIssuer(
        Path(tempfile.mkdtemp(dir=fuzz_targets.SCRATCH)), "fuzz", clock=lambda: 1e9
    )
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
            names = wordlist("sub exp iat auth_time aud iss")
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
    from desktop_chat.server.history import History
    from desktop_chat.server.rest import RestApi, RestSettings
    from desktop_chat.server.store import Store
    from desktop_chat.server.streams import Hub
    from desktop_chat.server.tokens import TokenIssuer

    rules, document, keys = shipped()
    home = Path(tempfile.mkdtemp(dir=fuzz_targets.SCRATCH))
    issuer = TokenIssuer(home, "fuzz")
    tokens = [f"Bearer {issuer.issue(uid, f'{uid}@example.com')}" for uid in UIDS[:3]]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    history = History(1, grace=0.0)  # (history to and from disk all the time)
    db = Database(Store(home / "store.sqlite"), Hub(), rules, history=history)

    async def verify(token: str) -> dict[str, Any]:
        return issuer.verify(token)

    api = RestApi(db, Access("secret", True, verify), RestSettings("fuzz", 4096, 30.0, 1 << 20))
    app = web.Application(client_max_size=4097)
    app.router.add_route("*", "/{tail:.*}", api.handle)
    mock, done = make_mocked_request("GET", "/", loop=loop), [0]
    reset = WriteRequest([SetOp((), seed_tree())])
    loop.run_until_complete(db.start())

    def headers(gen: Gen) -> list[tuple[str, str]]:
        names = "Authorization X-HTTP-Method-Override if-match if-none-match X-Firebase-ETag"
        words = [*tokens, *wordlist("Bearer.owner Bearer.secret Bearer. true PUT DELETE PATCH")]
        words = [w.replace(".", " ") for w in words] + wordlist("null_etag * 0 -1 99999999")
        out = []
        for _ in range(gen.num(0, 4)):
            value = gen.pick(words)
            if gen.num(0, 2) == 0:  # header bytes, as aiohttp decodes them (no control chars)
                raw = gen.fdp.ConsumeBytes(gen.num(0, 16)).decode("utf-8", "surrogateescape")
                raw = "".join(c for c in raw if c >= " " and c != "\x7f")
                value = gen.pick([raw, f"Bearer {raw}", value.replace(".", f".{raw}", 1)])
            out.append((gen.pick([*wordlist(names), "Content-Type", "Accept", "X-Other"]), value))
        return [(n, v) for n, v in out if "event-stream" not in v]  # a stream never ends

    def target(gen: Gen) -> str:
        path = list(walk_rules(gen, document["rules"])[0]) if gen.num(0, 3) else list(gen.path(4))
        url = "/" + "/".join(quote(key, safe=gen.pick(["", "/", "$.%"])) for key in path)
        url += gen.pick([".json", ".json", ".json", "", ".js", "/.json"])
        names = "ns orderBy startAt endAt equalTo limitToFirst limitToLast shallow print format"
        names += " auth access_token x-http-method-override"
        words = wordlist('fuzz true pretty silent export "$key" "timestamp" 1 "a"')
        pairs = [(gen.pick(wordlist(names)), gen.pick([*words, gen.text(10)])) for _ in range(3)]
        query = "&".join(f"{n}={quote(v, safe='')}" for n, v in pairs[: gen.num(0, 3)])
        return f"{url}?{query}" if query else url

    async def one(gen: Gen) -> None:
        method = gen.pick(wordlist("GET PUT POST PATCH DELETE HEAD OPTIONS FOO"))
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
