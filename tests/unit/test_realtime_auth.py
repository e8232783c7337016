"""Handshake token checks: our own tokens (AuthService) and Firebase's (firebase-admin)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import firebase_admin
import google.auth.credentials
import google.auth.exceptions
import pytest
from firebase_admin import auth as firebase_auth
from firebase_admin import credentials as firebase_credentials
from firebase_admin import exceptions as firebase_exceptions

from desktop_chat.server.auth_service import AuthService, AuthSettings
from desktop_chat.server.credentials import ScryptParams
from desktop_chat.server.errors import ServerError
from desktop_chat.server.realtime_auth import (
    MAX_TOKEN_BYTES,
    FirebaseVerifier,
    LocalVerifier,
    TokenRefused,
    TokenVerifier,
)
from desktop_chat.server.tokens import TokenIssuer

PROJECT = "realtime-auth"
MISSING: list[object] = [None, "", 5, b"abc", {"token": "x"}, "x" * (MAX_TOKEN_BYTES + 1)]


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


async def refused(verifier: TokenVerifier, token: object) -> TokenRefused:
    with pytest.raises(TokenRefused) as caught:
        await verifier.verify(token)
    return caught.value


@pytest.fixture
def service(tmp_path: Path) -> Iterator[AuthService]:
    auth = AuthService.open(tmp_path, AuthSettings(project_id=PROJECT, scrypt=ScryptParams(n=16)))
    yield auth
    auth.close()


class Recorder:
    """Wraps a check and records what reached it."""

    def __init__(self, check: Callable[[str], Coroutine[Any, Any, dict[str, Any]]]) -> None:
        self.check = check
        self.seen: list[str] = []

    async def __call__(self, token: str) -> dict[str, Any]:
        self.seen.append(token)
        return await self.check(token)


def test_local_tokens(service: AuthService, tmp_path: Path) -> None:
    account = service.store.create("ann@example.com", "secret-1")
    valid = service.issuer.issue(account.uid, account.email)
    past = TokenIssuer(tmp_path, PROJECT, ttl=60, clock=lambda: time.time() - 3600)
    expired = past.issue(account.uid, account.email)  # same key, an hour ago
    other_project = TokenIssuer(tmp_path, "another-project").issue(account.uid, account.email)
    check = Recorder(service.verify_user)
    verifier = LocalVerifier(check)

    async def main() -> None:
        assert await verifier.verify(valid) == account.uid
        refusal = await refused(verifier, expired)
        assert (refusal.code, "expired" in refusal.message) == (401, True)
        for garbage in ("garbage", "a.b.c", valid[:-8] + "AAAAAAAA", other_project):
            refusal = await refused(verifier, garbage)
            assert (refusal.code, refusal.message) == (401, "the ID token is not valid")
        seen = len(check.seen)
        for missing in MISSING:
            assert (await refused(verifier, missing)).code == 401
        assert len(check.seen) == seen  # nothing was asked about missing tokens
        service.store.set_disabled(account.uid, True)
        refusal = await refused(verifier, valid)
        assert (refusal.code, refusal.message) == (401, "the ID token is not valid (user disabled)")

    run(main)


def test_a_check_that_cannot_answer_is_a_503() -> None:
    async def broken(token: str) -> dict[str, Any]:
        raise OSError("disk gone")  # a fault a real AuthService cannot be made to have

    async def no_subject(token: str) -> dict[str, Any]:
        return {"sub": ""}

    async def main() -> None:
        refusal = await refused(LocalVerifier(broken), "a.b.c")
        assert (refusal.code, "try again" in refusal.message) == (503, True)
        assert (await refused(LocalVerifier(no_subject), "a.b.c")).code == 401

    run(main)


@pytest.fixture
def firebase_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[firebase_admin.App]:
    """A firebase-admin app for PROJECT in Auth emulator mode (signatures are not checked)."""
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:1")  # nothing listens there
    app = firebase_admin.initialize_app(
        options={"projectId": PROJECT}, name=f"realtime-auth-{uuid.uuid4().hex}"
    )
    yield app
    firebase_admin.delete_app(app)


def test_firebase_tokens(service: AuthService, firebase_app: firebase_admin.App) -> None:
    account = service.store.create("bob@example.com", "secret-1")
    valid = service.issuer.issue(account.uid, account.email)
    verifier = FirebaseVerifier(firebase_app)
    revoking = FirebaseVerifier(firebase_app, check_revoked=True)

    async def main() -> None:
        assert await verifier.verify(valid) == account.uid
        for garbage in ("garbage", "a.b.c"):
            assert (await refused(verifier, garbage)).code == 401
        for missing in MISSING:
            assert (await refused(verifier, missing)).code == 401
        # check_revoked asks the (unreachable) Auth emulator: cannot check now
        refusal = await refused(revoking, valid)
        assert (refusal.code, "try again" in refusal.message) == (503, True)

    run(main)


def test_firebase_tokens_of_another_project(
    tmp_path: Path, firebase_app: firebase_admin.App
) -> None:
    token = TokenIssuer(tmp_path, "another-project").issue("uid1", "c@example.com")

    async def main() -> None:
        assert (await refused(FirebaseVerifier(firebase_app), token)).code == 401

    run(main)


class AnonymousCredential(firebase_credentials.Base):  # type: ignore[misc]
    """Credentials that sign nothing: enough for firebase-admin to verify ID tokens."""

    def get_credential(self) -> google.auth.credentials.Credentials:
        return google.auth.credentials.AnonymousCredentials()


def test_unreachable_google_certificates_are_a_503(
    service: AuthService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Outside emulator mode firebase-admin fetches Google's certificates: through a dead
    proxy, that fails."""
    for name in ("FIREBASE_AUTH_EMULATOR_HOST", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:1")
    app = firebase_admin.initialize_app(
        AnonymousCredential(),
        options={"projectId": PROJECT},
        name=f"realtime-auth-{uuid.uuid4().hex}",
    )
    try:
        account = service.store.create("dan@example.com", "secret-1")
        token = service.issuer.issue(account.uid, account.email)

        async def main() -> None:
            assert (await refused(FirebaseVerifier(app), token)).code == 503

        run(main)
        assert "cannot fetch Firebase's token certificates" in caplog.text
    finally:
        firebase_admin.delete_app(app)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (firebase_auth.ExpiredIdTokenError("expired", None), 401),
        (firebase_auth.RevokedIdTokenError("revoked"), 401),
        (firebase_auth.UserDisabledError("disabled"), 401),
        (firebase_auth.InvalidIdTokenError("bad"), 401),
        (firebase_auth.CertificateFetchError("no certificates", None), 503),
        (firebase_exceptions.UnavailableError("down"), 503),
        (ValueError("no project id"), 503),
        (google.auth.exceptions.DefaultCredentialsError("no credentials"), 503),
        (RuntimeError("a bug"), 503),
    ],
)
def test_firebase_errors_that_cannot_be_caused_here(
    error: Exception, code: int, firebase_app: firebase_admin.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expired and revoked Google-signed tokens cannot be made in a test: firebase-admin's
    verify_id_token is replaced by one raising its own error."""

    def verify_id_token(token: str, app: Any = None, check_revoked: bool = False) -> Any:
        raise error

    monkeypatch.setattr(firebase_auth, "verify_id_token", verify_id_token)

    async def main() -> None:
        refusal = await refused(FirebaseVerifier(firebase_app), "a.b.c")
        assert refusal.code == code

    run(main)


def test_token_refused_is_a_server_error() -> None:
    refusal = TokenRefused(401, "no")
    assert isinstance(refusal, ServerError)
    assert (refusal.code, refusal.message, str(refusal)) == (401, "no", "401: no")
