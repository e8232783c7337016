"""What the Socket.IO layer reads and writes in the database: in process, over REST, or Firebase."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, quote, urlsplit

import aiohttp
import orjson

from desktop_chat.core.errors import CoreError
from desktop_chat.core.paths import Path, check_key, join
from desktop_chat.core.values import Node, normalize, render
from desktop_chat.server.database import Database, SetOp, WriteRequest
from desktop_chat.server.errors import ServerError

if TYPE_CHECKING:
    import firebase_admin

__all__ = [
    "FirebaseAdminData",
    "LocalData",
    "RealtimeData",
    "RealtimeDataError",
    "RestData",
    "UserStatus",
]

log = logging.getLogger("desktop_chat.server")

MAX_PARALLEL_READS = 8
"""Reads in flight at once for one ``statuses()`` call (HTTP requests or threads)."""


class RealtimeDataError(ServerError):
    """A bad uid or conversation id, or the data backend cannot be read or written now."""


@dataclass(frozen=True, slots=True)
class UserStatus:
    """``userStatus/{uid}``: online now, and when last seen (epoch ms, None if never)."""

    online: bool
    last_seen: int | None


class RealtimeData(Protocol):
    """The reads and writes of presence and rooms, as an admin. Every method raises
    RealtimeDataError for a malformed id or an unreachable backend."""

    async def participants(self, cid: str) -> frozenset[str] | None:
        """The uids marked true in ``conversations/{cid}/metadata/participants``; None if the
        conversation has no participants map (it does not exist)."""
        ...

    async def contacts(self, uid: str) -> frozenset[str]:
        """The ``otherUser.id`` of each entry of ``userConversations/{uid}``, malformed skipped."""
        ...

    async def statuses(self, uids: Collection[str]) -> dict[str, UserStatus]:
        """``userStatus/{uid}`` for each of *uids* that has one."""
        ...

    async def write_status(self, uid: str, online: bool, last_seen: int) -> None:
        """Set ``userStatus/{uid}`` to ``{online, lastSeen}``."""
        ...

    async def close(self) -> None: ...


def _key(value: object, what: str) -> str:
    """*value* if it is a valid key of the data tree, else RealtimeDataError."""
    if not isinstance(value, str):
        raise RealtimeDataError(f"invalid {what}: expected a string, not {type(value).__name__}")
    try:
        check_key(value)
    except CoreError as exc:
        shown = value if len(value) <= 64 else value[:64] + "..."
        raise RealtimeDataError(f"invalid {what} {shown!r}: {exc}") from None
    return value


def _is_key(value: str) -> bool:
    try:
        check_key(value)
    except CoreError:
        return False
    return True


def _status(value: Node) -> UserStatus | None:
    if not isinstance(value, dict):
        return None
    seen = value.get("lastSeen")
    last_seen = int(seen) if isinstance(seen, int | float) and not isinstance(seen, bool) else None
    return UserStatus(online=value.get("online") is True, last_seen=last_seen)


class _TreeData:
    """The parsing shared by every backend; subclasses read and write plain JSON at a path."""

    async def _get(self, path: Path) -> Node:
        raise NotImplementedError

    async def _set(self, path: Path, value: Node) -> None:
        raise NotImplementedError

    async def participants(self, cid: str) -> frozenset[str] | None:
        value = await self._get(
            ("conversations", _key(cid, "conversation id"), "metadata", "participants")
        )
        if not isinstance(value, dict):
            return None
        return frozenset(uid for uid, flag in value.items() if flag is True)

    async def contacts(self, uid: str) -> frozenset[str]:
        entries = await self._get(("userConversations", _key(uid, "uid")))
        found: set[str] = set()
        if isinstance(entries, dict):
            for entry in entries.values():
                other = entry.get("otherUser") if isinstance(entry, dict) else None
                other_id = other.get("id") if isinstance(other, dict) else None
                if isinstance(other_id, str) and other_id != uid and _is_key(other_id):
                    found.add(other_id)
        return frozenset(found)

    async def statuses(self, uids: Collection[str]) -> dict[str, UserStatus]:
        wanted = list(dict.fromkeys(_key(uid, "uid") for uid in uids))
        gate = asyncio.Semaphore(MAX_PARALLEL_READS)

        async def one(uid: str) -> UserStatus | None:
            async with gate:
                return _status(await self._get(("userStatus", uid)))

        found = await asyncio.gather(*(one(uid) for uid in wanted))
        return {
            uid: status for uid, status in zip(wanted, found, strict=True) if status is not None
        }

    async def write_status(self, uid: str, online: bool, last_seen: int) -> None:
        if isinstance(last_seen, bool) or not isinstance(last_seen, int):
            raise RealtimeDataError(f"lastSeen must be epoch milliseconds, not {last_seen!r}")
        await self._set(
            ("userStatus", _key(uid, "uid")), {"online": bool(online), "lastSeen": last_seen}
        )


class LocalData(_TreeData):
    """The in-process Database of this server, as an admin."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def _get(self, path: Path) -> Node:
        try:
            return render(await self.database.read(path))
        except (ServerError, CoreError) as exc:
            raise RealtimeDataError(f"cannot read {join(path)}: {exc}") from None

    async def _set(self, path: Path, value: Node) -> None:
        try:
            written = normalize(value, path)
            request = WriteRequest([SetOp(path, written.value)], written.has_server_values)
            await self.database.write(request)
        except (ServerError, CoreError) as exc:
            raise RealtimeDataError(f"cannot write {join(path)}: {exc}") from None

    async def close(self) -> None:
        return None


class RestData(_TreeData):
    """Our data server over its REST API, with the admin secret (``?auth=``).

    *database_url* is the server's address, with ``?ns=<namespace>`` when it serves another
    namespace than its default, as firebase-admin's ``databaseURL`` takes it.
    """

    def __init__(self, database_url: str, admin_secret: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(database_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RealtimeDataError(
                f"the database URL must be http(s)://host[:port][?ns=name], not {database_url!r}"
            )
        if not admin_secret:
            raise RealtimeDataError("the admin secret of the data server is empty")
        self._base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._params = {**dict(parse_qsl(parts.query)), "auth": admin_secret}
        self._secret = admin_secret
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _url(self, path: Path) -> str:
        return self._base + "/" + "/".join(quote(key, safe="") for key in path) + ".json"

    async def _request(self, method: str, path: Path, body: Node = None) -> Node:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        data = None if method == "GET" else orjson.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else None
        try:
            async with self._session.request(
                method, self._url(path), params=self._params, data=data, headers=headers
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            detail = str(exc).replace(self._secret, "***") or type(exc).__name__
            raise RealtimeDataError(
                f"cannot reach the data server at {self._base} ({method} {join(path)}): {detail}"
            ) from None
        try:
            answer = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            answer = None
        if status != 200:
            message = answer.get("error") if isinstance(answer, dict) else None
            raise RealtimeDataError(
                f"the data server answered {status} to {method} {join(path)}"
                + (f": {message}" if isinstance(message, str) else "")
            )
        if raw and answer is None and raw.strip() != b"null":
            raise RealtimeDataError(f"the data server sent bad JSON for {method} {join(path)}")
        return answer

    async def _get(self, path: Path) -> Node:
        return await self._request("GET", path)

    async def _set(self, path: Path, value: Node) -> None:
        await self._request("PUT", path, value)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class FirebaseAdminData(_TreeData):
    """A Firebase Realtime Database through firebase-admin; each call in a worker thread."""

    def __init__(self, app: firebase_admin.App) -> None:
        try:
            from firebase_admin import db
        except ImportError as exc:
            raise RealtimeDataError(
                f"firebase-admin is needed for a Firebase database ({exc}); "
                "install it with: pip install firebase-admin"
            ) from None
        self._db: Any = db
        self.app = app

    async def _call(self, path: Path, action: str, value: Node = None) -> Node:
        def run() -> Node:
            reference = self._db.reference(join(path), app=self.app)
            if action == "get":
                return reference.get()
            reference.set(value)
            return None

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:  # firebase-admin raises FirebaseError, ValueError, OSError, ...
            raise RealtimeDataError(
                f"Firebase {action} of {join(path)} failed: {type(exc).__name__}: {exc}"
            ) from None

    async def _get(self, path: Path) -> Node:
        return await self._call(path, "get")

    async def _set(self, path: Path, value: Node) -> None:
        await self._call(path, "set", value)

    async def close(self) -> None:
        return None
