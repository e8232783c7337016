"""The Socket.IO layer of the real server, seen by real Socket.IO clients: handshakes, rooms,
typing, presence, pushes and hostile events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import socketio

from tests.support.chat import FAST, run
from tests.support.server import ServerProcess
from tests.support.sockets import Peer, account, link


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("realtime"), FAST, rules=None).start()
    yield server
    server.kill()


def typing_of(peer: Peer, cid: str) -> list[bool]:
    return [data["isTyping"] for data in peer.of("user-typing") if data["conversationId"] == cid]


def presence_of(peer: Peer, uid: str) -> list[bool]:
    return [data["online"] for data in peer.of("presence") if data["userId"] == uid]


@pytest.mark.parametrize("token", [None, "", "not.a.token", "x" * 9000, 42])
def test_bad_tokens_are_refused_with_401(shared: ServerProcess, token: object) -> None:
    async def main() -> None:
        peer = Peer(shared.url, token)  # type: ignore[arg-type]
        with pytest.raises(socketio.exceptions.ConnectionError):
            await peer.connect()
        assert peer.refused is not None and peer.refused["data"] == {"code": 401}
        assert peer.refused["message"]

    run(main)


def test_an_expired_token_is_refused(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "d", [*FAST, "--token-ttl", "1"], rules=None).start()
    try:
        _, token = account(server, "late")

        async def main() -> None:
            await asyncio.sleep(2.5)
            peer = Peer(server.url, token)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await peer.connect()
            assert peer.refused["data"] == {"code": 401}
            assert "expired" in peer.refused["message"]

        run(main)
    finally:
        server.kill()


def test_typing_reaches_the_other_participant_only(shared: ServerProcess) -> None:
    ann, ann_token = account(shared, "t-ann")
    bob, bob_token = account(shared, "t-bob")
    eve, eve_token = account(shared, "t-eve")
    cid = link(shared, ann, bob)
    link(shared, ann, eve)

    async def main() -> None:
        a1 = await Peer(shared.url, ann_token, ann).connect()
        a2 = await Peer(shared.url, ann_token, ann).connect()  # ann's second device
        b = await Peer(shared.url, bob_token, bob).connect()
        e = await Peer(shared.url, eve_token, eve).connect()
        try:
            assert await a1.call("join", {"conversationId": cid}) == {"ok": True}
            assert await a2.call("join", {"conversationId": cid}) == {"ok": True}
            assert await b.call("join", {"conversationId": cid}) == {"ok": True}
            refused = await e.call("join", {"conversationId": cid})
            assert refused["ok"] is False and refused["error"]["code"] == 403
            assert (await e.call("typing", {"conversationId": cid, "isTyping": True}))["error"][
                "code"
            ] == 403

            assert await a1.call("typing", {"conversationId": cid, "isTyping": True}) == {
                "ok": True
            }
            await b.wait_for(lambda: typing_of(b, cid) == [True])
            assert b.of("user-typing") == [{"conversationId": cid, "userId": ann, "isTyping": True}]
            await a1.call("typing", {"conversationId": cid, "isTyping": False})
            await b.wait_for(lambda: typing_of(b, cid) == [True, False])

            # Bob answers: ann's two devices both hear it, bob's own socket does not.
            await b.call("typing", {"conversationId": cid, "isTyping": True})
            await a1.wait_for(lambda: typing_of(a1, cid) == [True])
            await a2.wait_for(lambda: typing_of(a2, cid) == [True])
            await asyncio.sleep(0.3)
            assert typing_of(b, cid) == [True, False]
            assert typing_of(a1, cid) == [True] and e.of("user-typing") == []
        finally:
            for peer in (a1, a2, b, e):
                await peer.close()

    run(main)


def test_a_lost_stop_is_ended_by_the_server(shared: ServerProcess) -> None:
    ann, ann_token = account(shared, "x-ann")
    bob, bob_token = account(shared, "x-bob")
    cid = link(shared, ann, bob)

    async def main() -> None:
        a = await Peer(shared.url, ann_token, ann).connect()
        b = await Peer(shared.url, bob_token, bob).connect()
        try:
            await a.call("join", {"conversationId": cid})
            await a.call("typing", {"conversationId": cid, "isTyping": True})
            await b.wait_for(lambda: typing_of(b, cid) == [True])
            # No stop: the server ends it by itself about 6 s later.
            await b.wait_for(lambda: typing_of(b, cid) == [True, False], seconds=20)
            # A socket leaving while typing ends its typing at once.
            await a.call("typing", {"conversationId": cid, "isTyping": True})
            await b.wait_for(lambda: typing_of(b, cid) == [True, False, True])
            await a.close()
            await b.wait_for(lambda: typing_of(b, cid) == [True, False, True, False])
        finally:
            await b.close()

    run(main)


def test_malformed_and_flooding_events_get_error_acks(shared: ServerProcess) -> None:
    ann, ann_token = account(shared, "m-ann")
    bob, bob_token = account(shared, "m-bob")
    cid = link(shared, ann, bob)

    async def main() -> None:
        a = await Peer(shared.url, ann_token, ann).connect()
        b = await Peer(shared.url, bob_token, bob).connect()
        try:
            for payload in (None, 7, "x", [], {}, {"conversationId": 5}, {"conversationId": "a/b"}):
                answer = await a.call("join", payload)
                assert answer["ok"] is False and answer["error"]["code"] == 400, payload
            assert (await a.call("join", {"conversationId": "nobody_there"}))["error"][
                "code"
            ] == 403
            assert (await a.call("no-such-event", {}))["error"]["code"] == 400
            await a.call("join", {"conversationId": cid})
            bad = await a.call("typing", {"conversationId": cid, "isTyping": "yes"})
            assert bad["error"]["code"] == 400
            codes = [
                (await a.call("typing", {"conversationId": cid, "isTyping": True}))
                .get("error", {})
                .get("code")
                for _ in range(30)
            ]
            assert 429 in codes and codes[0] is None
            await asyncio.sleep(0.3)
            assert all(data["isTyping"] is True for data in b.of("user-typing"))
            assert len(b.of("user-typing")) == codes.count(None)
            # The socket still works afterwards.
            assert await a.call("leave", {"conversationId": cid}) == {"ok": True}
        finally:
            await a.close()
            await b.close()

    run(main)


def test_presence_over_two_devices_with_last_seen(shared: ServerProcess) -> None:
    ann, ann_token = account(shared, "p-ann")
    bob, bob_token = account(shared, "p-bob")
    link(shared, ann, bob)

    async def main() -> None:
        a = await Peer(shared.url, ann_token, ann).connect()
        try:
            await a.wait_for(lambda: presence_of(a, bob) == [False])  # the snapshot
            b1 = await Peer(shared.url, bob_token, bob).connect()
            await a.wait_for(lambda: presence_of(a, bob) == [False, True])
            await b1.wait_for(lambda: presence_of(b1, ann) == [True])  # its snapshot
            b2 = await Peer(shared.url, bob_token, bob).connect()
            await b1.close()
            await asyncio.sleep(0.5)
            assert presence_of(a, bob) == [False, True]  # one device left: still online
            assert shared.get(f"userStatus/{bob}")["online"] is True
            await b2.close()
            await a.wait_for(lambda: presence_of(a, bob) == [False, True, False])
            last = a.of("presence")[-1]
            assert isinstance(last["lastSeen"], int) and last["lastSeen"] > 0
            status = shared.get(f"userStatus/{bob}")
            assert status == {"online": False, "lastSeen": last["lastSeen"]}
        finally:
            await a.close()

    run(main)


def test_notifications_are_pushed_to_their_owner(shared: ServerProcess) -> None:
    ann, ann_token = account(shared, "n-ann")
    bob, bob_token = account(shared, "n-bob")
    link(shared, ann, bob)

    async def main() -> None:
        b = await Peer(shared.url, bob_token, bob).connect()
        a = await Peer(shared.url, ann_token, ann).connect()
        try:
            record = {"type": "new_message", "title": "Ann", "body": "hi", "read": False}
            await asyncio.to_thread(shared.put, f"notifications/{bob}/n1", record)
            got = await b.first_of("notification")
            assert got == {**record, "id": "n1"}
            await asyncio.to_thread(shared.put, f"notifications/{bob}/n1/read", True)
            await asyncio.sleep(0.3)
            assert len(b.of("notification")) == 1 and a.of("notification") == []
        finally:
            await a.close()
            await b.close()

    run(main)


def test_health_and_metrics_endpoints(shared: ServerProcess) -> None:
    health = requests.get(f"{shared.url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    metrics = requests.get(f"{shared.url}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert "desktop_chat_socketio_connections" in metrics.text
