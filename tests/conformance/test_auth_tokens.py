"""Our ID tokens as firebase-admin and google-auth (Google's own verifiers) see them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import firebase_admin
import pytest
import requests
from firebase_admin import auth

from tests.support.auth import CERTS, ok, sign_up
from tests.support.server import OWNER, ServerProcess

PROJECT = "conformance-project"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("auth-conformance") / "data"
    process = ServerProcess(data, extra_args=["--scrypt-n", "16", "--project-id", PROJECT])
    yield process.start()
    process.kill()


@pytest.fixture
def admin_app(
    auth_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> Iterator[firebase_admin.App]:
    """A firebase-admin app for our project, in emulator mode against our server."""
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{auth_server.port}")
    app = firebase_admin.initialize_app(
        options={"projectId": PROJECT}, name=f"auth-{uuid.uuid4().hex}"
    )
    yield app
    firebase_admin.delete_app(app)


def test_firebase_admin_accepts_our_id_tokens(
    auth_server: ServerProcess, admin_app: firebase_admin.App
) -> None:
    created = sign_up(auth_server, f"{uuid.uuid4().hex[:8]}@example.com", displayName="Ann")
    claims = auth.verify_id_token(created["idToken"], app=admin_app)
    assert claims["uid"] == claims["sub"] == created["localId"]
    assert claims["email"] == created["email"]
    assert claims["name"] == "Ann"
    assert claims["firebase"]["sign_in_provider"] == "password"
    # check_revoked asks the server (projects/<id>/accounts:lookup) for the user
    claims = auth.verify_id_token(created["idToken"], app=admin_app, check_revoked=True)
    assert claims["uid"] == created["localId"]
    user = auth.get_user(created["localId"], app=admin_app)
    assert (user.email, user.display_name, user.disabled) == (created["email"], "Ann", False)
    assert auth.get_user_by_email(created["email"], app=admin_app).uid == created["localId"]
    with pytest.raises(auth.UserNotFoundError):
        auth.get_user("no-such-uid", app=admin_app)
    disable = requests.post(
        f"{auth_server.url}/_admin/users/{created['email']}:disable", headers=OWNER, timeout=10
    )
    ok(disable)
    with pytest.raises(auth.UserDisabledError):
        auth.verify_id_token(created["idToken"], app=admin_app, check_revoked=True)


def test_firebase_admin_refuses_another_projects_tokens(
    auth_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = sign_up(auth_server, f"{uuid.uuid4().hex[:8]}@example.com")["idToken"]
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{auth_server.port}")
    app = firebase_admin.initialize_app(
        options={"projectId": "some-other-project"}, name=f"auth-{uuid.uuid4().hex}"
    )
    try:
        with pytest.raises(auth.InvalidIdTokenError, match="aud"):
            auth.verify_id_token(token, app=app)
    finally:
        firebase_admin.delete_app(app)


def test_google_auth_verifies_the_signature(auth_server: ServerProcess) -> None:
    """What firebase-admin does outside emulator mode, pointed at our certificates."""
    google_requests = pytest.importorskip("google.auth.transport.requests")
    id_token = pytest.importorskip("google.oauth2.id_token")
    created = sign_up(auth_server, f"{uuid.uuid4().hex[:8]}@example.com")
    certs_url = f"{auth_server.url}/{CERTS}"
    claims = id_token.verify_token(
        created["idToken"], google_requests.Request(), audience=PROJECT, certs_url=certs_url
    )
    assert claims["sub"] == created["localId"]
    header, payload, signature = created["idToken"].split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(ValueError):
        id_token.verify_token(forged, google_requests.Request(), PROJECT, certs_url)
    with pytest.raises(ValueError, match="audience"):
        id_token.verify_token(
            created["idToken"], google_requests.Request(), "other-project", certs_url
        )
