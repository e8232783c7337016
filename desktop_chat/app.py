"""`desktop-chat`: the composition root: arguments, config, local server, client, windows."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

__all__ = ["DesktopApp", "WindowFactory", "main", "parse_args"]

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

    from desktop_chat.client.chat_client import ChatClient
    from desktop_chat.client.embedded import EmbeddedServer
    from desktop_chat.client.profiles import Profile, SessionTokenStore
    from desktop_chat.ui.bridge import ChatBridge
    from desktop_chat.ui.sign_in_window import SignInWindow
    from desktop_chat.ui.single_instance import SingleInstance
    from desktop_chat.ui.tray import DesktopShell

log = logging.getLogger("desktop_chat.ui")

WindowFactory = Callable[["ChatBridge"], "QWidget"]
"""Makes the main window of one signed-in client (``MainWindow(bridge)``)."""
SERVE_EMBEDDED = "--serve-embedded"
QUIT_STEP_SECONDS = 15.0
_BEFORE_QT = (
    "desktop_chat.client.chat_client",
    "desktop_chat.client.profiles",
    "desktop_chat.core.links",
    "encodings.idna",
    "getpass",
    "html",
)
"""What the first window needs that does not need Qt, imported before it (see main)."""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="desktop-chat", description="The desktop messenger of the skill-sharing marketplace."
    )
    parser.add_argument("--profile", help="a separate set of accounts and local data")
    parser.add_argument(
        "--self-test", action="store_true", help="check the app end to end and exit (0: passed)"
    )
    demo = "seed a local demo server and open two windows: a student and a provider"
    parser.add_argument("--demo", action="store_true", help=demo)
    parser.add_argument("link", nargs="?", help="a desktopchat:// link to open")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default)")
    serve = "run `desktop-chat-server ARGS` instead (how a bundled app starts its server)"
    parser.add_argument(SERVE_EMBEDDED, nargs=argparse.REMAINDER, metavar="ARGS", help=serve)
    return parser.parse_args(list(argv))


def _default_window(bridge: ChatBridge) -> QWidget:
    from desktop_chat.ui.main_window import MainWindow

    return MainWindow(bridge)


class DesktopApp:
    """One run of the app: what it started (server, clients, windows) and how it stops."""

    def __init__(
        self,
        qapp: QApplication,
        profile: Profile,
        *,
        demo: bool = False,
        instance: SingleInstance | None = None,
        window_factory: WindowFactory | None = None,
        server_args: Sequence[str] = (),
    ) -> None:
        self.qapp = qapp
        self.profile = profile
        self.demo = demo
        self.instance = instance
        self.window_factory = window_factory or _default_window
        self.server_args = list(server_args)
        self.server: EmbeddedServer | None = None
        self.clients: list[ChatClient] = []
        self.bridges: list[ChatBridge] = []
        self.windows: list[QWidget] = []
        self.tokens: dict[ChatClient, SessionTokenStore | None] = {}  # a sign-in's, by client
        self.error_box: QMessageBox | None = None
        self.desktop: DesktopShell | None = None  # the tray, desktop notifications, sounds
        from desktop_chat.client.transport import TaskTracker

        self._tasks = TaskTracker("desktop-chat", on_failure=self._failed)
        self._quit: asyncio.Event | None = None

    # running -----------------------------------------------------------------------------
    async def run(self) -> int:
        """Start, wait until the last window closes (or SIGTERM / SIGINT), stop; the exit code."""
        self._quit = asyncio.Event()
        self.qapp.lastWindowClosed.connect(self._last_window_closed)
        if self.instance is not None:
            self.instance.showRequested.connect(self.show_windows)
        from desktop_chat.client.errors import ClientError

        loop = asyncio.get_running_loop()
        if sys.platform != "win32":
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.quit)
        starting = loop.create_task(self._start_demo() if self.demo else self._start())
        quitting = loop.create_task(self._quit.wait())
        try:
            await asyncio.wait({starting, quitting}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():  # asked to quit while starting
                return 0
            error = starting.exception()
            if isinstance(error, ClientError):  # expected trouble: the dialog says it
                log.error("start-up failed: %s", error)
            elif error is not None:  # a bug: the traceback goes to the log only
                log.error("start-up failed", exc_info=error)
            if error is not None:
                await self._show_error(error)
                return 1
            await quitting
            return 0
        finally:
            if sys.platform != "win32":
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)
            for task in (starting, quitting):
                task.cancel()
            await asyncio.gather(starting, quitting, return_exceptions=True)
            await self.shutdown()

    def quit(self) -> None:
        if self.error_box is not None:
            self.error_box.done(0)
        if self._quit is not None:
            self._quit.set()

    def _last_window_closed(self) -> None:  # (a main window hidden in the tray lives on)
        if self.desktop is None or not self.desktop.keeps_windows:
            self.quit()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A tracked task: its failure is logged (and shown), it is cancelled on quit."""
        return self._tasks.spawn(coro, name)

    def _failed(self, task: asyncio.Task[Any], error: BaseException) -> None:
        if not self._tasks.closed:
            self.spawn(self._show_error(error), "error dialog")

    def show_windows(self) -> None:
        """A second launch asked: bring our windows forward."""
        from desktop_chat.ui.single_instance import bring_to_front

        for window in self.windows:
            bring_to_front(window)

    # starting ----------------------------------------------------------------------------
    async def _start(self) -> None:
        from desktop_chat.client.chat_client import ChatClient
        from desktop_chat.client.config import BackendConfig
        from desktop_chat.client.profiles import SessionTokenStore
        from desktop_chat.client.token_store import DeferredTokenStore

        config = BackendConfig.load()
        if config.embedded:
            url = await self._start_server()
            config = config.with_server(url, self._server().namespace)
        log.info("backend: %s", config.describe())
        tokens = SessionTokenStore(DeferredTokenStore(), marker=self.profile.session_marker)
        client = await ChatClient.create(config, self.profile.client_dir, token_store=tokens)
        self.clients.append(client)
        self.tokens[client] = tokens
        if await tokens.kept(client.uid) or await tokens.has_session(client.uid):
            window = self._open_main(client, at_start=True)  # the cached chats first
            self.spawn(self._resume(client, tokens, window, self.bridges[-1]), "resume")
        else:
            await tokens.ready()  # (the sign-in window offers "keep me signed in" if it can)
            self._ask_sign_in(client, tokens)

    async def _resume(
        self, client: ChatClient, tokens: SessionTokenStore, window: QWidget, bridge: ChatBridge
    ) -> None:
        """Restore the session of a main window opened from the cache and start the client; if
        the stored session is no longer valid, the sign-in window takes the main one's place."""
        from desktop_chat.client.auth import User
        from desktop_chat.client.errors import NetworkError, ProtocolError

        assert client.uid is not None
        painted = getattr(window, "painted", None)  # MainWindow: its cached list is on screen
        if callable(painted):
            await painted()
        restored: User | None = None
        try:
            restored = await client.auth.restore(client.uid)
        except NetworkError as exc:  # offline: the cache shows, the session retries
            log.info("starting offline: %s", exc)
            restored = User(client.uid)
        except ProtocolError as exc:
            log.warning("cannot restore the session: %s", exc)
        if restored is not None:
            await client.start()
            return
        self._ask_sign_in(client, tokens)
        self.windows.remove(window)  # (after the sign-in window opened: the app stays)
        window.close()
        window.deleteLater()
        self.bridges.remove(bridge)
        await bridge.aclose()

    def _server(self) -> EmbeddedServer:
        assert self.server is not None
        return self.server

    async def _start_server(self) -> str:
        from desktop_chat.client.embedded import EmbeddedServer

        self.server = EmbeddedServer(self.profile.server_dir, server_args=self.server_args)
        return await self.server.start()

    def _ask_sign_in(
        self, client: ChatClient, tokens: SessionTokenStore | None, email: str | None = None
    ) -> SignInWindow:
        from desktop_chat.ui.sign_in_window import SignInWindow

        window = SignInWindow(client, tokens)
        window.email.setText(email or "")
        window.signedIn.connect(
            lambda _profile: self.spawn(self._signed_in(client, window), "open")
        )
        self.windows.append(window)
        window.show()
        return window

    async def _signed_in(self, client: ChatClient, sign_in: QWidget) -> None:
        await client.start()
        self._open_main(client)  # first, so that closing the sign-in window does not quit
        self.windows.remove(sign_in)
        sign_in.close()
        sign_in.deleteLater()

    def _open_main(
        self, client: ChatClient, title: str | None = None, *, at_start: bool = False
    ) -> QWidget:
        from desktop_chat.ui.app_settings import starts_in_tray
        from desktop_chat.ui.bridge import ChatBridge
        from desktop_chat.ui.tray import attach_when_painted

        bridge = ChatBridge(client)
        self.bridges.append(bridge)
        window = self.window_factory(bridge)
        if title is not None:
            window.setWindowTitle(title)
        self.windows.append(window)
        if not (at_start and starts_in_tray(self.profile.directory)):  # (a sign-in shows it)
            window.show()
        self.spawn(attach_when_painted(self, window, bridge), "tray and notifications")
        start = getattr(window, "start", None)  # MainWindow reads the list once it shows
        if callable(start):
            start()
        requested = getattr(window, "signOutRequested", None)  # MainWindow's account menu
        if requested is not None:
            requested.connect(lambda: self.sign_out(client, bridge, window))
        return window

    def sign_out(self, client: ChatClient, bridge: ChatBridge, window: QWidget) -> None:
        from desktop_chat.ui.account_menu import sign_out_window

        sign_out_window(self, client, bridge, window)

    async def _start_demo(self) -> None:
        from desktop_chat.client.config import BackendConfig
        from desktop_chat.client.demo import demo_clients
        from desktop_chat.client.embedded import EmbeddedServerError, read_admin_secret

        url = await self._start_server()
        config = BackendConfig.from_values({}).with_server(url, self._server().namespace)
        secret = read_admin_secret(self.profile.server_dir)
        if secret is None:
            raise EmbeddedServerError("the demo server's admin secret cannot be read")
        screen = self.qapp.primaryScreen().availableGeometry()
        width = min(screen.width() // 2, 960)
        clients = await demo_clients(config, secret, self.profile.client_dir_for, self.clients)
        for index, (account, client) in enumerate(clients):
            title = f"{account.display_name} ({account.role.value}) - Desktop Chat demo"
            window = self._open_main(client, title)
            window.setGeometry(screen.x() + index * width, screen.y(), width, screen.height())
        log.info("demo ready: %d windows", len(self.windows))

    # errors and stopping -----------------------------------------------------------------
    async def _show_error(self, error: BaseException | None) -> None:
        from desktop_chat.ui.sign_in_window import error_box, show_until_closed

        self.error_box = box = error_box(error)
        try:
            await show_until_closed(box)
        finally:
            self.error_box = None

    async def shutdown(self) -> None:
        """Close the windows, stop the clients, release the server, cancel every task."""
        with contextlib.suppress(RuntimeError, TypeError):
            self.qapp.lastWindowClosed.disconnect(self._last_window_closed)
        if self.desktop is not None:  # first: closing the windows now closes them
            self.desktop.close()
        for window in self.windows:
            window.close()
            window.deleteLater()
        self.windows.clear()
        for bridge in self.bridges:
            await self._bounded(bridge.aclose(), "closing a window's bridge")
        self.bridges.clear()
        await self._bounded(self._tasks.cancel_all(), "cancelling the app's tasks")
        for client in self.clients:
            await self._bounded(client.close(), "closing a client")
        self.clients.clear()
        if self.server is not None:
            await self._bounded(self.server.release(), "releasing the embedded server")
            self.server = None

    async def _bounded(self, step: Coroutine[Any, Any, None], what: str) -> None:
        """One step of quitting, given :data:`QUIT_STEP_SECONDS`: quitting never hangs, and a
        failing step does not keep the next from running."""
        try:
            async with asyncio.timeout(QUIT_STEP_SECONDS):
                await step
        except TimeoutError:
            log.error("%s took over %.0f s; going on", what, QUIT_STEP_SECONDS)
        except Exception:
            log.exception("%s failed", what)


def _serve(server_args: list[str]) -> int:
    from desktop_chat.server.cli import main as server_main

    return server_main(server_args)


def main(argv: Sequence[str] | None = None, *, window_factory: WindowFactory | None = None) -> int:
    """Run the app (``--serve-embedded ARGS``: ``desktop-chat-server ARGS``, for a bundle)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == [SERVE_EMBEDDED]:  # quick: no argparse, no Qt
        return _serve(args_list[1:])
    args = parse_args(args_list)
    if args.serve_embedded is not None:
        return _serve(args.serve_embedded)
    from desktop_chat.ui.diagnostics import install_crash_handler, setup_logging

    level = logging.getLevelName(str(args.log_level).upper())
    setup_logging(level if isinstance(level, int) else logging.WARNING)  # (rotating, redacted)
    install_crash_handler()  # (a report the next start offers to show)
    if args.self_test:  # (no Qt: the client and the embedded server, as the app uses them)
        from desktop_chat.client.self_test import run_self_test

        return run_self_test()
    # The client before Qt: once PySide6 is imported, its import hook inspects every module
    # imported after it (tens of milliseconds of start-up for the client's few hundred).
    for module in _BEFORE_QT:
        importlib.import_module(module)
    import qasync
    from PySide6.QtWidgets import QApplication

    from desktop_chat.client.errors import ConfigError
    from desktop_chat.client.profiles import DEMO_PROFILE, Profile
    from desktop_chat.ui.single_instance import LinkRouter, SingleInstance

    try:
        profile = Profile.named(DEMO_PROFILE if args.demo else args.profile)
    except ConfigError as exc:
        print(f"desktop-chat: error: {exc}", file=sys.stderr)
        return 2
    existing = QApplication.instance()
    qapp = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    qapp.setApplicationName("Desktop Chat")
    qapp.setDesktopFileName("app.desktopchat.DesktopChat")  # (Wayland: the entry's icon)
    qapp.setQuitOnLastWindowClosed(False)  # the app decides when to stop, after cleaning up
    instance = SingleInstance(profile.instance_key)
    if not instance.acquire(link=args.link):
        return 0
    LinkRouter.install(instance, args.link)  # (this launch's link, and later launches')
    app = DesktopApp(
        qapp, profile, demo=args.demo, instance=instance, window_factory=window_factory
    )
    try:
        with asyncio.Runner(loop_factory=qasync.QEventLoop) as runner:
            return runner.run(app.run())
    except KeyboardInterrupt:
        return 130
    finally:
        instance.close()


if __name__ == "__main__":
    raise SystemExit(main())
