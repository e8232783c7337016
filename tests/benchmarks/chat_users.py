"""Shared plumbing of the ChatClient benchmarks: signed-up clients, raw requests as a user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.core.paths import PushIdGenerator
from tests.support.auth import PASSWORD
from tests.support.server import ServerProcess

FAST_SCRYPT = ["--scrypt-n", "16"]
TEXT = "Hi! Are you still available for the guitar lesson on Thursday at 6pm?"
SERVER_TIME = {".sv": "timestamp"}


def backend(url: str, namespace: str) -> BackendConfig:
    return BackendConfig.from_values({"server_url": url, "namespace": namespace})


def local(server: ServerProcess) -> BackendConfig:
    return backend(server.url, server.namespace)


async def new_client(config: BackendConfig, data_dir: Path) -> ChatClient:
    return await ChatClient.create(
        config,
        data_dir,
        token_store=MemoryTokenStore(),
        max_attempts=3,
        sender_backoff=(0.05, 0.5),
    )


async def signed_up(
    server: ServerProcess, data_dir: Path, name: str, role: str, *, start: bool = True
) -> ChatClient:
    """A new account on *server*, its client started unless *start* is False."""
    client = await new_client(local(server), data_dir)
    await client.sign_up(f"{name}@example.com", PASSWORD, name.title(), role)
    if start:
        await client.start()
    return client


def message_record(sender: str, receiver: str, text: str = TEXT) -> dict[str, Any]:
    """A new text message, as the rules accept its create."""
    return {
        "senderId": sender,
        "receiverId": receiver,
        "text": text,
        "timestamp": dict(SERVER_TIME),
        "read": False,
        "type": "text",
    }


class RawUser:
    """Bare aiohttp requests as one signed-in user (``?auth=<ID token>``), through the rules."""

    def __init__(self, server: ServerProcess, token: str) -> None:
        self.base = server.url
        self.params = {"ns": server.namespace, "auth": token}
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.ids = PushIdGenerator()

    async def write(self, method: str, path: str, value: Any) -> None:
        async with self.session.request(
            method,
            f"{self.base}/{path}.json",
            params={**self.params, "print": "silent"},
            data=orjson.dumps(value),
            headers={"Content-Type": "application/json"},
        ) as response:
            body = await response.read()
            if response.status not in (200, 204):
                raise RuntimeError(f"{method} {path}: {response.status} {body[:200]!r}")

    async def close(self) -> None:
        await self.session.close()
