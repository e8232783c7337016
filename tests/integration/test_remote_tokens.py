"""A Socket.IO node checks ID tokens with the certificates the data server publishes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from desktop_chat.server.auth_api import CERTS_PATH
from desktop_chat.server.realtime_auth import TokenRefused
from desktop_chat.server.remote_tokens import CertVerifier
from tests.support.chat import FAST
from tests.support.server import ServerProcess
from tests.support.sockets import account


def test_tokens_checked_against_published_certificates(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "d", [*FAST, "--project-id", "proj-a"]).start()
    other = ServerProcess(tmp_path / "o", [*FAST, "--project-id", "proj-a"]).start()
    try:
        uid, token = account(server, "ann")
        _, foreign = account(other, "bob")  # same project id, another signing key

        async def main() -> None:
            good = CertVerifier(server.url + CERTS_PATH, "proj-a")
            wrong_project = CertVerifier(server.url + CERTS_PATH, "proj-b")
            nowhere = CertVerifier("http://127.0.0.1:9/nothing", "proj-a", timeout=2)
            try:
                assert await good.verify(token) == uid
                for bad in (foreign, token[:-4] + "AAAA", "a.b.c", "", None):
                    with pytest.raises(TokenRefused) as caught:
                        await good.verify(bad)
                    assert caught.value.code == 401
                with pytest.raises(TokenRefused) as caught:
                    await wrong_project.verify(token)
                assert caught.value.code == 401 and "audience" in caught.value.message
                with pytest.raises(TokenRefused) as caught:
                    await nowhere.verify(token)
                assert caught.value.code == 503
            finally:
                for verifier in (good, wrong_project, nowhere):
                    await verifier.close()

        asyncio.run(main())
    finally:
        server.kill()
        other.kill()
