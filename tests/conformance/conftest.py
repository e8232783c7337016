"""Conformance fixtures: servers (fresh or restarted), firebase-admin apps, listeners."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import firebase_admin
import pytest
from firebase_admin import db

from tests.conformance.support import EventLog, close_listener, new_app, write_with_every_api
from tests.support.server import ServerProcess

SERVER_MODES = ("fresh", "after-sigterm", "after-kill9")


@pytest.fixture(scope="module", params=SERVER_MODES)
def conformance_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per module and mode: fresh, or restarted (SIGTERM / kill -9) after writes.

    A restarted server holds data written before the restart, checked here, so every test of
    the module runs once against a server that has only ever seen its writes in memory and
    once against each kind of restart, where the tree was loaded back from SQLite.
    """
    mode: str = request.param
    server = ServerProcess(tmp_path_factory.mktemp("conformance") / "data").start()
    try:
        if mode != "fresh":
            app = new_app(server)
            try:
                expected = write_with_every_api(db.reference("seed", app=app))
            finally:
                firebase_admin.delete_app(app)
            if mode == "after-sigterm":
                assert server.stop() == 0, "".join(server.stderr_lines)
            else:
                server.kill()
            server.start()
            app = new_app(server)
            try:
                assert db.reference("seed", app=app).get() == expected
            finally:
                firebase_admin.delete_app(app)
        yield server
    finally:
        server.kill()


@pytest.fixture
def app_factory() -> Iterator[Callable[[ServerProcess], firebase_admin.App]]:
    """Make firebase-admin apps (each with its own name) for servers; all deleted at the end."""
    apps: list[firebase_admin.App] = []

    def make(server: ServerProcess) -> firebase_admin.App:
        app = new_app(server)
        apps.append(app)
        return app

    yield make
    for app in apps:
        firebase_admin.delete_app(app)


@pytest.fixture
def app(
    conformance_server: ServerProcess, app_factory: Callable[[ServerProcess], firebase_admin.App]
) -> firebase_admin.App:
    """A firebase-admin app of this test's own, on the module's server."""
    return app_factory(conformance_server)


@pytest.fixture
def root(app: firebase_admin.App) -> db.Reference:
    """A location no other test touches."""
    return db.reference(f"conformance/{uuid.uuid4().hex}", app=app)


@pytest.fixture
def listen(
    app_factory: Callable[[ServerProcess], firebase_admin.App],
) -> Iterator[Callable[[db.Reference], EventLog]]:
    """Start ``ref.listen()`` with an EventLog; every listener is closed at the end."""
    opened: list[tuple[db.ListenerRegistration, EventLog]] = []

    def start(ref: db.Reference) -> EventLog:
        log = EventLog()
        opened.append((ref.listen(log), log))
        return log

    yield start
    for registration, log in reversed(opened):
        close_listener(registration, log)
