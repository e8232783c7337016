"""ChatClient features against the real server: blocking a user, drafts across restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.errors import InvalidRequestError
from desktop_chat.client.events import (
    BlocksChanged,
    ConversationChanged,
    DeliveryStateChanged,
    MessageAdded,
    MessageChanged,
    NotificationReceived,
)
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.core.model import DeliveryState
from tests.integration.test_chat_client import (
    _all_state,
    _connected,
    _count_notes,
    _has,
    all_sent,
    new_client,
    server_messages,
    user,
)
from tests.support.chat import FAST, Recorder, run, until
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("features") / "d", FAST, rules=None).start()
    yield server
    server.kill()


def test_block_hides_and_stops_delivery_unblock_restores(
    shared: ServerProcess, tmp_path: Path
) -> None:
    async def main() -> None:
        ann = await user(shared, tmp_path / "ann", "ann", "student")
        bob_keys = MemoryTokenStore()
        bob = await user(shared, tmp_path / "bob", "bob", "provider", bob_keys)
        cat = await user(shared, tmp_path / "cat", "cat", "student")
        again: ChatClient | None = None
        try:
            assert ann.uid and bob.uid and cat.uid
            bob_uid = bob.uid  # closing bob's first client forgets it
            cid = await ann.open_conversation(bob.uid)
            ann.select_conversation(cid)
            bob.select_conversation(cid)
            hello = await ann.send_message(cid, "hello")
            await until(lambda: _has(bob, cid, hello))
            await until(lambda: _count_notes(bob, 1))
            seen = Recorder(bob)

            # Blocking: written to blocks/{me}/{uid}, the conversation hides at once.
            await bob.block(ann.uid)
            assert shared.get(f"blocks/{bob.uid}/{ann.uid}") is True
            assert await bob.blocked() == [ann.uid]
            assert await bob.conversations() == []
            assert await bob.notifications() == []
            events = seen.drain()
            assert [e for e in events if isinstance(e, ConversationChanged)] == [
                ConversationChanged(cid, None)
            ]
            assert [e for e in events if isinstance(e, BlocksChanged)] == [
                BlocksChanged(frozenset({ann.uid}), frozenset())
            ]
            with pytest.raises(InvalidRequestError):
                await bob.send_message(cid, "you are blocked")
            with pytest.raises(InvalidRequestError):
                await bob.block(bob.uid)

            # The rules stop ann's send: failed after the bounded attempts, nothing delivered.
            refused = await ann.send_message(cid, "are you there?")
            await until(lambda: _all_state(ann, cid, [refused], DeliveryState.FAILED))
            assert refused not in server_messages(shared, cid)
            # An edit of an older message still reaches bob's cache, but raises no event.
            await ann.edit_message(cid, hello, "hello again")

            async def edited() -> bool:
                got = {m.id: m for m in await bob.messages(cid)}
                return got[hello].text == "hello again"

            await until(edited)
            about_ann = (MessageAdded, MessageChanged, NotificationReceived, DeliveryStateChanged)
            assert not [e for e in seen.drain() if isinstance(e, about_ann)]

            # The block list is followed by one stream (a change from elsewhere shows up)
            # and read again at start (a restart knows it before any network).
            await bob.db.set(f"blocks/{bob.uid}/{cat.uid}", True)
            both = sorted([ann.uid, cat.uid])

            async def follows() -> bool:
                return await bob.blocked() == both

            await until(follows)
            changes = [e for e in seen.drain() if isinstance(e, BlocksChanged)]  # (all so far)
            assert changes[-1] == BlocksChanged(frozenset({cat.uid}), frozenset())  # (bell, UI)
            await bob.close()
            again = await new_client(shared, tmp_path / "bob", bob_keys)
            assert await again.blocked() == both
            assert await again.conversations() == []
            await again.start()
            await until(lambda: _connected(again))  # the session restored in the background
            await again.db.delete(f"blocks/{bob_uid}/{cat.uid}")
            assert await again.blocked(refresh=True) == [ann.uid]
            seen = Recorder(again)

            # Unblocking restores the conversation; a retry now delivers the message once.
            await again.unblock(ann.uid)
            assert await again.blocked() == []
            assert shared.get(f"blocks/{bob_uid}/{ann.uid}") is None
            assert [c.conversation_id for c in await again.conversations()] == [cid]
            changed = [e for e in seen.drain() if isinstance(e, ConversationChanged)]
            assert [(e.conversation_id, e.entry is not None) for e in changed] == [(cid, True)]
            again.select_conversation(cid)
            await ann.retry(refused)
            await until(lambda: all_sent(ann, cid, [refused]))
            await until(lambda: _has(again, cid, refused))
            assert seen.added(cid).count(refused) == 1
            assert len(server_messages(shared, cid)) == 2
        finally:
            for client in (ann, bob, cat, again):
                if client is not None:
                    await client.close()

    run(main)


def test_drafts_survive_a_restart(shared: ServerProcess, tmp_path: Path) -> None:
    async def main() -> None:
        keys = MemoryTokenStore()
        dan = await user(shared, tmp_path / "dan", "dan", "student", keys)
        eve = await user(shared, tmp_path / "eve", "eve", "provider")
        again: ChatClient | None = None
        try:
            assert dan.uid and eve.uid
            cid = await dan.open_conversation(eve.uid)
            assert await dan.draft(cid) == ""
            await dan.set_draft(cid, "half a thought")
            assert await dan.draft(cid) == "half a thought"
            with pytest.raises(InvalidRequestError):
                await dan.draft("x_y")  # not a conversation of dan's
            await dan.close()

            again = await new_client(shared, tmp_path / "dan", keys)
            assert await again.draft(cid) == "half a thought"  # offline, before start
            await again.set_draft(cid, "a whole thought")
            assert await again.draft(cid) == "a whole thought"
            await again.set_draft(cid, "")
            assert await again.draft(cid) == ""
        finally:
            for client in (dan, eve, again):
                if client is not None:
                    await client.close()

    run(main)
