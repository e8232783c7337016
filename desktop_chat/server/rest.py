"""The Realtime Database REST API: GET, PUT, POST, PATCH and DELETE on ``/<path>.json``."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass

import orjson
from aiohttp import web

from desktop_chat.core.errors import CoreError
from desktop_chat.core.paths import Path, PushIdGenerator, is_prefix, join, parse_path
from desktop_chat.core.query import QUERY_PARAMS, Query, parse_query
from desktop_chat.core.values import Node, etag, normalize, render
from desktop_chat.server.access import Access, Caller
from desktop_chat.server.database import Database, SetOp, WriteRequest
from desktop_chat.server.errors import HttpError
from desktop_chat.server.limits import LimitError, Limits
from desktop_chat.server.rules_eval import index_error_message
from desktop_chat.server.streams import Listener, stream

__all__ = ["RestApi", "RestSettings", "error_response"]

log = logging.getLogger("desktop_chat.server")

BAD_JSON = "Invalid data; couldn't parse JSON object, array, or value."
TOO_LARGE = "Data to write exceeds the maximum size that can be modified with a single request."
_JSON = "application/json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class RestSettings:
    namespace: str
    max_body: int
    keep_alive: float
    stream_buffer: int


def error_response(error: HttpError) -> web.Response:
    message = error.message.encode("utf-8", "replace").decode()  # (no lone surrogate)
    body = error.body if error.body is not None else orjson.dumps({"error": message})
    return web.Response(
        status=error.status,
        body=body,
        content_type="application/json",
        charset="utf-8",
        headers=error.headers,
    )


def _json_response(
    value: Node, params: Mapping[str, str], status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    option = orjson.OPT_INDENT_2 if params.get("print") == "pretty" else 0
    return web.Response(
        status=status,
        body=orjson.dumps(value, option=option),
        headers={"Content-Type": _JSON, **(headers or {})},
    )


class RestApi:
    """Turns HTTP requests into reads, writes and streams on the Database."""

    def __init__(
        self, db: Database, access: Access, settings: RestSettings, limits: Limits | None = None
    ) -> None:
        self.db = db
        self.access = access
        self.settings = settings
        self.limits = limits or Limits()
        self.push_id = PushIdGenerator()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except HttpError as exc:
            return error_response(exc)
        except LimitError as exc:
            return error_response(HttpError(429, exc.message, {"Retry-After": "1"}))
        except CoreError as exc:
            return error_response(HttpError(400, str(exc)))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        if not tail.endswith(".json"):
            raise HttpError(404, "Not found: Realtime Database paths end in .json")
        path = parse_path(tail[:-5])
        params = request.query
        namespace = params.get("ns")
        if namespace is not None and namespace != self.settings.namespace:
            raise HttpError(404, f"Firebase error. Namespace {namespace!r} does not exist here.")
        method = request.method
        override = request.headers.get("X-HTTP-Method-Override") or params.get(
            "x-http-method-override"
        )
        if method == "POST" and override:
            method = override.upper()
        caller = await self.access.caller(request)
        address = request.remote or "unknown"
        if method == "GET":
            query = self._query(path, params)
            if "text/event-stream" in request.headers.get("Accept", ""):
                listener = Listener(path, query, self.settings.stream_buffer, caller)
                limit = nullcontext() if caller.admin else self.limits.stream(caller.uid, address)
                with limit:
                    return await stream(request, self.db, listener, self.settings.keep_alive)
            return await self._get(request, path, params, query, caller)
        if method not in ("PUT", "POST", "PATCH", "DELETE"):
            raise HttpError(405, f"Method {method} is not supported")
        if not caller.admin:
            self.limits.write(caller.uid, address)
        if set(QUERY_PARAMS) & set(params) or "shallow" in params:
            raise HttpError(400, "Query parameters are only allowed on GET requests")
        body = await self._body(request) if method != "DELETE" else None
        return await self._write(request, method, path, params, body, caller)

    def _query(self, path: Path, params: Mapping[str, str]) -> Query | None:
        """The request's query; ordering by a child needs an ``.indexOn`` in the rules."""
        query = parse_query(params)
        if query is not None and query.child_path is not None:
            rules = self.db.rules
            if not rules.index_defined(path, query.order_by):
                raise HttpError(400, index_error_message(path, query.order_by))
        return query

    async def _get(
        self,
        request: web.Request,
        path: Path,
        params: Mapping[str, str],
        query: Query | None,
        caller: Caller,
    ) -> web.Response:
        if "if-match" in request.headers:
            raise HttpError(400, "if-match is not allowed on GET requests")
        shallow = params.get("shallow") == "true"
        if shallow and (query is not None or "format" in params):
            raise HttpError(400, "Mixing 'shallow' and querying parameters is not supported")
        value = await self.db.read(path, caller, query)
        headers: dict[str, str] = {}
        if request.headers.get("X-Firebase-ETag", "").lower() == "true" or (
            "if-none-match" in request.headers
        ):
            tag = etag(value)
            headers["ETag"] = tag
            if request.headers.get("if-none-match") == tag:
                return web.Response(status=304, headers=headers)
        if query is not None:
            value = query.apply(value)
        if shallow:
            answer: Node = (
                {key: True for key in value if key != ".priority"}
                if isinstance(value, dict) and ".value" not in value
                else render(value)
            )
        else:
            answer = render(value, export=params.get("format") == "export")
        if params.get("print") == "silent":
            return web.Response(status=204, headers=headers)
        return _json_response(answer, params, headers=headers)

    async def _body(self, request: web.Request) -> Node:
        if request.content_length is not None and request.content_length > self.settings.max_body:
            raise HttpError(400, TOO_LARGE)
        try:
            raw = await request.read()  # the app's client_max_size caps chunked bodies too
        except web.HTTPRequestEntityTooLarge:
            raise HttpError(400, TOO_LARGE) from None
        except (ValueError, ConnectionError) as exc:
            raise HttpError(400, f"Could not read the request body: {exc}") from exc
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise HttpError(400, BAD_JSON) from None

    async def _write(
        self,
        request: web.Request,
        method: str,
        path: Path,
        params: Mapping[str, str],
        body: Node,
        caller: Caller,
    ) -> web.Response:
        if_match = request.headers.get("if-match")
        want_etag = request.headers.get("X-Firebase-ETag", "").lower() == "true"
        if if_match is not None and method not in ("PUT", "DELETE"):
            raise HttpError(400, "if-match is only allowed on PUT and DELETE requests")
        pushed: str | None = None
        if method == "PATCH":
            if not isinstance(body, dict):
                raise HttpError(400, "Invalid data; PATCH needs a JSON object")
            write = self._update_request(path, body)
        else:
            if method == "POST":
                pushed = self.push_id()
                path = (*path, pushed)
            written = normalize(body, path)
            write = WriteRequest(
                [SetOp(path, written.value)], written.has_server_values, if_match, want_etag
            )
        write.caller = caller
        result = await self.db.write(write)
        headers = {"ETag": result.etag} if result.etag is not None else None
        if params.get("print") == "silent":
            return web.Response(status=204, headers=headers)
        if pushed is not None:
            return _json_response({"name": pushed}, params, headers=headers)
        if method == "PATCH":
            echo = {key: render(value) for key, value in zip(body, result.values, strict=True)}
            return _json_response(echo, params)
        return _json_response(render(result.values[0]), params, headers=headers)

    def _update_request(self, base: Path, body: dict[str, Node]) -> WriteRequest:
        ops: list[SetOp] = []
        has_server_values = False
        for key, value in body.items():
            target = (*base, *parse_path(key))
            if target == base:
                raise HttpError(400, f"Invalid data; update key {key!r} is empty")
            written = normalize(value, target)
            has_server_values = has_server_values or written.has_server_values
            ops.append(SetOp(target, written.value))
        ordered = sorted(ops, key=lambda op: op.path)
        for first, second in itertools.pairwise(ordered):
            if is_prefix(first.path, second.path):
                raise HttpError(
                    400,
                    f"Invalid data; path {join(first.path)} is an ancestor of "
                    f"{join(second.path)} in the same update",
                )
        return WriteRequest(ops, has_server_values)
