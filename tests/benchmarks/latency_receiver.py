"""The receiving side of the latency benchmark, in a process of its own as in life.

B's ChatClient (signed in, the conversation open) and a bare SSE stream of the conversation's
messages with B's token note when each message first reaches them. Run as
``python -m tests.benchmarks.latency_receiver URL NAMESPACE CID DATA_DIR EMAIL``: it prints
``ready`` once both are streaming, then reads one JSON line ``{"added": [ids], "raw": [ids]}``
naming the messages to wait for, and prints ``{"added": {id: ns}, "raw": {id: ns}}`` (wall
clock nanoseconds, comparable with the sender's ``time.time_ns()``) before it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.events import MessageAdded
from desktop_chat.client.following import MESSAGE_WINDOW
from tests.benchmarks.chat_users import backend, new_client
from tests.support.auth import PASSWORD

WAIT_SECONDS = 30.0


class RawStream:
    """A bare SSE stream of ``conversations/<cid>/messages`` as one user: notes when each
    message id first shows up in a ``data:`` line (the same query the client streams)."""

    def __init__(self, url: str, namespace: str, token: str, cid: str) -> None:
        self.url = f"{url}/conversations/{cid}/messages.json"
        self.params = {
            "ns": namespace,
            "auth": token,
            "orderBy": '"timestamp"',
            "limitToLast": str(MESSAGE_WINDOW),
        }
        self.arrivals: dict[str, int] = {}
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, session: aiohttp.ClientSession) -> None:
        self._task = asyncio.create_task(self._run(session))
        ready = asyncio.create_task(self.ready.wait())
        done, _ = await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            ready.cancel()
            self._task.result()
            raise RuntimeError("the raw stream ended before its first event")

    async def _run(self, session: aiohttp.ClientSession) -> None:
        async with session.get(
            self.url,
            params=self.params,
            headers={"Accept": "text/event-stream"},
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"raw stream: {response.status} {await response.read()!r}")
            async for line in response.content:
                now = time.time_ns()
                if not line.startswith(b"data: {"):
                    continue
                self.ready.set()
                payload = orjson.loads(line[6:])
                path, data = payload.get("path", "/"), payload.get("data")
                if path == "/":
                    ids = list(data) if isinstance(data, dict) else []
                else:
                    ids = [path.strip("/").split("/")[0]]
                for mid in ids:
                    self.arrivals.setdefault(mid, now)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


async def _added(client: ChatClient, into: dict[str, int]) -> None:
    async for event in client.events():
        if isinstance(event, MessageAdded):
            into.setdefault(event.message.id, time.time_ns())


async def _until(predicate: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.02)


async def _stdin_line() -> bytes:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return await reader.readline()


async def receive(url: str, namespace: str, cid: str, data_dir: str, email: str) -> None:
    client = await new_client(backend(url, namespace), Path(data_dir))
    added: dict[str, int] = {}
    session = aiohttp.ClientSession()
    stream: RawStream | None = None
    recorder: asyncio.Task[None] | None = None
    try:
        await client.sign_in(email, PASSWORD)
        await client.start()
        client.select_conversation(cid)
        recorder = asyncio.create_task(_added(client, added))
        await _until(lambda: client.connected, WAIT_SECONDS)
        stream = RawStream(url, namespace, await client.auth.token(), cid)
        await stream.start(session)
        print("ready", flush=True)
        wanted = orjson.loads(await _stdin_line())
        arrivals = stream.arrivals
        await _until(
            lambda: (
                all(m in added for m in wanted["added"])
                and all(m in arrivals for m in wanted["raw"])
            ),
            WAIT_SECONDS,
        )
        sys.stdout.buffer.write(orjson.dumps({"added": added, "raw": arrivals}) + b"\n")
        sys.stdout.flush()
    finally:
        if recorder is not None:
            recorder.cancel()
        if stream is not None:
            await stream.close()
        await session.close()
        await client.close()


if __name__ == "__main__":
    asyncio.run(receive(*sys.argv[1:6]))
