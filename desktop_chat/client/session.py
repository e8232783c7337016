"""The ChatClient's account and session: the per-account stores, sign-in, start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import orjson

from desktop_chat.client.auth import AuthClient
from desktop_chat.client.blocks import BlockList
from desktop_chat.client.bookings import BookingDesk
from desktop_chat.client.cache import LocalCache
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.errors import ClientError, NetworkError, NotSignedInError
from desktop_chat.client.events import DEFAULT_QUEUE_SIZE, EventBus, EventStream, Resync
from desktop_chat.client.following import (
    follow_blocks,
    follow_conversations,
    follow_messages,
    follow_notifications,
)
from desktop_chat.client.outbox import DEFAULT_MAX_ATTEMPTS, Outbox, OutboxError
from desktop_chat.client.rtdb import Database
from desktop_chat.client.sender import Sender
from desktop_chat.client.sync import Merger
from desktop_chat.client.token_store import RefreshTokenStore
from desktop_chat.client.transport import Backoff, TaskTracker, WakeSettings, WakeWatchdog
from desktop_chat.core.model import Role, UserProfile, profile_from

__all__ = ["ACCOUNT_FILE", "ClientSession"]

if TYPE_CHECKING:  # Socket.IO (and redis, requests) load only when the session starts it
    from desktop_chat.client.realtime import RealtimeClient

log = logging.getLogger("desktop_chat.client")

ACCOUNT_FILE = "account.json"
"""In the data dir: the last signed-in account, so a start without network shows its cache."""


class ClientSession:
    """The account side of a :class:`~desktop_chat.client.chat_client.ChatClient`.

    Per account, ``data_dir/<uid>/`` holds the cache and the outbox. ``create`` reopens the
    last account's stores at once (no network needed), so a start while offline shows its
    cached conversations and messages and queues sends; ``start`` restores the session in the
    background (retrying until the server answers) and then runs the streams, the sender and
    the wake-up watchdog. Every task is tracked and cancelled by ``stop``.
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
        wake: WakeSettings | None = None,
        realtime_backoff: tuple[float, float] = (0.5, 15.0),
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
        self._profiles: dict[str, UserProfile] = {}
        """The profiles read this session (they change seldom; a refresh replaces one)."""
        self.blocks: BlockList | None = None
        self.desk: BookingDesk | None = None
        """Bookings and live availability (client/bookings.py) while an account is open."""
        self.connected = False
        self.selected: str | None = None
        self.wake_settings = wake or WakeSettings()
        self.watchdog: WakeWatchdog | None = None
        self._sender_backoff = sender_backoff
        self.realtime: RealtimeClient | None = None
        """The Socket.IO connection (typing, presence, pushes) while the session runs."""
        self._realtime_backoff = realtime_backoff
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
    ) -> Self:
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
        self._profiles = {}
        self.blocks = BlockList(self.cache, uid, self.bus)
        await self.blocks.load()
        self.bus.hide = self.blocks.hides
        base, cap = self._sender_backoff
        self.sender = Sender(self.db, self.outbox, self.bus, backoff_base=base, backoff_cap=cap)
        self.me = await asyncio.to_thread(self.cache.user, uid)
        self.desk = BookingDesk(self.db, uid, self.bus, self._my_name, self.server_now_ms)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / ACCOUNT_FILE).write_bytes(orjson.dumps({"uid": uid}))

    async def _close_account(self) -> None:
        await self.stop()
        if self.merger is not None:
            await self.merger.writer.flush()  # (what the streams brought reaches the cache)
        for store in (self.cache, self.outbox):
            if store is not None:
                await asyncio.to_thread(store.close)
        self.bus.hide = None
        self.cache = self.outbox = None
        self.merger = self.sender = self.blocks = self.desk = None
        self.uid = self.me = self.selected = None  # (the next account follows none of this one's)

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
        self._profiles[profile.uid] = profile
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

    def _block_list(self) -> BlockList:
        self._account()
        assert self.blocks is not None
        return self.blocks

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Run the session: restore it if needed, then the streams and the outbox drain."""
        uid, *_ = self._account()
        if self._running:
            return
        self._running = True
        self.watchdog = WakeWatchdog(self._on_wake, self.wake_settings)
        self.tasks.spawn(self.watchdog.run(), "wake-up watchdog")
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
        blocks = self._block_list()
        assert self.sender is not None
        if self.me is None:
            with contextlib.suppress(ClientError):
                await self.profile(uid, refresh=True)
        self.tasks.spawn(follow_blocks(self.db, blocks), "blocks")
        self.tasks.spawn(follow_conversations(self.db, merger, self._on_state), "conversations")
        self.tasks.spawn(follow_notifications(self.db, merger), "notifications")
        self.tasks.spawn(self.sender.run(), "sender")
        if self.desk is not None:
            self.desk.start()
        if self.selected is not None:
            self._follow(self.selected)
        self._start_realtime(uid, merger)

    def _start_realtime(self, uid: str, merger: Merger) -> None:
        url = self.config.realtime_url
        if url is None:
            log.info("no Socket.IO server configured: no typing, presence or pushes")
            return
        from desktop_chat.client.realtime import RealtimeClient  # (loaded late: start-up time)

        realtime = RealtimeClient(
            url,
            uid,
            self.auth,
            self.bus,
            merger.merge_notifications,
            http=self.auth.http.session,
            backoff=self._realtime_backoff,
        )
        realtime.enter(self.selected)
        realtime.start()
        self.realtime = realtime

    def _on_state(self, connected: bool) -> None:
        self.connected = connected
        if connected and self.sender is not None:
            self.sender.wake(force=True)

    def _on_wake(self, reason: str) -> None:
        """After a sleep or a clock jump: reconnect every stream at once and resync."""
        for subscription in self.db.subscriptions:
            subscription.reconnect_now()
        if self.realtime is not None:
            self.realtime.reconnect_now()
        if self.sender is not None:
            self.sender.wake(force=True)
        self.bus.publish(Resync(0, reason))

    def _follow(self, cid: str) -> None:
        _, _, _, merger = self._account()
        self._message_task = self.tasks.spawn(
            follow_messages(self.db, merger, cid), f"messages {cid}"
        )

    async def stop(self) -> None:
        """Cancel every task and stream, and disconnect Socket.IO (the account stays open)."""
        self._running = False
        self._message_task = None
        self.watchdog = None
        await self.tasks.cancel_all()
        if self.desk is not None:
            await self.desk.stop()
        realtime, self.realtime = self.realtime, None
        if realtime is not None:
            await realtime.close()

    async def close(self) -> None:
        """Stop and release everything: stores, HTTP session, event streams."""
        await self.tasks.close()
        await self.stop()
        if self.uid is not None:
            await self._close_account()
        await self.db.close()
        await self.auth.close()
        self.bus.close()

    def server_now_ms(self) -> int:
        """Now on the server's clock (epoch ms)."""
        return time.time_ns() // 1_000_000 + round(self.auth.http.clock.offset * 1000)

    def _my_name(self) -> str:
        return self.me.display_name if self.me is not None else "A student"

    def events(self) -> EventStream:
        """An async iterator of every event published from now on (bounded: a lagging
        consumer loses the oldest and gets a Resync)."""
        return self.bus.stream()

    async def profile(self, uid: str, *, refresh: bool = False) -> UserProfile | None:
        """``users/{uid}`` from the cache, fetched (and cached) when missing or *refresh*."""
        _, cache, _, _ = self._account()
        if not refresh:
            cached = self._profiles.get(uid) or await asyncio.to_thread(cache.user, uid)
            if cached is not None:
                self._profiles[uid] = cached
                return cached
        profile = profile_from(uid, await self.db.get(f"users/{uid}"))
        if profile is not None:
            await self._remember(profile)
        return profile
