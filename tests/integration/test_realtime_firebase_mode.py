"""A --socketio-only node in Firebase mode (firebase-admin verifies tokens and writes presence),
pointed at our server through the emulator variables, as the test suite alone may do."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.chat import FAST, run
from tests.support.server import OWNER, ServerProcess
from tests.support.sockets import Peer, account, link


def emulator_env(data: ServerProcess) -> dict[str, str]:
    host = f"127.0.0.1:{data.port}"
    return {"FIREBASE_DATABASE_EMULATOR_HOST": host, "FIREBASE_AUTH_EMULATOR_HOST": host}


def seen(peer: Peer) -> list[tuple[str, bool]]:
    return [(p["userId"], p["online"]) for p in peer.of("presence")]


def test_firebase_mode_node_checks_tokens_and_keeps_presence(tmp_path: Path) -> None:
    data = ServerProcess(tmp_path / "data", FAST, rules=None).start()
    node: ServerProcess | None = None
    try:
        args = ["--socketio-only", "--firebase", "--database-url", data.database_url]
        env = {**emulator_env(data), "DESKTOP_CHAT_TESTING": "1"}
        node = ServerProcess(tmp_path / "node", args, emulator_admin=False, env=env).start()
        ann, ann_token = account(data, "ann")
        bob, bob_token = account(data, "bob")
        cid = link(data, ann, bob)
        url = node.url
        eve, eve_token = account(data, "eve")  # disabled: its token revoked
        gone = requests.post(
            f"{data.url}/_admin/users/eve@example.com:disable", headers=OWNER, json={}, timeout=10
        )
        assert gone.status_code == 200, gone.text

        async def main() -> None:
            refused = Peer(url, "garbage")
            with contextlib.suppress(Exception):
                await refused.connect()
            assert refused.refused is not None and refused.refused["data"] == {"code": 401}
            a = await Peer(url, ann_token, ann).connect()
            b = await Peer(url, bob_token, bob).connect()
            revoked = Peer(url, eve_token, eve)
            with contextlib.suppress(Exception):
                await revoked.connect()
            assert revoked.refused is not None and revoked.refused["data"] == {"code": 401}
            try:
                assert await a.call("join", {"conversationId": cid}) == {"ok": True}
                assert await b.call("join", {"conversationId": cid}) == {"ok": True}
                await a.call("typing", {"conversationId": cid, "isTyping": True})
                await b.wait_for(lambda: bool(b.of("user-typing")))
                await a.wait_for(lambda: (bob, True) in seen(a))
                assert data.get(f"userStatus/{bob}")["online"] is True
            finally:
                await a.close()
                await b.close()

        run(main)
    finally:
        if node is not None:
            node.kill()
        data.kill()


def test_firebase_mode_refuses_emulator_variables_outside_tests(tmp_path: Path) -> None:
    data = ServerProcess(tmp_path / "data", FAST, rules=None).start()
    try:
        env = {**emulator_env(data)}
        command = [
            sys.executable,
            "-m",
            "desktop_chat.server",
            "serve",
            "--port",
            "0",
            "--socketio-only",
            "--firebase",
            "--database-url",
            data.database_url,
        ]
        full = {k: v for k, v in os.environ.items() if k != "DESKTOP_CHAT_TESTING"} | env
        done = subprocess.run(
            command, check=False, capture_output=True, text=True, env=full, timeout=60
        )
        assert done.returncode == 1
        assert "refusing to serve Firebase with FIREBASE_DATABASE_EMULATOR_HOST" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        data.kill()
