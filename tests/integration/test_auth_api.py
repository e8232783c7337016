"""Firebase Auth REST at the emulator's paths: every answer's fields and every error."""

from __future__ import annotations

import string
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from desktop_chat.server.auth_service import TOO_MANY_ATTEMPTS
from desktop_chat.server.credentials import WEAK_PASSWORD
from tests.support.auth import (
    CERTS,
    PASSWORD,
    decode,
    error_message,
    identity,
    ok,
    refresh,
    sign_in,
    sign_up,
    sign_with_key,
    verify_with_certificates,
)
from tests.support.server import OWNER, ServerProcess

PROJECT = "desktop-chat"
FAST = ["--scrypt-n", "16"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module; failures from 127.0.0.1 add up, hence the high limit."""
    data = tmp_path_factory.mktemp("auth") / "data"
    process = ServerProcess(data, extra_args=[*FAST, "--max-failed-sign-ins", "100"]).start()
    yield process
    process.kill()


@pytest.fixture(scope="module")
def taken(srv: ServerProcess) -> str:
    sign_up(srv, "taken@example.com")
    return "taken@example.com"


def _email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@Example.com"


def _certificates(server: ServerProcess) -> dict[str, str]:
    response = requests.get(f"{server.url}/{CERTS}", timeout=10)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    certificates: dict[str, str] = response.json()
    return certificates


def _admin(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    return requests.request(
        method, f"{server.url}/_admin/{path}", json=body, headers=OWNER, timeout=30
    )


def test_sign_up(srv: ServerProcess) -> None:
    email = _email()
    answer = sign_up(srv, email, displayName="Ann")
    assert set(answer) == {
        "kind", "idToken", "email", "refreshToken", "expiresIn", "localId", "displayName",
    }  # fmt: skip
    assert answer["kind"] == "identitytoolkit#SignupNewUserResponse"
    assert answer["email"] == email.lower()
    assert answer["expiresIn"] == "3600"
    assert answer["displayName"] == "Ann"
    uid = answer["localId"]
    assert len(uid) == 28 and set(uid) <= set(string.ascii_letters + string.digits)
    claims = verify_with_certificates(answer["idToken"], _certificates(srv))
    assert claims["sub"] == claims["user_id"] == uid
    assert claims["aud"] == PROJECT
    assert claims["iss"] == f"https://securetoken.google.com/{PROJECT}"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["email"] == email.lower() and claims["name"] == "Ann"
    assert claims["firebase"] == {
        "identities": {"email": [email.lower()]},
        "sign_in_provider": "password",
    }
    assert "displayName" not in sign_up(srv, _email())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"email": "taken@example.com", "password": PASSWORD}, "EMAIL_EXISTS"),
        ({"email": "TAKEN@example.COM", "password": PASSWORD}, "EMAIL_EXISTS"),
        ({"email": "not-an-email", "password": PASSWORD}, "INVALID_EMAIL"),
        ({"email": 42, "password": PASSWORD}, "INVALID_EMAIL"),
        ({"email": "new@example.com"}, "MISSING_PASSWORD"),
        ({"password": PASSWORD}, "MISSING_EMAIL"),
        ({"email": "new@example.com", "password": "12345"}, WEAK_PASSWORD),
        ({"email": "new@example.com", "password": PASSWORD, "displayName": 7}, "INVALID_JSON"),
        ({}, "ADMIN_ONLY_OPERATION"),
    ],
)
def test_sign_up_errors(srv: ServerProcess, taken: str, body: dict[str, Any], message: str) -> None:
    got = error_message(identity(srv, "signUp", body))
    assert got == message or got.startswith(message + " : ")


def test_malformed_bodies_are_400_never_500(srv: ServerProcess) -> None:
    for action in ("signUp", "signInWithPassword", "lookup", "update"):
        for raw in (b"{bad", b"[1, 2]", b'"text"', b"\xff\xfe"):
            response = identity(srv, action, data=raw)
            assert error_message(response).startswith("INVALID_JSON : "), (action, raw)
    response = requests.post(
        f"{srv.url}/securetoken.googleapis.com/v1/token", data=b"{bad", timeout=10
    )
    assert error_message(response).startswith("INVALID_JSON : ")
    assert error_message(identity(srv, "noSuchThing", {}), 404).startswith("NOT_FOUND")
    response = requests.get(f"{srv.url}/identitytoolkit.googleapis.com/v1/accounts:signUp")
    assert error_message(response, 405).startswith("NOT_FOUND")


def test_sign_in(srv: ServerProcess) -> None:
    email = _email()
    created = sign_up(srv, email, displayName="Bea")
    answer = ok(sign_in(srv, email.upper()))
    assert set(answer) == {
        "kind", "localId", "email", "displayName", "registered", "idToken", "refreshToken",
        "expiresIn",
    }  # fmt: skip
    assert answer["kind"] == "identitytoolkit#VerifyPasswordResponse"
    assert answer["registered"] is True
    assert (answer["localId"], answer["email"]) == (created["localId"], email.lower())
    assert answer["displayName"] == "Bea" and answer["expiresIn"] == "3600"
    assert answer["refreshToken"] != created["refreshToken"]
    verify_with_certificates(answer["idToken"], _certificates(srv))
    other = sign_up(srv, _email())
    assert ok(sign_in(srv, other["email"]))["displayName"] == ""
    assert error_message(sign_in(srv, "nobody@example.com")) == "EMAIL_NOT_FOUND"
    assert error_message(sign_in(srv, email, "wrong-password")) == "INVALID_PASSWORD"
    assert error_message(sign_in(srv, email, "")) == "MISSING_PASSWORD"
    assert error_message(sign_in(srv, "not-an-email")) == "INVALID_EMAIL"


def test_lookup(srv: ServerProcess) -> None:
    email = _email()
    created = sign_up(srv, email, displayName="Cy")
    answer = ok(identity(srv, "lookup", {"idToken": created["idToken"]}))
    assert answer["kind"] == "identitytoolkit#GetAccountInfoResponse"
    (user,) = answer["users"]
    assert user["localId"] == created["localId"]
    assert user["email"] == email.lower()
    assert user["displayName"] == "Cy"
    assert user["emailVerified"] is False and user["disabled"] is False
    assert isinstance(user["passwordUpdatedAt"], int)
    assert user["validSince"].isdigit() and user["createdAt"].isdigit()
    assert user["lastLoginAt"].isdigit()
    assert user["providerUserInfo"] == [
        {
            "providerId": "password",
            "federatedId": email.lower(),
            "email": email.lower(),
            "rawId": email.lower(),
            "displayName": "Cy",
        }
    ]
    assert error_message(identity(srv, "lookup", {"idToken": "garbage"})) == "INVALID_ID_TOKEN"
    assert error_message(identity(srv, "lookup", {})) == "MISSING_ID_TOKEN"
    _, claims = decode(created["idToken"])
    header = decode(created["idToken"])[0]
    ghost = sign_with_key(
        srv.data_dir / "signing-key.pem", header, claims | {"sub": "ghost", "user_id": "ghost"}
    )
    assert error_message(identity(srv, "lookup", {"idToken": ghost})) == "USER_NOT_FOUND"
    old = sign_with_key(srv.data_dir / "signing-key.pem", header, claims | {"iat": 1000})
    assert error_message(identity(srv, "lookup", {"idToken": old})) == "TOKEN_EXPIRED"


def test_update_profile(srv: ServerProcess) -> None:
    created = sign_up(srv, _email())
    token = created["idToken"]
    body = {"idToken": token, "displayName": "Dee", "photoUrl": "https://p/dee.png"}
    answer = ok(identity(srv, "update", body))
    assert answer["kind"] == "identitytoolkit#SetAccountInfoResponse"
    assert (answer["displayName"], answer["photoUrl"]) == ("Dee", "https://p/dee.png")
    assert answer["localId"] == created["localId"] and "idToken" not in answer
    answer = ok(
        identity(
            srv,
            "update",
            {"idToken": token, "deleteAttribute": ["PHOTO_URL"], "returnSecureToken": True},
        )
    )
    assert "photoUrl" not in answer and answer["displayName"] == "Dee"
    claims = decode(answer["idToken"])[1]
    assert claims["name"] == "Dee" and "picture" not in claims
    assert ok(refresh(srv, created["refreshToken"]))  # a profile change keeps sessions
    (user,) = ok(identity(srv, "lookup", {"idToken": answer["idToken"]}))["users"]
    assert user["displayName"] == "Dee" and "photoUrl" not in user
    for bad, message in (
        ({"deleteAttribute": ["EVERYTHING"]}, "INVALID_JSON"),
        ({"password": "123"}, "WEAK_PASSWORD"),
        ({"email": "new@example.com"}, "OPERATION_NOT_ALLOWED"),
    ):
        assert error_message(identity(srv, "update", {"idToken": token, **bad})).startswith(message)
    assert error_message(identity(srv, "update", {"idToken": "x.y.z"})) == "INVALID_ID_TOKEN"


def test_password_change_ends_other_sessions(srv: ServerProcess) -> None:
    email = _email()
    created = sign_up(srv, email)
    other_device = ok(sign_in(srv, email))
    answer = ok(
        identity(
            srv,
            "update",
            {"idToken": created["idToken"], "password": "new-secret", "returnSecureToken": True},
        )
    )
    assert {"idToken", "refreshToken", "expiresIn"} <= set(answer)
    for old in (created["refreshToken"], other_device["refreshToken"]):
        assert error_message(refresh(srv, old)) == "TOKEN_EXPIRED"
    assert ok(refresh(srv, answer["refreshToken"]))["user_id"] == created["localId"]
    assert error_message(sign_in(srv, email)) == "INVALID_PASSWORD"
    assert ok(sign_in(srv, email, "new-secret"))["localId"] == created["localId"]
    ok(identity(srv, "lookup", {"idToken": answer["idToken"]}))


def test_refresh(srv: ServerProcess) -> None:
    created = sign_up(srv, _email(), displayName="Eve")
    answer = ok(refresh(srv, created["refreshToken"]))
    assert set(answer) == {
        "access_token", "expires_in", "token_type", "refresh_token", "id_token", "user_id",
        "project_id",
    }  # fmt: skip
    assert answer["expires_in"] == "3600" and answer["token_type"] == "Bearer"
    assert answer["refresh_token"] == created["refreshToken"]
    assert answer["user_id"] == created["localId"] and answer["project_id"] == PROJECT
    assert answer["access_token"] == answer["id_token"]
    claims = verify_with_certificates(answer["id_token"], _certificates(srv))
    assert claims["auth_time"] == decode(created["idToken"])[1]["auth_time"]
    assert claims["name"] == "Eve"
    as_json = requests.post(
        f"{srv.url}/securetoken.googleapis.com/v1/token?key=k",
        json={"grant_type": "refresh_token", "refresh_token": created["refreshToken"]},
        timeout=10,
    )
    assert ok(as_json)["user_id"] == created["localId"]
    assert error_message(refresh(srv, "no-such-token")) == "INVALID_REFRESH_TOKEN"
    assert error_message(refresh(srv, None)) == "MISSING_REFRESH_TOKEN"
    assert error_message(refresh(srv, "x", grant_type="password")) == "INVALID_GRANT_TYPE"
    assert error_message(refresh(srv, "x", grant_type="")) == "MISSING_GRANT_TYPE"


def test_disabled_user(srv: ServerProcess) -> None:
    email = _email()
    created = sign_up(srv, email)
    ok(_admin(srv, "POST", f"users/{email.lower()}:disable"))
    assert error_message(sign_in(srv, email)) == "USER_DISABLED"
    assert error_message(sign_in(srv, email, "wrong-password")) == "INVALID_PASSWORD"
    assert error_message(refresh(srv, created["refreshToken"])) == "USER_DISABLED"
    lookup = identity(srv, "lookup", {"idToken": created["idToken"]})
    assert error_message(lookup) == "USER_DISABLED"
    ok(_admin(srv, "POST", f"users/{email.lower()}:enable"))
    assert error_message(refresh(srv, created["refreshToken"])) == "TOKEN_EXPIRED"
    assert ok(sign_in(srv, email))["localId"] == created["localId"]


def test_certificates_and_key_ids(srv: ServerProcess) -> None:
    certificates = _certificates(srv)
    (kid,) = certificates
    assert certificates[kid].startswith("-----BEGIN CERTIFICATE-----")
    token = sign_up(srv, _email())["idToken"]
    assert decode(token)[0] == {"alg": "RS256", "kid": kid, "typ": "JWT"}
    jwks = requests.get(
        f"{srv.url}/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com", timeout=10
    ).json()
    assert [key["kid"] for key in jwks["keys"]] == [kid]


def test_admin_api(srv: ServerProcess) -> None:
    assert error_message(requests.get(f"{srv.url}/_admin/users", timeout=10), 401).startswith(
        "UNAUTHORIZED"
    )
    email = _email().lower()
    added = ok(_admin(srv, "POST", "users", {"email": email, "password": PASSWORD}))["user"]
    assert added["email"] == email
    assert email in [user["email"] for user in ok(_admin(srv, "GET", "users"))["users"]]
    assert error_message(_admin(srv, "POST", "users", {"email": email, "password": PASSWORD}))
    reset = _admin(srv, "POST", f"users/{email}:resetPassword", {"password": "fresh-secret"})
    assert ok(reset)["user"]["localId"] == added["localId"]
    assert ok(sign_in(srv, email, "fresh-secret"))["localId"] == added["localId"]
    assert error_message(_admin(srv, "POST", f"users/{email}:explode"), 404)
    assert error_message(_admin(srv, "POST", "users/nobody@example.com:disable"), 404)
    exported = ok(_admin(srv, "GET", "users:export"))["users"]
    mine = [record for record in exported if record["email"] == email]
    assert mine[0]["localId"] == added["localId"] and mine[0]["passwordHash"].startswith("scrypt$")
    assert ok(_admin(srv, "POST", "users:import", {"users": mine})) == {"imported": 1}
    assert error_message(_admin(srv, "POST", "users:import", {"users": [{"x": 1}]})).startswith(
        "INVALID_IMPORT"
    )


def test_limits_ttl_project_and_restart(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data",
        extra_args=[*FAST, "--max-failed-sign-ins", "3", "--token-ttl", "1"],
    )
    server.extra_args += ["--project-id", "other-project"]
    server.start()
    try:
        ann, bob = "ann@example.com", "bob@example.com"
        created = sign_up(server, ann)
        sign_up(server, bob)
        claims = decode(created["idToken"])[1]
        assert claims["aud"] == "other-project" and claims["exp"] - claims["iat"] == 1
        for _ in range(3):
            assert error_message(sign_in(server, ann, "wrong-password")) == "INVALID_PASSWORD"
        assert error_message(sign_in(server, ann)) == TOO_MANY_ATTEMPTS
        assert error_message(sign_in(server, bob)) == TOO_MANY_ATTEMPTS  # same address
        time.sleep(1.1)
        lookup = identity(server, "lookup", {"idToken": created["idToken"]})
        assert error_message(lookup) == "TOKEN_EXPIRED"
        kid = decode(created["idToken"])[0]["kid"]
        server.restart()  # keeps the key and the accounts, forgets the throttle
        assert list(_certificates(server)) == [kid]
        fresh = ok(refresh(server, created["refreshToken"]))
        assert ok(identity(server, "lookup", {"idToken": fresh["id_token"]}))
        assert ok(sign_in(server, ann))["localId"] == created["localId"]
    finally:
        server.kill()
