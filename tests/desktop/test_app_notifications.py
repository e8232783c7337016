"""End to end: the real app on the desktop stack (Xvfb, a private session bus, trayer, the fake
notification service) against a real server; another real user writes to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.token_store import KeyringTokenStore
from tests.desktop.marks import desktop_marks
from tests.e2e.test_two_apps import (
    PASSWORD,
    Account,
    App,
    Display,
    launch,
    main_window,
    screenshot,
    seed,
    stop,
    wait_until,
    xdotool,
)
from tests.support.chat import FAST, until
from tests.support.file_keyring import FileKeyring
from tests.support.server import ServerProcess

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCREENSHOT = ROOT / "build" / "screenshots" / "app-notification-click.png"
FIRST = "Are you free on Friday, Bob?"
SECOND = "Sent while Bob does not want to be disturbed"
WAIT = 30.0
TOOLS = {
    "Xvfb": "xvfb", "dbus-daemon": "dbus", "dbus-send": "dbus", "trayer": "trayer",
    "xdotool": "xdotool",
}  # fmt: skip

pytestmark = desktop_marks(TOOLS, "X11 / D-Bus")


# the desktop: a tray and the notification service on the test's display and bus -------------
@dataclass
class Desktop:
    display: Display
    log: Path
    """The fake notification service's calls, one JSON object a line."""
    panel: str
    """trayer's window: focused, it takes the focus from the app (there is no window manager)."""

    def calls(self, name: str) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        records = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        return [record for record in records if record["call"] == name]

    def focused(self) -> str:
        return xdotool(self.display, "getwindowfocus")

    def click(self, nid: int, action: str = "default") -> None:
        """What a click on notification *nid* does: the service emits ActionInvoked."""
        subprocess.run(
            ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.Notifications",
             "/org/freedesktop/Notifications", "org.freedesktop.Notifications.Invoke",
             f"uint32:{nid}", f"string:{action}"],
            env={**os.environ, **self.display.env}, check=True, timeout=WAIT,
            capture_output=True,
        )  # fmt: skip


@pytest.fixture
def desktop(display: Display, tmp_path: Path) -> Iterator[Desktop]:
    if "DBUS_SESSION_BUS_ADDRESS" not in display.env:
        pytest.skip("dbus-daemon is missing (apt-get install dbus)")
    env = {**os.environ, **display.env}
    log, out = tmp_path / "notify.jsonl", tmp_path / "fake.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(subprocess.Popen(
            ["trayer", "--expand", "false", "--widthtype", "pixel", "--width", "64",
             "--heighttype", "pixel", "--height", "32", "--edge", "top", "--align", "right"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        with out.open("wb") as output:
            processes.append(subprocess.Popen(
                [sys.executable, str(HERE / "fake_notifications.py"), str(log)],
                env=env, stdout=output, stderr=subprocess.STDOUT,
            ))  # fmt: skip
        wait_until(lambda: "ready" in out.read_text(), "the fake notification service", WAIT)
        if shutil.which("pulseaudio"):  # sounds play into a null sink (not checked here)
            subprocess.run(
                ["pulseaudio", "-n", "--daemonize=yes", "--exit-idle-time=-1",
                 "--use-pid-file=yes", "-L", "module-native-protocol-unix",
                 "-L", "module-null-sink sink_name=nullsink"],
                env=env, check=False, timeout=WAIT, capture_output=True,
            )  # fmt: skip

        def panel() -> str:
            found = xdotool(display, "search", "--onlyvisible", "--class", "trayer").split()
            return found[0] if found else ""

        yield Desktop(display, log, wait_until(panel, "trayer's panel", WAIT))
    finally:
        pulse = Path(display.env["XDG_RUNTIME_DIR"]) / "pulse" / "pid"
        if pulse.exists():
            with contextlib.suppress(ValueError, OSError):
                os.kill(int(pulse.read_text().strip()), signal.SIGTERM)
        for process in processes:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


# the other user -------------------------------------------------------------------------------
def send(server: ServerProcess, sender: Account, cid: str, text: str) -> dict[str, Any]:
    """*sender* signs in with a ChatClient of their own and writes *text* into *cid*; returns
    the message as the server has it."""

    def on_server() -> dict[str, Any] | None:
        messages = server.get(f"conversations/{cid}/messages") or {}
        return next((m for m in messages.values() if m.get("text") == text), None)

    async def main() -> dict[str, Any]:
        config = BackendConfig.from_values(
            {"server_url": server.url, "namespace": server.namespace}
        )
        client = await ChatClient.create(
            config, sender.client_dir, token_store=KeyringTokenStore(FileKeyring(sender.keyring))
        )
        try:
            await client.sign_in(f"{sender.name.lower()}@example.com", PASSWORD)
            await client.start()
            await client.send_message(cid, text)

            async def landed() -> bool:
                return await asyncio.to_thread(on_server) is not None

            await until(landed, WAIT)
        finally:
            await client.close()
        found = on_server()
        assert found is not None
        return found

    return asyncio.run(main())


# the app ---------------------------------------------------------------------------------------
def start(desktop: Desktop, server: ServerProcess, account: Account) -> App:
    """The app signed in as *account*, its window shown and its notifications on D-Bus, but
    not the active window (trayer's has the focus, as another program's would)."""
    connected = len(desktop.calls("GetCapabilities"))
    app = launch(desktop.display, server, account)
    app.window = main_window(desktop.display, app)
    wait_until(  # the desktop shell loads once the list is painted, then asks the service
        lambda: len(desktop.calls("GetCapabilities")) > connected,
        "the app to connect to the notification service",
        WAIT,
    )
    time.sleep(1.0)  # (its signal subscriptions follow the reply)
    xdotool(desktop.display, "windowfocus", "--sync", desktop.panel)
    assert desktop.focused() == desktop.panel
    return app


def stopped(app: App) -> None:
    """SIGTERM: the app quits cleanly, nothing went wrong on the way."""
    code, output = stop(app), app.output()
    assert code == 0, output
    assert "Traceback" not in output and "Exception ignored" not in output, output


def settle_and_check_arrived(account: Account, cid: str, text: str) -> None:
    """Until *account*'s app has *text*: in its cache as the conversation's last message and as
    the notification the server made of it; then a moment for what follows from it."""
    wait_until(
        lambda: account.query(
            "SELECT 1 FROM conversations c JOIN notifications n ON n.body = c.last_message"
            " WHERE c.cid=? AND c.last_message=? AND n.kind='message'",
            cid,
            text,
        ),
        f"{text!r} in {account.name}'s cache",
        WAIT,
    )
    time.sleep(1.5)


def test_a_message_notifies_a_click_opens_it_and_do_not_disturb_silences(
    desktop: Desktop, tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "server", extra_args=FAST, rules=None).start()
    apps: list[App] = []
    try:
        ann, bob = Account("Ann", tmp_path / "ann"), Account("Bob", tmp_path / "bob")
        cid = asyncio.run(seed(server, ann, bob))
        app = start(desktop, server, bob)
        apps.append(app)

        # (a) Ann writes while Bob's window is in the background: one notification, hers
        sent = send(server, ann, cid, FIRST)
        assert sent["read"] is False
        wait_until(lambda: desktop.calls("Notify"), "a Notify call", WAIT)
        settle_and_check_arrived(bob, cid, FIRST)
        notifies = desktop.calls("Notify")
        assert [(n["summary"], n["body"]) for n in notifies] == [("Ann", FIRST)], notifies
        assert notifies[0]["app"] == "Desktop Chat" and "default" in notifies[0]["actions"]

        # (b) a click on it: the window comes forward with the conversation open, which
        # reads it (the chat marks read only what is shown in the active window).
        # (Without a window manager Qt asks the X server for the focus with the time of the
        # last X event the app saw, and the server ignores a request older than the last focus
        # change, xdotool's: the pointer crossing the window, as a person's would, brings the
        # app up to date. The focus stays where it is.)
        xdotool(desktop.display, "mousemove", "--window", desktop.panel, "10", "10")
        xdotool(desktop.display, "mousemove", "--window", app.window, "300", "300")
        assert desktop.focused() == desktop.panel
        desktop.click(notifies[0]["id"])
        wait_until(lambda: desktop.focused() == app.window, "Bob's window to take the focus", WAIT)

        def read_on_server() -> bool:
            messages = server.get(f"conversations/{cid}/messages") or {}
            return any(m.get("text") == FIRST and m.get("read") for m in messages.values())

        wait_until(read_on_server, "Ann's message to be read on the server", WAIT)
        wait_until(
            lambda: bob.query("SELECT 1 FROM conversations WHERE cid=? AND unread_count=0", cid),
            "the conversation to count no unread message in Bob's cache",
            WAIT,
        )
        time.sleep(0.5)  # the chat paints
        screenshot(desktop.display, SCREENSHOT)
        assert len(desktop.calls("Notify")) == 1
        stopped(app)
        apps.remove(app)

        # (c) do not disturb, set before the app starts: a message shows no notification
        from PySide6.QtCore import QSettings

        ini = QSettings(str(bob.root / "desktop-settings.ini"), QSettings.Format.IniFormat)
        ini.setValue("notifications/do_not_disturb", True)
        ini.sync()
        del ini
        app = start(desktop, server, bob)
        apps.append(app)
        send(server, ann, cid, SECOND)
        settle_and_check_arrived(bob, cid, SECOND)
        assert len(desktop.calls("Notify")) == 1, desktop.calls("Notify")
        assert "do_not_disturb=true" in (bob.root / "desktop-settings.ini").read_text()
        stopped(app)
        apps.remove(app)
    finally:
        for app in apps:
            if app.process.poll() is None:
                app.process.kill()
                app.process.wait(10)
        server.kill()
