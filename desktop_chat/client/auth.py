"""Firebase Auth over REST: sign up / in / out, profile, and an ID token kept fresh."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from desktop_chat.client.config import BackendConfig
from desktop_chat.client.errors import (
    AuthError,
    NetworkError,
    ProtocolError,
    ServerError,
    auth_error_from_body,
)
from desktop_chat.client.token_store import RefreshTokenStore, open_token_store
from desktop_chat.client.transport import Backoff, Http, TaskTracker, dumps, wait_set

__all__ = ["UNSET", "AuthClient", "User"]

log = logging.getLogger("desktop_chat.client")

NOT_SIGNED_IN = "NOT_SIGNED_IN"
_FATAL_REFRESH = {"TOKEN_EXPIRED", "INVALID_REFRESH_TOKEN", "USER_DISABLED", "USER_NOT_FOUND"}
"""Refresh answers that mean the session is over: the user has to sign in again."""


class _Unset(enum.Enum):
    UNSET = 0


UNSET = _Unset.UNSET
"""Leave a profile field as it is (None removes it)."""


@dataclass(frozen=True, slots=True)
class User:
    """The signed-in account."""

    uid: str
    email: str | None = None
    display_name: str | None = None
    photo_url: str | None = None


def _text(payload: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = payload.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _pick(asked: str | _Unset | None, answered: str | None, old: str | None) -> str | None:
    """A profile field after an update: what was asked, else what the server says, else old."""
    if asked is None or isinstance(asked, str):
        return asked
    return answered if answered is not None else old


def _lifetime(raw: object) -> float:
    """``expiresIn`` in seconds; a missing or absurd value counts as Firebase's 3600."""
    with contextlib.suppress(ValueError):
        seconds = float(raw) if isinstance(raw, str | int | float) else 0.0
        return seconds if 0 < seconds < 10 * 86400 else 3600.0
    return 3600.0


class AuthClient:
    """Signs in against Firebase Auth (or an emulator, or our server) and keeps the ID token.

    ``await auth.token()`` gives a valid ID token, refreshing it when it is expired or in its
    last ``1 - refresh_fraction`` of life; a tracked background task also refreshes it at
    ``refresh_fraction`` (80 %) of its lifetime. The refresh token goes to the OS keychain,
    or stays in memory where there is none (:attr:`persistent` then is False).
    """

    def __init__(
        self,
        config: BackendConfig,
        *,
        http: Http | None = None,
        token_store: RefreshTokenStore | None = None,
        refresh_fraction: float = 0.8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < refresh_fraction < 1:
            raise ValueError("refresh_fraction must be between 0 and 1")
        self.config = config
        self.http = http if http is not None else Http()
        self._owns_http = http is None
        self._store = token_store
        self.refresh_fraction = refresh_fraction
        self._clock = clock
        self._tasks = TaskTracker("auth")
        self._lock = asyncio.Lock()
        self._restoring = asyncio.Lock()  # held by restore(): token() waits for it
        self._changed = asyncio.Event()
        self._listeners: list[Callable[[User | None], None]] = []
        self.user: User | None = None
        self.last_error: AuthError | None = None
        """Why the session ended by itself (a refused refresh), if it did."""
        self.refreshes = 0
        self._id_token: str | None = None
        self._refresh_token: str | None = None
        self._received = 0.0
        self._lifetime = 0.0
        self._refresher: asyncio.Task[None] | None = None

    @classmethod
    async def create(cls, config: BackendConfig, **kwargs: Any) -> AuthClient:
        """An AuthClient whose token store (keychain or memory) is already chosen."""
        client = cls(config, **kwargs)
        await client.open()
        return client

    async def open(self) -> None:
        """Choose the refresh-token store now (probing the keychain); idempotent."""
        if self._store is None:
            self._store = await open_token_store()

    @property
    def persistent(self) -> bool:
        """True when the refresh token is kept in the OS keychain across restarts."""
        return self._store is not None and self._store.persistent

    @property
    def signed_in(self) -> bool:
        return self.user is not None and self._refresh_token is not None

    @property
    def expires_in(self) -> float:
        """Seconds until the current ID token expires (negative once it has)."""
        return self._received + self._lifetime - self._clock()

    def add_listener(self, callback: Callable[[User | None], None]) -> None:
        """Call *callback* with the user (or None) whenever the session starts or ends."""
        self._listeners.append(callback)

    # requests ----------------------------------------------------------------------------
    async def _post(
        self, url: str, *, body: Any = None, form: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        answer = await self.http.request(
            "POST",
            url,
            params={"key": self.config.auth_key},
            body=dumps(body) if body is not None else None,
            form=form,
        )
        if answer.status != 200:
            error = auth_error_from_body(answer.status, answer.body)
            raise ServerError(answer.status, error.message) if answer.status >= 500 else error
        payload = answer.json("auth answer")
        if not isinstance(payload, dict):
            raise ProtocolError("the auth answer is not a JSON object")
        return payload

    async def _accounts(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._post(f"{self.config.identity_base}/accounts:{action}", body=body)

    # sessions ----------------------------------------------------------------------------
    async def sign_up(self, email: str, password: str, display_name: str | None = None) -> User:
        body: dict[str, Any] = {"email": email, "password": password, "returnSecureToken": True}
        if display_name is not None:
            body["displayName"] = display_name
        user = await self._start_session(await self._accounts("signUp", body))
        if display_name is not None and user.display_name != display_name:
            user = await self.update_profile(display_name=display_name)  # Firebase ignores it
        return user

    async def sign_in(self, email: str, password: str) -> User:
        body = {"email": email, "password": password, "returnSecureToken": True}
        return await self._start_session(await self._accounts("signInWithPassword", body))

    async def restore(self, uid: str) -> User | None:
        """Resume the session of *uid* from the keychain's refresh token, or None if there is
        none (or it is no longer valid: then it is deleted)."""
        async with self._restoring:
            await self.open()
            assert self._store is not None
            stored = await self._store.load(uid)
            if stored is None:
                return None
            try:
                payload = await self._refresh_request(stored)
            except AuthError as exc:
                log.info("stored session of %s is no longer valid: %s", uid, exc.code)
                await self._store.delete(uid)
                return None
            if payload["user_id"] != uid:
                raise ProtocolError("the refreshed token belongs to another account")
            tokens = payload["id_token"], payload["refresh_token"]
            user = await self._install(User(uid), *tokens, payload)
            with contextlib.suppress(AuthError, NetworkError, ProtocolError):
                user = await self._refresh_user()
            return user

    async def _start_session(self, payload: Mapping[str, Any]) -> User:
        uid = _text(payload, "localId")
        id_token = _text(payload, "idToken")
        refresh_token = _text(payload, "refreshToken")
        if uid is None or id_token is None or refresh_token is None:
            raise ProtocolError("the sign-in answer lacks localId, idToken or refreshToken")
        user = User(
            uid,
            _text(payload, "email"),
            _text(payload, "displayName"),
            _text(payload, "profilePicture", "photoUrl"),
        )
        return await self._install(user, id_token, refresh_token, payload)

    async def _install(
        self, user: User, id_token: str, refresh_token: str, payload: Mapping[str, Any]
    ) -> User:
        await self.open()
        assert self._store is not None
        previous = self.user
        self.user = user
        self.last_error = None
        self._id_token, self._received = id_token, self._clock()
        self._lifetime = _lifetime(payload.get("expiresIn", payload.get("expires_in")))
        self._changed.set()
        if refresh_token != self._refresh_token:
            self._refresh_token = refresh_token
            await self._store.save(user.uid, refresh_token)
        if self._refresher is None or self._refresher.done():
            self._refresher = self._tasks.spawn(self._refresh_loop(), "token refresher")
        if previous != user:
            self._notify()
        return user

    def _notify(self) -> None:
        for callback in list(self._listeners):
            try:
                callback(self.user)
            except Exception:
                log.exception("auth listener failed")

    async def sign_out(self, forget: bool = True) -> None:
        """End the session; with *forget*, also delete its refresh token from the keychain."""
        user = self.user
        self.user = None
        self._id_token = self._refresh_token = None
        self._changed.set()
        if self._refresher is not None:
            if self._refresher is not asyncio.current_task():
                self._refresher.cancel()
            self._refresher = None
        if forget and user is not None and self._store is not None:
            await self._store.delete(user.uid)
        if user is not None:
            self._notify()

    async def close(self) -> None:
        """Stop the refresher (the session stays in the keychain) and release the session."""
        await self._tasks.close()
        if self._owns_http:
            await self.http.close()

    # tokens ------------------------------------------------------------------------------
    def _due(self) -> bool:
        return self._clock() >= self._received + self._lifetime * self.refresh_fraction

    async def token(self) -> str:
        """A valid ID token, refreshed first if it is expired or close to expiry (after a
        :meth:`restore` under way). If the refresh fails (no network, say) while the session goes
        on and the old token still has life, the old one is returned; else the failure is raised.
        """
        if self._id_token is None and self._restoring.locked():
            async with self._restoring:
                pass
        if (fresh := self._id_token) is not None and not self._due():
            return fresh
        try:
            return await self.force_refresh(self._id_token)
        except (NetworkError, ProtocolError, AuthError):
            if self.signed_in and self._id_token is not None and self.expires_in > 1:
                return self._id_token
            raise

    async def force_refresh(self, stale: str | None = None) -> str:
        """Refresh the ID token now, unless it already changed since *stale* (so that many
        callers refused with the same old token cause one refresh)."""
        async with self._lock:
            if self._id_token is not None and stale is not None and self._id_token != stale:
                return self._id_token
            return await self.refresh()

    async def refresh(self) -> str:
        """Exchange the refresh token for a new ID token."""
        user, refresh_token = self.user, self._refresh_token
        if user is None or refresh_token is None:
            raise self.last_error or AuthError(NOT_SIGNED_IN, "NOT_SIGNED_IN : sign in first")
        try:
            payload = await self._refresh_request(refresh_token)
        except AuthError as exc:
            if exc.code in _FATAL_REFRESH and self.user is user:
                log.warning("session of %s ended: refresh refused (%s)", user.uid, exc.code)
                await self.sign_out(forget=True)
                self.last_error = exc
            raise
        if self.user is not user:  # signed out (or in as someone else) meanwhile
            raise AuthError(NOT_SIGNED_IN, "NOT_SIGNED_IN : the session ended during a refresh")
        if payload["user_id"] != user.uid:
            raise ProtocolError("the refreshed token belongs to another account")
        self.refreshes += 1
        await self._install(user, payload["id_token"], payload["refresh_token"], payload)
        assert self._id_token is not None
        return self._id_token

    async def _refresh_request(self, refresh_token: str) -> dict[str, Any]:
        payload = await self._post(
            f"{self.config.securetoken_base}/token",
            form={"grant_type": "refresh_token", "refresh_token": refresh_token},
        )
        for name in ("id_token", "user_id"):
            if not isinstance(payload.get(name), str) or not payload[name]:
                raise ProtocolError(f"the refresh answer lacks {name}")
        if not isinstance(payload.get("refresh_token"), str) or not payload["refresh_token"]:
            payload["refresh_token"] = refresh_token
        return payload

    async def _refresh_loop(self) -> None:
        backoff = Backoff(base=1.0, cap=60.0)
        while self._refresh_token is not None:
            self._changed.clear()
            delay = self._received + self._lifetime * self.refresh_fraction - self._clock()
            if delay > 0:
                await wait_set(self._changed, delay)
                continue  # recompute: the token may have changed meanwhile
            try:
                await self.force_refresh(self._id_token)
                backoff.reset()
            except (NetworkError, ProtocolError, AuthError) as exc:
                if not self.signed_in:  # refused for good: the session is over
                    log.warning("token refresh failed: %s", exc)
                    return
                wait = backoff.next_delay()
                log.info("token refresh failed (%s); retrying in %.1f s", exc, wait)
                await wait_set(self._changed, wait)

    # profile -----------------------------------------------------------------------------
    async def lookup(self) -> dict[str, Any]:
        """The account's record (``localId``, ``email``, ``displayName``, ...)."""
        payload = await self._accounts("lookup", {"idToken": await self.token()})
        users = payload.get("users")
        if not isinstance(users, list) or not users or not isinstance(users[0], dict):
            raise ProtocolError("the lookup answer lacks users[0]")
        info: dict[str, Any] = users[0]
        return info

    async def _refresh_user(self) -> User:
        info = await self.lookup()
        if self.user is None or info.get("localId") != self.user.uid:
            raise ProtocolError("the lookup answer is about another account")
        user = User(
            self.user.uid, _text(info, "email"), _text(info, "displayName"), _text(info, "photoUrl")
        )
        if user != self.user:
            self.user = user
            self._notify()
        return user

    async def update_profile(
        self,
        *,
        display_name: str | _Unset | None = UNSET,
        photo_url: str | _Unset | None = UNSET,
    ) -> User:
        """Set (a string) or remove (None) the display name and photo URL."""
        body: dict[str, Any] = {"idToken": await self.token(), "returnSecureToken": False}
        deletions = []
        for name, field, attribute in (
            ("displayName", display_name, "DISPLAY_NAME"),
            ("photoUrl", photo_url, "PHOTO_URL"),
        ):
            if field is None:
                deletions.append(attribute)
            elif not isinstance(field, _Unset):
                body[name] = field
        if deletions:
            body["deleteAttribute"] = deletions
        payload = await self._accounts("update", body)
        if self.user is None or payload.get("localId", self.user.uid) != self.user.uid:
            raise ProtocolError("the update answer is about another account")
        self.user = User(
            self.user.uid,
            _text(payload, "email") or self.user.email,
            _pick(display_name, _text(payload, "displayName"), self.user.display_name),
            _pick(photo_url, _text(payload, "photoUrl"), self.user.photo_url),
        )
        self._notify()
        return self.user
