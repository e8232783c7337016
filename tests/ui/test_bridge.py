"""ChatBridge against a real server: client events become Qt signals, in order; commands run."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.events import (
    ChatEvent,
    ConnectionStateChanged,
    ConversationChanged,
    DeliveryStateChanged,
    MessageAdded,
    MessageChanged,
    NotificationChanged,
    NotificationReceived,
    PresenceChanged,
    Resync,
    TypingChanged,
)
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.core.model import DeliveryState, Message, conversation_id
from desktop_chat.ui.bridge import ChatBridge, SearchHit, Skill
from desktop_chat.ui.bridge_data import read_skills
from tests.support.auth import PASSWORD
from tests.support.chat import FAST, Recorder
from tests.support.server import ServerProcess
from tests.ui.conftest import run_on

_names = itertools.count()


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with the shipped rules for the module's tests."""
    server = ServerProcess(tmp_path_factory.mktemp("ui") / "d", FAST, rules=None).start()
    yield server
    server.kill()


async def new_user(server: ServerProcess, data_dir: Path, name: str, role: str) -> ChatClient:
    """A signed-up, started ChatClient called *name* (display name), with a unique e-mail."""
    config = BackendConfig.from_values({"server_url": server.url, "namespace": server.namespace})
    client = await ChatClient.create(
        config,
        data_dir,
        token_store=MemoryTokenStore(),
        max_attempts=3,
        sender_backoff=(0.05, 0.5),
        realtime_backoff=(0.2, 2.0),
    )
    local = "".join(char for char in name.lower() if char.isalnum())[:20]
    email = f"{local}{next(_names)}-{id(client)}@example.com"
    await client.sign_up(email, PASSWORD, name, role)
    await client.start()
    return client


@dataclass
class Pair:
    """Two users of one server: ann (student) and bob (provider), and their conversation."""

    ann: ChatClient
    bob: ChatClient
    cid: str

    @property
    def ann_uid(self) -> str:
        assert self.ann.uid is not None
        return self.ann.uid

    @property
    def bob_uid(self) -> str:
        assert self.bob.uid is not None
        return self.bob.uid


def make_pair(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    server: ServerProcess,
    tmp: Path,
    *,
    open_conversation: bool = True,
) -> Pair:
    """Ann and Bob, signed up and started; their conversation opened by Ann unless not
    *open_conversation* (its id is known either way)."""

    async def make() -> Pair:
        ann = await new_user(server, tmp / "ann", "Ann", "student")
        bob = await new_user(server, tmp / "bob", "Bob", "provider")
        assert ann.uid is not None and bob.uid is not None
        cid = conversation_id(ann.uid, bob.uid)
        if open_conversation:
            assert await ann.open_conversation(bob.uid) == cid
        return Pair(ann, bob, cid)

    return run_on(qtbot, qloop, make(), 60)


def close_all(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, *clients: ChatClient) -> None:
    async def close() -> None:
        await asyncio.gather(*(client.close() for client in clients))

    run_on(qtbot, qloop, close(), 60)


@pytest.fixture
def pair(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, chat_server: ServerProcess, tmp_path: Path
) -> Iterator[Pair]:
    users = make_pair(qtbot, qloop, chat_server, tmp_path)
    yield users
    close_all(qtbot, qloop, users.ann, users.bob)


class Signals:
    """Every signal of a bridge, recorded as (name, args) in emission order."""

    NAMES = (
        "conversationChanged",
        "messageAdded",
        "messageChanged",
        "deliveryChanged",
        "notificationReceived",
        "notificationChanged",
        "connectionChanged",
        "presenceChanged",
        "typingChanged",
        "resync",
        "error",
    )

    def __init__(self, bridge: ChatBridge) -> None:
        self.seen: list[tuple[str, tuple[Any, ...]]] = []
        for name in self.NAMES:
            getattr(bridge, name).connect(lambda *args, n=name: self.seen.append((n, args)))

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [args for seen, args in self.seen if seen == name]

    def events(self) -> list[tuple[str, tuple[Any, ...]]]:
        return [item for item in self.seen if item[0] != "error"]


def as_signal(event: ChatEvent) -> tuple[str, tuple[Any, ...]]:
    """The signal the bridge must emit for *event*."""
    match event:
        case ConversationChanged(cid, entry):
            return "conversationChanged", (cid, entry)
        case MessageAdded(message):
            return "messageAdded", (message,)
        case MessageChanged(message):
            return "messageChanged", (message,)
        case DeliveryStateChanged(cid, mid, state, error):
            return "deliveryChanged", (cid, mid, state, error)
        case NotificationReceived(note):
            return "notificationReceived", (note,)
        case NotificationChanged(note):
            return "notificationChanged", (note,)
        case ConnectionStateChanged(connected, channel):
            return "connectionChanged", (connected, channel)
        case PresenceChanged(uid, online, seen):
            return "presenceChanged", (uid, online, -1 if seen is None else seen)
        case TypingChanged(cid, uid, typing):
            return "typingChanged", (cid, uid, typing)
        case Resync(_, reason):
            return "resync", (reason,)
    raise AssertionError(event)


def test_events_become_signals_in_order(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, pair: Pair
) -> None:
    bridge = ChatBridge(pair.ann)
    recorder = Recorder(pair.ann)  # the same events, straight from the client
    signals = Signals(bridge)
    try:
        bridge.select(pair.cid)
        pair.bob.select_conversation(pair.cid)
        texts = ["hello Ann", "are you there?", "<b>not bold</b>"]

        async def bob_writes() -> None:
            for text in texts:
                await pair.bob.send_message(pair.cid, text)

        run_on(qtbot, qloop, bob_writes())

        def arrived() -> bool:
            return [m.text for (m,) in signals.of("messageAdded")] == texts

        qtbot.waitUntil(arrived, timeout=30_000)
        bridge.send(pair.cid, "yes, hi")
        qtbot.waitUntil(
            lambda: any(args[2] is DeliveryState.SENT for args in signals.of("deliveryChanged")),
            timeout=30_000,
        )
        bridge.mark_read(pair.cid)
        qtbot.waitUntil(
            lambda: any(e.unread_count == 0 for _, e in signals.of("conversationChanged") if e),
            timeout=30_000,
        )
        received: list[Message] = [m for (m,) in signals.of("messageAdded")]
        assert all(m.sender_id == pair.bob_uid for m in received[:3])
        qtbot.waitUntil(lambda: len(signals.events()) >= len(recorder.drain()), timeout=30_000)
        assert signals.events() == [as_signal(event) for event in recorder.drain()]
        assert signals.of("error") == []
    finally:
        bridge.close()
    assert bridge.closed


def test_failures_become_sentences_and_close_cancels(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, pair: Pair
) -> None:
    bridge = ChatBridge(pair.ann)
    try:
        with qtbot.waitSignal(bridge.error, timeout=30_000) as blocker:
            bridge.edit(pair.cid, "-NoSuchMessage", "changed")  # the rules refuse it
        sentence = blocker.args[0]
        assert sentence.startswith("Could not edit the message: ")
        assert sentence.endswith(".") and "Traceback" not in sentence and "\n" not in sentence

        with qtbot.waitSignal(bridge.error, timeout=30_000) as blocker:
            bridge.send(pair.cid, "")  # too short for the data model
        assert blocker.args[0].startswith("Could not send the message: ")

        with qtbot.waitSignal(bridge.olderLoaded, timeout=30_000) as blocker:
            bridge.load_older(pair.cid, None)
        assert blocker.args == [pair.cid, None, []]
    finally:
        bridge.close()
    assert all(task.done() or task.cancelling() for task in bridge.tasks)
    bridge.send(pair.cid, "after close")  # ignored, nothing scheduled
    assert not any(not task.done() and not task.cancelling() for task in bridge.tasks)


def test_conversation_state_drafts_search_and_skills(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, pair: Pair, chat_server: ServerProcess
) -> None:
    bridge = ChatBridge(pair.ann)
    try:
        bridge.select(pair.cid)
        for text in ["first", "the Guitar lesson", "third"]:
            bridge.send(pair.cid, text)
        bridge.set_draft(pair.cid, "half")
        bridge.set_draft(pair.cid, "half a thought")

        async def state_after_sends() -> bool:
            state = await bridge.conversation_state(pair.cid)
            return len(state.messages) == 3 and state.draft == "half a thought"

        qtbot.waitUntil(lambda: run_on(qtbot, qloop, state_after_sends()), timeout=30_000)

        hits: list[SearchHit] = run_on(qtbot, qloop, bridge.search_messages("guitar"))
        assert [hit.message.text for hit in hits] == ["the Guitar lesson"]
        assert hits[0].conversation_id == pair.cid and hits[0].name == "Bob"
        assert run_on(qtbot, qloop, bridge.search_messages("  ")) == []

        chat_server.put(
            "skills/guitar1",
            {
                "title": "Guitar for beginners",
                "providerId": pair.bob_uid,
                "price": 25,
                "durationMinutes": 60,
                "description": "Chords & strumming",
            },
        )
        chat_server.put("skills/broken", {"title": "no provider"})
        skills: list[Skill] = run_on(qtbot, qloop, read_skills(bridge.client))
        assert [(s.id, s.title, s.provider_name) for s in skills] == [
            ("guitar1", "Guitar for beginners", "Bob")
        ]
        assert skills[0].price_text == "25"

        with qtbot.waitSignal(bridge.conversationOpened, timeout=30_000) as blocker:
            bridge.open_conversation(pair.bob_uid, "guitar1")
        assert blocker.args == [pair.cid]
        assert run_on(qtbot, qloop, bridge.photo_loader("file:///etc/passwd")) == b""
    finally:
        run_on(qtbot, qloop, bridge.aclose())
    assert not bridge.tasks
