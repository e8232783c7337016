"""End to end: two real desktop-chat processes on Xvfb, one server; A types, B receives."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.profiles import DATA_DIR_ENV, Profile
from desktop_chat.client.token_store import KeyringTokenStore
from tests.support.chat import FAST
from tests.support.file_keyring import BACKEND, PATH_ENV, FileKeyring
from tests.support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "build" / "screenshots" / "e2e-two-apps.png"
WIDTH, HEIGHT = 1280, 800
ACCENT = b"\xd5\x2a\x42\xff"
"""#422AD5 (own bubbles) as one pixel of a QImage in Format_RGB32 (little-endian BGRA)."""
TEXT = "Hello Bob, typed into app A"
PASSWORD = "long-enough-1"
TITLE = "^Skill Chat$"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("Xvfb") is None, reason="Xvfb is not installed (apt-get install xvfb)"
    ),
    pytest.mark.skipif(
        shutil.which("xdotool") is None, reason="xdotool is not installed (apt-get install xdotool)"
    ),
    pytest.mark.skipif(sys.platform != "linux", reason="X11 end-to-end test: Linux only"),
    pytest.mark.timeout(90),
]


def wait_until(check: Callable[[], Any], what: str, seconds: float = 20) -> Any:
    """Poll *check* until it returns something truthy (returned); fail naming *what*."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


# the X server and the session bus ---------------------------------------------------------
@dataclass
class Display:
    name: str
    env: dict[str, str]


@pytest.fixture
def display(tmp_path: Path) -> Iterator[Display]:
    """Xvfb on a display it picks itself (-displayfd), and a private session bus."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{WIDTH}x{HEIGHT}x24", "-nolisten",
         "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write)
    bus: subprocess.Popen[str] | None = None
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        assert number.isdigit(), "Xvfb did not report its display"
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700)
        env = {"DISPLAY": f":{number}", "XDG_RUNTIME_DIR": str(runtime)}
        if shutil.which("dbus-daemon"):  # a bus of our own: nothing autolaunched outlives us
            bus = subprocess.Popen(
                ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert bus.stdout is not None
            env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().strip()
        yield Display(f":{number}", env)
    finally:
        for process in (bus, xvfb):
            if process is not None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
                if process.stdout is not None:
                    process.stdout.close()


def xdotool(display: Display, *args: str) -> str:
    done = subprocess.run(
        ["xdotool", *args],
        env={**os.environ, **display.env},
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    return done.stdout.strip()


def screenshot(display: Display, path: Path) -> None:
    """The whole screen as a PNG, through Qt on xcb (no xwd/ImageMagick needed)."""
    script = (
        "import sys\n"
        "from PySide6.QtGui import QGuiApplication\n"
        "app = QGuiApplication(sys.argv[:1])\n"
        "assert app.primaryScreen().grabWindow(0).save(sys.argv[1])\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", script, str(path)],
        env={**os.environ, **display.env, "QT_QPA_PLATFORM": "xcb"},
        check=True,
        timeout=30,
        capture_output=True,
    )


def accent_pixels(path: Path, left: int, right: int) -> int:
    """How many pixels of the accent colour (own bubbles) the screenshot has in x [left, right)."""
    from PySide6.QtGui import QImage

    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB32)
    part = image.copy(left, 0, right - left, image.height())
    return bytes(part.constBits()).count(ACCENT)


def changed_pixels(before: Path, after: Path, left: int, right: int) -> int:
    """How many pixels differ between two screenshots in x [left, right)."""
    from PySide6.QtGui import QImage

    images = [QImage(str(p)).convertToFormat(QImage.Format.Format_RGB32) for p in (before, after)]
    one, two = (bytes(image.copy(left, 0, right - left, HEIGHT).constBits()) for image in images)
    return sum(one[i : i + 4] != two[i : i + 4] for i in range(0, len(one), 4))


# the accounts --------------------------------------------------------------------------------
@dataclass
class Account:
    name: str
    root: Path
    uid: str = ""

    @property
    def client_dir(self) -> Path:
        return Profile.named(None, root=self.root).client_dir

    @property
    def keyring(self) -> Path:
        return self.root / "keyring.json"

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of this account's cache (read-only, beside the running app)."""
        file = self.client_dir / self.uid / "cache.sqlite3"
        if not file.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as db:
            try:
                return db.execute(sql, params).fetchall()
            except sqlite3.OperationalError:  # busy or not made yet
                return []


async def seed(server: ServerProcess, ann: Account, bob: Account) -> str:
    """Both sign up once (the refresh tokens go to their keychains: the apps will start signed
    in), and Ann opens a conversation with Bob; returns its id."""
    config = BackendConfig.from_values({"server_url": server.url, "namespace": server.namespace})
    clients: list[ChatClient] = []
    try:
        for account, role in ((ann, "student"), (bob, "provider")):
            client = await ChatClient.create(
                config,
                account.client_dir,
                token_store=KeyringTokenStore(FileKeyring(account.keyring)),
            )
            clients.append(client)
            email = f"{account.name.lower()}@example.com"
            me = await client.sign_up(email, PASSWORD, account.name, role)
            account.uid = me.uid
        return await clients[0].open_conversation(bob.uid)
    finally:
        for client in clients:
            await client.close()


# the apps ------------------------------------------------------------------------------------
@dataclass
class App:
    account: Account
    process: subprocess.Popen[bytes]
    log: Path
    window: str = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def launch(display: Display, server: ServerProcess, account: Account) -> App:
    settings = account.root / "settings.json"
    settings.write_text("{}")
    env = {
        **os.environ,
        **display.env,
        "QT_QPA_PLATFORM": "xcb",
        "PYTHONPATH": str(ROOT),
        DATA_DIR_ENV: str(account.root),
        "DESKTOP_CHAT_SETTINGS": str(settings),
        "DESKTOP_CHAT_SERVER_URL": server.url,
        "DESKTOP_CHAT_NAMESPACE": server.namespace,
        "PYTHON_KEYRING_BACKEND": BACKEND,
        PATH_ENV: str(account.keyring),
    }
    env.pop("DESKTOP_CHAT_ADMIN_SECRET", None)
    log = account.root / "app.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "desktop_chat.app", "--log-level", "INFO"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return App(account, process, log)


def main_window(display: Display, app: App) -> str:
    """The X window id of *app*'s main window, once it is shown."""

    def find() -> str:
        assert app.process.poll() is None, app.output()
        found = xdotool(display, "search", "--onlyvisible", "--pid", str(app.process.pid))
        for window in found.split():
            if xdotool(display, "getwindowname", window) == "Desktop Chat":
                return window
        return ""

    return str(wait_until(find, f"{app.account.name}'s main window (not the sign-in one)", 30))


def keys(display: Display, app: App, *strokes: str) -> None:
    xdotool(display, "windowfocus", "--sync", app.window)
    for stroke in strokes:
        xdotool(display, "key", "--clearmodifiers", stroke)
        time.sleep(0.15)


def stop(app: App) -> int:
    app.process.send_signal(signal.SIGTERM)
    try:
        return app.process.wait(30)
    except subprocess.TimeoutExpired:
        app.process.kill()
        app.process.wait(10)
        pytest.fail(f"{app.account.name}'s app ignored SIGTERM:\n{app.output()}")


def test_a_message_typed_in_one_app_shows_in_the_other(display: Display, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server", extra_args=FAST, rules=None).start()
    apps: list[App] = []
    try:
        ann, bob = Account("Ann", tmp_path / "ann"), Account("Bob", tmp_path / "bob")
        cid = asyncio.run(seed(server, ann, bob))
        apps = [launch(display, server, account) for account in (ann, bob)]
        a, b = apps
        half = WIDTH // 2
        for index, app in enumerate(apps):  # side by side (there is no window manager)
            app.window = main_window(display, app)
            xdotool(display, "windowsize", "--sync", app.window, str(half), str(HEIGHT))
            xdotool(display, "windowmove", "--sync", app.window, str(index * half), "0")
        for account in (ann, bob):  # each app's list got the conversation from the server
            wait_until(
                partial(account.query, "SELECT 1 FROM conversations WHERE cid=?", cid),
                f"the conversation in {account.name}'s list",
            )
        keys(display, b, "ctrl+k", "Return")  # Bob opens it: its messages stream from now on
        keys(display, a, "ctrl+k", "Return")
        time.sleep(1.0)  # the chat loads from the cache, then the input takes the keyboard
        before = tmp_path / "before.png"
        screenshot(display, before)

        xdotool(display, "windowfocus", "--sync", a.window)
        xdotool(display, "type", "--delay", "30", TEXT)
        wait_until(  # what was typed went into Ann's input for this conversation (her draft)
            lambda: ann.query("SELECT 1 FROM drafts WHERE cid=? AND text=?", cid, TEXT),
            "Ann's draft to hold the typed text",
        )
        keys(display, a, "Return")

        def on_server() -> list[dict[str, Any]]:
            messages = server.get(f"conversations/{cid}/messages") or {}
            return [m for m in messages.values() if m.get("text") == TEXT]

        sent = wait_until(on_server, "the message on the server")
        assert sent[0]["senderId"] == ann.uid and sent[0]["receiverId"] == bob.uid
        wait_until(
            lambda: bob.query("SELECT 1 FROM messages WHERE cid=? AND text=?", cid, TEXT),
            "the message in Bob's cache",
        )
        wait_until(
            lambda: ann.query("SELECT 1 FROM drafts WHERE cid=? AND text=?", cid, TEXT) == [],
            "Ann's draft to be cleared by the send",
        )
        time.sleep(0.5)  # Bob's history paints the new row
        screenshot(display, SCREENSHOT)
        # Ann's own bubble is drawn in the accent colour; Bob's history changed where it shows.
        assert accent_pixels(SCREENSHOT, 0, half) > accent_pixels(before, 0, half) + 500
        assert changed_pixels(before, SCREENSHOT, half + half // 3, WIDTH) > 500

        for app in apps:
            code = stop(app)
            output = app.output()
            assert code == 0, output
            assert "Traceback" not in output and "Exception ignored" not in output, output
    finally:
        for app in apps:
            if app.process.poll() is None:
                app.process.kill()
                app.process.wait(10)
        server.kill()
