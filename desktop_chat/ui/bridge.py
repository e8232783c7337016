"""ChatBridge: the one door between the Qt-free ChatClient and the widgets (events -> signals)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject, Signal

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.errors import ClientError
from desktop_chat.client.events import (
    BlocksChanged,
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
from desktop_chat.client.notifications import UnreadTally
from desktop_chat.client.transport import TaskTracker
from desktop_chat.core.errors import CoreError
from desktop_chat.core.model import DeliveryState, other_participant
from desktop_chat.ui.bridge_data import (
    OpenedConversation,
    SearchHit,
    Skill,
    human_error,
    read_skills,
    search_hits,
    unsent_count,
)
from desktop_chat.ui.formatting import set_server_offset

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ChatBridge", "OpenedConversation", "SearchHit", "Skill", "human_error"]

log = logging.getLogger("desktop_chat.ui")

T = TypeVar("T")
PHOTO_LIMIT = 4 << 20  # the largest profile photo loaded (bytes)


class ChatBridge(QObject):
    """Re-emits every ChatClient event as a Qt signal, in order, and runs the widgets'
    commands as tracked tasks on the running loop (failures arrive as ``error(str)``)."""

    conversationChanged = Signal(str, object)
    messageAdded = Signal(object)
    messageChanged = Signal(object)
    deliveryChanged = Signal(str, str, object, object)
    notificationReceived = Signal(object)
    notificationChanged = Signal(object)
    notificationsLoaded = Signal(object)  # list[Notification]: cached, then on each resync
    unreadNotificationsChanged = Signal(int)
    connectionChanged = Signal(bool, str)
    presenceChanged = Signal(str, bool, "qlonglong")
    typingChanged = Signal(str, str, bool)
    resync = Signal(str)
    error = Signal(str)
    # answers to commands
    conversationsLoaded = Signal(object)
    conversationLoaded = Signal(object)
    olderLoaded = Signal(str, object, object)
    conversationOpened = Signal(str)
    skillsLoaded = Signal(object)
    searchFinished = Signal(str, object)
    blockedChanged = Signal(str, bool)
    unsentCount = Signal(int)
    bookingEvent = Signal(object)  # AvailabilityChanged | BookingsChanged (ui/booking_bridge.py)

    def __init__(self, client: ChatClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self._stream = client.events()
        self._tasks = TaskTracker("bridge")
        self._drafts: dict[str, str] = {}
        self._draft_writers: dict[str, asyncio.Task[None]] = {}
        self._own_http: aiohttp.ClientSession | None = None
        self.closed = False
        self._tally = UnreadTally()
        self._pump = self.spawn(self._run(), "events")

    # the event pump ------------------------------------------------------------------------
    @property
    def uid(self) -> str | None:
        return self.client.uid

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        """The tasks still running: the event pump and the commands."""
        return self._tasks.tasks

    @property
    def unread_notifications(self) -> int:
        """My unread notifications of every kind (cached first, then live): the bell's count."""
        return self._tally.count

    async def _run(self) -> None:
        await self._load_notifications()  # (in the pump: the events queued meanwhile follow)
        async for event in self._stream:
            set_server_offset(self.client.server_offset_ms())  # (before any time is shown)
            try:
                self._emit(event)
            except Exception:
                log.exception("a slot failed on %r", event)
            if isinstance(event, Resync | BlocksChanged):  # (the bell hides the blocked)
                await self._load_notifications()

    async def _load_notifications(self) -> None:
        try:
            items = await self.client.notifications()
        except ClientError as exc:
            log.info("no notifications to show: %s", exc)
            return
        self.notificationsLoaded.emit(items)
        if self._tally.reset(items):
            self.unreadNotificationsChanged.emit(self._tally.count)

    def _emit(self, event: ChatEvent) -> None:
        if isinstance(event, MessageAdded):
            self.messageAdded.emit(event.message)
        elif isinstance(event, MessageChanged):
            self.messageChanged.emit(event.message)
        elif isinstance(event, DeliveryStateChanged):
            self.deliveryChanged.emit(
                event.conversation_id, event.message_id, event.state, event.error
            )
        elif isinstance(event, ConversationChanged):
            self.conversationChanged.emit(event.conversation_id, event.entry)
        elif isinstance(event, TypingChanged):
            self.typingChanged.emit(event.conversation_id, event.uid, event.typing)
        elif isinstance(event, PresenceChanged):
            seen = -1 if event.last_seen is None else event.last_seen
            self.presenceChanged.emit(event.uid, event.online, seen)
        elif isinstance(event, ConnectionStateChanged):
            self.connectionChanged.emit(event.connected, event.channel)
        elif isinstance(event, NotificationReceived | NotificationChanged):
            new = isinstance(event, NotificationReceived)
            signal = self.notificationReceived if new else self.notificationChanged
            signal.emit(event.notification)
            if self._tally.apply(event.notification):
                self.unreadNotificationsChanged.emit(self._tally.count)
        elif isinstance(event, BlocksChanged):
            for uid in sorted(event.blocked | event.unblocked):
                self.blockedChanged.emit(uid, uid in event.blocked)
        elif isinstance(event, Resync):
            self.resync.emit(event.reason)
        else:
            self.bookingEvent.emit(event)

    # running commands ----------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        return self._tasks.spawn(coro, name)

    def _call(
        self,
        coro: Coroutine[Any, Any, T],
        action: str,
        done: Callable[[T], None] | None = None,
        failed: Callable[[], None] | None = None,
    ) -> asyncio.Task[None] | None:
        """Run *coro* as a tracked task; its result goes to *done* (one of this bridge's
        emitters), a failure to ``error`` as a sentence naming *action*."""
        if self.closed:
            coro.close()
            return None

        async def guarded() -> None:
            try:
                result = await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                level = logging.INFO if isinstance(exc, ClientError) else logging.ERROR
                log.log(level, "could not %s", action, exc_info=exc)
                if failed is not None:
                    failed()
                self.error.emit(human_error(action, exc))
                return
            if done is not None:
                done(result)

        task = self.spawn(guarded(), action)

        def never_started(_: asyncio.Task[None]) -> None:  # cancelled before its first step
            if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()

        task.add_done_callback(never_started)
        return task

    def _now(self, action: str, call: Callable[[], T]) -> T | None:
        """A synchronous client call; a failure becomes ``error``."""
        try:
            return call()
        except ClientError as exc:
            self.error.emit(human_error(action, exc))
            return None

    # commands ------------------------------------------------------------------------------
    def load_conversations(self) -> None:
        """``conversationsLoaded(list[ConversationEntry])`` from the cache."""
        self._call(
            self.client.conversations(), "load your conversations", self.conversationsLoaded.emit
        )

    def select(self, cid: str | None) -> None:
        """Make *cid* the open conversation (its messages stream, its typing room is joined)."""
        self._now("open the conversation", lambda: self.client.select_conversation(cid))

    def load_conversation(self, cid: str, limit: int = 50) -> None:
        """``conversationLoaded(OpenedConversation)``: what *cid* shows (select it first)."""
        self._call(
            self.conversation_state(cid, limit),
            "load the conversation",
            self.conversationLoaded.emit,
        )

    def send(self, cid: str, text: str) -> None:
        self._call(self.client.send_message(cid, text), "send the message")

    def mark_read(self, cid: str) -> None:
        self._call(self.client.mark_read(cid), "mark the conversation read")

    def mark_notification_read(self, nid: str) -> None:
        self._call(self.client.mark_notification_read(nid), "mark the notification read")

    def mark_all_notifications_read(self) -> None:
        self._call(self.client.mark_all_notifications_read(), "mark the notifications read")

    def load_older(self, cid: str, before_id: str | None) -> None:
        """``olderLoaded(cid, before_id, list[Message])``: the page before *before_id*
        (the page is None when it could not be read)."""
        self._call(
            self.client.load_older(cid, before=before_id),
            "load older messages",
            lambda page: self.olderLoaded.emit(cid, before_id, page),
            lambda: self.olderLoaded.emit(cid, before_id, None),
        )

    def typing(self, cid: str) -> None:
        self._now("tell that you are typing", lambda: self.client.typing(cid))

    def edit(self, cid: str, mid: str, text: str) -> None:
        self._call(self.client.edit_message(cid, mid, text), "edit the message")

    def delete(self, cid: str, mid: str) -> None:
        self._call(self.client.delete_message(cid, mid), "delete the message")

    def retry(self, mid: str) -> None:
        self._call(self.client.retry(mid), "send the message again")

    def set_draft(self, cid: str, text: str) -> None:
        """Keep *text* as *cid*'s draft; writes of one conversation never overtake each other."""
        self._drafts[cid] = text
        if cid not in self._draft_writers:
            task = self._call(self._write_drafts(cid), "keep the draft")
            if task is not None:
                self._draft_writers[cid] = task

    async def _write_drafts(self, cid: str) -> None:
        try:
            while cid in self._drafts:
                text = self._drafts.pop(cid)
                await self.client.set_draft(cid, text)
        finally:
            self._draft_writers.pop(cid, None)

    def open_conversation(self, other_uid: str, skill_id: str | None = None) -> None:
        """Open or create the conversation with *other_uid*: ``conversationOpened(cid)``."""
        self._call(
            self.client.open_conversation(other_uid, skill_id),
            "start the conversation",
            self.conversationOpened.emit,
        )

    def block(self, uid: str) -> None:  # (blockedChanged follows, as for another device's)
        self._call(self.client.block(uid), "block")

    def unblock(self, uid: str) -> None:
        self._call(self.client.unblock(uid), "unblock")

    def load_skills(self) -> None:
        self._call(read_skills(self.client), "load the skills", self.skillsLoaded.emit)

    def search(self, query: str) -> None:
        """``searchFinished(query, list[SearchHit])`` over the cached messages."""
        self._call(
            self.search_messages(query),
            "search the messages",
            lambda hits: self.searchFinished.emit(query, hits),
        )

    def refresh_unsent(self) -> None:
        self._call(unsent_count(self.client), "count the unsent messages", self.unsentCount.emit)

    def count_unsent(self, done: Callable[[int | None], None]) -> None:
        """*done* with how many messages wait to be sent (None if they cannot be counted)."""
        self._call(unsent_count(self.client), "count the unsent messages", done, lambda: done(None))

    # reads (synchronous) -------------------------------------------------------------------
    def presence(self, uid: str) -> PresenceChanged | None:
        return self.client.presence(uid)

    def is_blocked(self, uid: str) -> bool:
        return self.client.blocks is not None and uid in self.client.blocks.uids

    def other_of(self, cid: str) -> str | None:
        """The other participant of *cid* (None if it is not a conversation of mine)."""
        if self.client.uid is None:
            return None
        try:
            return other_participant(cid, self.client.uid)
        except CoreError:
            return None

    # coroutines ----------------------------------------------------------------------------
    async def conversation_state(self, cid: str, limit: int = 50) -> OpenedConversation:
        """The newest *limit* cached messages of *cid*, my unfinished sends' states, its draft."""
        messages = await self.client.messages(cid, limit)
        states: dict[str, tuple[DeliveryState, str | None]] = {}
        outbox = self.client.outbox
        if outbox is not None:
            pending = await asyncio.to_thread(outbox.pending, cid)
            failed = await asyncio.to_thread(outbox.failed, cid)
            for item in pending:
                states[item["id"]] = (DeliveryState.PENDING, None)
            for item in failed:
                states[item["id"]] = (DeliveryState.FAILED, item.get("last_error"))
        draft = await self.client.draft(cid)
        other = self.other_of(cid)
        blocked = other is not None and self.is_blocked(other)
        return OpenedConversation(cid, messages, states, draft, blocked)

    async def search_messages(self, query: str, limit: int = 100) -> list[SearchHit]:
        """Cached messages with all words of *query*, newest first, as hits (with their chat)."""
        found = await self.client.search_messages(query, limit)
        return search_hits(found, await self.client.conversations(), query)

    async def photo_loader(self, url: str) -> bytes:
        """The bytes of a profile photo at *url* (b"" if it cannot be had)."""
        if not url.startswith(("http://", "https://")):
            return b""
        import aiohttp  # (loaded with the first request, after the window painted)

        try:
            session = self._http()
            timeout = aiohttp.ClientTimeout(total=15)
            async with session.get(url, timeout=timeout) as response:
                if response.status != 200:
                    return b""
                body = await response.content.read(PHOTO_LIMIT + 1)
        except (aiohttp.ClientError, TimeoutError, ClientError) as exc:
            log.info("no photo from %s: %s", url, exc)
            return b""
        return body if len(body) <= PHOTO_LIMIT else b""

    def _http(self) -> aiohttp.ClientSession:
        import aiohttp

        http = getattr(self.client.auth, "http", None)
        session = getattr(http, "session", None)
        if isinstance(session, aiohttp.ClientSession) and not session.closed:
            return session
        if self._own_http is None or self._own_http.closed:
            self._own_http = aiohttp.ClientSession()
        return self._own_http

    # closing -------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop listening and cancel every command still running."""
        self.closed = True
        self._stream.close()
        self._tasks.cancel()
        if self._own_http is not None and not self._own_http.closed:
            session, self._own_http = self._own_http, None
            self.spawn(session.close(), "close the photo session")

    async def aclose(self) -> None:
        """Let draft writes finish, then :meth:`close` and wait for every task to end."""
        writers = list(self._draft_writers.values())
        if writers:
            await asyncio.gather(*writers, return_exceptions=True)
        session, self._own_http = self._own_http, None
        self.close()
        await self._tasks.cancel_all()
        if session is not None and not session.closed:
            await session.close()
