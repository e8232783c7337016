"""Shared plumbing of the UI benchmarks: a signed-in app's data dir, and running ui_child."""

from __future__ import annotations

import compileall
import functools
import json
import socket
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_chat.client.cache import LocalCache
from desktop_chat.client.chat_client import ACCOUNT_FILE
from desktop_chat.client.profiles import DATA_DIR_ENV, Profile
from desktop_chat.client.token_store import SERVICE
from desktop_chat.core.model import (
    ConversationEntry,
    Message,
    MessageType,
    Role,
    UserProfile,
    conversation_id,
)
from tests.benchmarks.harness import Child
from tests.support.file_keyring import BACKEND, PATH_ENV

ME = "uiBenchMe000000000000000000001"
CHILD = "tests.benchmarks.ui_child"
CHUNK = 10_000
MINUTE_MS = 60_000
TEXTS = (
    "Hi! Are you still available for the guitar lesson on Thursday at 6pm?",
    "Yes, see you then.",
    "Could we go over the chord changes in the second verse again? I keep losing the rhythm "
    "when it switches from G to E minor, and I would like to practise that slowly first.",
    "Great, thanks!",
    "I'll bring the sheet music. Should I also bring the capo, or do you have a spare one?",
)
"""Message texts of a few lengths, so that bubbles differ in height as in a real chat."""


@dataclass(frozen=True, slots=True)
class AppData:
    """A data dir where ``desktop-chat`` starts signed in, with a prefilled cache."""

    root: Path
    big_cid: str
    """The newest conversation (the top row), holding the many messages."""
    small_cid: str
    conversations: int
    big_messages: int
    small_messages: int
    build_seconds: float


def closed_port() -> int:
    """A local port nothing listens on: the server is down, nothing waits on the network."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def build_app_data(
    root: Path, conversations: int = 200, big_messages: int = 100_000, small_messages: int = 20
) -> AppData:
    """The default profile under *root*: *conversations* conversations, the newest holding
    *big_messages* messages and each other one *small_messages*; ``account.json`` names the
    account and the (file) keychain holds its refresh token, so the app starts signed in."""
    begun = time.perf_counter()
    client_dir = Profile.named(None, root=root).client_dir
    others = [f"uiBenchOther{n:017d}" for n in range(conversations)]
    cids = [conversation_id(ME, other) for other in others]
    now = int(time.time() * 1000)
    with LocalCache(client_dir / ME) as cache:
        cache.upsert_users(
            [UserProfile(ME, "Me", Role.STUDENT)]
            + [UserProfile(o, f"Tutor {n}", Role.PROVIDER) for n, o in enumerate(others)]
        )
        entries: list[ConversationEntry] = []
        for n, (cid, other) in enumerate(zip(cids, others, strict=True)):
            count = big_messages if n == 0 else small_messages
            last = now - n * 7 * MINUTE_MS  # the big one is the newest: the top row
            batch: list[Message] = []
            for k in range(count):
                mine = k % 3 == 0
                sender, receiver = (ME, other) if mine else (other, ME)
                at = last - (count - 1 - k) * MINUTE_MS
                text = TEXTS[k % len(TEXTS)]
                mid = f"m{n:03d}{k:016d}"
                batch.append(Message(mid, cid, sender, receiver, text, at, True, MessageType.TEXT))
                if len(batch) >= CHUNK:
                    cache.upsert_messages(batch)
                    batch = []
            cache.upsert_messages(batch)
            unread = 0 if n < 2 else n % 3  # the two opened ones are read
            preview = TEXTS[(count - 1) % len(TEXTS)]
            entries.append(ConversationEntry(cid, other, f"Tutor {n}", None, preview, last, unread))
        cache.upsert_conversations(entries)
    (client_dir / ACCOUNT_FILE).write_text(json.dumps({"uid": ME}))
    keyring_file(root).write_text(json.dumps({SERVICE: {ME: "stored-refresh-token"}}))
    Profile.named(None, root=root).session_marker.write_text(ME)  # as "keep me signed in" does
    (root / "settings.json").write_text("{}")
    return AppData(
        root,
        cids[0],
        cids[1],
        conversations,
        big_messages,
        small_messages,
        time.perf_counter() - begun,
    )


def keyring_file(root: Path) -> Path:
    return root / "keyring.json"


def app_env(root: Path, port: int) -> dict[str, str]:
    """The app child's environment: offscreen, the data dir, a down server, the file keychain."""
    return {
        "QT_QPA_PLATFORM": "offscreen",
        DATA_DIR_ENV: str(root),
        "DESKTOP_CHAT_SETTINGS": str(root / "settings.json"),
        "DESKTOP_CHAT_SERVER_URL": f"http://127.0.0.1:{port}",
        "DESKTOP_CHAT_NAMESPACE": "bench-ns",
        "PYTHON_KEYRING_BACKEND": BACKEND,
        PATH_ENV: str(keyring_file(root)),
    }


def bare_env() -> dict[str, str]:
    return {"QT_QPA_PLATFORM": "offscreen"}


@functools.cache
def compile_app() -> None:
    """Byte-compile the app's modules, as installing it does (pip and the bundle both ship
    ``.pyc``): a checkout run with ``PYTHONDONTWRITEBYTECODE`` would otherwise compile every
    module from source at every start, which no installed app does."""
    import desktop_chat

    compileall.compile_dir(str(Path(desktop_chat.__file__).parent), quiet=1)


def run_child(scenario: str, config: dict[str, Any], timeout: float = 120) -> list[dict[str, Any]]:
    """Run ui_child *scenario* to its end; its JSON events (``error`` ones raise)."""
    compile_app()  # (once a run)
    child = Child(CHILD, [scenario, json.dumps(config), repr(time.time())])
    events: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout
        while not events or events[-1].get("event") != "done":
            events.append(child.read_json(max(0.01, deadline - time.monotonic())))
        code = child.proc.wait(max(1.0, deadline - time.monotonic()))
    finally:
        child.stop()
    stderr = "".join(child.stderr_lines)
    errors = [event["error"] for event in events if event.get("event") == "error"]
    if code != 0 or errors or "Traceback" in stderr:
        raise RuntimeError(f"{scenario} child failed (exit {code}) {errors}:\n{stderr[-3000:]}")
    return events


def event(events: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    """The first event called *name*."""
    for found in events:
        if found.get("event") == name:
            return found
    raise RuntimeError(f"no {name!r} event in {[e.get('event') for e in events]}")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")
