"""``desktop-chat --self-test``: the app's own path end to end, in a throwaway data dir."""

from __future__ import annotations

import asyncio
import logging
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.embedded import EmbeddedServer
from desktop_chat.client.errors import ClientError
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.core.model import DeliveryState

__all__ = ["SelfTestError", "run_self_test", "self_test"]

log = logging.getLogger("desktop_chat.client")

STEP_TIMEOUT = 30.0
"""Seconds any one step may take (a fresh server starts, two accounts sign up)."""


class SelfTestError(ClientError):
    """A step of the self-test did not complete."""


async def _until(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT
    while not await check():
        if time.monotonic() > deadline:
            raise SelfTestError(f"{what}: not within {STEP_TIMEOUT:.0f} s")
        await asyncio.sleep(0.05)


async def _user(config: BackendConfig, data: Path, name: str, role: str) -> ChatClient:
    client = await ChatClient.create(config, data / name, token_store=MemoryTokenStore())
    email = f"{name.lower()}-{secrets.token_hex(4)}@self-test.invalid"
    await client.sign_up(email, secrets.token_urlsafe(18), f"Self-test {name}", role)
    await client.start()
    return client


async def _exchange(sender: ChatClient, receiver: ChatClient, cid: str, text: str) -> None:
    """*sender* writes *text*; *receiver* has it, reads it; *sender* sees it read."""
    mid = await sender.send_message(cid, text)

    async def arrived() -> bool:
        return any(m.id == mid and m.text == text for m in await receiver.messages(cid))

    async def read() -> bool:
        return await sender.delivery_state(cid, mid) is DeliveryState.READ

    await _until(f"the message {mid} reaching its receiver", arrived)
    if await receiver.mark_read(cid) < 1:
        raise SelfTestError("marking the message read changed nothing")
    await _until("the read receipt reaching the sender", read)


async def self_test(say: Callable[[str], None] = print) -> None:
    """Start a local server in a temporary data dir (as the app does with no backend
    configured), sign up two users, exchange a message each way with read receipts, and
    stop everything. Raises on the first step that fails."""
    with tempfile.TemporaryDirectory(prefix="desktop-chat-self-test-") as tmp:
        data = Path(tmp)
        async with EmbeddedServer(data / "server") as server:
            assert server.url is not None
            say(f"self-test: local server at {server.url}")
            config = BackendConfig.from_values(
                {"server_url": server.url, "namespace": server.namespace}
            )
            student = await _user(config, data, "Student", "student")
            provider = await _user(config, data, "Provider", "provider")
            try:
                assert provider.uid is not None
                say("self-test: two users signed up")
                cid = await student.open_conversation(provider.uid)
                for client in (student, provider):
                    client.select_conversation(cid)
                await _exchange(student, provider, cid, "Hello from the self-test")
                say("self-test: student -> provider: delivered and read")
                await _exchange(provider, student, cid, "And back again")
                say("self-test: provider -> student: delivered and read")
            finally:
                await asyncio.gather(student.close(), provider.close())


def run_self_test() -> int:
    """Run :func:`self_test`; prints ``self-test: passed`` and returns 0, or prints what
    failed and returns 1."""
    try:
        asyncio.run(asyncio.wait_for(self_test(), STEP_TIMEOUT * 8))
    except (ClientError, TimeoutError, OSError) as exc:
        print(f"self-test: FAILED: {exc or type(exc).__name__}", flush=True)
        return 1
    print("self-test: passed", flush=True)
    return 0
