"""Server values, and errors as firebase-admin surfaces them: the right exception and message."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import firebase_admin
import pytest
from firebase_admin import db, exceptions

from tests.support.server import ServerProcess

AppFactory = Callable[[ServerProcess], firebase_admin.App]


def test_server_timestamp(root: db.Reference) -> None:
    before = int(time.time() * 1000)
    root.child("sent").set({"text": "hi", "ts": {".sv": "timestamp"}})
    root.update({"edited": {".sv": "timestamp"}})
    after = int(time.time() * 1000)
    value = root.get()
    assert value["sent"]["text"] == "hi"
    for stamp in (value["sent"]["ts"], value["edited"]):
        assert isinstance(stamp, int)
        assert before - 1000 <= stamp <= after + 1000


def test_server_increment(root: db.Reference) -> None:
    root.child("likes").set({".sv": {"increment": 1}})  # a missing node becomes the delta
    root.update({"likes": {".sv": {"increment": 2}}, "views": {".sv": {"increment": 0.5}}})
    assert root.get() == {"likes": 3, "views": 0.5}


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda ref: ref.update({"ok": 1, "a.b": 1}), "Invalid key"),
        (lambda ref: ref.set({"ok": 1, "a": {"b$": 1}}), "Invalid"),
        (lambda ref: ref.update({"a": 1, "a/b": 2}), "ancestor"),
        (lambda ref: ref.set({".sv": "no-such-server-value"}), "server value"),
        (lambda ref: ref.child("/".join(["d"] * 40)).set(1), "deeper"),
    ],
    ids=["bad-key-in-update", "bad-key-in-set", "ancestor-in-update", "unknown-sv", "too-deep"],
)
def test_invalid_writes_are_400_and_write_nothing(
    root: db.Reference, write: Callable[[db.Reference], object], message: str
) -> None:
    root.set({"existing": True})
    with pytest.raises(exceptions.InvalidArgumentError, match=message) as info:
        write(root)
    assert info.value.http_response is not None
    assert info.value.http_response.status_code == 400
    assert root.get() == {"existing": True}


def test_invalid_query_is_400(root: db.Reference) -> None:
    with pytest.raises(exceptions.InvalidArgumentError):
        root.order_by_key().start_at(1).get()  # $key bounds must be strings


def test_unknown_namespace_is_404(
    conformance_server: ServerProcess, app_factory: AppFactory
) -> None:
    other = ServerProcess(conformance_server.data_dir, namespace="other-ns")
    other.port = conformance_server.port  # same server, another ?ns=
    with pytest.raises(exceptions.NotFoundError, match="other-ns"):
        db.reference("x", app=app_factory(other)).get()


def test_owner_is_refused_without_emulator_admin(
    server_factory: type[ServerProcess], tmp_path: Path, app_factory: AppFactory
) -> None:
    server = server_factory(tmp_path / "data", emulator_admin=False).start()
    ref = db.reference("x", app=app_factory(server))
    with pytest.raises(exceptions.UnauthenticatedError, match="Could not parse auth token"):
        ref.get()
    with pytest.raises(exceptions.UnauthenticatedError, match="Could not parse auth token"):
        ref.set(1)
