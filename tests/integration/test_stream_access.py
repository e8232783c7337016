"""Streams under the rules: refused, cancelled when access goes, auth_revoked on expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.auth import sign_up
from tests.support.server import ServerProcess
from tests.support.sse import SseReader


@pytest.fixture
def ruled(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server with the shipped rules, fast password hashing and 3-second ID tokens."""
    server = ServerProcess(
        tmp_path / "data", extra_args=["--scrypt-n", "16", "--token-ttl", "3"], rules=None
    ).start()
    yield server
    server.kill()


def _user(server: ServerProcess, name: str) -> tuple[str, str]:
    session = sign_up(server, f"{name}@example.com")
    return session["localId"], session["idToken"]


def test_stream_needs_read_access(ruled: ServerProcess) -> None:
    uid, token = _user(ruled, "ann")
    own = SseReader(ruled, f"notifications/{uid}", token=token)
    other = SseReader(ruled, "notifications/someone-else", token=token)
    anonymous = SseReader(ruled, "users", token="")
    try:
        assert own.next() == ("put", {"path": "/", "data": None})
        assert other.next() is None and other.status == 401
        assert anonymous.next() is None and anonymous.status == 401
    finally:
        for reader in (own, other, anonymous):
            reader.close()


def test_stream_is_cancelled_when_access_is_revoked(ruled: ServerProcess) -> None:
    student, token = _user(ruled, "sam")
    ruled.put(
        "bookings/b1",
        {
            "skillId": "s1",
            "date": "2026-12-01",
            "slotId": "x",
            "studentId": student,
            "providerId": "p1",
            "status": "requested",
            "createdAt": 1,
        },
    )
    reader = SseReader(ruled, "bookings/b1", token=token)
    try:
        event = reader.next()
        assert event is not None and event[0] == "put"
        ruled.put("bookings/b1/studentId", "someone-else")  # an admin moves the booking away
        assert reader.next() == ("cancel", "Permission denied")
        assert reader.next() is None  # and the stream ends
    finally:
        reader.close()


def test_stream_gets_auth_revoked_when_the_token_expires(ruled: ServerProcess) -> None:
    uid, token = _user(ruled, "tom")
    reader = SseReader(ruled, f"notifications/{uid}", token=token)
    try:
        assert reader.next() == ("put", {"path": "/", "data": None})
        started = time.monotonic()
        assert reader.next(timeout=30) == ("auth_revoked", "credential is no longer valid")
        assert reader.next() is None
        assert time.monotonic() - started < 20
    finally:
        reader.close()
