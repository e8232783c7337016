"""Talk to the sign-in endpoints of a test server, and check its tokens independently."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.server import ServerProcess

IDENTITY = "identitytoolkit.googleapis.com/v1"
CERTS = "robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
PASSWORD = "secret-1"


def identity(
    server: ServerProcess, action: str, body: Any = None, **kwargs: Any
) -> requests.Response:
    """POST ``accounts:<action>?key=...`` and return the response."""
    return requests.post(
        f"{server.url}/{IDENTITY}/accounts:{action}",
        params={"key": "any-api-key"},
        json=body,
        timeout=30,
        **kwargs,
    )


def ok(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def error_message(response: requests.Response, status: int = 400) -> str:
    """The message of a Google-shaped error, after checking the whole shape."""
    assert response.status_code == status, response.text
    body = response.json()
    message = body["error"]["message"]
    reason = "invalid" if status == 400 else body["error"]["errors"][0]["reason"]
    assert body == {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }
    return str(message)


def sign_up(server: ServerProcess, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    body = {"email": email, "password": password, "returnSecureToken": True, **extra}
    return ok(identity(server, "signUp", body))


def sign_in(server: ServerProcess, email: str, password: str = PASSWORD) -> requests.Response:
    body = {"email": email, "password": password, "returnSecureToken": True}
    return identity(server, "signInWithPassword", body)


def refresh(server: ServerProcess, token: str | None, **fields: str) -> requests.Response:
    """The refresh endpoint, form-encoded as Firebase's SDKs send it."""
    data = {"grant_type": "refresh_token", **fields}
    if token is not None:
        data["refresh_token"] = token
    return requests.post(
        f"{server.url}/securetoken.googleapis.com/v1/token",
        params={"key": "any-api-key"},
        data=data,
        timeout=30,
    )


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a JWT, unverified."""
    header, payload, _ = token.split(".")
    return json.loads(unb64url(header)), json.loads(unb64url(payload))


def verify_with_certificates(token: str, certificates: dict[str, str]) -> dict[str, Any]:
    """Check an RS256 signature with the published PEM certificates; returns the claims."""
    header, claims = decode(token)
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    cert = x509.load_pem_x509_certificate(certificates[header["kid"]].encode())
    assert cert.fingerprint(hashes.SHA1()).hex() == header["kid"]
    signing_input, _, signature = token.rpartition(".")
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(  # raises InvalidSignature
        unb64url(signature), signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    return claims


def sign_with_key(key_file: Path, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A JWT signed with the private key in *key_file*, with any header and claims."""
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"
