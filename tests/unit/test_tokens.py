"""TokenIssuer: Firebase-shaped RS256 ID tokens, and every way a token is refused."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from desktop_chat.server.errors import ServerError
from desktop_chat.server.tokens import CERT_FILE, KEY_FILE, TokenError, TokenIssuer
from tests.support.auth import b64url, decode, sign_with_key, unb64url, verify_with_certificates

PROJECT = "unit-project"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One key for the module: making an RSA key takes a noticeable moment."""
    directory = tmp_path_factory.mktemp("tokens")
    TokenIssuer(directory, PROJECT)
    return directory


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(key_dir: Path, clock: Clock) -> TokenIssuer:
    return TokenIssuer(key_dir, PROJECT, ttl=3600, clock=clock)


def _claims(issuer: TokenIssuer, **changes: Any) -> dict[str, Any]:
    now = int(issuer.clock())
    claims = {
        "iss": f"https://securetoken.google.com/{PROJECT}",
        "aud": PROJECT,
        "auth_time": now,
        "user_id": "u1",
        "sub": "u1",
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def _reason(issuer: TokenIssuer, token: str) -> str:
    with pytest.raises(TokenError) as caught:
        issuer.verify(token)
    return caught.value.reason


def test_issued_token_has_firebase_header_and_claims(issuer: TokenIssuer, key_dir: Path) -> None:
    token = issuer.issue("uid-1", "ann@example.com", name="Ann", picture="https://p/a.png")
    header, claims = decode(token)
    assert header == {"alg": "RS256", "kid": issuer.kid, "typ": "JWT"}
    cert = x509.load_pem_x509_certificate((key_dir / CERT_FILE).read_bytes())
    assert issuer.kid == cert.fingerprint(hashes.SHA1()).hex()
    now = int(issuer.clock())
    assert claims == {
        "name": "Ann",
        "picture": "https://p/a.png",
        "iss": f"https://securetoken.google.com/{PROJECT}",
        "aud": PROJECT,
        "auth_time": now,
        "user_id": "uid-1",
        "sub": "uid-1",
        "iat": now,
        "exp": now + 3600,
        "email": "ann@example.com",
        "email_verified": False,
        "firebase": {"identities": {"email": ["ann@example.com"]}, "sign_in_provider": "password"},
    }
    assert issuer.verify(token) == claims
    assert verify_with_certificates(token, issuer.public_certificates()) == claims
    without = decode(issuer.issue("uid-1", "ann@example.com", auth_time=now - 50))[1]
    assert "name" not in without and "picture" not in without
    assert without["auth_time"] == now - 50


def test_key_files_are_made_once_and_kept(key_dir: Path, tmp_path: Path) -> None:
    assert stat.S_IMODE((key_dir / KEY_FILE).stat().st_mode) == 0o600
    first = TokenIssuer(key_dir, PROJECT)
    again = TokenIssuer(key_dir, "another-project")
    assert first.kid == again.kid
    assert first.public_certificates() == again.public_certificates()
    (pem,) = first.public_certificates().values()
    public_key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048
    jwk = first.public_jwks()["keys"][0]
    assert jwk["kid"] == first.kid and jwk["alg"] == "RS256"
    assert int.from_bytes(unb64url(jwk["n"]), "big") == public_key.public_numbers().n


def test_a_foreign_key_file_is_refused_and_kept(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("not a key")
    with pytest.raises(ServerError, match="not a PEM private key"):
        TokenIssuer(tmp_path, PROJECT)
    assert (tmp_path / KEY_FILE).read_text() == "not a key"


def test_tampered_tokens_are_refused(issuer: TokenIssuer) -> None:
    token = issuer.issue("uid-1", "ann@example.com")
    header, payload, signature = token.split(".")
    raw = bytearray(unb64url(signature))
    raw[10] ^= 0x01
    assert _reason(issuer, f"{header}.{payload}.{b64url(bytes(raw))}") == "bad signature"
    claims = decode(token)[1] | {"sub": "someone-else", "user_id": "someone-else"}
    forged = f"{header}.{b64url(_json(claims))}.{signature}"
    assert _reason(issuer, forged) == "bad signature"
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _reason(issuer, _sign_with(other_key, decode(token)[0], claims)) == "bad signature"
    none_header = b64url(_json({"alg": "none", "kid": issuer.kid, "typ": "JWT"}))
    assert _reason(issuer, f"{none_header}.{payload}.") == "wrong algorithm"


def test_unknown_key_id_is_refused(issuer: TokenIssuer, key_dir: Path) -> None:
    token = sign_with_key(
        key_dir / KEY_FILE, {"alg": "RS256", "kid": "0" * 40, "typ": "JWT"}, _claims(issuer)
    )
    assert _reason(issuer, token) == "unknown key id"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"aud": "other-project"}, "wrong audience"),
        ({"aud": None}, "wrong audience"),
        ({"iss": "https://securetoken.google.com/other-project"}, "wrong issuer"),
        ({"iss": "https://evil.example.com/unit-project"}, "wrong issuer"),
        ({"sub": ""}, "bad subject"),
        ({"sub": "x" * 129}, "bad subject"),
        ({"sub": None}, "bad subject"),
        ({"exp": None}, "malformed"),
        ({"iat": "yesterday"}, "malformed"),
    ],
)
def test_wrong_claims_are_refused(
    issuer: TokenIssuer, changes: dict[str, Any], reason: str
) -> None:
    assert _reason(issuer, issuer.sign(_claims(issuer, **changes))) == reason


def test_expiry_and_issue_time(issuer: TokenIssuer, clock: Clock, key_dir: Path) -> None:
    token = issuer.issue("uid-1", "ann@example.com")
    clock.now += 3599
    assert issuer.verify(token)["sub"] == "uid-1"
    clock.now += 2
    assert _reason(issuer, token) == "expired"
    lenient = TokenIssuer(key_dir, PROJECT, leeway=5, clock=clock)
    assert lenient.verify(token)["sub"] == "uid-1"
    clock.now += 10
    assert _reason(lenient, token) == "expired"
    early = issuer.sign(_claims(issuer, iat=int(clock.now) + 30, exp=int(clock.now) + 3600))
    assert _reason(issuer, early) == "issued in the future"


def test_expired_when_issued_with_a_past_clock(key_dir: Path) -> None:
    past = TokenIssuer(key_dir, PROJECT, ttl=60, clock=lambda: time.time() - 3600)
    now = TokenIssuer(key_dir, PROJECT)
    assert _reason(now, past.issue("uid-1", "ann@example.com")) == "expired"


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.", f"{b64url(b'[1]')}.e30.AA"],
)
def test_malformed_tokens_are_refused(issuer: TokenIssuer, token: str) -> None:
    assert _reason(issuer, token) in ("malformed", "wrong algorithm")


def test_verification_is_fast(issuer: TokenIssuer) -> None:
    token = issuer.issue("uid-1", "ann@example.com")
    started = time.perf_counter()
    for _ in range(500):
        issuer.verify(token)
    assert time.perf_counter() - started < 1.0  # about 0.05 ms each on a laptop


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _sign_with(key: rsa.RSAPrivateKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = f"{b64url(_json(header))}.{b64url(_json(claims))}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"
