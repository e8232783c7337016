"""Secure by default: loopback unless told; another address needs TLS or --insecure; no CORS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.server import ServerProcess


def serve(tmp: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "desktop_chat.server", "serve", "--port", "0"]
    command += ["--data-dir", str(tmp / "data"), "--scrypt-n", "16", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def listening(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("listening on "), line + (
        process.stderr.read() if process.stderr else ""
    )
    return line.split()[-1]


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.communicate(timeout=30)


def test_another_address_in_plain_http_is_refused_until_said(tmp_path: Path) -> None:
    refused = serve(tmp_path, "--host", "0.0.0.0")
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 1
    assert "--host 0.0.0.0 would serve the network in plain HTTP" in err
    assert "--tls-cert" in err and "Traceback" not in err

    allowed = serve(tmp_path, "--host", "0.0.0.0", "--insecure")
    try:
        assert listening(allowed).startswith("http://0.0.0.0:")
    finally:
        stop(allowed)

    half = serve(tmp_path, "--tls-cert", str(tmp_path / "c.pem"))
    _, err = half.communicate(timeout=60)
    assert half.returncode == 1 and "--tls-cert and --tls-key go together" in err


def certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_serves_https_and_no_cors_by_default(tmp_path: Path) -> None:
    cert, key = certificate(tmp_path)
    server = serve(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        url = listening(server)
        assert url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(cert))
        request = urllib.request.Request(
            f"{url}/skills.json?ns=desktop-chat", headers={"Origin": "https://elsewhere.example"}
        )
        try:
            answer = urllib.request.urlopen(request, context=trusted, timeout=30)
            status, headers, body = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as refused:
            status, headers, body = refused.code, refused.headers, refused.read()
        assert status == 403 and "error" in json.loads(body)  # (a page of another site)
        assert "Access-Control-Allow-Origin" not in headers  # no CORS unless configured
        plain = url.replace("https://", "http://")
        try:
            urllib.request.urlopen(f"{plain}/.json", timeout=10)
            raise AssertionError("plain HTTP answered on the TLS port")
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
    finally:
        stop(server)


def test_secret_files_are_the_owners_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)  # (a data dir made by hand, open to others: made private)
    os.chmod(data, 0o755)
    server = serve(tmp_path)
    try:
        listening(server)
        for name in ("signing-key.pem", "admin-secret", "accounts.sqlite3", "store.sqlite3"):
            mode = (data / name).stat().st_mode
            assert mode & 0o077 == 0, f"{name} is readable by others: {oct(mode)}"
        assert (data.stat().st_mode & 0o077) == 0  # the data dir itself
    finally:
        stop(server)


def test_a_short_admin_secret_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKTOP_CHAT_ADMIN_SECRET", "short-secret")
    refused = serve(tmp_path)
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 1 and "Traceback" not in err
    assert "DESKTOP_CHAT_ADMIN_SECRET is shorter than 16 characters" in err


def test_socketio_refuses_other_origins(own: ServerProcess) -> None:
    """No CORS unless configured: a page of another site cannot open a Socket.IO session."""
    url = f"{own.url}/socket.io/"
    params = {"EIO": "4", "transport": "polling"}
    foreign = requests.get(
        url, params=params, headers={"Origin": "http://evil.example"}, timeout=10
    )
    assert foreign.status_code == 403
    assert "Access-Control-Allow-Origin" not in foreign.headers
    plain = requests.get(url, params=params, timeout=10)  # (a program, not a browser page)
    assert plain.status_code == 200 and "Access-Control-Allow-Origin" not in plain.headers


def test_emulator_admin_is_for_loopback_only(tmp_path: Path) -> None:
    refused = serve(tmp_path, "--host", "0.0.0.0", "--insecure", "--emulator-admin")
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 1 and "Traceback" not in err
    assert "--emulator-admin makes anyone saying 'Bearer owner' the admin" in err


def test_a_page_renamed_to_loopback_is_not_served(own: ServerProcess) -> None:
    """DNS rebinding: a web page whose host name now points at 127.0.0.1 names its own host;
    on loopback the server answers only requests that name a loopback host."""
    for path in ("/.json", "/socket.io/?EIO=4&transport=polling", "/healthz"):
        foreign = requests.get(own.url + path, headers={"Host": "evil.example"}, timeout=10)
        assert foreign.status_code == 421, path
        assert foreign.json()["error"].startswith("Misdirected request")
    for host in (f"localhost:{own.port}", f"127.0.0.1:{own.port}", "localhost"):
        answer = requests.get(f"{own.url}/healthz", headers={"Host": host}, timeout=10)
        assert answer.status_code == 200, host


def test_sign_in_takes_no_body_a_page_could_post_across_sites(own: ServerProcess) -> None:
    url = f"{own.url}/identitytoolkit.googleapis.com/v1/accounts:signUp"
    body = json.dumps({"email": "page@example.com", "password": "secret-1"})
    for kind in ("text/plain", "multipart/form-data", "application/x-www-form-urlencoded"):
        answer = requests.post(
            url, params={"key": "k"}, data=body, headers={"Content-Type": kind}, timeout=10
        )
        assert answer.status_code == 400, kind
        assert "Content-Type: application/json" in answer.json()["error"]["message"]
    page = {"Origin": "http://evil.example"}  # (a page may post a body with no type at all)
    answer = requests.post(url, params={"key": "k"}, data=body, headers=page, timeout=10)
    assert answer.status_code == 403
    assert answer.json() == {"error": "Requests from other sites' pages are not allowed"}
    fine = requests.post(url, params={"key": "k"}, data=body, timeout=10)  # (no type: a program)
    assert fine.status_code == 200
    same = {"Origin": own.url}  # (a page of this server itself)
    mine = json.dumps({"email": "same@example.com", "password": "secret-1"})
    assert requests.post(url, params={"key": "k"}, data=mine, headers=same, timeout=10).ok


def test_a_node_will_not_send_the_secret_in_clear_to_another_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKTOP_CHAT_ADMIN_SECRET", "a-long-enough-admin-secret")
    url = "http://192.0.2.7:9000?ns=desktop-chat"
    refused = serve(tmp_path, "--socketio-only", "--database-url", url)
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 1 and "Traceback" not in err
    assert "is plain HTTP to another machine" in err
