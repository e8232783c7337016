"""The shipped rules against docs/data-model.md: per rule, a request it allows and one it denies."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.auth import b64url, decode, sign_up, sign_with_key
from tests.support.server import OWNER, ServerProcess

FAST = ["--scrypt-n", "16"]
SV = {".sv": "timestamp"}
INC = {".sv": {"increment": 1}}
DENIED = {"error": "Permission denied"}
EXPIRED = {"error": "Auth token is expired"}
UNPARSEABLE = {"error": "Could not parse auth token."}
SKILL = "skillBob"
DATE = "2030-01-15"
HOUR = 3_600_000
ROLES = {
    "alice": "student",
    "bob": "provider",
    "carol": "student",
    "dave": "provider",
    "eve": "student",
}
_ABSENT: Any = object()


@dataclass(frozen=True)
class User:
    name: str
    uid: str
    token: str


@dataclass
class World:
    """The module's server, its signed-up users and one HTTP session."""

    server: ServerProcess
    users: dict[str, User] = field(default_factory=dict)
    http: requests.Session = field(default_factory=requests.Session)

    def call(
        self, user: User | str | None, method: str, path: str, body: Any = _ABSENT, **params: str
    ) -> requests.Response:
        """*user* None is anonymous, a string is a raw ``auth=`` token."""
        query = {"ns": self.server.namespace, **params}
        if isinstance(user, User):
            query["auth"] = user.token
        elif isinstance(user, str):
            query["auth"] = user
        data = None if body is _ABSENT else json.dumps(body)
        url = f"{self.server.url}/{path.strip('/')}.json"
        return self.http.request(method, url, params=query, data=data, timeout=30)

    def get(self, user: User | str | None, path: str, **params: str) -> requests.Response:
        return self.call(user, "GET", path, **params)

    def put(self, user: User | None, path: str, body: Any) -> requests.Response:
        return self.call(user, "PUT", path, body)

    def patch(self, user: User | None, path: str, body: dict[str, Any]) -> requests.Response:
        return self.call(user, "PATCH", path, body)

    def delete(self, user: User | None, path: str) -> requests.Response:
        return self.call(user, "DELETE", path)

    def admin(self, method: str, path: str, body: Any = _ABSENT) -> Any:
        """A write or read as the emulator owner (admins bypass the rules)."""
        data = None if body is _ABSENT else json.dumps(body)
        url = f"{self.server.url}/{path.strip('/')}.json"
        params = {"ns": self.server.namespace}
        response = self.http.request(
            method, url, params=params, data=data, headers=OWNER, timeout=30
        )
        assert response.status_code == 200, response.text
        return response.json()

    def value(self, path: str) -> Any:
        return self.admin("GET", path)


def allowed(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def denied(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == DENIED


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def cid(a: User, b: User) -> str:
    return "_".join(sorted((a.uid, b.uid)))


def unsorted_cid(a: User, b: User) -> str:
    return "_".join(sorted((a.uid, b.uid), reverse=True))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One server with the shipped rules; five users with profiles; bob's skill; bob blocks eve;
    alice and bob already share a conversation."""
    data = tmp_path_factory.mktemp("rules") / "data"
    server = ServerProcess(data, extra_args=FAST, rules=None).start()
    w = World(server)
    try:
        for name, role in ROLES.items():
            session = sign_up(server, f"{name}@example.com")
            user = User(name.capitalize(), session["localId"], session["idToken"])
            w.users[name] = user
            profile = {"displayName": user.name, "role": role}
            allowed(w.put(user, f"users/{user.uid}", profile))
        alice, bob, eve = w.users["alice"], w.users["bob"], w.users["eve"]
        w.admin(
            "PUT",
            f"skills/{SKILL}",
            {"title": "Guitar", "providerId": bob.uid, "price": 10, "durationMinutes": 60},
        )
        w.admin("PUT", f"userStatus/{bob.uid}", {"online": True, "lastSeen": SV})
        allowed(w.put(bob, f"blocks/{bob.uid}/{eve.uid}", True))
        c = cid(alice, bob)
        w.admin(
            "PATCH",
            "",
            {
                f"conversations/{c}/metadata": {
                    "participants": {alice.uid: True, bob.uid: True},
                    "createdAt": SV,
                },
                f"userConversations/{alice.uid}/{c}": {
                    "otherUser": {"id": bob.uid, "name": bob.name},
                    "unreadCount": 0,
                },
                f"userConversations/{bob.uid}/{c}": {
                    "otherUser": {"id": alice.uid, "name": alice.name},
                    "unreadCount": 0,
                },
            },
        )
        yield w
    finally:
        w.http.close()
        server.kill()


@pytest.fixture
def alice(world: World) -> User:
    return world.users["alice"]


@pytest.fixture
def bob(world: World) -> User:
    return world.users["bob"]


@pytest.fixture
def carol(world: World) -> User:
    return world.users["carol"]


@pytest.fixture
def dave(world: World) -> User:
    return world.users["dave"]


@pytest.fixture
def eve(world: World) -> User:
    return world.users["eve"]


# ---------------------------------------------------------------- builders


def message(sender: User, receiver: User, text: str = "hello", **changes: Any) -> dict[str, Any]:
    body = {
        "senderId": sender.uid,
        "receiverId": receiver.uid,
        "text": text,
        "timestamp": SV,
        "read": False,
        "type": "text",
    }
    return {**body, **changes}


def message_notification(sender: User, receiver: User, **changes: Any) -> dict[str, Any]:
    body = {
        "kind": "message",
        "title": f"New message from {sender.name}",
        "body": "hello",
        "senderId": sender.uid,
        "createdAt": SV,
        "read": False,
        "link": {"conversationId": cid(sender, receiver)},
    }
    return {**body, **changes}


def send_patch(
    sender: User, receiver: User, mid: str, nid: str, **message_changes: Any
) -> dict[str, Any]:
    """A send to an existing conversation: one multi-path PATCH at the root."""
    c = cid(sender, receiver)
    body = message(sender, receiver, **message_changes)
    preview = body.get("text", "")
    return {
        f"conversations/{c}/messages/{mid}": body,
        f"conversations/{c}/metadata/lastMessageAt": SV,
        f"userConversations/{sender.uid}/{c}/lastMessage": preview,
        f"userConversations/{sender.uid}/{c}/lastMessageAt": SV,
        f"userConversations/{receiver.uid}/{c}/lastMessage": preview,
        f"userConversations/{receiver.uid}/{c}/lastMessageAt": SV,
        f"userConversations/{receiver.uid}/{c}/unreadCount": INC,
        f"notifications/{receiver.uid}/{nid}": message_notification(sender, receiver),
    }


def seed_message(w: World, sender: User, receiver: User, **changes: Any) -> str:
    """An existing message, written by an admin; returns its path."""
    path = f"conversations/{cid(sender, receiver)}/messages/{new_id('m')}"
    w.admin("PUT", path, message(sender, receiver, **changes))
    return path


def unread(w: World, owner: User, other: User) -> int:
    count = w.value(f"userConversations/{owner.uid}/{cid(owner, other)}/unreadCount")
    assert isinstance(count, int)
    return count


def new_slot(w: World, **changes: Any) -> str:
    """A fresh available slot of bob's skill; returns its path."""
    path = f"skillAvailability/{SKILL}/{DATE}/{new_id('s')}"
    w.admin("PUT", path, {"start": 10 * HOUR, "end": 11 * HOUR, "available": True, **changes})
    return path


def booking(student: User, provider: User, slot: str, **changes: Any) -> dict[str, Any]:
    _, skill, date, slot_id = slot.split("/")
    body = {
        "skillId": skill,
        "date": date,
        "slotId": slot_id,
        "studentId": student.uid,
        "providerId": provider.uid,
        "status": "requested",
        "createdAt": SV,
        "updatedAt": SV,
    }
    return {**body, **changes}


def book_patch(student: User, provider: User, slot: str, bid: str) -> dict[str, Any]:
    """Create a booking and take its slot: one multi-path PATCH at the root."""
    return {
        f"bookings/{bid}": booking(student, provider, slot),
        f"{slot}/available": False,
        f"{slot}/bookedBy": student.uid,
        f"{slot}/bookingId": bid,
        f"{slot}/updatedAt": SV,
    }


def release_patch(slot: str, bid: str) -> dict[str, Any]:
    """Cancel a booking and free its slot in the same write."""
    return {
        f"bookings/{bid}/status": "cancelled",
        f"bookings/{bid}/updatedAt": SV,
        f"{slot}/available": True,
        f"{slot}/bookedBy": None,
        f"{slot}/bookingId": None,
        f"{slot}/updatedAt": SV,
    }


def seed_booking(w: World, student: User, provider: User, status: str = "requested") -> str:
    """An admin-made booking holding a fresh slot; returns the booking id."""
    slot = new_slot(w)
    bid = new_id("b")
    patch = book_patch(student, provider, slot, bid)
    patch[f"bookings/{bid}"]["status"] = status
    w.admin("PATCH", "", patch)
    return bid


def booking_request(student: User, bid: str, **changes: Any) -> dict[str, Any]:
    body = {
        "kind": "booking_request",
        "title": f"{student.name} asks for a lesson",
        "senderId": student.uid,
        "createdAt": SV,
        "read": False,
        "link": {"bookingId": bid},
    }
    return {**body, **changes}


# ---------------------------------------------------------------- anonymous and closed paths

ANONYMOUS_READS = [
    "",
    "users",
    "users/{alice}",
    "conversations/{ab}",
    "conversations/{ab}/messages",
    "userConversations/{alice}",
    "notifications/{alice}",
    "skills",
    f"skills/{SKILL}",
    f"skillAvailability/{SKILL}",
    "bookings",
    "userStatus/{bob}",
    "blocks/{bob}",
    "somewhere/else",
]


def _fill(w: World, path: str) -> str:
    alice, bob = w.users["alice"], w.users["bob"]
    return path.format(alice=alice.uid, bob=bob.uid, ab=cid(alice, bob))


@pytest.mark.parametrize("path", ANONYMOUS_READS, ids=lambda p: p or "root")
def test_anonymous_read_denied(world: World, path: str) -> None:
    denied(world.get(None, _fill(world, path)))


ANONYMOUS_WRITES = [
    ("PUT", "users/{alice}", {"displayName": "Mallory", "role": "student"}),
    ("PUT", "users/nobody", {"displayName": "Mallory", "role": "student"}),
    ("PATCH", "conversations/{ab}/metadata", {"lastMessageAt": SV}),
    ("POST", "conversations/{ab}/messages", {"text": "x", "timestamp": SV}),
    ("PATCH", "userConversations/{alice}/{ab}", {"unreadCount": 0}),
    ("POST", "notifications/{alice}", {"kind": "message", "title": "x"}),
    ("PUT", "skills/anon", {"title": "x", "providerId": "x", "price": 1, "durationMinutes": 30}),
    ("PUT", "userStatus/{bob}", {"online": False}),
    ("PUT", "blocks/{bob}/x", True),
    ("DELETE", "bookings", None),
    ("PATCH", "", {"somewhere/else": 1}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), ANONYMOUS_WRITES, ids=[f"{m}-{p}" for m, p, _ in ANONYMOUS_WRITES]
)
def test_anonymous_write_denied(world: World, method: str, path: str, body: Any) -> None:
    denied(world.call(None, method, _fill(world, path), body))


def test_unlisted_path_closed_to_users_open_to_admin(world: World, alice: User) -> None:
    denied(world.get(alice, "somewhere/else"))
    denied(world.put(alice, "somewhere/else", 1))
    denied(world.get(alice, ""))
    world.admin("PUT", "somewhere/else", 1)
    assert world.value("somewhere/else") == 1


# ---------------------------------------------------------------- users/{uid}


def test_user_owner_writes_profile(world: World, carol: User) -> None:
    profile = {"displayName": "Carol C.", "role": "student", "photoURL": "https://p/c.png"}
    allowed(world.put(carol, f"users/{carol.uid}", profile))
    allowed(world.patch(carol, f"users/{carol.uid}", {"displayName": "Carol"}))
    assert world.value(f"users/{carol.uid}/displayName") == "Carol"


def test_user_other_writes_profile_denied(world: World, alice: User, carol: User) -> None:
    denied(world.put(alice, f"users/{carol.uid}", {"displayName": "Hacked", "role": "student"}))
    denied(world.patch(alice, f"users/{carol.uid}", {"displayName": "Hacked"}))


def test_user_profile_read_by_signed_in(world: World, alice: User, bob: User) -> None:
    assert allowed(world.get(alice, f"users/{bob.uid}"))["role"] == "provider"
    assert len(allowed(world.get(alice, "users"))) == len(ROLES)


@pytest.mark.parametrize(
    "profile",
    [
        {"displayName": "Alice", "role": "student", "admin": True},
        {"displayName": "Alice", "role": "teacher"},
        {"displayName": "", "role": "student"},
        {"displayName": "A" * 101, "role": "student"},
        {"displayName": "Alice"},
        {"displayName": "Alice", "role": "student", "photoURL": "x" * 2049},
    ],
    ids=["unknown-field", "bad-role", "empty-name", "long-name", "no-role", "long-photo"],
)
def test_user_profile_invalid_denied(world: World, alice: User, profile: dict[str, Any]) -> None:
    denied(world.put(alice, f"users/{alice.uid}", profile))
    assert world.value(f"users/{alice.uid}") == {"displayName": "Alice", "role": "student"}


# ---------------------------------------------------------------- conversations


def test_conversation_participant_reads(world: World, alice: User, bob: User) -> None:
    for user in (alice, bob):
        body = allowed(world.get(user, f"conversations/{cid(alice, bob)}"))
        assert body["metadata"]["participants"] == {alice.uid: True, bob.uid: True}


def test_conversation_non_participant_read_denied(
    world: World, alice: User, bob: User, carol: User
) -> None:
    denied(world.get(carol, f"conversations/{cid(alice, bob)}"))
    denied(world.get(carol, f"conversations/{cid(alice, bob)}/messages"))
    denied(world.get(carol, "conversations"))


def test_conversation_non_participant_write_denied(
    world: World, alice: User, bob: User, carol: User
) -> None:
    c = cid(alice, bob)
    denied(world.patch(carol, f"conversations/{c}/metadata", {"lastMessageAt": SV}))
    spoof = message(alice, bob) | {"senderId": carol.uid}
    denied(world.put(carol, f"conversations/{c}/messages/{new_id('m')}", spoof))
    denied(world.put(carol, f"conversations/{c}/messages/{new_id('m')}", message(carol, bob)))


def test_conversation_created_by_participant(world: World, alice: User, dave: User) -> None:
    metadata = {"participants": {alice.uid: True, dave.uid: True}, "createdAt": SV}
    allowed(world.put(dave, f"conversations/{cid(alice, dave)}/metadata", metadata))
    stored = world.value(f"conversations/{cid(alice, dave)}/metadata")
    assert isinstance(stored["createdAt"], int)


def test_conversation_non_canonical_cid_denied(world: World, alice: User, dave: User) -> None:
    wrong = unsorted_cid(alice, dave)
    metadata = {"participants": {alice.uid: True, dave.uid: True}, "createdAt": SV}
    for user in (alice, dave):
        denied(world.put(user, f"conversations/{wrong}/metadata", metadata))
        other = dave if user is alice else alice
        denied(world.put(user, f"conversations/{wrong}/messages/m1", message(user, other)))
    assert world.value(f"conversations/{wrong}") is None


def test_conversation_metadata_same_participants_allowed(
    world: World, alice: User, bob: User
) -> None:
    path = f"conversations/{cid(alice, bob)}/metadata/participants"
    allowed(world.put(alice, path, {alice.uid: True, bob.uid: True}))


@pytest.mark.parametrize(
    "who", ["third-added", "one-swapped", "only-one", "false-flag"], ids=lambda w: w
)
def test_conversation_metadata_participants_must_be_the_two(
    world: World, alice: User, bob: User, carol: User, who: str
) -> None:
    participants = {
        "third-added": {alice.uid: True, bob.uid: True, carol.uid: True},
        "one-swapped": {alice.uid: True, carol.uid: True},
        "only-one": {alice.uid: True},
        "false-flag": {alice.uid: True, bob.uid: False},
    }[who]
    path = f"conversations/{cid(alice, bob)}/metadata/participants"
    denied(world.put(alice, path, participants))


def test_conversation_metadata_created_at_not_server_time_denied(
    world: World, alice: User, eve: User
) -> None:
    metadata = {"participants": {alice.uid: True, eve.uid: True}, "createdAt": 12345}
    denied(world.put(alice, f"conversations/{cid(alice, eve)}/metadata", metadata))


# ---------------------------------------------------------------- messages


def test_message_send_as_one_patch(world: World, alice: User, bob: User) -> None:
    c = cid(alice, bob)
    before = unread(world, bob, alice)
    mid, nid = new_id("m"), new_id("n")
    allowed(world.patch(alice, "", send_patch(alice, bob, mid, nid, text="hi Bob")))
    stored = world.value(f"conversations/{c}/messages/{mid}")
    assert stored["text"] == "hi Bob" and stored["senderId"] == alice.uid
    assert isinstance(stored["timestamp"], int)
    assert unread(world, bob, alice) == before + 1
    assert world.value(f"notifications/{bob.uid}/{nid}")["kind"] == "message"
    assert world.value(f"conversations/{c}/metadata/lastMessageAt") >= stored["timestamp"]


def test_message_first_send_creates_everything(world: World, carol: User, dave: User) -> None:
    c = cid(carol, dave)
    mid, nid = new_id("m"), new_id("n")
    patch = {
        f"conversations/{c}/metadata": {
            "participants": {carol.uid: True, dave.uid: True},
            "createdAt": SV,
            "lastMessageAt": SV,
        },
        f"conversations/{c}/messages/{mid}": message(carol, dave, "first!"),
        f"userConversations/{carol.uid}/{c}": {
            "otherUser": {"id": dave.uid, "name": dave.name},
            "lastMessage": "first!",
            "lastMessageAt": SV,
            "unreadCount": 0,
        },
        f"userConversations/{dave.uid}/{c}": {
            "otherUser": {"id": carol.uid, "name": carol.name},
            "lastMessage": "first!",
            "lastMessageAt": SV,
            "unreadCount": INC,
        },
        f"notifications/{dave.uid}/{nid}": message_notification(carol, dave),
    }
    allowed(world.patch(carol, "", patch))
    assert unread(world, dave, carol) == 1


@pytest.mark.parametrize(
    "variant",
    [
        "sender-spoofed",
        "receiver-wrong",
        "timestamp-not-server-time",
        "text-empty",
        "text-4001",
        "read-true-at-creation",
        "type-deleted-at-creation",
        "edited-at-creation",
        "unknown-field",
    ],
)
def test_message_bad_creation_denied_as_a_whole(
    world: World, alice: User, bob: User, carol: User, variant: str
) -> None:
    variants: dict[str, dict[str, Any]] = {
        "sender-spoofed": {"senderId": bob.uid},
        "receiver-wrong": {"receiverId": carol.uid},
        "timestamp-not-server-time": {"timestamp": int(time.time() * 1000) - 60_000},
        "text-empty": {"text": ""},
        "text-4001": {"text": "x" * 4001},
        "read-true-at-creation": {"read": True},
        "type-deleted-at-creation": {"type": "deleted"},
        "edited-at-creation": {"editedAt": SV},
        "unknown-field": {"likes": 3},
    }
    changes = variants[variant]
    before = unread(world, bob, alice)
    mid, nid = new_id("m"), new_id("n")
    denied(world.patch(alice, "", send_patch(alice, bob, mid, nid, **changes)))
    assert world.value(f"conversations/{cid(alice, bob)}/messages/{mid}") is None
    assert world.value(f"notifications/{bob.uid}/{nid}") is None
    assert unread(world, bob, alice) == before


def test_message_text_of_4000_allowed(world: World, alice: User, bob: User) -> None:
    path = f"conversations/{cid(alice, bob)}/messages/{new_id('m')}"
    allowed(world.put(alice, path, message(alice, bob, "x" * 4000)))


def test_message_retried_send_denied_as_a_whole(world: World, alice: User, bob: User) -> None:
    before = unread(world, bob, alice)
    mid, nid = new_id("m"), new_id("n")
    patch = send_patch(alice, bob, mid, nid)
    allowed(world.patch(alice, "", patch))
    first = world.value(f"conversations/{cid(alice, bob)}/messages/{mid}")
    time.sleep(0.01)  # a retry comes later: another server time
    denied(world.patch(alice, "", patch))
    # The retry with fresh ids for everything but the message is refused as a whole too.
    retry_nid = new_id("n")
    denied(world.patch(alice, "", send_patch(alice, bob, mid, retry_nid)))
    assert unread(world, bob, alice) == before + 1
    assert world.value(f"conversations/{cid(alice, bob)}/messages/{mid}") == first
    assert world.value(f"notifications/{bob.uid}/{nid}") is not None
    assert world.value(f"notifications/{bob.uid}/{retry_nid}") is None


def test_message_replay_with_stored_values_denied(world: World, alice: User, bob: User) -> None:
    """Re-sending a landed message verbatim (its stored timestamp) must not count twice."""
    before = unread(world, bob, alice)
    mid, nid = new_id("m"), new_id("n")
    allowed(world.patch(alice, "", send_patch(alice, bob, mid, nid)))
    stored = world.value(f"conversations/{cid(alice, bob)}/messages/{mid}")
    replay = send_patch(alice, bob, mid, new_id("n"))
    replay[f"conversations/{cid(alice, bob)}/messages/{mid}"] = stored
    denied(world.patch(alice, "", replay))
    assert unread(world, bob, alice) == before + 1


def test_message_duplicate_sends_at_once_count_once(world: World, alice: User, bob: User) -> None:
    """Two copies of one send in flight together (one server time): exactly one lands."""
    before = unread(world, bob, alice)
    body = json.dumps(send_patch(alice, bob, new_id("m"), new_id("n")))
    barrier = threading.Barrier(4)

    def attempt(_: int) -> int:
        params = {"ns": world.server.namespace, "auth": alice.token}
        barrier.wait(10)
        url = f"{world.server.url}/.json"
        return requests.patch(url, params=params, data=body, timeout=30).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(attempt, range(4)))
    assert codes == [200, 401, 401, 401]
    assert unread(world, bob, alice) == before + 1


def test_message_receiver_marks_read(world: World, alice: User, bob: User) -> None:
    path = seed_message(world, alice, bob)
    allowed(world.put(bob, f"{path}/read", True))
    assert world.value(f"{path}/read") is True


def test_message_receiver_unmarks_read_denied(world: World, alice: User, bob: User) -> None:
    path = seed_message(world, alice, bob, read=True)
    denied(world.put(bob, f"{path}/read", False))


def test_message_sender_sets_read_denied(world: World, alice: User, bob: User) -> None:
    path = seed_message(world, alice, bob)
    denied(world.put(alice, f"{path}/read", True))


def test_message_receiver_changes_other_fields_denied(world: World, alice: User, bob: User) -> None:
    path = seed_message(world, alice, bob)
    denied(world.patch(bob, path, {"read": True, "type": "system"}))
    denied(world.put(bob, f"{path}/timestamp", 1))


def test_message_sender_edits_within_15_minutes(world: World, alice: User, bob: User) -> None:
    path = seed_message(world, alice, bob)
    allowed(world.patch(alice, path, {"text": "edited", "editedAt": SV}))
    assert world.value(f"{path}/text") == "edited"


def test_message_sender_edit_without_edited_at_denied(world: World, alice: User, bob: User) -> None:
    path = seed_message(world, alice, bob)
    denied(world.patch(alice, path, {"text": "edited"}))
    denied(world.patch(alice, path, {"text": "edited", "editedAt": 1}))


def test_message_sender_edit_after_15_minutes_denied(world: World, alice: User, bob: User) -> None:
    old = int(time.time() * 1000) - 16 * 60 * 1000
    path = seed_message(world, alice, bob, timestamp=old)
    denied(world.patch(alice, path, {"text": "too late", "editedAt": SV}))


def test_message_receiver_edits_text_denied(world: World, alice: User, bob: User) -> None:
    path = seed_message(world, alice, bob)
    denied(world.patch(bob, path, {"text": "rewritten", "editedAt": SV}))


def test_message_sender_tombstones(world: World, alice: User, bob: User) -> None:
    path = seed_message(world, alice, bob)
    allowed(world.patch(alice, path, {"text": None, "type": "deleted"}))
    stored = world.value(path)
    assert stored["type"] == "deleted" and "text" not in stored


def test_message_receiver_tombstone_denied(world: World, alice: User, bob: User) -> None:
    path = seed_message(world, alice, bob)
    denied(world.patch(bob, path, {"text": None, "type": "deleted"}))


@pytest.mark.parametrize("change", ["undelete", "text-on-tombstone", "edited-at"])
def test_message_tombstone_never_changes(world: World, alice: User, bob: User, change: str) -> None:
    path = seed_message(world, alice, bob)
    world.admin("PATCH", path, {"text": None, "type": "deleted"})
    patches: dict[str, dict[str, Any]] = {
        "undelete": {"text": "back", "type": "text", "editedAt": SV},
        "text-on-tombstone": {"text": "back", "editedAt": SV},
        "edited-at": {"editedAt": SV},
    }
    denied(world.patch(alice, path, patches[change]))


@pytest.mark.parametrize("who", ["sender", "receiver"])
def test_message_hard_delete_denied(world: World, alice: User, bob: User, who: str) -> None:
    path = seed_message(world, alice, bob)
    user = alice if who == "sender" else bob
    denied(world.delete(user, path))
    denied(world.put(user, path, None))
    assert world.value(path) is not None


def test_message_paging_query_indexed(world: World, alice: User, bob: User) -> None:
    seed_message(world, alice, bob)
    seed_message(world, alice, bob)
    answer = allowed(
        world.get(
            alice,
            f"conversations/{cid(alice, bob)}/messages",
            orderBy='"timestamp"',
            limitToLast="2",
        )
    )
    assert len(answer) == 2


def test_unindexed_query_is_400(world: World, alice: User, bob: User) -> None:
    c = cid(alice, bob)
    response = world.get(alice, f"conversations/{c}/messages", orderBy='"text"')
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": f'Index not defined, add ".indexOn": "text", for path '
        f'"/conversations/{c}/messages", to the rules'
    }
    response = world.get(bob, "bookings", orderBy='"status"', equalTo='"requested"')
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": 'Index not defined, add ".indexOn": "status", for path "/bookings", to the rules'
    }


# ---------------------------------------------------------------- userConversations


def test_user_conversations_owner_reads(world: World, alice: User, bob: User) -> None:
    entries = allowed(world.get(alice, f"userConversations/{alice.uid}"))
    assert entries[cid(alice, bob)]["otherUser"]["id"] == bob.uid
    allowed(world.get(alice, f"userConversations/{alice.uid}", orderBy='"lastMessageAt"'))


def test_user_conversations_other_read_denied(world: World, alice: User, bob: User) -> None:
    denied(world.get(bob, f"userConversations/{alice.uid}"))
    denied(world.get(bob, f"userConversations/{alice.uid}/{cid(alice, bob)}"))


def test_user_conversations_other_increments_by_one(world: World, alice: User, bob: User) -> None:
    before = unread(world, bob, alice)
    path = f"userConversations/{bob.uid}/{cid(alice, bob)}"
    allowed(world.patch(alice, path, {"unreadCount": INC, "lastMessage": "ping"}))
    assert unread(world, bob, alice) == before + 1


@pytest.mark.parametrize("value", ["increment-5", "plus-5", "minus-1", "reset"])
def test_user_conversations_other_arbitrary_unread_denied(
    world: World, alice: User, bob: User, value: str
) -> None:
    before = unread(world, bob, alice)
    new = {
        "increment-5": {".sv": {"increment": 5}},
        "plus-5": before + 5,
        "minus-1": before - 1,
        "reset": 0,
    }[value]
    if new == before:  # a reset of an already-zero count changes nothing: raise it first
        world.admin("PUT", f"userConversations/{bob.uid}/{cid(alice, bob)}/unreadCount", 2)
    denied(world.put(alice, f"userConversations/{bob.uid}/{cid(alice, bob)}/unreadCount", new))


def test_user_conversations_owner_resets_to_zero(world: World, alice: User, bob: User) -> None:
    path = f"userConversations/{bob.uid}/{cid(alice, bob)}/unreadCount"
    world.admin("PUT", path, 3)
    allowed(world.put(bob, path, 0))
    assert world.value(path) == 0


@pytest.mark.parametrize("value", ["increment", "literal"])
def test_user_conversations_owner_raises_denied(
    world: World, alice: User, bob: User, value: str
) -> None:
    path = f"userConversations/{bob.uid}/{cid(alice, bob)}/unreadCount"
    world.admin("PUT", path, 1)
    denied(world.put(bob, path, INC if value == "increment" else 4))


def test_user_conversations_owner_updates_own_entry(world: World, alice: User, bob: User) -> None:
    path = f"userConversations/{alice.uid}/{cid(alice, bob)}"
    allowed(world.patch(alice, path, {"otherUser/name": "Bobby", "lastMessageAt": SV}))


@pytest.mark.parametrize("field_", ["name", "photo", "id"])
def test_user_conversations_other_changes_other_user_denied(
    world: World, alice: User, bob: User, carol: User, field_: str
) -> None:
    path = f"userConversations/{bob.uid}/{cid(alice, bob)}/otherUser/{field_}"
    value = carol.uid if field_ == "id" else "Someone else"
    denied(world.put(alice, path, value))


def test_user_conversations_other_creates_entry_once(world: World, eve: User, dave: User) -> None:
    c = cid(eve, dave)
    entry = {"otherUser": {"id": eve.uid, "name": eve.name}, "unreadCount": 1}
    allowed(world.put(eve, f"userConversations/{dave.uid}/{c}", entry))
    entry["unreadCount"] = 0
    denied(world.put(eve, f"userConversations/{dave.uid}/{c}", entry))  # otherwise a reset


def test_user_conversations_entry_describing_someone_else_denied(
    world: World, alice: User, carol: User, dave: User
) -> None:
    c = cid(alice, carol)
    entry = {"otherUser": {"id": dave.uid, "name": dave.name}, "unreadCount": 1}
    denied(world.put(carol, f"userConversations/{alice.uid}/{c}", entry))
    entry = {"otherUser": {"id": carol.uid, "name": carol.name}, "unreadCount": 2}
    denied(world.put(carol, f"userConversations/{alice.uid}/{c}", entry))


def test_user_conversations_non_participant_write_denied(
    world: World, alice: User, bob: User, carol: User
) -> None:
    path = f"userConversations/{alice.uid}/{cid(alice, bob)}/unreadCount"
    denied(world.put(carol, path, INC))


def test_user_conversations_unsorted_cid_by_other_denied(
    world: World, alice: User, carol: User
) -> None:
    entry = {"otherUser": {"id": carol.uid, "name": carol.name}, "unreadCount": 1}
    denied(world.put(carol, f"userConversations/{alice.uid}/{unsorted_cid(alice, carol)}", entry))


# ---------------------------------------------------------------- notifications


def test_notifications_owner_reads(world: World, alice: User) -> None:
    allowed(world.get(alice, f"notifications/{alice.uid}"))
    allowed(world.get(alice, f"notifications/{alice.uid}", orderBy='"createdAt"'))


def test_notifications_other_read_denied(world: World, alice: User, bob: User) -> None:
    denied(world.get(bob, f"notifications/{alice.uid}"))
    denied(world.get(bob, "notifications"))


def test_notification_message_by_participant(world: World, alice: User, bob: User) -> None:
    nid = new_id("n")
    allowed(world.put(bob, f"notifications/{alice.uid}/{nid}", message_notification(bob, alice)))


def test_notification_message_by_non_participant_denied(
    world: World, alice: User, bob: User, carol: User
) -> None:
    body = message_notification(carol, alice) | {"link": {"conversationId": cid(alice, bob)}}
    denied(world.put(carol, f"notifications/{alice.uid}/{new_id('n')}", body))


def test_notification_sender_spoofed_denied(
    world: World, alice: User, bob: User, carol: User
) -> None:
    denied(
        world.put(
            carol, f"notifications/{alice.uid}/{new_id('n')}", message_notification(bob, alice)
        )
    )
    body = message_notification(bob, alice)
    del body["senderId"]
    denied(world.put(bob, f"notifications/{alice.uid}/{new_id('n')}", body))


SYSTEM_KINDS = ["review", "payment", "session_reminder"]


def _system_notification(kind: str, sender: User) -> dict[str, Any]:
    return {
        "kind": kind,
        "title": kind,
        "senderId": sender.uid,
        "createdAt": SV,
        "read": False,
        "link": {"skillId": SKILL},
    }


@pytest.mark.parametrize("kind", SYSTEM_KINDS)
def test_notification_system_kind_by_user_denied(
    world: World, alice: User, bob: User, kind: str
) -> None:
    denied(
        world.put(bob, f"notifications/{alice.uid}/{new_id('n')}", _system_notification(kind, bob))
    )


@pytest.mark.parametrize("kind", SYSTEM_KINDS)
def test_notification_system_kind_by_admin(world: World, alice: User, bob: User, kind: str) -> None:
    body = _system_notification(kind, bob)
    del body["senderId"]
    world.admin("PUT", f"notifications/{alice.uid}/{new_id('n')}", body)


def test_notification_owner_marks_read_and_deletes(world: World, alice: User, bob: User) -> None:
    path = f"notifications/{alice.uid}/{new_id('n')}"
    world.admin("PUT", path, message_notification(bob, alice))
    allowed(world.patch(alice, path, {"read": True}))
    assert world.value(f"{path}/read") is True
    allowed(world.delete(alice, path))
    assert world.value(path) is None


@pytest.mark.parametrize("change", ["title", "kind", "unread", "link"])
def test_notification_owner_changes_content_denied(
    world: World, alice: User, bob: User, change: str
) -> None:
    path = f"notifications/{alice.uid}/{new_id('n')}"
    world.admin("PUT", path, message_notification(bob, alice) | {"read": True})
    patches: dict[str, dict[str, Any]] = {
        "title": {"title": "changed"},
        "kind": {"kind": "payment"},
        "unread": {"read": False},
        "link": {"link/conversationId": "x_y"},
    }
    denied(world.patch(alice, path, patches[change]))


def test_notification_sender_changes_it_denied(world: World, alice: User, bob: User) -> None:
    path = f"notifications/{alice.uid}/{new_id('n')}"
    allowed(world.put(bob, path, message_notification(bob, alice)))
    denied(world.patch(bob, path, {"read": True}))
    denied(world.delete(bob, path))


def test_notification_owner_creates_own_denied(world: World, alice: User, bob: User) -> None:
    body = message_notification(alice, bob) | {"link": {"conversationId": cid(alice, bob)}}
    denied(world.put(alice, f"notifications/{alice.uid}/{new_id('n')}", body))


def test_notification_booking_request_with_booking(world: World, alice: User, bob: User) -> None:
    slot, bid, nid = new_slot(world), new_id("b"), new_id("n")
    patch = book_patch(alice, bob, slot, bid)
    patch[f"notifications/{bob.uid}/{nid}"] = booking_request(alice, bid)
    allowed(world.patch(alice, "", patch))
    assert world.value(f"notifications/{bob.uid}/{nid}/link") == {"bookingId": bid}


def test_notification_booking_request_to_wrong_user_denied(
    world: World, alice: User, bob: User, dave: User
) -> None:
    slot, bid, nid = new_slot(world), new_id("b"), new_id("n")
    patch = book_patch(alice, bob, slot, bid)
    patch[f"notifications/{dave.uid}/{nid}"] = booking_request(alice, bid)
    denied(world.patch(alice, "", patch))
    assert world.value(f"bookings/{bid}") is None
    assert world.value(f"{slot}/available") is True


def test_notification_booking_request_without_own_booking_denied(
    world: World, alice: User, bob: User, carol: User
) -> None:
    bid = seed_booking(world, carol, bob)
    denied(world.put(alice, f"notifications/{bob.uid}/{new_id('n')}", booking_request(alice, bid)))


def test_notification_booking_confirmed_with_confirmation(
    world: World, alice: User, bob: User
) -> None:
    bid = seed_booking(world, alice, bob)
    body = booking_request(bob, bid) | {"kind": "booking_confirmed", "title": "Confirmed"}
    patch = {
        f"bookings/{bid}/status": "confirmed",
        f"bookings/{bid}/updatedAt": SV,
        f"notifications/{alice.uid}/{new_id('n')}": body,
    }
    allowed(world.patch(bob, "", patch))
    # Unconfirmed, or to someone else: refused.
    other = seed_booking(world, alice, bob)
    unconfirmed = booking_request(bob, other) | {"kind": "booking_confirmed", "title": "Confirmed"}
    denied(world.put(bob, f"notifications/{alice.uid}/{new_id('n')}", unconfirmed))


# ---------------------------------------------------------------- blocks


def test_blocks_owner_reads_and_writes(world: World, bob: User, eve: User) -> None:
    assert allowed(world.get(bob, f"blocks/{bob.uid}")) == {eve.uid: True}
    allowed(world.put(bob, f"blocks/{bob.uid}/{eve.uid}", True))


def test_blocks_others_denied(world: World, alice: User, bob: User, eve: User) -> None:
    denied(world.get(eve, f"blocks/{bob.uid}"))
    denied(world.delete(eve, f"blocks/{bob.uid}/{eve.uid}"))
    denied(world.put(alice, f"blocks/{bob.uid}/{alice.uid}", True))
    denied(world.put(bob, f"blocks/{bob.uid}/{bob.uid}", True))  # not oneself
    denied(world.put(bob, f"blocks/{bob.uid}/{alice.uid}", "yes"))


def test_blocked_user_cannot_create_conversation(
    world: World, bob: User, carol: User, eve: User
) -> None:
    metadata = {"participants": {bob.uid: True, eve.uid: True}, "createdAt": SV}
    denied(world.put(eve, f"conversations/{cid(bob, eve)}/metadata", metadata))
    metadata = {"participants": {carol.uid: True, eve.uid: True}, "createdAt": SV}
    allowed(world.put(eve, f"conversations/{cid(carol, eve)}/metadata", metadata))


def test_blocked_user_cannot_send(world: World, bob: User, carol: User, eve: User) -> None:
    denied(
        world.put(eve, f"conversations/{cid(bob, eve)}/messages/{new_id('m')}", message(eve, bob))
    )
    allowed(
        world.put(
            eve, f"conversations/{cid(carol, eve)}/messages/{new_id('m')}", message(eve, carol)
        )
    )


def test_blocked_user_cannot_touch_conversation_list(
    world: World, bob: User, carol: User, eve: User
) -> None:
    entry = {"otherUser": {"id": eve.uid, "name": eve.name}, "unreadCount": 1}
    denied(world.put(eve, f"userConversations/{bob.uid}/{cid(bob, eve)}", entry))
    allowed(world.put(eve, f"userConversations/{carol.uid}/{cid(carol, eve)}", entry))


def test_blocked_user_cannot_notify(world: World, bob: User, carol: User, eve: User) -> None:
    denied(world.put(eve, f"notifications/{bob.uid}/{new_id('n')}", message_notification(eve, bob)))
    allowed(
        world.put(eve, f"notifications/{carol.uid}/{new_id('n')}", message_notification(eve, carol))
    )


# ---------------------------------------------------------------- userStatus


def test_user_status_read_by_signed_in(world: World, alice: User, bob: User) -> None:
    assert allowed(world.get(alice, f"userStatus/{bob.uid}"))["online"] is True
    allowed(world.get(alice, "userStatus"))


def test_user_status_anonymous_read_denied(world: World, bob: User) -> None:
    denied(world.get(None, f"userStatus/{bob.uid}"))


@pytest.mark.parametrize("whose", ["own", "other"])
def test_user_status_user_write_denied(world: World, alice: User, bob: User, whose: str) -> None:
    target = alice if whose == "own" else bob
    denied(world.put(alice, f"userStatus/{target.uid}", {"online": True, "lastSeen": SV}))


# ---------------------------------------------------------------- skills


def _skill(provider: User, **changes: Any) -> dict[str, Any]:
    body = {"title": "Piano", "providerId": provider.uid, "price": 20, "durationMinutes": 45}
    return {**body, **changes}


def test_skill_created_by_provider(world: World, bob: User, alice: User) -> None:
    sid = new_id("k")
    allowed(world.put(bob, f"skills/{sid}", _skill(bob, description="Scales")))
    allowed(world.patch(bob, f"skills/{sid}", {"price": 25}))
    answer = allowed(
        world.get(alice, "skills", orderBy='"providerId"', equalTo=json.dumps(bob.uid))
    )
    assert sid in answer and SKILL in answer
    allowed(world.delete(bob, f"skills/{sid}"))


def test_skill_created_by_student_denied(world: World, alice: User) -> None:
    denied(world.put(alice, f"skills/{new_id('k')}", _skill(alice)))


def test_skill_provider_id_spoofed_denied(world: World, alice: User, bob: User, dave: User) -> None:
    denied(world.put(alice, f"skills/{new_id('k')}", _skill(bob)))
    denied(world.put(dave, f"skills/{new_id('k')}", _skill(bob)))


def test_skill_provider_id_change_denied(world: World, bob: User, dave: User) -> None:
    sid = new_id("k")
    allowed(world.put(bob, f"skills/{sid}", _skill(bob)))
    denied(world.put(bob, f"skills/{sid}/providerId", dave.uid))


def test_skill_other_provider_edit_denied(world: World, bob: User, dave: User) -> None:
    denied(world.patch(dave, f"skills/{SKILL}", {"price": 0}))
    denied(world.delete(dave, f"skills/{SKILL}"))


@pytest.mark.parametrize(
    "changes",
    [{"price": -1}, {"durationMinutes": 4}, {"durationMinutes": 1441}, {"title": ""}, {"x": 1}],
    ids=["negative-price", "too-short", "too-long", "empty-title", "unknown-field"],
)
def test_skill_invalid_denied(world: World, bob: User, changes: dict[str, Any]) -> None:
    denied(world.put(bob, f"skills/{new_id('k')}", _skill(bob, **changes)))


# ---------------------------------------------------------------- skillAvailability


def test_availability_provider_adds_edits_removes(world: World, bob: User, alice: User) -> None:
    path = f"skillAvailability/{SKILL}/{DATE}/{new_id('s')}"
    slot = {"start": 12 * HOUR, "end": 13 * HOUR, "available": True, "updatedAt": SV}
    allowed(world.put(bob, path, slot))
    allowed(world.patch(bob, path, {"start": 12 * HOUR + 1800_000, "updatedAt": SV}))
    answer = allowed(world.get(alice, f"skillAvailability/{SKILL}/{DATE}", orderBy='"start"'))
    assert answer[path.rsplit("/", 1)[1]]["start"] == 12 * HOUR + 1800_000
    allowed(world.delete(bob, path))
    assert world.value(path) is None


def test_availability_bad_date_or_times_denied(world: World, bob: User) -> None:
    slot = {"start": 12 * HOUR, "end": 13 * HOUR, "available": True}
    denied(world.put(bob, f"skillAvailability/{SKILL}/tomorrow/{new_id('s')}", slot))
    slot = {"start": 12 * HOUR, "end": 12 * HOUR, "available": True}
    denied(world.put(bob, f"skillAvailability/{SKILL}/{DATE}/{new_id('s')}", slot))


def test_availability_other_user_edits_denied(world: World, alice: User, dave: User) -> None:
    slot = new_slot(world)
    fresh = {"start": 12 * HOUR, "end": 13 * HOUR, "available": True}
    for user in (alice, dave):
        denied(world.put(user, f"skillAvailability/{SKILL}/{DATE}/{new_id('s')}", fresh))
        denied(world.patch(user, slot, {"start": 9 * HOUR}))
        denied(world.delete(user, slot))


def test_availability_student_books_slot(world: World, alice: User, bob: User) -> None:
    slot, bid = new_slot(world), new_id("b")
    allowed(world.patch(alice, "", book_patch(alice, bob, slot, bid)))
    stored = world.value(slot)
    assert (stored["available"], stored["bookedBy"], stored["bookingId"]) == (False, alice.uid, bid)
    assert world.value(f"bookings/{bid}/status") == "requested"


def test_availability_take_without_booking_denied(world: World, alice: User, bob: User) -> None:
    slot, bid = new_slot(world), new_id("b")
    patch = book_patch(alice, bob, slot, bid)
    del patch[f"bookings/{bid}"]
    denied(world.patch(alice, "", patch))
    assert world.value(slot)["available"] is True


def test_availability_booking_without_take_denied(world: World, alice: User, bob: User) -> None:
    slot, bid = new_slot(world), new_id("b")
    denied(world.put(alice, f"bookings/{bid}", booking(alice, bob, slot)))


def test_availability_take_for_someone_else_denied(
    world: World, alice: User, bob: User, carol: User
) -> None:
    slot, bid = new_slot(world), new_id("b")
    patch = book_patch(carol, bob, slot, bid)
    denied(world.patch(alice, "", patch))


def test_availability_one_booking_takes_one_slot(world: World, alice: User, bob: User) -> None:
    """A booking names its slot: it cannot hold a second slot taken in the same write."""
    first, second, bid = new_slot(world), new_slot(world), new_id("b")
    patch = book_patch(alice, bob, first, bid)
    patch |= {
        f"{second}/available": False,
        f"{second}/bookedBy": alice.uid,
        f"{second}/bookingId": bid,
    }
    denied(world.patch(alice, "", patch))
    assert world.value(second)["available"] is True


def test_availability_double_take_denied(world: World, alice: User, bob: User, carol: User) -> None:
    slot, first, second = new_slot(world), new_id("b"), new_id("b")
    allowed(world.patch(alice, "", book_patch(alice, bob, slot, first)))
    denied(world.patch(carol, "", book_patch(carol, bob, slot, second)))
    assert world.value(slot)["bookedBy"] == alice.uid
    assert world.value(f"bookings/{second}") is None


def test_availability_race_exactly_one_wins(
    world: World, alice: User, bob: User, carol: User
) -> None:
    slot = new_slot(world)
    students = {alice.uid: alice, carol.uid: carol}
    bids = {uid: new_id("b") for uid in students}
    barrier = threading.Barrier(len(students))

    def attempt(student: User) -> int:
        body = json.dumps(book_patch(student, bob, slot, bids[student.uid]))
        url = f"{world.server.url}/.json"
        params = {"ns": world.server.namespace, "auth": student.token}
        barrier.wait(10)
        response = requests.patch(url, params=params, data=body, timeout=30)
        return response.status_code

    with ThreadPoolExecutor(len(students)) as pool:
        codes = dict(zip(students, pool.map(attempt, students.values()), strict=True))
    assert sorted(codes.values()) == [200, 401], codes
    winner = next(uid for uid, code in codes.items() if code == 200)
    stored = world.value(slot)
    assert (stored["bookedBy"], stored["bookingId"]) == (winner, bids[winner])
    loser = next(uid for uid in students if uid != winner)
    assert world.value(f"bookings/{bids[loser]}") is None


def test_availability_student_releases_by_cancelling(world: World, alice: User, bob: User) -> None:
    slot, bid = new_slot(world), new_id("b")
    allowed(world.patch(alice, "", book_patch(alice, bob, slot, bid)))
    allowed(world.patch(alice, "", release_patch(slot, bid)))
    stored = world.value(slot)
    assert stored["available"] is True and "bookedBy" not in stored
    assert world.value(f"bookings/{bid}/status") == "cancelled"


def test_availability_student_release_without_cancel_denied(
    world: World, alice: User, bob: User
) -> None:
    slot, bid = new_slot(world), new_id("b")
    allowed(world.patch(alice, "", book_patch(alice, bob, slot, bid)))
    patch = release_patch(slot, bid)
    del patch[f"bookings/{bid}/status"]
    denied(world.patch(alice, "", patch))


def test_availability_student_releases_someone_elses_slot_denied(
    world: World, alice: User, bob: User, carol: User
) -> None:
    slot, bid = new_slot(world), new_id("b")
    allowed(world.patch(alice, "", book_patch(alice, bob, slot, bid)))
    denied(world.patch(carol, "", release_patch(slot, bid)))
    release = release_patch(slot, bid)
    del release[f"bookings/{bid}/status"], release[f"bookings/{bid}/updatedAt"]
    denied(world.patch(carol, "", release))
    assert world.value(slot)["bookedBy"] == alice.uid


def test_availability_provider_releases_on_decline(world: World, alice: User, bob: User) -> None:
    slot, bid = new_slot(world), new_id("b")
    allowed(world.patch(alice, "", book_patch(alice, bob, slot, bid)))
    patch = release_patch(slot, bid) | {f"bookings/{bid}/status": "declined"}
    allowed(world.patch(bob, "", patch))


# ---------------------------------------------------------------- bookings


def test_booking_parties_read(world: World, alice: User, bob: User) -> None:
    bid = seed_booking(world, alice, bob)
    for user in (alice, bob):
        assert allowed(world.get(user, f"bookings/{bid}"))["studentId"] == alice.uid


def test_booking_third_party_read_denied(
    world: World, alice: User, bob: User, carol: User, dave: User
) -> None:
    bid = seed_booking(world, alice, bob)
    for user in (carol, dave):
        denied(world.get(user, f"bookings/{bid}"))
    denied(world.get(alice, "bookings"))


@pytest.mark.parametrize("order_by", ["providerId", "studentId"])
def test_booking_list_own(world: World, alice: User, bob: User, order_by: str) -> None:
    bid = seed_booking(world, alice, bob)
    user = bob if order_by == "providerId" else alice
    answer = allowed(
        world.get(user, "bookings", orderBy=json.dumps(order_by), equalTo=json.dumps(user.uid))
    )
    assert bid in answer
    assert all(b[order_by] == user.uid for b in answer.values())


@pytest.mark.parametrize("order_by", ["providerId", "studentId"])
def test_booking_list_someone_elses_denied(
    world: World, alice: User, bob: User, dave: User, order_by: str
) -> None:
    target = bob if order_by == "providerId" else alice
    denied(
        world.get(dave, "bookings", orderBy=json.dumps(order_by), equalTo=json.dumps(target.uid))
    )
    denied(world.get(dave, "bookings", orderBy=json.dumps(order_by)))


def test_booking_provider_confirms(world: World, alice: User, bob: User) -> None:
    bid = seed_booking(world, alice, bob)
    allowed(world.patch(bob, f"bookings/{bid}", {"status": "confirmed", "updatedAt": SV}))
    assert world.value(f"bookings/{bid}/status") == "confirmed"


def test_booking_student_confirms_denied(world: World, alice: User, bob: User) -> None:
    bid = seed_booking(world, alice, bob)
    denied(world.patch(alice, f"bookings/{bid}", {"status": "confirmed", "updatedAt": SV}))
    denied(world.patch(alice, f"bookings/{bid}", {"status": "declined", "updatedAt": SV}))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("declined", "confirmed"),
        ("declined", "requested"),
        ("cancelled", "confirmed"),
        ("cancelled", "requested"),
        ("confirmed", "requested"),
        ("confirmed", "declined"),
        ("requested", "done"),
    ],
)
def test_booking_status_jump_denied(
    world: World, alice: User, bob: User, start: str, end: str
) -> None:
    bid = seed_booking(world, alice, bob, status=start)
    denied(world.put(bob, f"bookings/{bid}/status", end))


@pytest.mark.parametrize("who", ["student", "provider"])
def test_booking_either_side_cancels_confirmed(
    world: World, alice: User, bob: User, who: str
) -> None:
    bid = seed_booking(world, alice, bob, status="confirmed")
    user = alice if who == "student" else bob
    allowed(world.patch(user, f"bookings/{bid}", {"status": "cancelled", "updatedAt": SV}))


@pytest.mark.parametrize("field_", ["studentId", "providerId", "slotId", "createdAt"])
def test_booking_fixed_fields_denied(
    world: World, alice: User, bob: User, carol: User, field_: str
) -> None:
    bid = seed_booking(world, alice, bob)
    value: Any = 1 if field_ == "createdAt" else carol.uid
    denied(world.put(bob, f"bookings/{bid}/{field_}", value))


def test_booking_third_party_write_denied(
    world: World, alice: User, bob: User, carol: User
) -> None:
    bid = seed_booking(world, alice, bob)
    denied(world.patch(carol, f"bookings/{bid}", {"status": "cancelled", "updatedAt": SV}))
    denied(world.delete(alice, f"bookings/{bid}"))


# ---------------------------------------------------------------- tokens


def _token_error(world: World, token: str, expected: dict[str, str]) -> None:
    response = world.get(token, f"users/{world.users['alice'].uid}")
    assert response.status_code == 401, response.text
    assert response.json() == expected


def test_token_valid_is_accepted(world: World, alice: User) -> None:
    allowed(world.get(alice.token, f"users/{alice.uid}"))


def test_token_expired_crafted(world: World, alice: User) -> None:
    header, claims = decode(alice.token)
    now = int(time.time())
    stale = claims | {"iat": now - 7200, "auth_time": now - 7200, "exp": now - 3600}
    token = sign_with_key(world.server.data_dir / "signing-key.pem", header, stale)
    _token_error(world, token, EXPIRED)


def test_token_expired_by_ttl(world: World, tmp_path: Path) -> None:
    short = ServerProcess(tmp_path / "ttl", extra_args=[*FAST, "--token-ttl", "1"], rules=None)
    short.start()
    try:
        session = sign_up(short, "ttl@example.com")
        uid, token = session["localId"], session["idToken"]
        url = f"{short.url}/users/{uid}.json"
        params = {"ns": short.namespace, "auth": token}
        time.sleep(2)
        response = requests.get(url, params=params, timeout=10)
        assert response.status_code == 401, response.text
        assert response.json() == EXPIRED
    finally:
        short.kill()
    _token_error(world, token, UNPARSEABLE)  # another server's key, on top of expired


def test_token_tampered_signature(world: World, alice: User) -> None:
    head, payload, signature = alice.token.split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    tampered = f"{head}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"
    _token_error(world, tampered, UNPARSEABLE)


def test_token_tampered_claims(world: World, alice: User, bob: User) -> None:
    head, _, signature = alice.token.split(".")
    _, claims = decode(alice.token)
    forged = claims | {"sub": bob.uid, "user_id": bob.uid}
    body = b64url(json.dumps(forged).encode())
    _token_error(world, f"{head}.{body}.{signature}", UNPARSEABLE)


def test_token_for_another_project(world: World, tmp_path: Path) -> None:
    other = ServerProcess(
        tmp_path / "other", extra_args=[*FAST, "--project-id", "other"], rules=None
    )
    other.start()
    try:
        token = sign_up(other, "other@example.com")["idToken"]
    finally:
        other.kill()
    assert decode(token)[1]["aud"] == "other"
    _token_error(world, token, UNPARSEABLE)


def test_token_for_another_project_signed_with_our_key(world: World, alice: User) -> None:
    header, claims = decode(alice.token)
    moved = claims | {"aud": "other", "iss": "https://securetoken.google.com/other"}
    token = sign_with_key(world.server.data_dir / "signing-key.pem", header, moved)
    _token_error(world, token, UNPARSEABLE)


# ---------------------------------------------------------------- conditional writes


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_conditional_write_does_not_leak_unreadable_data(
    world: World, alice: User, bob: User, carol: User, method: str
) -> None:
    bid = seed_booking(world, alice, bob)
    response = world.http.request(
        method,
        f"{world.server.url}/bookings/{bid}.json",
        params={"ns": world.server.namespace, "auth": carol.token},
        data=None if method == "DELETE" else "1",
        headers={"if-match": "stale"},
        timeout=30,
    )
    assert alice.uid not in response.text
    denied(response)


def test_the_marks_of_sent_reminders_are_the_servers_alone(world: World, alice: User) -> None:
    """``sentReminders`` keeps a deleted reminder from coming back: no client reads or
    forges it (which would let a participant suppress someone's reminder)."""
    world.admin("PUT", f"sentReminders/{alice.uid}/sessionReminder_b0", 1)
    denied(world.get(alice, f"sentReminders/{alice.uid}"))
    denied(world.put(alice, f"sentReminders/{alice.uid}/sessionReminder_b1", 1))
    denied(world.delete(alice, f"sentReminders/{alice.uid}/sessionReminder_b0"))
    assert world.value(f"sentReminders/{alice.uid}/sessionReminder_b0") == 1


def test_no_one_takes_a_session_reminders_id(world: World, alice: User, bob: User) -> None:
    """The server writes a booking's reminder under ``sessionReminder_<bookingId>`` only if no
    notification has that id: a participant must not be able to take it first."""
    c = cid(alice, bob)
    mid = new_id("m")
    taken = send_patch(alice, bob, mid, "sessionReminder_" + new_id("b"), text="mine now")
    denied(world.patch(alice, "", taken))
    assert world.value(f"conversations/{c}/messages/{mid}") is None  # refused as a whole
