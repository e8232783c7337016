"""ChatClient: the one Qt-free API the UI and the tests use: account, lists, messages, events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from desktop_chat.client.auth import AuthClient
from desktop_chat.client.cache import LocalCache
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.errors import (
    ClientError,
    InvalidRequestError,
    NetworkError,
    NotSignedInError,
    PermissionDeniedError,
)
from desktop_chat.client.events import (
    DEFAULT_QUEUE_SIZE,
    DeliveryStateChanged,
    EventBus,
    EventStream,
)
from desktop_chat.client.outbox import DEFAULT_MAX_ATTEMPTS, Outbox, OutboxError
from desktop_chat.client.rtdb import Database, QuerySpec
from desktop_chat.client.sender import Sender
from desktop_chat.client.sync import (
    PAGE,
    Merger,
    fetch_messages,
    follow_conversations,
    follow_messages,
    follow_notifications,
    parse_messages,
)
from desktop_chat.client.token_store import RefreshTokenStore
from desktop_chat.client.transport import Backoff, TaskTracker
from desktop_chat.core import writes
from desktop_chat.core.errors import CoreError
from desktop_chat.core.model import (
    ConversationEntry,
    DeliveryState,
    Message,
    MessageType,
    Notification,
    Role,
    UserProfile,
    conversation_id,
    other_participant,
    profile_from,
)

__all__ = ["ACCOUNT_FILE", "ChatClient", "NotSignedInError"]

log = logging.getLogger("desktop_chat.client")

ACCOUNT_FILE = "account.json"
"""In the data dir: the last signed-in account, so a start without network shows its cache."""


class ChatClient:
    """A signed-in user's chat: conversations, messages, the outbox and a stream of events.

    Per account, ``data_dir/<uid>/`` holds the cache and the outbox. ``create`` reopens the
    last account's stores at once (no network needed), so a start while offline shows its
    cached conversations and messages and queues sends; ``start`` restores the session in the
    background (retrying until the server answers) and then runs the streams and the sender.
    Every task is tracked and cancelled by ``stop``.
    """

    def __init__(
        self,
        config: BackendConfig,
        data_dir: Path,
        auth: AuthClient,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        sender_backoff: tuple[float, float] = (0.25, 5.0),
    ) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        self.auth = auth
        self.db = Database(config, auth, http=auth.http)
        self.max_attempts = max_attempts
        self.bus = EventBus(queue_size)
        self.tasks = TaskTracker("chat")
        self.uid: str | None = None
        self.me: UserProfile | None = None
        self.cache: LocalCache | None = None
        self.outbox: Outbox | None = None
        self.merger: Merger | None = None
        self.sender: Sender | None = None
        self.connected = False
        self.selected: str | None = None
        self._sender_backoff = sender_backoff
        self._running = False
        self._message_task: asyncio.Task[None] | None = None

    # account -----------------------------------------------------------------------------
    @classmethod
    async def create(
        cls,
        config: BackendConfig,
        data_dir: Path,
        *,
        token_store: RefreshTokenStore | None = None,
        **options: Any,
    ) -> ChatClient:
        """A client over *data_dir*, with the last account's stores open (if any)."""
        auth = await AuthClient.create(config, token_store=token_store)
        client = cls(config, data_dir, auth, **options)
        account = client.data_dir / ACCOUNT_FILE
        if account.exists():
            with contextlib.suppress(OSError, orjson.JSONDecodeError, KeyError, TypeError):
                uid = orjson.loads(account.read_bytes())["uid"]
                if isinstance(uid, str) and uid:
                    await client._open_account(uid)
        return client

    async def _open_account(self, uid: str) -> None:
        if self.uid == uid:
            return
        if self.uid is not None:
            await self._close_account()
        directory = self.data_dir / uid
        self.cache = await asyncio.to_thread(LocalCache, directory)
        self.outbox = await asyncio.to_thread(Outbox, directory, max_attempts=self.max_attempts)
        self.uid = uid
        self.merger = Merger(self.cache, uid, self.bus)
        base, cap = self._sender_backoff
        self.sender = Sender(self.db, self.outbox, self.bus, backoff_base=base, backoff_cap=cap)
        self.me = await asyncio.to_thread(self.cache.user, uid)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / ACCOUNT_FILE).write_bytes(orjson.dumps({"uid": uid}))

    async def _close_account(self) -> None:
        await self.stop()
        for store in (self.cache, self.outbox):
            if store is not None:
                await asyncio.to_thread(store.close)
        self.cache = self.outbox = None
        self.merger = self.sender = None
        self.uid = self.me = None

    async def sign_up(
        self, email: str, password: str, display_name: str, role: str = "student"
    ) -> UserProfile:
        """A new account, with its ``users/{uid}`` profile written."""
        user = await self.auth.sign_up(email, password, display_name=display_name)
        await self._open_account(user.uid)
        me = UserProfile(user.uid, display_name, Role(role))
        await self.db.set(f"users/{user.uid}", me.to_record())
        await self._remember(me)
        return me

    async def sign_in(self, email: str, password: str) -> UserProfile | None:
        """Sign in; returns my profile (None if ``users/{uid}`` is missing)."""
        user = await self.auth.sign_in(email, password)
        await self._open_account(user.uid)
        return await self.profile(user.uid, refresh=True)

    async def _remember(self, profile: UserProfile) -> None:
        assert self.cache is not None
        await asyncio.to_thread(self.cache.upsert_users, [profile])
        if profile.uid == self.uid:
            self.me = profile

    async def sign_out(self) -> None:
        """Stop, delete the account's cache and its keychain entry. Unsent messages stay in
        the account's outbox for its next sign-in (an empty outbox is removed)."""
        uid = self.uid
        await self._close_account()
        await self.auth.sign_out(forget=True)
        if uid is not None:
            directory = self.data_dir / uid
            await asyncio.to_thread(LocalCache.remove, directory)
            try:
                await asyncio.to_thread(Outbox.remove, directory)
            except OutboxError as exc:
                log.warning("kept the outbox of %s: %s", uid, exc)
        (self.data_dir / ACCOUNT_FILE).unlink(missing_ok=True)

    def _account(self) -> tuple[str, LocalCache, Outbox, Merger]:
        if self.uid is None or self.cache is None or self.outbox is None or self.merger is None:
            raise NotSignedInError("no account: sign up or sign in first")
        return self.uid, self.cache, self.outbox, self.merger

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Run the session: restore it if needed, then the streams and the outbox drain."""
        uid, *_ = self._account()
        if self._running:
            return
        self._running = True
        self.tasks.spawn(self._run(uid), "session")

    async def _run(self, uid: str) -> None:
        backoff = Backoff(base=0.25, cap=5.0)
        while not self.auth.signed_in:
            try:
                if await self.auth.restore(uid) is None:
                    log.warning("no stored session for %s: sign in again", uid)
                    return
            except NetworkError as exc:
                log.info("cannot restore the session yet: %s", exc)
                await asyncio.sleep(backoff.next_delay())
        _, _, _, merger = self._account()
        assert self.sender is not None
        if self.me is None:
            with contextlib.suppress(ClientError):
                await self.profile(uid, refresh=True)
        self.tasks.spawn(follow_conversations(self.db, merger, self._on_state), "conversations")
        self.tasks.spawn(follow_notifications(self.db, merger), "notifications")
        self.tasks.spawn(self.sender.run(), "sender")
        if self.selected is not None:
            self._follow(self.selected)

    def _on_state(self, connected: bool) -> None:
        self.connected = connected
        if connected and self.sender is not None:
            self.sender.wake(force=True)

    async def stop(self) -> None:
        """Cancel every task and stream (the account stays open)."""
        self._running = False
        self._message_task = None
        await self.tasks.cancel_all()

    async def close(self) -> None:
        """Stop and release everything: stores, HTTP session, event streams."""
        await self.tasks.close()
        if self.uid is not None:
            await self._close_account()
        await self.db.close()
        await self.auth.close()
        self.bus.close()

    def events(self) -> EventStream:
        """An async iterator of every event published from now on (bounded: a lagging
        consumer loses the oldest and gets a Resync)."""
        return self.bus.stream()

    # profiles and lists ------------------------------------------------------------------
    async def profile(self, uid: str, *, refresh: bool = False) -> UserProfile | None:
        """``users/{uid}`` from the cache, fetched (and cached) when missing or *refresh*."""
        _, cache, _, _ = self._account()
        if not refresh:
            cached = await asyncio.to_thread(cache.user, uid)
            if cached is not None:
                return cached
        profile = profile_from(uid, await self.db.get(f"users/{uid}"))
        if profile is not None:
            await self._remember(profile)
        return profile

    async def conversations(self) -> list[ConversationEntry]:
        """The conversation list from the cache, most recent activity first."""
        _, cache, _, _ = self._account()
        return await asyncio.to_thread(cache.conversations)

    async def notifications(self, limit: int | None = None) -> list[Notification]:
        _, cache, _, _ = self._account()
        return await asyncio.to_thread(cache.notifications, limit)

    async def messages(self, cid: str, limit: int = 1 << 62) -> list[Message]:
        """The cached messages of *cid* (the newest *limit*), oldest first."""
        _, cache, _, _ = self._account()
        return await asyncio.to_thread(cache.messages, cid, limit)

    async def delivery_state(self, cid: str, message_id: str) -> DeliveryState | None:
        """Where one of my messages is (None: not mine, or unknown)."""
        uid, cache, outbox, _ = self._account()
        item = await asyncio.to_thread(outbox.get, message_id)
        if item is not None and item["state"] != "sent":
            return DeliveryState(item["state"])
        message = await asyncio.to_thread(cache.message, cid, message_id)
        if message is None or message.sender_id != uid:
            return DeliveryState.SENT if item is not None else None
        return DeliveryState.READ if message.read else DeliveryState.SENT

    # conversations -----------------------------------------------------------------------
    async def _other(self, cid: str) -> tuple[UserProfile, UserProfile]:
        uid, *_ = self._account()
        try:
            other_uid = other_participant(cid, uid)
        except CoreError as exc:
            raise InvalidRequestError(f"not a conversation of yours: {exc}") from exc
        me = self.me or await self.profile(uid)
        other = await self.profile(other_uid)
        if me is None or other is None:
            raise InvalidRequestError(f"no profile for {uid if me is None else other_uid}")
        return me, other

    async def open_conversation(self, other_uid: str, skill_id: str | None = None) -> str:
        """The conversation with *other_uid*, created unless it exists; returns its id."""
        uid, *_ = self._account()
        cid = conversation_id(uid, other_uid)
        me, other = await self._other(cid)
        try:
            await self.db.update("/", writes.open_conversation(me, other, skill_id))
        except PermissionDeniedError:  # it exists: (re)create only my entry
            await self.db.update("/", writes.open_conversation(me, other, known=True))
        return cid

    def select_conversation(self, cid: str | None) -> None:
        """Make *cid* the open conversation: the only one whose messages stream."""
        if self._message_task is not None:
            self._message_task.cancel()
            self._message_task = None
        self.selected = cid
        if cid is not None and self._running and self.auth.signed_in:
            self._follow(cid)

    def _follow(self, cid: str) -> None:
        _, _, _, merger = self._account()
        self._message_task = self.tasks.spawn(
            follow_messages(self.db, merger, cid), f"messages {cid}"
        )

    async def load_older(self, cid: str, count: int = PAGE) -> list[Message]:
        """The *count* messages before the oldest cached one, fetched from the server when
        online (offline: from the cache only)."""
        _, cache, _, merger = self._account()
        cached = await asyncio.to_thread(cache.messages, cid, 1 << 62)
        before = cached[0].order if cached else None
        if before is None:
            spec = QuerySpec("timestamp", limit_to_last=count)
        else:
            spec = QuerySpec("timestamp", end_at=before[0], limit_to_last=count + 1)
        with contextlib.suppress(NetworkError):
            await merger.merge_messages(cid, await fetch_messages(self.db, cid, spec))
        return await asyncio.to_thread(cache.messages, cid, count, before)

    # messages ----------------------------------------------------------------------------
    async def send_message(self, cid: str, text: str) -> str:
        """Queue *text* (durably, before anything is sent) and return its message id."""
        uid, _, outbox, merger = self._account()
        me, other = await self._other(cid)
        mid = outbox.new_id()
        try:
            body = writes.send_message(me, other, cid, mid, text)
        except CoreError as exc:
            raise InvalidRequestError(str(exc)) from exc
        await asyncio.to_thread(outbox.enqueue, {"id": mid, "cid": cid, "body": body})
        pending = Message(
            mid, cid, uid, other.uid, text, time.time_ns() // 1_000_000, False, MessageType.TEXT
        )
        await merger.merge_messages(cid, [pending], from_server=False)
        self.bus.publish(DeliveryStateChanged(cid, mid, DeliveryState.PENDING))
        if self.sender is not None:
            self.sender.wake()
        return mid

    async def retry(self, message_id: str) -> None:
        """A manual retry of a failed message."""
        _, _, outbox, _ = self._account()
        await asyncio.to_thread(outbox.retry, message_id)
        if self.sender is not None:
            self.sender.wake(force=True)

    async def mark_read(self, cid: str) -> int:
        """Mark all my unread received messages of *cid* read (read from the server, not just
        the loaded page), reset my unread count; returns how many messages."""
        uid, _, _, merger = self._account()
        other_participant(cid, uid)
        raw = await self.db.get(f"conversations/{cid}/messages")
        found = parse_messages(cid, list(raw.items()) if isinstance(raw, dict) else [])
        unread = [m.id for m in found if m.receiver_id == uid and not m.read]
        cached = await self.notifications()
        notes = [n.id for n in cached if not n.read and n.link and n.link.conversation_id == cid]
        try:
            await self.db.update("/", writes.mark_read(uid, cid, unread, notes))
        except PermissionDeniedError:  # a notification went away meanwhile
            await self.db.update("/", writes.mark_read(uid, cid, unread))
        await merger.merge_messages(cid, found)
        await merger.mark_read_locally(cid)
        return len(unread)

    async def edit_message(self, cid: str, message_id: str, text: str) -> None:
        """Edit one of my messages (the rules allow it within 15 minutes)."""
        await self._change(cid, message_id, lambda: writes.edit_message(cid, message_id, text))

    async def delete_message(self, cid: str, message_id: str) -> None:
        """Delete one of my messages: it becomes a tombstone."""
        await self._change(cid, message_id, lambda: writes.delete_message(cid, message_id))

    async def _change(self, cid: str, message_id: str, build: Callable[[], writes.Update]) -> None:
        try:
            update = build()
        except CoreError as exc:
            raise InvalidRequestError(str(exc)) from exc
        await self.db.update("/", update)
        await self._reload(cid, message_id)

    async def _reload(self, cid: str, message_id: str) -> None:
        _, _, _, merger = self._account()
        raw = await self.db.get(f"conversations/{cid}/messages/{message_id}")
        await merger.merge_messages(cid, parse_messages(cid, [(message_id, raw)]))
