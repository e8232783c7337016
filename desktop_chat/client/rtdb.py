"""The Realtime Database over REST: reads, writes, queries, ETag transactions and streams."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from desktop_chat.client.config import BackendConfig
from desktop_chat.client.errors import (
    InvalidRequestError,
    ProtocolError,
    TokenExpiredError,
    TransactionError,
    database_error,
)
from desktop_chat.client.streams import Subscription
from desktop_chat.client.transport import Answer, Backoff, Gated, Http, TaskTracker, dumps
from desktop_chat.core.errors import CoreError
from desktop_chat.core.paths import Path, join, parse_path
from desktop_chat.core.query import Query, parse_query
from desktop_chat.core.values import normalize

if TYPE_CHECKING:
    from yarl import URL

__all__ = ["MISSING", "Database", "QuerySpec", "StaticToken", "TokenSource"]

log = logging.getLogger("desktop_chat.client")

DEFAULT_KEEPALIVE_TIMEOUT = 60.0
DEFAULT_TRANSACTION_ATTEMPTS = 25


class TokenSource(Protocol):
    """Gives the ID token for ``?auth=`` (AuthClient is one)."""

    async def token(self) -> str: ...

    async def force_refresh(self, stale: str | None = None) -> str: ...


class StaticToken:
    """A fixed credential (the server's admin secret, say): never refreshed."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token

    async def force_refresh(self, stale: str | None = None) -> str:
        return self._token


class _Missing(enum.Enum):
    MISSING = 0


MISSING = _Missing.MISSING
"""A query bound that is not set."""


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """A query in Firebase's terms: ``order_by`` is ``$key``, ``$value``, ``$priority`` or a
    child path; bounds are JSON values; at most one limit."""

    order_by: str
    start_at: Any = MISSING
    start_after: Any = MISSING
    end_at: Any = MISSING
    end_before: Any = MISSING
    equal_to: Any = MISSING
    limit_to_first: int | None = None
    limit_to_last: int | None = None

    def params(self) -> dict[str, str]:
        """The URL parameters, JSON-encoded as Firebase takes them."""
        out = {"orderBy": dumps(self.order_by).decode()}
        for name, value in (
            ("startAt", self.start_at),
            ("startAfter", self.start_after),
            ("endAt", self.end_at),
            ("endBefore", self.end_before),
            ("equalTo", self.equal_to),
            ("limitToFirst", self.limit_to_first),
            ("limitToLast", self.limit_to_last),
        ):
            if value is not MISSING and not (name.startswith("limit") and value is None):
                out[name] = dumps(value).decode()
        return out

    def parsed(self) -> Query:
        """The core query (orders and filters on the client); bad specs raise here."""
        try:
            query = parse_query(self.params())
        except CoreError as exc:
            raise InvalidRequestError(f"bad query: {exc}") from exc
        assert query is not None
        return query


def _path(raw: str | Path) -> Path:
    try:
        return parse_path(raw) if isinstance(raw, str) else parse_path("/".join(raw))
    except CoreError as exc:
        raise InvalidRequestError(str(exc)) from exc


class Database:
    """A Realtime Database client (Firebase, an emulator or our server) over aiohttp.

    Every request carries ``?auth=<ID token>`` from *tokens*; a 401 for the token (expired,
    unparseable) is retried once after a refresh. ``listen`` opens a :class:`Subscription`.
    ``close`` ends every stream and task this object started.
    """

    def __init__(
        self,
        config: BackendConfig,
        tokens: TokenSource | None = None,
        *,
        http: Http | None = None,
        keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.config = config
        self.tokens = tokens
        self.http = http if http is not None else Http()
        self._owns_http = http is None
        self.keepalive_timeout = keepalive_timeout
        self.backoff = backoff
        self.tasks = TaskTracker("database")
        self._base: URL | None = None  # (yarl loads with the first request: start-up time)
        self._params = config.database_params
        self._subscriptions: set[Subscription] = set()

    def url(self, path: Path) -> URL:
        """``<base>/<path>.json``, each key percent-encoded."""
        if self._base is None:
            from yarl import URL

            self._base = URL(self.config.database_base)
        url = self._base
        for key in path[:-1]:
            url = url / key
        return url / f"{path[-1] if path else ''}.json"

    # requests ----------------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        path: str | Path,
        *,
        value: Any = MISSING,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200, 204),
        gate: asyncio.Future[bool] | None = None,
    ) -> Answer:
        where = _path(path)
        data = dumps(value) if value is not MISSING else None
        body = Gated(data, gate) if data is not None and gate is not None else data
        url = self.url(where)
        token = await self.tokens.token() if self.tokens is not None else None
        for attempt in range(2):
            query = {**self._params, **(params or {})}
            if token is not None:
                query["auth"] = token
            answer = await self.http.request(method, url, params=query, body=body, headers=headers)
            if answer.status in ok:
                return answer
            error = database_error(answer.status, answer.body)
            if isinstance(error, TokenExpiredError) and self.tokens is not None and attempt == 0:
                log.info("%s %s: %s; refreshing the token", method, join(where), error.message)
                token = await self.tokens.force_refresh(token)
                continue
            raise error
        raise AssertionError("unreachable")

    async def get(self, path: str | Path = "/", *, shallow: bool = False) -> Any:
        """The value at *path* (None where nothing is stored)."""
        params = {"shallow": "true"} if shallow else None
        return (await self._request("GET", path, params=params, ok=(200,))).json()

    async def get_with_etag(self, path: str | Path = "/") -> tuple[Any, str]:
        """The value and its ETag."""
        answer = await self._request("GET", path, headers={"X-Firebase-ETag": "true"}, ok=(200,))
        etag = answer.headers.get("ETag")
        if not etag:
            raise ProtocolError("the database sent no ETag")
        return answer.json(), etag

    async def set(self, path: str | Path, value: Any) -> None:
        """Replace the value at *path* (None deletes). Server values (``{".sv": ...}``) work."""
        await self._request("PUT", path, value=value, params={"print": "silent"})

    async def update(
        self,
        path: str | Path,
        values: Mapping[str, Any],
        *,
        gate: asyncio.Future[bool] | None = None,
    ) -> None:
        """A multi-path update: each key is a slash path below *path*; all or nothing. With a
        *gate*, nothing is sent before it succeeds (see :class:`Gated`)."""
        if not values:
            return
        for key in values:
            if not isinstance(key, str) or not _path(key):
                raise InvalidRequestError(f"bad update key {key!r}")
        await self._request(
            "PATCH", path, value=dict(values), params={"print": "silent"}, gate=gate
        )

    async def push(self, path: str | Path, value: Any) -> str:
        """Add *value* under a new push ID made by the server; returns the ID."""
        payload = (await self._request("POST", path, value=value, ok=(200,))).json()
        name = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(name, str) or not name:
            raise ProtocolError(f"push answered {payload!r} instead of a name")
        return name

    async def delete(self, path: str | Path) -> None:
        await self._request("DELETE", path, params={"print": "silent"})

    async def query(self, path: str | Path, spec: QuerySpec) -> list[tuple[str, Any]]:
        """The children matching *spec*, ordered as Firebase orders them (the answer is an
        unordered object: the client sorts). Values come in stored form (no arrays)."""
        query = spec.parsed()
        raw = (await self._request("GET", path, params=spec.params(), ok=(200,))).json()
        try:
            node = normalize(raw).value
        except CoreError as exc:
            raise ProtocolError(f"the query answer is not a database value: {exc}") from exc
        return query.ordered(node)

    async def transaction(
        self,
        path: str | Path,
        update: Callable[[Any], Any],
        *,
        max_attempts: int = DEFAULT_TRANSACTION_ATTEMPTS,
    ) -> Any:
        """Compare-and-set: ``update(current)`` gives the new value, written with
        ``if-match``; on 412 it runs again (after a short random pause) on the value and ETag
        of the 412 answer, at most *max_attempts* times. Returns the value written. An
        exception in *update* aborts."""
        value, etag = await self.get_with_etag(path)
        backoff = Backoff(base=0.005, cap=0.25, jitter=1.0)  # spreads colliding writers
        for attempt in range(max_attempts):
            if attempt:
                await asyncio.sleep(backoff.next_delay())
            new_value = update(value)
            answer = await self._request(
                "PUT",
                path,
                value=new_value,
                headers={"if-match": etag, "X-Firebase-ETag": "true"},
                ok=(200, 412),
            )
            if answer.status == 200:
                return answer.json()
            current_etag = answer.headers.get("ETag")
            if not current_etag:
                raise TransactionError(412, "ETag mismatch, and the answer carries no ETag")
            value, etag = answer.json(), current_etag
        raise TransactionError(412, f"gave up after {max_attempts} conflicting attempts")

    # streams -----------------------------------------------------------------------------
    def listen(
        self,
        path: str | Path,
        query: QuerySpec | None = None,
        *,
        keepalive_timeout: float | None = None,
        backoff: Backoff | None = None,
    ) -> Subscription:
        """Stream *path* (optionally a query of it): a :class:`Subscription` whose value
        follows the location and whose async iterator yields each change. *keepalive_timeout*
        and *backoff* override the database's defaults for this stream."""
        where = _path(path)
        params = {**self._params, **(query.params() if query is not None else {})}
        subscription = Subscription(
            self,
            where,
            params,
            query=query.parsed() if query is not None else None,  # bad queries raise now
            keepalive_timeout=keepalive_timeout or self.keepalive_timeout,
            backoff=backoff if backoff is not None else self.backoff(),
        )
        self._subscriptions.add(subscription)
        subscription.add_done_callback(lambda: self._subscriptions.discard(subscription))
        return subscription

    @property
    def subscriptions(self) -> frozenset[Subscription]:
        """Open subscriptions."""
        return frozenset(self._subscriptions)

    async def close(self) -> None:
        """End every stream and task, and close the HTTP session if it is ours."""
        await self.tasks.close()
        if self._owns_http:
            await self.http.close()
