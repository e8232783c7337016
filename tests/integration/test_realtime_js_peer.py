"""The protocol checked by an independent client: the seed's socket.io-client 4.8.1 (Node)."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.chat import FAST, run
from tests.support.server import ServerProcess
from tests.support.sockets import Peer, account, link

JS = Path(__file__).resolve().parents[1] / "js"
PEER = JS / "peer.mjs"


def _need_node() -> str:
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "socket.io-client").is_dir():
        pytest.skip("node and tests/js/node_modules (npm ci --prefix tests/js) are needed")
    return node


class JsPeer:
    """The Node peer as a subprocess, its printed events in a queue."""

    def __init__(self, url: str, token: str, cid: str) -> None:
        self.proc = subprocess.Popen(
            [_need_node(), str(PEER), url, token, cid],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=JS,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def expect(self, event: str, seconds: float = 20.0) -> Any:
        """The data of the next *event* printed (others are skipped)."""
        while True:
            try:
                item = self.lines.get(timeout=seconds)
            except queue.Empty:
                stderr = self.proc.stderr.read() if self.proc.poll() is not None else ""  # type: ignore[union-attr]
                raise AssertionError(f"no {event} from the Node peer; stderr: {stderr}") from None
            if item["event"] == event:
                return item["data"]

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def test_the_seeds_client_joins_and_receives_typing(tmp_path: Path) -> None:
    _need_node()
    server = ServerProcess(tmp_path / "d", FAST, rules=None).start()
    peer: JsPeer | None = None
    try:
        ann, ann_token = account(server, "ann")
        bob, bob_token = account(server, "bob")
        cid = link(server, ann, bob)
        peer = JsPeer(server.url, bob_token, cid)
        assert peer.expect("join-ack") == {"ok": True}

        async def main() -> None:
            a = await Peer(server.url, ann_token, ann).connect()
            try:
                await a.call("join", {"conversationId": cid})
                await a.call("typing", {"conversationId": cid, "isTyping": True})
                got = peer.expect("user-typing")
                assert got == {"conversationId": cid, "userId": ann, "isTyping": True}
                peer.send("typing true")
                assert peer.expect("typing-ack") == {"ok": True}
                await a.wait_for(lambda: bool(a.of("user-typing")))
                assert a.of("user-typing")[0]["userId"] == bob
            finally:
                await a.close()

        run(main)
        refused = JsPeer(server.url, "not-a-token", cid)
        try:
            error = refused.expect("connect_error")
            assert error["data"] == {"code": 401} and error["message"]
        finally:
            refused.close()
    finally:
        if peer is not None:
            peer.close()
        server.kill()
