"""Firebase ID tokens: RS256 JWTs signed with the data dir's key, verified as Firebase does."""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from desktop_chat.server.errors import ServerError

__all__ = [
    "CERT_FILE",
    "ISSUER_PREFIX",
    "KEY_FILE",
    "TokenError",
    "TokenIssuer",
    "verify_token",
]

log = logging.getLogger("desktop_chat.server")

KEY_FILE = "signing-key.pem"
CERT_FILE = "signing-cert.pem"
ISSUER_PREFIX = "https://securetoken.google.com/"
MAX_SUBJECT_LENGTH = 128
CERT_DAYS = 3650
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class TokenError(ServerError):
    """An ID token that is refused; ``reason`` says why ("expired", "bad signature", ...)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise TokenError("malformed", "not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("malformed", "not base64url") from exc


def _json_part(text: str, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(_unb64url(text))
    except orjson.JSONDecodeError as exc:
        raise TokenError("malformed", f"the {what} is not JSON") from exc
    if not isinstance(value, dict):
        raise TokenError("malformed", f"the {what} is not a JSON object")
    return value


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a token already checked once (its signature is not checked again);
    TokenError if it cannot be read."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed", "not three parts")
    return _json_part(parts[1], "payload")


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError("malformed", f"the {name} claim is missing or not a number")
    return float(value)


def _write_private(path: Path, data: bytes) -> None:
    """Write *data* to *path* atomically, readable by the owner only."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _new_certificate(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "desktop-chat securetoken")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def _load_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ServerError(f"{path} is not a PEM private key ({exc}); left untouched") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise ServerError(f"{path} is not an RSA key of 2048 bits or more; it was left untouched")
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("%s is readable by other users: chmod 600 it", path)
    return key


def load_signing_key(directory: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """The data dir's key and certificate, made on first use (key file mode 0600)."""
    key_path, cert_path = directory / KEY_FILE, directory / CERT_FILE
    if key_path.exists():
        key = _load_key(key_path)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_private(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        log.info("made a new token signing key in %s", key_path)
    if cert_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except ValueError as exc:
            raise ServerError(f"{cert_path} is not a PEM certificate ({exc})") from exc
        if cert.public_key() != key.public_key():
            raise ServerError(f"{cert_path} does not belong to the key {key_path}")
    else:
        cert = _new_certificate(key)
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        cert_path.chmod(0o644)
    return key, cert


def verify_token(
    token: object,
    keys: Mapping[str, rsa.RSAPublicKey],
    project_id: str,
    now: float,
    leeway: float = 0.0,
) -> dict[str, Any]:
    """The claims of *token* if it is a valid Firebase ID token of *project_id*, signed with
    one of *keys* (by key id), at time *now*; else TokenError."""
    if not isinstance(token, str) or not token:
        raise TokenError("malformed", "no token")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed", "a JWT has three dot-separated parts")
    header = _json_part(parts[0], "header")
    if header.get("alg") != "RS256":
        raise TokenError("wrong algorithm", f"expected RS256, not {header.get('alg')!r}")
    kid = header.get("kid")
    public = keys.get(kid) if isinstance(kid, str) else None
    if public is None:
        raise TokenError("unknown key id", repr(kid))
    signature = _unb64url(parts[2])
    try:
        signed = f"{parts[0]}.{parts[1]}".encode("ascii")
        public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except UnicodeEncodeError:
        raise TokenError("malformed", "not base64url") from None
    except InvalidSignature:
        raise TokenError("bad signature") from None
    claims = _json_part(parts[1], "payload")
    if _number(claims, "exp") + leeway <= now:
        raise TokenError("expired")
    if _number(claims, "iat") - leeway > now:
        raise TokenError("issued in the future")
    if "auth_time" in claims and _number(claims, "auth_time") - leeway > now:
        raise TokenError("authenticated in the future")
    if claims.get("aud") != project_id:
        raise TokenError("wrong audience", repr(claims.get("aud")))
    if claims.get("iss") != ISSUER_PREFIX + project_id:
        raise TokenError("wrong issuer", repr(claims.get("iss")))
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
        raise TokenError("bad subject", "sub must be 1 to 128 characters")
    return claims


class TokenIssuer:
    """Issues and verifies the ID tokens of one project with one RSA key."""

    def __init__(
        self,
        directory: Path,
        project_id: str,
        ttl: int = 3600,
        leeway: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0:
            raise ServerError(f"the token lifetime must be positive, not {ttl}")
        self.project_id = project_id
        self.issuer = ISSUER_PREFIX + project_id
        self.ttl = ttl
        self.leeway = leeway
        self.clock = clock
        self._key, self._cert = load_signing_key(directory)
        self._public = self._key.public_key()  # cached: every request verifies with it
        self.kid = self._cert.fingerprint(hashes.SHA1()).hex()  # a key id, not security
        self._pem = self._cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        self._header = b64url(orjson.dumps({"alg": "RS256", "kid": self.kid, "typ": "JWT"}))

    def issue(
        self,
        uid: str,
        email: str,
        *,
        name: str | None = None,
        picture: str | None = None,
        auth_time: int | None = None,
    ) -> str:
        """A signed ID token with Firebase's claims for an email / password user."""
        now = int(self.clock())
        claims: dict[str, Any] = {}
        if name is not None:
            claims["name"] = name
        if picture is not None:
            claims["picture"] = picture
        claims.update(
            {
                "iss": self.issuer,
                "aud": self.project_id,
                "auth_time": now if auth_time is None else auth_time,
                "user_id": uid,
                "sub": uid,
                "iat": now,
                "exp": now + self.ttl,
                "email": email,
                "email_verified": False,
                "firebase": {"identities": {"email": [email]}, "sign_in_provider": "password"},
            }
        )
        return self.sign(claims)

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A JWT of *claims* with this issuer's header (RS256, its kid)."""
        signing_input = f"{self._header}.{b64url(orjson.dumps(dict(claims)))}"
        signature = self._key.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{b64url(signature)}"

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid ID token of this project, or TokenError."""
        return verify_token(
            token, {self.kid: self._public}, self.project_id, self.clock(), self.leeway
        )

    def public_certificates(self) -> dict[str, str]:
        """``{kid: certificate PEM}``, the shape Google publishes for securetoken."""
        return {self.kid: self._pem}

    def public_jwks(self) -> dict[str, Any]:
        """The same key as a JSON Web Key Set."""
        numbers = self._public.public_numbers()

        def encode(value: int) -> str:
            return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

        key = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid}
        return {"keys": [{**key, "n": encode(numbers.n), "e": encode(numbers.e)}]}
