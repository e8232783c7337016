"""No secret reaches the log: a whole session at DEBUG, then the log file is searched."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.ui.diagnostics import LOG_FILE, setup_logging
from tests.support.auth import PASSWORD
from tests.support.chat import run, until
from tests.support.server import ServerProcess


def test_a_debug_session_logs_no_password_or_token(own: ServerProcess, tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    setup_logging(logging.DEBUG, tmp_path / "logs")
    secrets: list[str] = [PASSWORD]

    async def main() -> None:
        config = BackendConfig.from_values({"server_url": own.url, "namespace": own.namespace})
        ann = await ChatClient.create(config, tmp_path / "ann", token_store=MemoryTokenStore())
        bob = await ChatClient.create(config, tmp_path / "bob", token_store=MemoryTokenStore())
        try:
            await ann.sign_up("ann@example.com", PASSWORD, "Ann", "student")
            await bob.sign_up("bob@example.com", PASSWORD, "Bob", "provider")
            await ann.start()
            await bob.start()
            assert bob.uid is not None
            cid = await ann.open_conversation(bob.uid)
            await ann.send_message(cid, "hello")

            async def arrived() -> bool:
                return len(await bob.messages(cid)) == 1 if bob.connected else False

            bob.select_conversation(cid)
            await until(arrived, 20)
            for client in (ann, bob):
                secrets.append(await client.auth.token())
                refresh = client.auth._refresh_token  # (private: the secret itself)
                if refresh:
                    secrets.append(refresh)
        finally:
            await ann.close()
            await bob.close()

    try:
        run(main)
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)
    text = (tmp_path / "logs" / LOG_FILE).read_text()
    assert "INFO desktop_chat.client: realtime: connected" in text  # the session was logged
    for secret in secrets:
        assert secret not in text


BAD_REQUESTS = [
    b"GET /x.json?auth=SECRET-IN-A-BAD-LINE HTTP/9.9\r\n\r\n",
    b"GET /x.json HTTP/1.1\r\nAuthorization: Bearer SECRET-IN-A-BAD-HEADER\r\nHo\x01st: x\r\n\r\n",
    b"GET /x.json HTTP/1.1\r\nHost: a\r\nContent-Length: SECRET-AS-A-LENGTH\r\n\r\n",
]


def test_malformed_requests_are_one_line_without_their_bytes(own: ServerProcess) -> None:
    """aiohttp's own report of a malformed request quotes its raw bytes in a traceback: the
    server's log keeps one line saying what was wrong, and none of the bytes."""
    for raw in BAD_REQUESTS:
        with socket.create_connection(("127.0.0.1", own.port), timeout=10) as conn:
            conn.sendall(raw)
            assert conn.recv(64).startswith(b"HTTP/1.0 400")
    deadline = time.monotonic() + 20

    def refused() -> list[str]:
        return [line for line in own.stderr_lines if "malformed HTTP request" in line]

    while len(refused()) < len(BAD_REQUESTS) and time.monotonic() < deadline:
        time.sleep(0.1)
    text = "".join(own.stderr_lines)
    assert len(refused()) == len(BAD_REQUESTS), text
    assert "SECRET" not in text and "Traceback" not in text, text
    assert all(
        " INFO aiohttp.server: refused a malformed HTTP request from 127.0.0.1: 400 " in line
        for line in refused()
    )
