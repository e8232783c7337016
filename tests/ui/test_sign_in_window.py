"""The sign-in window against a real server: sign up, refusals in plain words, no server."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.errors import AuthError, NetworkError, ServerError
from desktop_chat.client.profiles import SessionTokenStore
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.core.model import Role, UserProfile
from desktop_chat.ui.sign_in_window import CANT_REACH, SignInWindow, describe_error
from tests.support.chat import FAST
from tests.support.server import ServerProcess
from tests.ui.conftest import run_on

PASSWORD = "right-password"


class Keychain(MemoryTokenStore):
    """Stands in for the OS keychain: kept, as far as the window can tell."""

    persistent = True


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("signin") / "d", FAST, rules=None).start()
    yield server
    server.kill()


def email() -> str:
    return f"user-{secrets.token_hex(4)}@example.com"


class Form:
    """A sign-in window over its own ChatClient, closed at the end."""

    def __init__(self, qtbot: QtBot, loop: asyncio.AbstractEventLoop, url: str, directory: Path):
        self.qtbot, self.loop = qtbot, loop
        self.keychain = Keychain()
        self.tokens = SessionTokenStore(self.keychain)
        config = BackendConfig.from_values({"server_url": url, "namespace": "test-ns"})
        create = ChatClient.create(config, directory, token_store=self.tokens)
        self.client = run_on(qtbot, loop, create)
        self.window = SignInWindow(self.client, self.tokens)
        qtbot.addWidget(self.window)
        self.window.show()
        self.signed_in: list[object] = []
        self.window.signedIn.connect(self.signed_in.append)

    def fill(self, address: str, password: str, name: str = "", sign_up: bool = False) -> None:
        self.window.set_sign_up(sign_up)
        self.window.email.setText(address)
        self.window.password.setText(password)
        self.window.display_name.setText(name)

    def submit(self) -> None:
        self.window.submit()
        self.qtbot.waitUntil(lambda: not self.window.busy, timeout=30_000)

    def close(self) -> None:
        self.window.close()
        run_on(self.qtbot, self.loop, self.client.close())


@pytest.fixture
def form(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, shipped: ServerProcess, tmp_path: Path
) -> Iterator[Form]:
    made = Form(qtbot, qloop, shipped.url, tmp_path / "client")
    yield made
    made.close()


def test_sign_up_as_a_provider(form: Form) -> None:
    window = form.window
    address = email()
    form.fill(address, PASSWORD, "Prof Ada", sign_up=True)
    window.provider.setChecked(True)
    assert window.display_name.isVisible() and window.provider.isVisible()
    window.submit()
    assert window.busy  # until the server answers: the form is locked, the button says so
    assert not window.submit_button.isEnabled()
    assert window.submit_button.text() == "Creating account…"
    assert not window.email.isEnabled()
    form.qtbot.waitUntil(lambda: bool(form.signed_in), timeout=30_000)
    profile = form.signed_in[0]
    assert isinstance(profile, UserProfile)
    assert profile.display_name == "Prof Ada" and profile.role is Role.PROVIDER
    assert form.client.uid == profile.uid
    assert window.error_text() == ""
    assert window.password.text() == ""  # not kept around
    stored = run_on(form.qtbot, form.loop, form.keychain.load(profile.uid))
    assert stored is not None  # "keep me signed in" was checked: in the keychain


def test_a_wrong_password_is_explained(form: Form, tmp_path: Path) -> None:
    address = email()
    form.fill(address, PASSWORD, "Bo", sign_up=True)
    form.submit()
    assert form.signed_in
    other = Form(form.qtbot, form.loop, form.client.config.server_url or "", tmp_path / "other")
    try:
        other.fill(address, "not-the-password")
        other.submit()
        assert other.window.error_text() == describe_error(AuthError("INVALID_PASSWORD"))
        assert "email or password is not right" in other.window.error_text()
        assert not other.signed_in
        assert other.window.password.hasFocus() or not other.window.isActiveWindow()
        assert other.window.submit_button.isEnabled()  # ready for another try
    finally:
        other.close()


def test_an_email_in_use_is_explained(form: Form, tmp_path: Path) -> None:
    address = email()
    form.fill(address, PASSWORD, "Cy", sign_up=True)
    form.submit()
    other = Form(form.qtbot, form.loop, form.client.config.server_url or "", tmp_path / "other")
    try:
        other.fill(address, PASSWORD, "Cy again", sign_up=True)
        other.submit()
        assert "already exists" in other.window.error_text()
        assert not other.signed_in
    finally:
        other.close()


def test_an_unknown_email_is_explained(form: Form) -> None:
    form.fill(email(), PASSWORD)
    form.submit()
    assert "no account with this email" in form.window.error_text()


def test_no_server_says_so(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = Form(qtbot, qloop, f"http://127.0.0.1:{port}", tmp_path / "client")
    try:
        down.fill(email(), PASSWORD)
        down.submit()
        assert down.window.error_text() == CANT_REACH
        assert not down.signed_in
    finally:
        down.close()


def test_the_form_is_checked_before_anything_is_sent(form: Form) -> None:
    window = form.window
    form.fill("", PASSWORD)
    window.submit()
    assert not window.busy and window.error_text() == "Enter your email address."
    form.fill("not-an-email", PASSWORD)
    window.submit()
    assert "doesn't look like an email" in window.error_text()
    form.fill(email(), "short", "Dee", sign_up=True)
    window.submit()
    assert "at least 6 characters" in window.error_text()
    form.fill(email(), PASSWORD, "   ", sign_up=True)
    window.submit()
    assert "name others will see" in window.error_text()
    window.email.setText("x")  # typing again clears the message
    window.email.textEdited.emit("x")
    assert window.error_text() == ""


def test_enter_signs_in_and_unchecked_keep_stays_in_memory(form: Form) -> None:
    address = email()
    form.fill(address, PASSWORD, "Eve", sign_up=True)
    form.window.keep.setChecked(False)
    form.qtbot.keyClick(form.window.display_name, Qt.Key.Key_Return)
    form.qtbot.waitUntil(lambda: bool(form.signed_in), timeout=30_000)
    uid = form.client.uid
    assert uid is not None
    assert run_on(form.qtbot, form.loop, form.keychain.load(uid)) is None
    assert run_on(form.qtbot, form.loop, form.tokens.load(uid)) is not None
    assert not form.tokens.persistent


def test_everything_has_an_accessible_name(form: Form) -> None:
    window = form.window
    for widget in (window.email, window.password, window.display_name, window.keep):
        assert widget.accessibleName()
    assert window.submit_button.accessibleName() == "Sign in"
    window.set_sign_up(True)
    assert window.submit_button.accessibleName() == "Create account"
    assert window.password.echoMode() is QLineEdit.EchoMode.Password


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (AuthError("EMAIL_EXISTS"), "already exists"),
        (AuthError("INVALID_LOGIN_CREDENTIALS"), "email or password is not right"),
        (AuthError("EMAIL_NOT_FOUND"), "no account"),
        (AuthError("WEAK_PASSWORD", "WEAK_PASSWORD : Password should be ..."), "too weak"),
        (AuthError("TOO_MANY_ATTEMPTS_TRY_LATER"), "Wait a few minutes"),
        (AuthError("USER_DISABLED"), "turned off"),
        (AuthError("SOMETHING_NEW"), "did not work"),
        (NetworkError("connection refused"), "Can't reach the server"),
        (ServerError(503, "shutting down"), "server ran into a problem"),
    ],
)
def test_errors_in_words(error: Exception, words: str) -> None:
    text = describe_error(error)
    assert words in text
    assert "_" not in text  # never a code
