"""desktop_chat.core.writes against the real server and the shipped rules, one PATCH at the root."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from desktop_chat.core.model import (
    MessageType,
    Role,
    Slot,
    UserProfile,
    conversation_id,
    entry_from,
    message_from,
    notification_from,
)
from desktop_chat.core.paths import PushIdGenerator
from desktop_chat.core.writes import (
    combine,
    delete_message,
    edit_message,
    mark_read,
    message_notification_id,
    open_conversation,
    send_message,
)
from tests.support.auth import sign_up
from tests.support.load_world import Person
from tests.support.server import OWNER, ServerProcess

FAST = ["--scrypt-n", "16"]
DENIED = {"error": "Permission denied"}
new_id = PushIdGenerator()


@dataclass
class World:
    server: ServerProcess
    http: requests.Session
    people: dict[str, Person]

    def _url(self, path: str) -> str:
        return f"{self.server.url}/{path.strip('/')}.json"

    def patch(self, who: Person, update: dict[str, Any]) -> requests.Response:
        """Apply *update* as one multi-path PATCH at the root, signed in as *who*."""
        params = {"ns": self.server.namespace, "auth": who.token}
        return self.http.patch(self._url(""), params=params, data=json.dumps(update), timeout=30)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body)
        response = self.http.request(
            method,
            self._url(path),
            params={"ns": self.server.namespace},
            data=data,
            headers=OWNER,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def value(self, path: str) -> Any:
        return self.admin("GET", path)


def accepted(response: requests.Response) -> None:
    assert response.status_code == 200, response.text


def refused(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == DENIED


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = ServerProcess(tmp_path_factory.mktemp("writes") / "data", FAST, rules=None).start()
    http = requests.Session()
    people: dict[str, Person] = {}
    try:
        for name, role, photo in [
            ("ann", Role.STUDENT, "https://p/ann.png"),
            ("bob", Role.PROVIDER, None),
            ("cat", Role.STUDENT, None),
            ("dan", Role.STUDENT, None),
        ]:
            body = sign_up(server, f"{name}@example.com")
            profile = UserProfile(body["localId"], name.title(), role, photo)
            people[name] = Person(profile, body["idToken"])
        world = World(server, http, people)
        for person in people.values():
            params = {"ns": server.namespace, "auth": person.token}
            url = world._url(f"users/{person.uid}")
            data = json.dumps(person.profile.to_record())
            assert http.put(url, params=params, data=data, timeout=30).status_code == 200
        yield world
    finally:
        http.close()
        server.kill()


def entry(world: World, owner: Person, cid: str) -> Any:
    return world.value(f"userConversations/{owner.uid}/{cid}")


def test_open_send_retry_read_edit_delete(world: World) -> None:
    ann, bob = world.people["ann"], world.people["bob"]
    cid = conversation_id(ann.uid, bob.uid)

    accepted(world.patch(ann, open_conversation(ann.profile, bob.profile, "skill1")))
    meta = world.value(f"conversations/{cid}/metadata")
    assert meta["participants"] == {ann.uid: True, bob.uid: True}
    assert meta["skillId"] == "skill1" and isinstance(meta["createdAt"], int)
    mine, theirs = entry_from(cid, entry(world, ann, cid)), entry_from(cid, entry(world, bob, cid))
    assert mine is not None and theirs is not None
    assert (mine.other_user_id, mine.other_user_name, mine.unread_count) == (bob.uid, "Bob", 0)
    assert (theirs.other_user_id, theirs.other_user_photo) == (ann.uid, "https://p/ann.png")
    # Opening it again as new is refused as a whole (createdAt never changes); known is fine.
    refused(world.patch(bob, open_conversation(bob.profile, ann.profile)))
    accepted(world.patch(bob, open_conversation(bob.profile, ann.profile, known=True)))
    assert world.value(f"conversations/{cid}/metadata/createdAt") == meta["createdAt"]

    first, second = new_id(), new_id()
    send = send_message(ann.profile, bob.profile, cid, first, "hello 👋")
    accepted(world.patch(ann, send))
    nid = message_notification_id(first)
    notification = world.value(f"notifications/{bob.uid}/{nid}")
    message = message_from(cid, first, world.value(f"conversations/{cid}/messages/{first}"))
    assert message is not None and message.text == "hello 👋" and not message.read
    assert (message.sender_id, message.receiver_id, message.type) == (
        ann.uid,
        bob.uid,
        MessageType.TEXT,
    )
    parsed = notification_from(nid, notification)
    assert parsed is not None and parsed.sender_id == ann.uid and parsed.title == "Ann"
    assert parsed.link is not None and parsed.link.conversation_id == cid
    assert entry(world, bob, cid)["unreadCount"] == 1
    assert entry(world, ann, cid)["lastMessage"] == "hello 👋"

    # A retry whose first attempt landed is refused whole: nothing counts twice.
    refused(world.patch(ann, send))
    assert entry(world, bob, cid)["unreadCount"] == 1
    assert world.value(f"notifications/{bob.uid}/{nid}") == notification
    assert len(world.value(f"notifications/{bob.uid}")) == 1

    accepted(world.patch(ann, send_message(ann.profile, bob.profile, cid, second, "again")))
    assert entry(world, bob, cid)["unreadCount"] == 2
    # Only the receiver marks read.
    refused(world.patch(ann, mark_read(ann.profile, cid, [first])))
    read = mark_read(bob.uid, cid, [first, second], [nid, message_notification_id(second)])
    accepted(world.patch(bob, read))
    messages = world.value(f"conversations/{cid}/messages")
    assert all(value["read"] for value in messages.values())
    assert entry(world, bob, cid)["unreadCount"] == 0
    assert all(value["read"] for value in world.value(f"notifications/{bob.uid}").values())

    # Edit within 15 minutes: only the sender; a tombstone never changes again.
    refused(world.patch(bob, edit_message(cid, first, "forged")))
    accepted(world.patch(ann, edit_message(cid, first, "hello, edited")))
    edited = message_from(cid, first, world.value(f"conversations/{cid}/messages/{first}"))
    assert edited is not None and edited.text == "hello, edited" and edited.edited_at
    assert edited.timestamp == message.timestamp and edited.read
    refused(world.patch(bob, delete_message(cid, first)))
    accepted(world.patch(ann, delete_message(cid, first)))
    tomb = message_from(cid, first, world.value(f"conversations/{cid}/messages/{first}"))
    assert tomb is not None and tomb.deleted and tomb.text is None
    assert tomb.edited_at == edited.edited_at and tomb.sender_id == ann.uid
    refused(world.patch(ann, delete_message(cid, first)))
    refused(world.patch(ann, edit_message(cid, first, "back from the dead")))


def test_edit_after_fifteen_minutes_is_refused(world: World) -> None:
    ann, cat = world.people["ann"], world.people["cat"]
    cid = conversation_id(ann.uid, cat.uid)
    accepted(world.patch(ann, open_conversation(ann.profile, cat.profile)))
    mid = new_id()
    accepted(world.patch(cat, send_message(cat.profile, ann.profile, cid, mid, "hi ann")))
    path = f"conversations/{cid}/messages/{mid}/timestamp"
    world.admin("PUT", path, int(time.time() * 1000) - 16 * 60_000)
    refused(world.patch(cat, edit_message(cid, mid, "too late")))
    accepted(world.patch(cat, delete_message(cid, mid)))  # deleting has no time limit


def test_spoofed_or_foreign_writes_are_refused(world: World) -> None:
    ann, bob, dan = world.people["ann"], world.people["bob"], world.people["dan"]
    cid = conversation_id(ann.uid, bob.uid)
    mid = new_id()
    update = send_message(ann.profile, bob.profile, cid, mid, "spoof?")
    path = f"conversations/{cid}/messages/{mid}"
    for fields in (
        {"senderId": bob.uid},
        {"senderId": bob.uid, "receiverId": ann.uid},
        {"receiverId": dan.uid},
    ):
        refused(world.patch(ann, {**update, path: {**update[path], **fields}}))
    nid_path = f"notifications/{bob.uid}/{message_notification_id(mid)}"
    forged = {**update, nid_path: {**update[nid_path], "senderId": dan.uid}}
    refused(world.patch(ann, forged))
    forged = {**update, path: {**update[path], "read": True}}
    refused(world.patch(ann, forged))
    refused(world.patch(dan, update))  # not a participant
    # The same write as the real sender passes, and nothing before it left a trace.
    assert world.value(path) is None
    assert world.value(nid_path) is None
    accepted(world.patch(ann, update))


def test_first_message_creates_what_is_missing(world: World) -> None:
    bob, cat, dan = world.people["bob"], world.people["cat"], world.people["dan"]
    cid = conversation_id(dan.uid, bob.uid)
    mid = new_id()
    slot = Slot("skill1", "2030-01-15", "slot1")  # bob's: a card binds one of the two's slots
    world.admin(
        "PUT",
        "skills/skill1",
        {"title": "T", "providerId": bob.uid, "price": 1, "durationMinutes": 60},
    )
    record = {"start": 1_894_000_000_000, "end": 1_894_003_600_000, "available": True}

    def first_card(message_id: str) -> dict[str, Any]:
        return combine(
            open_conversation(dan.profile, bob.profile, "skill1"),
            send_message(
                dan.profile,
                bob.profile,
                cid,
                message_id,
                "book me?",
                MessageType.BOOKING_PROPOSAL,
                slot,
                ensure_entries=True,
            ),
        )

    refused(world.patch(dan, first_card(new_id())))  # the slot does not exist (yet)
    world.admin("PUT", "skillAvailability/skill1/2030-01-15/slot1", record)
    first = first_card(mid)
    accepted(world.patch(dan, first))
    assert entry(world, bob, cid)["unreadCount"] == 1
    assert entry(world, dan, cid)["unreadCount"] == 0
    stored = message_from(cid, mid, world.value(f"conversations/{cid}/messages/{mid}"))
    assert stored is not None and stored.slot == slot

    # The receiver removed the entry from their list: a plain send is refused, the variant that
    # writes otherUser recreates it.
    accepted(world.patch(bob, {f"userConversations/{bob.uid}/{cid}": None}))
    plain = send_message(dan.profile, bob.profile, cid, new_id(), "still there?")
    refused(world.patch(dan, plain))
    again = send_message(dan.profile, bob.profile, cid, new_id(), "hi", ensure_entries=True)
    accepted(world.patch(dan, again))
    recreated = entry_from(cid, entry(world, bob, cid))
    assert recreated is not None and (recreated.other_user_id, recreated.unread_count) == (
        dan.uid,
        1,
    )
    # On existing entries the variant keeps the counts and only adds one.
    more = send_message(dan.profile, bob.profile, cid, new_id(), "x", ensure_entries=True)
    accepted(world.patch(dan, more))
    assert entry(world, bob, cid)["unreadCount"] == 2

    # My own entry removed from my list: opening the known conversation brings it back.
    accepted(world.patch(dan, {f"userConversations/{dan.uid}/{cid}": None}))
    accepted(world.patch(dan, open_conversation(dan.profile, bob.profile, known=True)))
    back = entry_from(cid, entry(world, dan, cid))
    assert back is not None and (back.other_user_id, back.unread_count) == (bob.uid, 0)

    # Blocked by the receiver: the send is refused.
    cid_cat = conversation_id(cat.uid, bob.uid)
    accepted(world.patch(cat, open_conversation(cat.profile, bob.profile)))
    world.admin("PUT", f"blocks/{bob.uid}/{cat.uid}", True)
    refused(world.patch(cat, send_message(cat.profile, bob.profile, cid_cat, new_id(), "hey")))
