"""Demo data for ``desktop-chat --demo``: accounts, skills, free slots and conversations."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from desktop_chat.client.config import BackendConfig
from desktop_chat.client.errors import ClientError
from desktop_chat.core.model import Role, conversation_id
from desktop_chat.core.paths import PushIdGenerator

if TYPE_CHECKING:
    from desktop_chat.client.chat_client import ChatClient

__all__ = [
    "ACCOUNTS",
    "PROVIDER",
    "SKILLS",
    "STUDENT",
    "DemoAccount",
    "DemoError",
    "demo_clients",
    "seed_demo",
]

log = logging.getLogger("desktop_chat.client")

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
DAYS_AHEAD = 7
SLOT_HOURS = (9, 11, 14, 16)


class DemoError(ClientError):
    """The demo data could not be written."""


@dataclass(frozen=True, slots=True)
class DemoAccount:
    key: str
    email: str
    password: str
    display_name: str
    role: Role


STUDENT = DemoAccount("maya", "maya@demo.desktop-chat.test", "demo-maya", "Maya Chen", Role.STUDENT)
PROVIDER = DemoAccount(
    "leo", "leo@demo.desktop-chat.test", "demo-leo", "Leo Martins", Role.PROVIDER
)
ACCOUNTS = (
    STUDENT,
    PROVIDER,
    DemoAccount("sam", "sam@demo.desktop-chat.test", "demo-sam", "Sam Okafor", Role.PROVIDER),
    DemoAccount("ana", "ana@demo.desktop-chat.test", "demo-ana", "Ana Ruiz", Role.STUDENT),
)
"""Maya (student) and Leo (provider) are the two demo windows; Sam and Ana are contacts."""

SKILLS: dict[str, dict[str, Any]] = {
    "demo-guitar": {
        "provider": "leo",
        "title": "Guitar for beginners",
        "price": 25,
        "durationMinutes": 60,
        "description": "Chords, strumming and your first three songs.",
    },
    "demo-songwriting": {
        "provider": "leo",
        "title": "Songwriting workshop",
        "price": 40,
        "durationMinutes": 90,
    },
    "demo-python": {
        "provider": "sam",
        "title": "Python, from zero to scripts",
        "price": 30,
        "durationMinutes": 60,
        "description": "Variables to files and the web, at your pace.",
    },
}

# (skill, the pair, [(minutes ago, sender, text)], how many of the last messages are unread)
CONVERSATIONS: tuple[tuple[str, tuple[str, str], Sequence[tuple[int, str, str]], int], ...] = (
    (
        "demo-guitar",
        ("maya", "leo"),
        [
            (
                2 * 24 * 60 + 30,
                "maya",
                "Hi Leo! I just got my first guitar. Do you teach total beginners?",
            ),
            (2 * 24 * 60 + 20, "leo", "Hi Maya, absolutely, most of my students start from zero."),
            (2 * 24 * 60 + 18, "leo", "Is it an acoustic or an electric one?"),
            (2 * 24 * 60 + 5, "maya", "Acoustic, a secondhand Yamaha."),
            (
                40,
                "leo",
                "Great choice. Bring it to the first lesson and we'll tune it together.",
            ),
            (35, "maya", "I just requested a lesson tomorrow at 11:00. Does that work?"),
            (15, "leo", "Tomorrow at 11 works for me 👍"),
            (12, "leo", "Could you practise switching between G and C until then?"),
        ],
        2,
    ),
    (
        "demo-python",
        ("maya", "sam"),
        [
            (3 * 24 * 60 + 120, "sam", "Welcome! What would you like to build with Python?"),
            (3 * 24 * 60 + 90, "maya", "Something that renames my holiday photos by date."),
            (3 * 24 * 60 + 80, "sam", "A perfect first project. We'll get there in two sessions."),
            (3 * 24 * 60 + 60, "maya", "Sounds good, thanks!"),
        ],
        0,
    ),
    (
        "demo-songwriting",
        ("ana", "leo"),
        [
            (5 * 60, "ana", "Hello! Is the songwriting workshop for groups too?"),
            (4 * 60 + 58, "ana", "We are three friends with a band."),
            (4 * 60 + 50, "ana", "Any day next week would work."),
        ],
        3,
    ),
)


def _local_day(ms: int, days: int) -> tuple[str, dt.datetime]:
    today = (
        dt.datetime.fromtimestamp(ms / 1000)
        .astimezone()
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    day = today + dt.timedelta(days=days)
    return day.strftime("%Y-%m-%d"), day


class _Admin:
    """Requests with the server's admin secret (which bypasses the rules)."""

    def __init__(self, config: BackendConfig, admin_secret: str, http: aiohttp.ClientSession):
        self.base = config.database_base
        self.params = config.database_params
        self.headers = {"Authorization": f"Bearer {admin_secret}"}
        self.http = http

    async def call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        data = orjson.dumps(body) if body is not None else None
        try:
            async with self.http.request(
                method, self.base + path, data=data, headers=self.headers, params=params
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DemoError(f"{method} {path} failed: {exc}") from exc
        answer = orjson.loads(raw) if raw else None
        if status != 200:
            raise DemoError(f"{method} {path} answered {status}: {answer}")
        return answer

    async def get(self, path: str, **params: str) -> Any:
        return await self.call("GET", f"/{path}.json", **self.params, **params)

    async def patch(self, update: dict[str, Any]) -> None:
        if update:
            await self.call("PATCH", "/.json", update, **self.params)

    async def account(self, account: DemoAccount) -> str:
        """The uid of *account*, made first if it does not exist."""
        listed = await self.call("GET", "/_admin/users")
        for user in listed.get("users", []):
            if user.get("email") == account.email:
                return str(user["localId"])
        body = {
            "email": account.email,
            "password": account.password,
            "displayName": account.display_name,
        }
        made = await self.call("POST", "/_admin/users", body)
        return str(made["user"]["localId"])


def _slots(skill: str, ms: int, existing: set[str], booked: dict[str, Any]) -> dict[str, Any]:
    """Free slots for the coming days that are not there yet."""
    update: dict[str, Any] = {}
    for days in range(1, DAYS_AHEAD + 1):
        date, day = _local_day(ms, days)
        if date in existing:
            continue
        minutes = int(SKILLS[skill]["durationMinutes"])
        for hour in SLOT_HOURS:
            start = int((day + dt.timedelta(hours=hour)).timestamp() * 1000)
            slot = {"start": start, "end": start + minutes * MINUTE, "available": True}
            slot_id = f"s{hour:02d}00"
            update[f"skillAvailability/{skill}/{date}/{slot_id}"] = {
                **slot,
                **booked.get(f"{date}/{slot_id}", {}),
                "updatedAt": ms,
            }
    return update


def _push_id(at: int) -> str:
    """A push id made at *at* (ms), so that ids sort like the back-dated messages."""
    return PushIdGenerator(clock_ms=lambda: at)()


def _conversation(
    uids: dict[str, str],
    names: dict[str, str],
    skill: str,
    pair: tuple[str, str],
    history: Sequence[tuple[int, str, str]],
    unread: int,
    now: int,
) -> dict[str, Any]:
    """One conversation with its history, both list entries and the unread notifications."""
    a, b = pair
    cid = conversation_id(uids[a], uids[b])
    first = now - history[0][0] * MINUTE
    last = now - history[-1][0] * MINUTE
    update: dict[str, Any] = {
        f"conversations/{cid}/metadata": {
            "participants": {uids[a]: True, uids[b]: True},
            "skillId": skill,
            "createdAt": first - MINUTE,
            "lastMessageAt": last,
        }
    }
    receiver_of_last = b if history[-1][1] == a else a
    for index, (ago, sender, text) in enumerate(history):
        at = now - ago * MINUTE
        mid = _push_id(at)
        receiver = b if sender == a else a
        is_unread = index >= len(history) - unread
        update[f"conversations/{cid}/messages/{mid}"] = {
            "senderId": uids[sender],
            "receiverId": uids[receiver],
            "text": text,
            "timestamp": at,
            "read": not is_unread,
            "type": "text",
        }
        if is_unread:
            update[f"notifications/{uids[receiver]}/m{mid}"] = {
                "kind": "message",
                "title": names[sender],
                "body": text,
                "senderId": uids[sender],
                "createdAt": at,
                "read": False,
                "link": {"conversationId": cid},
            }
    for owner, other in ((a, b), (b, a)):
        update[f"userConversations/{uids[owner]}/{cid}"] = {
            "otherUser": {"id": uids[other], "name": names[other]},
            "lastMessage": history[-1][2],
            "lastMessageAt": last,
            "unreadCount": unread if owner == receiver_of_last else 0,
        }
    return update


async def seed_demo(
    config: BackendConfig,
    admin_secret: str,
    clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
) -> dict[str, str]:
    """Write the demo data (once; free slots are topped up on every call) through the admin
    API of the server *config* points at. Returns the uids by account key."""
    now = clock_ms()
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        admin = _Admin(config, admin_secret, http)
        uids = {account.key: await admin.account(account) for account in ACCOUNTS}
        names = {account.key: account.display_name for account in ACCOUNTS}
        update: dict[str, Any] = {
            f"users/{uids[account.key]}": {
                "displayName": account.display_name,
                "role": account.role.value,
            }
            for account in ACCOUNTS
        }
        for skill, fields in SKILLS.items():
            record = {key: value for key, value in fields.items() if key != "provider"}
            update[f"skills/{skill}"] = {**record, "providerId": uids[fields["provider"]]}
        first_cid = conversation_id(uids[STUDENT.key], uids[PROVIDER.key])
        fresh = await admin.get(f"conversations/{first_cid}/metadata") is None
        booked: dict[str, Any] = {}
        if fresh:
            for skill, pair, history, unread in CONVERSATIONS:
                update.update(_conversation(uids, names, skill, pair, history, unread, now))
            booked = _booking(update, uids, now)
        for skill in SKILLS:
            days = await admin.get(f"skillAvailability/{skill}", shallow="true")
            existing = set(days) if isinstance(days, dict) else set()
            update.update(_slots(skill, now, existing, booked if skill == "demo-guitar" else {}))
        await admin.patch(update)
    log.info("demo data ready (%s)", "written" if fresh else "slots topped up")
    return uids


async def demo_clients(
    config: BackendConfig,
    secret: str,
    directory: Callable[[str], Path],
    clients: list[ChatClient],
) -> list[tuple[DemoAccount, ChatClient]]:
    """Seed the demo, then sign the student and the provider in, each on a ChatClient of its
    own (in *directory(account.key)*, tokens in memory) and started. Each client joins
    *clients* as soon as it exists, so that its owner closes it whatever happens next."""
    from desktop_chat.client.chat_client import ChatClient
    from desktop_chat.client.token_store import MemoryTokenStore

    await seed_demo(config, secret)
    signed_in: list[tuple[DemoAccount, ChatClient]] = []
    for account in (STUDENT, PROVIDER):
        client = await ChatClient.create(
            config, directory(account.key), token_store=MemoryTokenStore()
        )
        clients.append(client)
        await client.sign_in(account.email, account.password)
        await client.start()
        signed_in.append((account, client))
    return signed_in


def _booking(update: dict[str, Any], uids: dict[str, str], now: int) -> dict[str, Any]:
    """Maya's requested booking of tomorrow's 11:00 guitar lesson, and Leo's notification;
    returns the slot fields that mark the slot taken."""
    date, _ = _local_day(now, 1)
    booking_id = "demo-booking-1"
    student, provider = uids[STUDENT.key], uids[PROVIDER.key]
    update[f"bookings/{booking_id}"] = {
        "skillId": "demo-guitar",
        "date": date,
        "slotId": "s1100",
        "studentId": student,
        "providerId": provider,
        "status": "requested",
        "createdAt": now - 36 * MINUTE,
        "updatedAt": now - 36 * MINUTE,
    }
    update[f"notifications/{provider}/demo-booking-1"] = {
        "kind": "booking_request",
        "title": STUDENT.display_name,
        "body": f"requested Guitar for beginners on {date} at 11:00",
        "senderId": student,
        "createdAt": now - 36 * MINUTE,
        "read": False,
        "link": {"bookingId": booking_id},
    }
    taken = {"available": False, "bookedBy": student, "bookingId": booking_id}
    return {f"{date}/s1100": taken}
