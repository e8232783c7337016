"""The account button above the conversation list: my name and avatar, a menu, Sign out."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QShowEvent,
)
from PySide6.QtWidgets import QMenu, QMessageBox, QSizePolicy, QToolButton, QWidget

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.errors import NetworkError
from desktop_chat.ui.avatars import AvatarCache
from desktop_chat.ui.bridge import ChatBridge
from desktop_chat.ui.diagnostics import show_about
from desktop_chat.ui.sign_in_window import SignInWindow
from desktop_chat.ui.theme import SIZES, current_theme, scaled_font

if TYPE_CHECKING:
    from desktop_chat.app import DesktopApp

__all__ = [
    "SIGNING_OUT",
    "AccountButton",
    "SignOutDialog",
    "end_session",
    "sign_out_window",
    "signed_out_problem",
    "waiting_text",
]

log = logging.getLogger("desktop_chat.ui")

AVATAR = 32
"""The avatar's side on the button (logical pixels)."""
PADDING = 6
GAP = 10
CHEVRON = 10
SIGNING_OUT = "Signing out…"
SIGN_OUT_SECONDS = 15.0
"""At most this long for each step of signing out (closing the bridge, ending the session)."""
REMOVED = "Your chats will be removed from this computer until you sign in again."


def waiting_text(count: int | None) -> str:
    """What the sign-out question says about messages not sent yet ("" when there are none)."""
    if count is None:  # the outbox could not be read: say what happens to any there are
        return (
            "Messages still waiting to be sent, if any, stay on this computer and will be "
            "sent the next time you sign in to this account."
        )
    if count <= 0:
        return ""
    many = "1 message has" if count == 1 else f"{count} messages have"
    they = "It stays" if count == 1 else "They stay"
    return (
        f"{many} not been sent yet. {they} on this computer and will be sent the next time "
        "you sign in to this account."
    )


def signed_out_problem(error: BaseException) -> str:
    """What to say when signing out did not go smoothly (the local session ended anyway)."""
    if isinstance(error, TimeoutError):
        why = "Cleaning up took too long, so it was stopped."
    elif isinstance(error, NetworkError):
        why = "The server could not be reached."
    else:
        why = "Some of the account's data could not be cleaned up."
    return f"You are signed out. {why} You can sign in again at any time."


class SignOutDialog(QMessageBox):
    """Asks "Sign out of Desktop Chat?", naming the account and how many messages still
    wait to be sent (they go at its next sign-in); Sign out is the default, Esc cancels."""

    def __init__(
        self, parent: QWidget | None, name: str, email: str | None, unsent: int | None
    ) -> None:
        super().__init__(parent)
        self.unsent = unsent
        self.setWindowTitle("Sign out - Desktop Chat")
        self.setAccessibleName("Sign out?")
        self.setIcon(
            QMessageBox.Icon.Warning if unsent is None or unsent > 0 else QMessageBox.Icon.Question
        )
        self.setTextFormat(Qt.TextFormat.RichText)
        who = html.escape(f"{name} ({email})" if email and email != name else name)
        paragraphs = [f"You are signed in as {who}.", waiting_text(unsent), REMOVED]
        self.setText("<b>Sign out of Desktop Chat?</b>")
        self.setInformativeText("<br><br>".join(p for p in paragraphs if p))
        plain = " ".join(p for p in paragraphs if p)
        self.setAccessibleDescription(f"Sign out of Desktop Chat? {html.unescape(plain)}")
        self.sign_out_button = self.addButton("Sign out", QMessageBox.ButtonRole.AcceptRole)
        self.sign_out_button.setAccessibleName("Sign out")
        self.cancel_button = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.sign_out_button)
        self.setEscapeButton(self.cancel_button)

    def confirmed(self) -> bool:
        """True once the person chose Sign out."""
        return self.clickedButton() is self.sign_out_button


class AccountButton(QToolButton):
    """My avatar, name and email, and a chevron; a click (or Space once focused) opens the
    account menu: who is signed in, and "Sign out…", which asks first
    (:class:`SignOutDialog`) and then emits :attr:`signOutConfirmed`."""

    signOutConfirmed = Signal()

    def __init__(
        self, bridge: ChatBridge, avatars: AvatarCache, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.avatars = avatars
        self.name = ""
        self.email: str | None = None
        self.avatar = QPixmap()
        self.dialog: SignOutDialog | None = None
        self._asking = False
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setAutoRaise(True)  # (hover repaints)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # a click leaves the focus where it was
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.account_menu = QMenu(self)
        self.account_menu.setAccessibleName("Account menu")
        self.who_action = QAction(self.account_menu)
        self.who_action.setEnabled(False)
        self.sign_out_action = QAction("Sign &out…", self.account_menu)
        self.sign_out_action.setToolTip("Sign out of this account on this computer")
        self.sign_out_action.triggered.connect(self.ask_sign_out)
        self.account_menu.addAction(self.who_action)
        self.account_menu.addSeparator()
        self.account_menu.addAction(self.sign_out_action)
        self.account_menu.addSeparator()
        self.account_menu.addAction("About Desktop Chat", lambda: show_about(self.window()))
        self.account_menu.aboutToShow.connect(self.refresh)
        self.setMenu(self.account_menu)
        avatars.avatarReady.connect(self._avatar_ready)
        bridge.conversationsLoaded.connect(self._refresh_later)  # my profile may be read by now
        bridge.connectionChanged.connect(self._refresh_later)
        self.refresh()

    # showing who I am ------------------------------------------------------------------------
    def account(self) -> tuple[str | None, str, str | None, str | None]:
        """(uid, name, email, photo URL) of the signed-in account, as far as they are known."""
        client = self.bridge.client
        me, user = client.me, client.auth.user
        email = user.email if user is not None else None
        name = (me.display_name if me is not None else None) or (
            user.display_name if user is not None else None
        )
        photo = me.photo_url if me is not None else None
        return client.uid, (name or email or "My account"), email, photo

    def refresh(self) -> None:
        """Show the account's current name, email and avatar."""
        uid, self.name, self.email, photo = self.account()
        self.setText(self.name.replace("&", "&&"))  # (what a screen reader reads; no mnemonic)
        self.setAccessibleName(f"Account: {self.name}")
        self.setAccessibleDescription("Opens the account menu, with Sign out")
        self.setToolTip(f"{self.name}\n{self.email}" if self.email else self.name)
        self.who_action.setText(f"Signed in as {(self.email or self.name).replace('&', '&&')}")
        if uid is not None:
            dpr = self.devicePixelRatioF()
            self.avatar = self.avatars.pixmap(uid, self.name, photo, AVATAR, dpr)
        self.update()

    def _refresh_later(self, *_args: object) -> None:
        self.refresh()

    def _avatar_ready(self, uid: str) -> None:
        if uid == self.bridge.uid:
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    # painting ------------------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        lines = QFontMetrics(self.font()).height() * 2
        return QSize(240, max(AVATAR, lines) + 2 * PADDING)

    def minimumSizeHint(self) -> QSize:
        return QSize(AVATAR + 2 * PADDING, self.sizeHint().height())

    def paintEvent(self, _event: QPaintEvent) -> None:
        """A row like the conversation list's: avatar, name over email, a chevron; hover and
        pressed (menu open) backgrounds, a focus ring."""
        theme = current_theme()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        box = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        if self.isDown() or self.underMouse():
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.colour("selected" if self.isDown() else "hover"))
            painter.drawRoundedRect(box, 8, 8)
        if self.hasFocus():
            painter.setPen(QPen(theme.colour("accent_fg"), 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(box.adjusted(1, 1, -1, -1), 7, 7)
        top = (self.height() - AVATAR) / 2
        if not self.avatar.isNull():
            painter.drawPixmap(QPointF(PADDING, top), self.avatar)
        left = PADDING + AVATAR + GAP
        width = max(0, self.width() - left - PADDING - CHEVRON - GAP)
        bold = scaled_font(self.font(), 1.0, bold=True)
        small = scaled_font(self.font(), SIZES.small_font)
        half = self.height() / 2
        for font, colour, text, rect in (
            (bold, "text", self.name, QRectF(left, 0, width, half)),
            (small, "secondary", self.email or "", QRectF(left, half, width, half)),
        ):
            painter.setFont(font)
            painter.setPen(theme.colour(colour))
            elided = QFontMetrics(font).elidedText(text, Qt.TextElideMode.ElideRight, int(width))
            down = Qt.AlignmentFlag.AlignBottom if rect.top() == 0 else Qt.AlignmentFlag.AlignTop
            painter.drawText(rect, Qt.AlignmentFlag.AlignLeft | down, elided)
        x, y = self.width() - PADDING - CHEVRON, half - CHEVRON / 4
        chevron = QPainterPath(QPointF(x, y))
        chevron.lineTo(x + CHEVRON / 2, y + CHEVRON / 2)
        chevron.lineTo(x + CHEVRON, y)
        painter.setPen(QPen(theme.colour("secondary"), 1.6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(chevron)
        painter.end()

    # signing out ---------------------------------------------------------------------------
    def ask_sign_out(self) -> None:
        """Count the messages still waiting to be sent, then ask (a window-modal dialog)."""
        if self._asking or self.bridge.closed:
            return
        self._asking = True
        self.bridge.count_unsent(self._ask)

    def _ask(self, unsent: int | None) -> None:
        self.refresh()
        dialog = SignOutDialog(self.window(), self.name, self.email, unsent)
        dialog.finished.connect(self._answered)
        self.dialog = dialog
        dialog.open()

    def _answered(self, _code: int) -> None:
        dialog, self.dialog = self.dialog, None
        self._asking = False
        if dialog is None:
            return
        confirmed = dialog.confirmed()
        dialog.deleteLater()
        if confirmed:
            log.info("sign-out confirmed")
            self.signOutConfirmed.emit()


async def _step(step: Coroutine[Any, Any, None], what: str) -> BaseException | None:
    """Run one step of signing out within :data:`SIGN_OUT_SECONDS`; what it raised, if any."""
    try:
        async with asyncio.timeout(SIGN_OUT_SECONDS):
            await step
    except Exception as exc:
        log.warning("signing out: %s failed: %r", what, exc, exc_info=exc)
        return exc
    return None


async def end_session(client: ChatClient, bridge: ChatBridge, sign_in: SignInWindow) -> None:
    """The rest of a sign-out, once the main window has closed: close *bridge*, then
    ``client.sign_out()``. Whatever fails, the local session ends (the session token is
    forgotten, the client stopped) and *sign_in*, held meanwhile, says it in words."""
    try:
        await _step(bridge.aclose(), "closing the window's bridge")
        problem = await _step(client.sign_out(), "signing the client out")
    except asyncio.CancelledError:  # the app quits meanwhile: the session must not outlive it
        await _step(client.auth.sign_out(forget=True), "forgetting the session")
        raise
    if problem is not None:  # end what sign_out may not have reached
        await _step(client.auth.sign_out(forget=True), "forgetting the session")
        await _step(client.stop(), "stopping the client")
    else:
        log.info("signed out")
    sign_in.release()
    if problem is not None:
        sign_in.show_error(signed_out_problem(problem))


def sign_out_window(
    app: DesktopApp, client: ChatClient, bridge: ChatBridge, window: QWidget
) -> None:
    """Sign *window*'s account out: the sign-in window opens first (so the app does not
    quit), held until the main window has closed, its bridge too, and the session ended."""
    if window not in app.windows:
        return  # signing out already
    user = client.auth.user
    email = user.email if user is not None else None
    sign_in = app._ask_sign_in(client, app.tokens.get(client), email)
    sign_in.hold(SIGNING_OUT)
    app.windows.remove(window)
    window.close()
    window.deleteLater()
    ending = app.spawn(end_session(client, bridge, sign_in), "sign out")
    ending.add_done_callback(  # (until then, quitting closes the bridge too)
        lambda _: app.bridges.remove(bridge) if bridge in app.bridges else None
    )
