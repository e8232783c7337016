"""`desktop-chat-server notify`: a system notification through the running server, live."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.auth import sign_up
from tests.support.chat import FAST
from tests.support.server import ServerProcess
from tests.support.sse import SseReader


def _notify(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop_chat.server", "notify", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _fails(result: subprocess.CompletedProcess[str], message: str, code: int = 1) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr
    if code == 1:
        assert result.stderr.startswith("desktop-chat-server: error:"), result.stderr


@pytest.fixture
def running(tmp_path: Path) -> Iterator[ServerProcess]:
    """The shipped rules and a real admin secret (no emulator owner)."""
    process = ServerProcess(tmp_path / "d", FAST, rules=None, emulator_admin=False).start()
    yield process
    process.kill()


def test_notify_reaches_the_users_open_stream(running: ServerProcess) -> None:
    ann = sign_up(running, "ann@example.com")
    uid, token = ann["localId"], ann["idToken"]
    reader = SseReader(running, f"notifications/{uid}", token=token)
    try:
        assert reader.next(timeout=30) == ("put", {"path": "/", "data": None})
        result = _notify(
            running.data_dir,
            *("--to", uid, "--kind", "review", "--title", "New review"),
            *("--body", "Bob gave your piano lesson 5 stars", "--link", "skillId=skill1"),
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("sent review notification "), result.stdout
        event = reader.next(timeout=5)
    finally:
        reader.close()
    assert event is not None and event[0] == "put", event
    path, value = event[1]["path"], event[1]["data"]
    notification_id = path.strip("/")
    assert notification_id and f"notifications/{uid}/{notification_id}" in result.stdout
    created = value.pop("createdAt")
    assert isinstance(created, int) and created > 0
    assert value == {
        "kind": "review",
        "title": "New review",
        "body": "Bob gave your piano lesson 5 stars",
        "read": False,
        "link": {"skillId": "skill1"},
    }
    # The owner may read it, and mark it read, under the shipped rules.
    url = f"{running.url}/notifications/{uid}/{notification_id}"
    params = {"ns": running.namespace, "auth": token}
    marked = requests.put(f"{url}/read.json", params=params, json=True, timeout=30)
    assert marked.status_code == 200, marked.text


def test_notify_reaches_a_running_chat_client(running: ServerProcess, tmp_path: Path) -> None:
    """The desktop app's engine: the notification arrives as NotificationReceived and counts."""
    import asyncio

    from desktop_chat.client.events import NotificationReceived
    from desktop_chat.client.token_store import MemoryTokenStore
    from desktop_chat.core.model import NotificationKind
    from tests.integration.test_client_notifications import user

    async def main() -> None:
        ann = await user(running, tmp_path / "ann", "Ann", "student", MemoryTokenStore())
        events = ann.events()
        try:
            assert ann.uid is not None
            args = ("--to", ann.uid, "--kind", "payment", "--title", "Paid", "--body", "€20")
            result = await asyncio.to_thread(_notify, running.data_dir, *args)
            assert result.returncode == 0, result.stderr
            async with asyncio.timeout(5):
                async for event in events:
                    if isinstance(event, NotificationReceived):
                        break
            assert event.notification.kind is NotificationKind.PAYMENT
            assert event.notification.title == "Paid" and not event.notification.read
            assert await ann.unread_notification_count() == 1
        finally:
            events.close()
            await ann.close()

    asyncio.run(main())


def test_notify_payment_without_link(running: ServerProcess) -> None:
    uid = sign_up(running, "bob@example.com")["localId"]
    result = _notify(
        running.data_dir,
        *("--to", uid, "--kind", "payment", "--title", "Paid", "--body", "€20 received"),
    )
    assert result.returncode == 0, result.stderr
    secret = (running.data_dir / "admin-secret").read_text().strip()
    stored = requests.get(
        f"{running.url}/notifications/{uid}.json",
        params={"ns": running.namespace, "auth": secret},
        timeout=30,
    ).json()
    ((value),) = stored.values()
    assert value["kind"] == "payment" and value["body"] == "€20 received"
    assert "link" not in value and "senderId" not in value


def _nothing_stored(server: ServerProcess, uid: str) -> None:
    secret = (server.data_dir / "admin-secret").read_text().strip()
    response = requests.get(
        f"{server.url}/notifications.json",
        params={"ns": server.namespace, "auth": secret},
        timeout=30,
    )
    assert response.json() is None, response.text


def test_bad_input_is_refused_clearly_and_writes_nothing(running: ServerProcess) -> None:
    uid = sign_up(running, "cy@example.com")["localId"]
    good = {"--to": uid, "--kind": "review", "--title": "T", "--body": "B"}

    def with_(**changes: str | None) -> list[str]:
        fields = {**good, **{f"--{k}": v for k, v in changes.items()}}
        return [part for key, value in fields.items() if value is not None for part in (key, value)]

    data_dir = running.data_dir
    _fails(_notify(data_dir, *with_(to="not a uid!")), "invalid uid")
    _fails(_notify(data_dir, *with_(to="nobody123")), "no user has the uid nobody123")
    _fails(_notify(data_dir, *with_(kind="message")), "invalid choice: 'message'", code=2)
    _fails(_notify(data_dir, *with_(kind="session_reminder")), "invalid choice", code=2)
    _fails(_notify(data_dir, *with_(title=None)), "the following arguments are required", 2)
    _fails(_notify(data_dir, *with_(body=None)), "--body", code=2)
    _fails(_notify(data_dir, *with_(title="   ")), "the title is missing")
    _fails(_notify(data_dir, *with_(body="")), "the body is missing")
    _fails(_notify(data_dir, *with_(title="x" * 201)), "longer than 200 characters")
    _fails(_notify(data_dir, *with_(body="x" * 1001)), "longer than 1000 characters")
    _fails(_notify(data_dir, *with_(), "--link", "userId=u1"), "expected conversationId=ID", 2)
    _fails(_notify(data_dir, *with_(), "--link", "bookingId="), "expected conversationId=ID", 2)
    wrong = {"DESKTOP_CHAT_ADMIN_SECRET": "not-the-secret"}
    _fails(_notify(data_dir, *with_(), env=wrong), "refused the admin secret")
    _nothing_stored(running, uid)


def test_the_admin_api_refuses_users_and_bad_fields(running: ServerProcess) -> None:
    ann = sign_up(running, "dee@example.com")
    url = f"{running.url}/_admin/notifications"
    body: dict[str, Any] = {"to": ann["localId"], "kind": "review", "title": "T", "body": "B"}
    as_user = requests.post(url, json=body, headers=_bearer(ann["idToken"]), timeout=30)
    assert as_user.status_code == 401, as_user.text
    secret = (running.data_dir / "admin-secret").read_text().strip()
    extra = requests.post(url, json={**body, "senderId": "x"}, headers=_bearer(secret), timeout=30)
    assert extra.status_code == 400 and "senderId" in extra.json()["error"]["message"]
    two = {**body, "link": {"skillId": "s", "bookingId": "b"}}
    bad_link = requests.post(url, json=two, headers=_bearer(secret), timeout=30)
    assert bad_link.status_code == 400 and "exactly one" in bad_link.json()["error"]["message"]
    _nothing_stored(running, ann["localId"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_notify_without_a_running_server(tmp_path: Path) -> None:
    args = ("--to", "u1", "--kind", "review", "--title", "T", "--body", "B")
    _fails(_notify(tmp_path / "missing", *args), "no desktop-chat-server is running")
    stopped = ServerProcess(tmp_path / "stopped", FAST).start()
    stopped.stop()
    _fails(_notify(tmp_path / "stopped", *args), "no desktop-chat-server is running")
