"""Sign-in as a service: sign up, sign in, refresh, profile, with throttling of failures."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_chat.server.account_records import Account
from desktop_chat.server.accounts import ACCOUNTS_FILE, AccountStore
from desktop_chat.server.credentials import (
    AuthError,
    ScryptParams,
    normalize_email,
    validate_password,
)
from desktop_chat.server.tokens import TokenError, TokenIssuer, unverified_claims

__all__ = ["TOO_MANY_ATTEMPTS", "AuthService", "AuthSettings", "Session", "Throttle"]

log = logging.getLogger("desktop_chat.server")

TOO_MANY_ATTEMPTS = (
    "TOO_MANY_ATTEMPTS_TRY_LATER : Access to this account has been temporarily disabled due to "
    "many failed login attempts. You can immediately restore it by resetting your password or "
    "you can try again later."
)
_ID_TOKEN_ERRORS = {
    "expired": "TOKEN_EXPIRED",
    "revoked": "TOKEN_EXPIRED",
    "user not found": "USER_NOT_FOUND",
    "user disabled": "USER_DISABLED",
}
MAX_CONCURRENT_HASHES = 4
"""scrypt needs 32 MiB a hash by default: this bounds the memory of a burst of sign-ins."""


@dataclass(frozen=True, slots=True)
class AuthSettings:
    project_id: str = "desktop-chat"
    token_ttl: int = 3600
    scrypt: ScryptParams = field(default_factory=ScryptParams)
    max_failures: int = 5
    window: float = 300.0
    leeway: float = 0.0


@dataclass(frozen=True, slots=True)
class Session:
    """What a successful sign-in (or refresh) hands out."""

    account: Account
    id_token: str
    refresh_token: str
    expires_in: int


class Throttle:
    """Counts failed sign-ins per key (an email, a client address). After *max_failures*
    within *window* seconds the key is locked for *window* seconds."""

    MAX_KEYS = 100_000

    def __init__(
        self, max_failures: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}

    def locked(self, *keys: str) -> bool:
        now = self.clock()
        return any(self._locked_until.get(key, 0.0) > now for key in keys)

    def fail(self, *keys: str) -> None:
        now = self.clock()
        if len(self._failures) + len(self._locked_until) > self.MAX_KEYS:
            self._sweep(now)
        for key in keys:
            recent = [t for t in self._failures.get(key, ()) if t > now - self.window]
            recent.append(now)
            if len(recent) >= self.max_failures:
                self._failures.pop(key, None)
                self._locked_until[key] = now + self.window
                log.warning("too many failed sign-ins for %s: locked for %gs", key, self.window)
            else:
                self._failures[key] = recent

    def succeed(self, key: str) -> None:
        self._failures.pop(key, None)
        self._locked_until.pop(key, None)

    def _sweep(self, now: float) -> None:
        self._locked_until = {k: t for k, t in self._locked_until.items() if t > now}
        self._failures = {
            k: ts for k, ts in self._failures.items() if ts and ts[-1] > now - self.window
        }


class AuthService:
    """The accounts, the token issuer and the throttle of one server."""

    def __init__(self, store: AccountStore, issuer: TokenIssuer, settings: AuthSettings) -> None:
        self.store = store
        self.issuer = issuer
        self.settings = settings
        self.project_id = settings.project_id
        self.throttle = Throttle(settings.max_failures, settings.window)
        self._hashing = asyncio.Semaphore(MAX_CONCURRENT_HASHES)

    @classmethod
    def open(cls, directory: Path, settings: AuthSettings) -> AuthService:
        """Open (or make) the accounts file and the signing key in *directory*. Blocking."""
        store = AccountStore(directory / ACCOUNTS_FILE, settings.scrypt)
        try:
            issuer = TokenIssuer(
                directory, settings.project_id, settings.token_ttl, settings.leeway
            )
        except BaseException:
            store.close()
            raise
        return cls(store, issuer, settings)

    def close(self) -> None:
        self.store.close()

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(function, *args)

    async def _hash(self, function: Callable[..., Any], *args: Any) -> Any:
        async with self._hashing:
            return await asyncio.to_thread(function, *args)

    async def _session(self, account: Account, auth_time: int | None = None) -> Session:
        auth_time = int(time.time()) if auth_time is None else auth_time
        refresh = await self._run(self.store.issue_refresh_token, account.uid, auth_time)
        return Session(account, self._id_token(account, auth_time), refresh, self.issuer.ttl)

    def _id_token(self, account: Account, auth_time: int) -> str:
        return self.issuer.issue(
            account.uid,
            account.email,
            name=account.display_name,
            picture=account.photo_url,
            auth_time=auth_time,
        )

    async def sign_up(self, email: Any, password: Any, display_name: str | None = None) -> Session:
        account: Account = await self._hash(self.store.create, email, password, display_name)
        log.info("new account %s", account.uid)
        return await self._session(await self._run(self.store.record_sign_in, account.uid))

    async def sign_in(self, email: Any, password: Any, client: str) -> Session:
        if email is None:
            raise AuthError("MISSING_EMAIL")
        address = normalize_email(email)
        if password is None or password == "":
            raise AuthError("MISSING_PASSWORD")
        if not isinstance(password, str):
            raise AuthError("INVALID_PASSWORD")
        keys = (f"email:{address}", f"address:{client}")
        if self.throttle.locked(*keys):
            raise AuthError(TOO_MANY_ATTEMPTS)
        account: Account | None = await self._run(self.store.get_by_email, address)
        if account is None:
            self.throttle.fail(*keys)
            raise AuthError("EMAIL_NOT_FOUND")
        matches = await self._hash(self.store.verify_password, account, password)
        if self.throttle.locked(*keys):  # locked while hashing: parallel guesses learn nothing
            raise AuthError(TOO_MANY_ATTEMPTS)
        if not matches:
            self.throttle.fail(*keys)
            raise AuthError("INVALID_PASSWORD")
        if account.disabled:
            raise AuthError("USER_DISABLED")
        self.throttle.succeed(keys[0])
        return await self._session(await self._run(self.store.record_sign_in, account.uid))

    async def refresh(self, refresh_token: str) -> Session:
        grant = await self._run(self.store.redeem_refresh_token, refresh_token)
        if grant is None:
            raise AuthError("INVALID_REFRESH_TOKEN")
        account = grant.account
        if account is None:
            raise AuthError("USER_NOT_FOUND")
        if account.disabled:
            raise AuthError("USER_DISABLED")
        if grant.revoked:
            raise AuthError("TOKEN_EXPIRED")
        id_token = self._id_token(account, grant.auth_time)
        return Session(account, id_token, refresh_token, self.issuer.ttl)

    def check_id_token(self, id_token: str) -> dict[str, Any]:
        """The claims of a valid ID token of an existing, enabled account that was not signed
        out since; no I/O, fast enough for every request. Raises TokenError whose ``reason``
        is the issuer's ("expired", "bad signature", ...) or "user not found",
        "user disabled", "revoked"."""
        claims = self.issuer.verify(id_token)
        refusal = self._refusal(claims)
        if refusal is not None:
            raise refusal
        return claims

    def still_valid(self, claims: dict[str, Any]) -> bool:
        """Whether the account behind claims checked before still takes them: it exists, is
        not disabled, and was not signed out everywhere since they were issued."""
        return self._refusal(claims) is None

    def _refusal(self, claims: dict[str, Any]) -> TokenError | None:
        """Why the account behind *claims* no longer takes them (no I/O), or None."""
        state = self.store.token_state(str(claims.get("sub")))
        if state is None:
            return TokenError("user not found")
        valid_since, disabled = state
        if disabled:
            return TokenError("user disabled")
        issued = claims.get("iat")
        if not isinstance(issued, int | float) or issued < valid_since:
            return TokenError("revoked", "the user signed out everywhere or changed the password")
        return None

    def token_still_valid(self, id_token: str) -> bool:
        """:meth:`still_valid` of a token checked before (its signature is not checked again)."""
        try:
            return self.still_valid(unverified_claims(id_token))
        except TokenError:
            return False

    async def verify_user(self, id_token: str) -> dict[str, Any]:
        """``check_id_token`` as an ``access.UserVerifier``, for the database's requests."""
        return self.check_id_token(id_token)

    async def verify_id_token(self, id_token: Any) -> tuple[dict[str, Any], Account]:
        """The claims and account of a valid, unrevoked ID token of an enabled user.

        AuthError: MISSING_ID_TOKEN, INVALID_ID_TOKEN, TOKEN_EXPIRED (expired or revoked),
        USER_NOT_FOUND, USER_DISABLED.
        """
        if id_token is None or id_token == "":
            raise AuthError("MISSING_ID_TOKEN")
        if not isinstance(id_token, str):
            raise AuthError("INVALID_ID_TOKEN")
        try:
            claims = self.check_id_token(id_token)
        except TokenError as exc:
            raise AuthError(_ID_TOKEN_ERRORS.get(exc.reason, "INVALID_ID_TOKEN")) from exc
        account: Account | None = await self._run(self.store.get, claims["sub"])
        if account is None:
            raise AuthError("USER_NOT_FOUND")
        return claims, account

    async def lookup(self, id_token: Any) -> Account:
        return (await self.verify_id_token(id_token))[1]

    async def update(
        self,
        id_token: Any,
        *,
        display_name: str | None = None,
        photo_url: str | None = None,
        password: str | None = None,
        clear: Sequence[str] = (),
        new_session: bool = False,
    ) -> tuple[Account, Session | None]:
        """Change the profile and / or the password of the token's user. A password change
        revokes every session; *new_session* (or a password change asked to return tokens)
        hands out fresh tokens."""
        claims, account = await self.verify_id_token(id_token)
        uid = account.uid
        if password is not None:
            validate_password(password)  # before any change: all or nothing
        if display_name is not None or photo_url is not None or clear:
            account = await self._run(
                lambda: self.store.update_profile(
                    uid, display_name=display_name, photo_url=photo_url, clear=clear
                )
            )
        auth_time = int(claims.get("auth_time", claims["iat"]))
        if password is not None:
            account = await self._hash(self.store.set_password, uid, password)
            log.info("password changed for %s: sessions revoked", uid)
            auth_time = int(time.time())
        if not new_session:
            return account, None
        return account, await self._session(account, auth_time)

    # operators
    async def find(self, email: str) -> Account:
        account: Account | None = await self._run(self.store.get_by_email, email)
        if account is None:
            raise AuthError("EMAIL_NOT_FOUND", status=404)
        return account

    async def add_user(self, email: Any, password: Any, display_name: str | None) -> Account:
        account: Account = await self._hash(self.store.create, email, password, display_name)
        return account

    async def set_disabled(self, email: str, disabled: bool) -> Account:
        account = await self.find(email)
        result: Account = await self._run(self.store.set_disabled, account.uid, disabled)
        return result

    async def reset_password(self, email: str, password: Any) -> Account:
        account = await self.find(email)
        result: Account = await self._hash(self.store.set_password, account.uid, password)
        self.throttle.succeed(f"email:{account.email}")
        return result

    async def list_users(self) -> list[Account]:
        accounts: list[Account] = await self._run(self.store.list_accounts)
        return accounts

    async def export_users(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = await self._run(self.store.export)
        return records

    async def import_users(self, records: Sequence[Any]) -> int:
        count: int = await self._run(self.store.import_accounts, records)
        return count

    async def get_users(self, uids: Sequence[str], emails: Sequence[str]) -> list[Account]:
        """The accounts with these uids or emails (each once; unknown ones left out)."""

        def find() -> list[Account]:
            found: dict[str, Account] = {}
            for account in [*map(self.store.get, uids), *map(self.store.get_by_email, emails)]:
                if account is not None:
                    found.setdefault(account.uid, account)
            return list(found.values())

        accounts: list[Account] = await self._run(find)
        return accounts
