"""The sign-in / sign-up window, errors in words people understand, and the start-up error box."""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.errors import AuthError, ClientError, NetworkError, ServerError
from desktop_chat.client.profiles import SessionTokenStore
from desktop_chat.core.model import Role

__all__ = ["CANT_REACH", "SignInWindow", "describe_error"]

log = logging.getLogger("desktop_chat.ui")

CANT_REACH = "Can't reach the server. Check your internet connection and try again."
MIN_PASSWORD = 6
_AUTH_MESSAGES = {
    "EMAIL_EXISTS": "An account with this email already exists. Sign in instead, or use "
    "another email.",
    "INVALID_PASSWORD": "The email or password is not right. Check them and try again.",
    "INVALID_LOGIN_CREDENTIALS": "The email or password is not right. Check them and try again.",
    "EMAIL_NOT_FOUND": "There is no account with this email. Check it, or create an account.",
    "WEAK_PASSWORD": f"This password is too weak. Use at least {MIN_PASSWORD} characters.",
    "TOO_MANY_ATTEMPTS_TRY_LATER": "Too many attempts. Wait a few minutes, then try again.",
    "USER_DISABLED": "This account has been turned off. Contact support if you think that is "
    "a mistake.",
    "INVALID_EMAIL": "That doesn't look like an email address.",
    "MISSING_EMAIL": "Enter your email address.",
    "MISSING_PASSWORD": "Enter your password.",
    "OPERATION_NOT_ALLOWED": "Signing in with a password is turned off for this service.",
}


def describe_error(error: BaseException) -> str:
    """What went wrong, for the person at the keyboard (never a code or a traceback)."""
    if isinstance(error, AuthError):
        return _AUTH_MESSAGES.get(
            error.code, "Signing in did not work. Please try again in a moment."
        )
    if isinstance(error, ServerError):
        return "The server ran into a problem. Please try again in a moment."
    if isinstance(error, NetworkError):
        return CANT_REACH
    return "Something went wrong. Please try again."


def _loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a Qt slot outside any coroutine: the qasync loop is the current one
        return asyncio.get_event_loop()


class SignInWindow(QWidget):
    """Sign in to an account of *client*, or create one. :attr:`signedIn` carries the
    profile (None if the account has none yet) once the client is signed in.

    With a :class:`SessionTokenStore`, "Keep me signed in" chooses where the session goes:
    the keychain, or (unchecked) memory only.
    """

    signedIn = Signal(object)

    def __init__(
        self,
        client: ChatClient,
        tokens: SessionTokenStore | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.client = client
        self.tokens = tokens
        self._task: asyncio.Task[None] | None = None
        self._held = False
        self.setWindowTitle("Sign in - Desktop Chat")
        self.setMinimumWidth(380)
        self._build()
        self._set_mode(0)

    # layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        title = QLabel("Desktop Chat")
        title.setStyleSheet("font-size: 20px; font-weight: 600;")
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.tabs = QTabBar()
        self.tabs.addTab("Sign in")
        self.tabs.addTab("Create account")
        self.tabs.setAccessibleName("Sign in or create an account")
        self.tabs.currentChanged.connect(self._set_mode)

        self.email = QLineEdit()
        self.email.setPlaceholderText("you@example.com")
        self.email.setAccessibleName("Email")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Password")
        self.display_name = QLineEdit()
        self.display_name.setPlaceholderText("How others see you")
        self.display_name.setAccessibleName("Display name")
        self.display_name.setMaxLength(100)
        self.student = QRadioButton("&Student - I want to learn")
        self.student.setAccessibleName("Role: student")
        self.provider = QRadioButton("&Provider - I teach a skill")
        self.provider.setAccessibleName("Role: provider")
        self.student.setChecked(True)
        self.roles = QButtonGroup(self)
        self.roles.addButton(self.student)
        self.roles.addButton(self.provider)
        role_box = QWidget()
        role_layout = QVBoxLayout(role_box)
        role_layout.setContentsMargins(0, 0, 0, 0)
        role_layout.addWidget(self.student)
        role_layout.addWidget(self.provider)
        self.role_box = role_box

        self.keep = QCheckBox("&Keep me signed in")
        self.keep.setAccessibleName("Keep me signed in")
        keychain = self.tokens is not None and self.tokens.keychain.persistent
        self.keep.setChecked(keychain)
        self.keep.setEnabled(keychain)
        self.keep.setToolTip(
            "Stay signed in after the app restarts (kept in your system's keychain)."
            if keychain
            else "This computer has no keychain: you will sign in again after a restart."
        )

        form = QFormLayout()
        self._labels: dict[QWidget, QLabel] = {}
        for text, field in (
            ("&Email", self.email),
            ("Pass&word", self.password),
            ("&Display name", self.display_name),
            ("I am a", self.role_box),
        ):
            label = QLabel(text)
            label.setBuddy(field)
            self._labels[field] = label
            form.addRow(label, field)

        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828;")
        self.error.setAccessibleName("Error")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(6)
        self.progress.setAccessibleName("Working")
        self.progress.hide()
        self.submit_button = QPushButton()
        self.submit_button.setDefault(True)
        self.submit_button.clicked.connect(self.submit)
        for field in (self.email, self.password, self.display_name):
            field.returnPressed.connect(self.submit)
            field.textEdited.connect(self._clear_error)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(self.tabs)
        layout.addLayout(form)
        layout.addWidget(self.keep)
        layout.addWidget(self.error)
        layout.addWidget(self.progress)
        layout.addWidget(self.submit_button)
        layout.addStretch(1)
        self.setTabOrder(self.email, self.password)
        self.setTabOrder(self.password, self.display_name)
        self.setTabOrder(self.display_name, self.student)
        self.setTabOrder(self.student, self.keep)
        self.setTabOrder(self.keep, self.submit_button)

    # state -------------------------------------------------------------------------------
    @property
    def signing_up(self) -> bool:
        return self.tabs.currentIndex() == 1

    @property
    def busy(self) -> bool:
        return self._held or (self._task is not None and not self._task.done())

    def hold(self, text: str) -> None:
        """Lock the form, *text* on its button, until :meth:`release` (the app is still
        signing the previous account out)."""
        self._held = True
        self._set_busy(True)
        self.submit_button.setText(text)

    def release(self) -> None:
        """Unlock the form held by :meth:`hold`; the keyboard goes to the first empty field."""
        self._held = False
        self._set_busy(False)
        self.email.setCursorPosition(0)  # a long address shows from its start
        (self.password if self.email.text() else self.email).setFocus()

    def set_sign_up(self, sign_up: bool) -> None:
        self.tabs.setCurrentIndex(1 if sign_up else 0)

    def _set_mode(self, index: int) -> None:
        sign_up = index == 1
        for field in (self.display_name, self.role_box):
            field.setVisible(sign_up)
            self._labels[field].setVisible(sign_up)
        self.password.setPlaceholderText(f"At least {MIN_PASSWORD} characters" if sign_up else "")
        self.submit_button.setText("Create account" if sign_up else "Sign in")
        self.submit_button.setAccessibleName(self.submit_button.text())
        self._clear_error()

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setAccessibleDescription(text)
        self.error.show()

    def _clear_error(self) -> None:
        self.error.clear()
        self.error.hide()

    def error_text(self) -> str:
        """The error shown, or "" if none is."""
        return self.error.text() if self.error.isVisibleTo(self) else ""

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.tabs, self.email, self.password, self.display_name, self.role_box):
            widget.setEnabled(not busy)
        self.keep.setEnabled(
            not busy and self.tokens is not None and self.tokens.keychain.persistent
        )
        self.submit_button.setEnabled(not busy)
        self.progress.setVisible(busy)
        if busy:
            self.submit_button.setText("Creating account…" if self.signing_up else "Signing in…")
            self.setCursor(Qt.CursorShape.BusyCursor)
        else:
            self.submit_button.setText("Create account" if self.signing_up else "Sign in")
            self.unsetCursor()

    # submitting --------------------------------------------------------------------------
    def _check(self) -> tuple[QLineEdit, str] | None:
        """The first field to fix and why, or None if the form can be sent."""
        email = self.email.text().strip()
        if not email:
            return self.email, "Enter your email address."
        if "@" not in email or email.startswith("@") or email.endswith("@"):
            return self.email, "That doesn't look like an email address."
        if not self.password.text():
            return self.password, "Enter your password."
        if self.signing_up:
            if len(self.password.text()) < MIN_PASSWORD:
                return self.password, _AUTH_MESSAGES["WEAK_PASSWORD"]
            if not self.display_name.text().strip():
                return self.display_name, "Enter the name others will see."
        return None

    def submit(self) -> None:
        """Sign in or up with what the form holds (ignored while busy)."""
        if self.busy:
            return
        problem = self._check()
        if problem is not None:
            field, text = problem
            self.show_error(text)
            field.setFocus()
            return
        self._clear_error()
        if self.tokens is not None:  # before the form is locked (which disables the box)
            self.tokens.remember = self.keep.isChecked() and self.keep.isEnabled()
        self._set_busy(True)
        self._task = _loop().create_task(self._send(), name="sign in")

    async def _send(self) -> None:
        email, password = self.email.text().strip(), self.password.text()
        try:
            if self.signing_up:
                role = Role.PROVIDER if self.provider.isChecked() else Role.STUDENT
                name = self.display_name.text().strip()
                profile: object = await self.client.sign_up(email, password, name, role.value)
            else:
                profile = await self.client.sign_in(email, password)
        except ClientError as exc:
            log.info("sign-in failed: %r", exc)
            self._set_busy(False)
            self.show_error(describe_error(exc))
            about_email = ("EMAIL_EXISTS", "EMAIL_NOT_FOUND", "INVALID_EMAIL", "MISSING_EMAIL")
            wrong_password = isinstance(exc, AuthError) and exc.code not in about_email
            (self.password if wrong_password else self.email).setFocus()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never a traceback in front of the user
            log.exception("sign-in failed unexpectedly")
            self._set_busy(False)
            self.show_error(describe_error(exc))
            return
        self._set_busy(False)
        self.password.clear()
        self.signedIn.emit(profile)

    def cancel(self) -> None:
        """Stop a sign-in under way (the window is closing)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel()
        super().closeEvent(event)


def error_box(error: BaseException | None) -> QMessageBox:
    """The dialog saying why Desktop Chat could not start (or ran into trouble): the reason in
    words; for an unexpected error, its type and message under "Show Details"."""
    from desktop_chat.client.embedded import EmbeddedServerError
    from desktop_chat.client.errors import ConfigError

    if isinstance(error, EmbeddedServerError):
        text = f"The local chat server could not start.\n\n{error}"
    elif isinstance(error, ConfigError):
        text = f"The settings are not usable.\n\n{error}"
    elif error is not None:
        text = f"Desktop Chat could not start.\n\n{describe_error(error)}"
    else:
        text = "Desktop Chat ran into a problem."
    box = QMessageBox(QMessageBox.Icon.Critical, "Desktop Chat", text)
    box.setAccessibleName("Error")
    if error is not None and not isinstance(error, EmbeddedServerError | ConfigError):
        box.setDetailedText(f"{type(error).__name__}: {error}")
    return box


async def show_until_closed(box: QMessageBox) -> None:
    """Show *box* (not modal to the loop: asyncio goes on) until it is closed; then delete it."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def finished(_code: int) -> None:
        if not done.done():
            done.set_result(None)

    box.finished.connect(finished)
    box.open()
    try:
        await done
    finally:
        box.deleteLater()
