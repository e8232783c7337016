"""The server's limits against the real server: write and event rates per user and per address,
open streams and sockets per user; each refusal a clear 429 that changes nothing, and the
client rides one out (its outbox backs off, nothing fails). And a revoked user's open streams
and sockets end."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import requests
import socketio

from desktop_chat.client.errors import RateLimitedError, database_error
from desktop_chat.core.model import DeliveryState
from tests.integration.test_chat_client_faults import local, user
from tests.support.chat import FAST, Recorder, run, until
from tests.support.server import OWNER, ServerProcess
from tests.support.sockets import Peer, account, link
from tests.support.sse import SseReader


def limited(tmp: Path, *limits: str) -> ServerProcess:
    args = [*FAST]
    for limit in limits:
        args += ["--limit", limit]
    return ServerProcess(tmp / "d", args, rules=None)


def opened(reader: SseReader) -> bool:
    """Whether *reader*'s stream began (its first event, a put), not refused."""
    first = reader.next(10)
    return first is not None and first[0] == "put"


def put(server: ServerProcess, token: str, uid: str, name: str) -> requests.Response:
    """Write *uid*'s profile with *name* as its display name, as *token*'s user."""
    return requests.put(
        f"{server.url}/users/{uid}.json",
        params={"ns": server.namespace, "auth": token},
        json={"displayName": name, "role": "student"},
        timeout=10,
    )


def test_writes_per_user_get_429_and_change_nothing(tmp_path: Path) -> None:
    server = limited(tmp_path, "writes_per_user=5").start()  # bursts of 20
    try:
        (ann, ann_token), (bob, bob_token) = account(server, "ann"), account(server, "bob")
        answers = [put(server, ann_token, ann, f"v{n}") for n in range(40)]
        codes = [answer.status_code for answer in answers]
        assert codes.count(200) >= 20 and codes.count(429) >= 10, codes
        assert set(codes) == {200, 429}
        refused = answers[codes.index(429)]
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["error"].startswith("Too many writes")
        assert "per user" in refused.json()["error"]
        last_written = max(n for n, code in enumerate(codes) if code == 200)
        assert server.get(f"users/{ann}/displayName") == f"v{last_written}"  # refused: not applied
        assert put(server, bob_token, bob, "fine").status_code == 200  # others
        time.sleep(1.5)  # the bucket refills
        assert put(server, ann_token, ann, "again").status_code == 200
    finally:
        server.kill()


def test_writes_per_address_count_every_user_there(tmp_path: Path) -> None:
    server = limited(tmp_path, "writes_per_user=0", "writes_per_address=4").start()
    try:
        users = [account(server, name) for name in ("ann", "bob", "cid")]
        codes = [
            put(server, token, uid, "x").status_code for _ in range(10) for uid, token in users
        ]
        assert codes.count(429) >= 5, codes
        body = put(server, users[0][1], users[0][0], "x")
        assert body.status_code == 429 and "per address" in body.json()["error"]
        for _ in range(10):
            assert server.put("limits/admin", True) is True  # the admin has no limit
    finally:
        server.kill()


def test_streams_per_user_are_counted_and_given_back(tmp_path: Path) -> None:
    server = limited(tmp_path, "streams_per_user=3").start()
    readers: list[SseReader] = []
    try:
        (ann, token), (_, bob_token) = account(server, "ann"), account(server, "bob")
        for _ in range(3):
            readers.append(SseReader(server, f"users/{ann}", token=token))
            assert opened(readers[-1])
        fourth = requests.get(
            f"{server.url}/users/{ann}.json",
            params={"ns": server.namespace, "auth": token},
            headers={"Accept": "text/event-stream"},
            timeout=10,
        )
        assert fourth.status_code == 429
        assert "Too many open streams" in fourth.json()["error"]
        other = SseReader(server, f"users/{ann}", token=bob_token)  # another user: fine
        readers.append(other)
        assert opened(other)
        readers.pop(0).close()
        deadline = time.monotonic() + 10
        while True:  # the closed one is given back once the server sees it gone
            again = SseReader(server, f"users/{ann}", token=token)
            readers.append(again)
            if opened(again):
                break
            assert time.monotonic() < deadline, "a closed stream was never given back"
            time.sleep(0.2)
    finally:
        for reader in readers:
            reader.close()
        server.kill()


def test_socket_events_and_connections_per_user(tmp_path: Path) -> None:
    server = limited(tmp_path, "events_per_user=2", "sockets_per_user=2").start()  # bursts: 8
    try:
        ann, token = account(server, "ann")
        bob, _ = account(server, "bob")
        cid = link(server, ann, bob)

        async def main() -> None:
            first, second = Peer(server.url, token, ann), Peer(server.url, token, ann)
            await first.connect()
            await second.connect()
            third = Peer(server.url, token, ann)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await third.connect()
            assert third.refused["data"] == {"code": 429}
            assert "Too many connections" in third.refused["message"]
            acks = [await peer.call("join", {"conversationId": cid}) for peer in (first, second)]
            acks += [await first.call("join", {"conversationId": cid}) for _ in range(14)]
            codes = [ack.get("error", {}).get("code", 200) for ack in acks]
            assert codes[:8] == [200] * 8 and codes.count(429) >= 6, codes  # both sockets count
            assert "per user" in acks[-1]["error"]["message"]
            assert first.client.connected and second.client.connected  # still connected
            await second.close()
            await asyncio.sleep(0.5)
            await third.connect()  # a connection given back
            await asyncio.sleep(2.0)  # the bucket refills
            assert await first.call("join", {"conversationId": cid}) == {"ok": True}
            await first.close()
            await third.close()

        run(main)
    finally:
        server.kill()


def test_the_outbox_rides_out_a_write_limit(tmp_path: Path) -> None:
    """A burst of messages over the user's write limit: every one is delivered in the end,
    in order, none failed, none twice (429 backs off without counting an attempt)."""
    server = limited(tmp_path, "writes_per_user=3").start()  # bursts of 12
    try:

        async def main() -> None:
            config = local(server.url, server.namespace)
            ann = await user(config, tmp_path / "ann", "ann", "student")
            bob = await user(config, tmp_path / "bob", "bob", "provider")
            try:
                assert bob.uid is not None
                cid = await ann.open_conversation(bob.uid)
                events = Recorder(ann)
                sent = [await ann.send_message(cid, f"m{n}") for n in range(30)]

                async def delivered() -> bool:
                    states = [await ann.delivery_state(cid, mid) for mid in sent]
                    return all(s in (DeliveryState.SENT, DeliveryState.READ) for s in states)

                await until(delivered, 60)
                assert not events.states(DeliveryState.FAILED)
                stored = server.get(f"conversations/{cid}/messages")
                assert sorted(stored) == sorted(sent)
                texts = [stored[mid]["text"] for mid in sorted(stored, key=sent.index)]
                assert texts == [f"m{n}" for n in range(30)]
                assert server.get(f"userConversations/{bob.uid}/{cid}/unreadCount") == 30
            finally:
                await ann.close()
                await bob.close()

        run(main, timeout=120)
    finally:
        server.kill()


def test_a_429_is_a_rate_limited_error_worth_retrying() -> None:
    error = database_error(429, b'{"error": "Too many writes: at most 5 a second per user"}')
    assert isinstance(error, RateLimitedError) and "Too many writes" in str(error)


@pytest.mark.parametrize(
    "bad", ["writes_per_user", "nonsense=3", "writes_per_user=-1", "streams_per_user=2.5"]
)
def test_a_bad_limit_is_refused_with_a_sentence(tmp_path: Path, bad: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "desktop_chat.server", "--data-dir", str(tmp_path), "--limit", bad],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"desktop-chat-server: error: --limit {bad}: ")
    assert "Traceback" not in done.stderr


def test_a_disabled_users_streams_and_sockets_end(own: ServerProcess) -> None:
    """Revocation reaches open connections within seconds, not at the token's expiry."""
    (ann, token), (bob, bob_token) = account(own, "ann"), account(own, "bob")
    mine = SseReader(own, f"users/{ann}", token=token)
    theirs = SseReader(own, f"users/{ann}", token=bob_token)
    url = f"{own.url}/_admin/users/ann@example.com:disable"
    try:
        assert opened(mine) and opened(theirs)

        async def main() -> None:
            peer = await Peer(own.url, token, ann).connect()
            other = await Peer(own.url, bob_token, bob).connect()
            async with (
                aiohttp.ClientSession() as session,
                session.post(url, headers=OWNER, json={}) as disabled,
            ):
                assert disabled.status == 200, await disabled.text()
            await until(lambda: _true(not peer.client.connected), 15)
            assert other.client.connected  # another user's socket stays
            await other.close()

        run(main)
        deadline = time.monotonic() + 15
        while True:
            event = mine.next(15)
            assert event is not None and time.monotonic() < deadline, "no auth_revoked"
            if event[0] == "auth_revoked":
                break
        assert mine.next(5) is None  # and the stream ended
        assert theirs.events.empty()  # bob's stream on the same place goes on
    finally:
        mine.close()
        theirs.close()


async def _true(value: bool) -> bool:
    return value
