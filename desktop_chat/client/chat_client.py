"""ChatClient: the one Qt-free API the UI and the tests use: lists, messages, blocks, drafts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from desktop_chat.client.errors import (
    AuthError,
    ClientError,
    InvalidRequestError,
    NetworkError,
    NotSignedInError,
    PermissionDeniedError,
)
from desktop_chat.client.events import DeliveryStateChanged, PresenceChanged
from desktop_chat.client.following import fetch_messages
from desktop_chat.client.notifications import mark_conversation_read, mark_notifications_read
from desktop_chat.client.outbox import NewOutboxItem, OutboxItem
from desktop_chat.client.rtdb import QuerySpec
from desktop_chat.client.session import ACCOUNT_FILE, ClientSession
from desktop_chat.client.sync import PAGE, parse_messages
from desktop_chat.core import writes
from desktop_chat.core.errors import CoreError
from desktop_chat.core.model import (
    ConversationEntry,
    DeliveryState,
    Message,
    MessageType,
    Notification,
    Slot,
    UserProfile,
    conversation_id,
    is_uid,
    other_participant,
)

__all__ = ["ACCOUNT_FILE", "ChatClient", "NotSignedInError"]

log = logging.getLogger("desktop_chat.client")


def _allow(gate: asyncio.Future[bool], allowed: bool) -> None:
    if not gate.done():
        gate.set_result(allowed)


def _succeeded(done: asyncio.Future[OutboxItem]) -> bool:
    return not done.cancelled() and done.exception() is None


class ChatClient(ClientSession):
    """A signed-in user's chat on top of its :class:`ClientSession`: lists, messages, blocks."""

    # lists -------------------------------------------------------------------------------
    async def conversations(self) -> list[ConversationEntry]:
        """The conversation list from the cache, most recent activity first (blocked hidden)."""
        _, cache, _, _ = self._account()
        blocks = self._block_list()
        rows = await asyncio.to_thread(cache.conversations)
        return [row for row in rows if not blocks.hides_conversation(row.conversation_id)]

    async def notifications(self, limit: int | None = None) -> list[Notification]:
        """The cached notifications, newest first (blocked senders' hidden)."""
        _, cache, _, _ = self._account()
        blocks = self._block_list()
        rows = await asyncio.to_thread(cache.notifications, limit)
        return [row for row in rows if not blocks.hides_notification(row)]

    async def unread_notification_count(self) -> int:
        """How many of my notifications (of every kind) are unread, as cached."""
        return sum(not item.read for item in await self.notifications())

    async def mark_notification_read(self, nid: str) -> None:
        """Mark my notification *nid* read (the server, then here: NotificationChanged)."""
        uid, _, _, merger = self._account()
        await mark_notifications_read(self.db, uid, merger.notes, [nid])

    async def mark_all_notifications_read(self) -> int:
        """Mark every unread notification of mine read, in one write; returns how many."""
        uid, _, _, merger = self._account()
        unread = [item.id for item in await merger.notes.unread()]
        return len(await mark_notifications_read(self.db, uid, merger.notes, unread))

    async def messages(self, cid: str, limit: int = 1 << 62) -> list[Message]:
        """The cached messages of *cid* (the newest *limit*), oldest first."""
        return await self._account()[3].cached_messages(cid, limit)

    async def search_messages(self, query: str, limit: int = 50) -> list[Message]:
        """Cached messages of every conversation whose text has each word of *query* (word
        prefixes; case and accents ignored), newest first; blocked users' left out."""
        _, cache, _, merger = self._account()
        await merger.writer.flush()
        found = await asyncio.to_thread(cache.search_messages, query, limit)
        hidden = self._block_list().hides_conversation
        return [message for message in found if not hidden(message.conversation_id)]

    async def delivery_state(self, cid: str, message_id: str) -> DeliveryState | None:
        """Where one of my messages is (None: not mine, or unknown)."""
        uid, cache, outbox, merger = self._account()
        await merger.writer.flush()
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
        try:
            me = self.me or await self.profile(uid)
            other = await self.profile(other_uid)
        except (NetworkError, NotSignedInError, AuthError) as exc:  # not cached, no server
            raise NetworkError(
                f"cannot write to {other_uid} yet: the profiles are not cached and the "
                f"server cannot be reached ({exc}); try again once online"
            ) from exc
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
        """Make *cid* the open conversation: the only one whose messages stream, and whose
        Socket.IO room is joined (my typing in the previous one stops)."""
        if self._message_task is not None:
            self._message_task.cancel()
            self._message_task = None
        self.selected = cid
        if cid is not None and self._running and self.auth.signed_in:
            self._follow(cid)
        if self.realtime is not None:
            self.realtime.enter(cid)
            if cid is not None and self.uid is not None:
                with contextlib.suppress(CoreError):
                    other = other_participant(cid, self.uid)
                    if self.realtime.presence(other) is None:  # a contact since connecting
                        self.tasks.spawn(self._read_presence(other), f"presence {other}")

    async def _read_presence(self, uid: str) -> None:
        """``userStatus/{uid}``, for a contact whose presence no snapshot brought."""
        try:
            status = await self.db.get(f"userStatus/{uid}")
        except ClientError as exc:
            log.info("presence of %s unknown: %s", uid, exc)
            return
        if isinstance(status, dict) and isinstance(status.get("online"), bool):
            seen = status.get("lastSeen")
            last_seen = seen if isinstance(seen, int) and not isinstance(seen, bool) else None
            if self.realtime is not None:
                self.realtime.note_presence(PresenceChanged(uid, status["online"], last_seen))

    # typing and presence -----------------------------------------------------------------
    def typing(self, cid: str) -> None:
        """Call on every keystroke in *cid*'s input: tells the other participant I type
        (throttled; stopped on send, on leaving *cid*, or after 3 s without a keystroke)."""
        if self.realtime is not None and not self._block_list().hides_conversation(cid):
            self.realtime.typing(cid)

    def presence(self, uid: str) -> PresenceChanged | None:
        """The latest presence of *uid* (a contact) received, or None if unknown."""
        if self.realtime is None or (self.blocks is not None and uid in self.blocks.uids):
            return None
        return self.realtime.presence(uid)

    def server_offset_ms(self) -> int:
        """How far the server's clock runs ahead of this computer's (message times, and the
        rules' 15-minute edit window, are on the server's clock)."""
        return round(self.auth.http.clock.offset * 1000)

    async def load_older(
        self, cid: str, before: str | None = None, count: int = PAGE
    ) -> list[Message]:
        """The *count* messages before message *before* (None: before the oldest cached),
        oldest first: from the cache, fetching older pages from the server when the cache
        runs short (offline: what the cache has)."""
        _, cache, _, merger = self._account()
        await merger.writer.flush()
        if before is None:
            cursor = await asyncio.to_thread(cache.oldest_order, cid)
        else:
            anchor = await asyncio.to_thread(cache.message, cid, before)
            if anchor is None:
                raise InvalidRequestError(f"message {before!r} is not in conversation {cid}")
            cursor = anchor.order
        page = await merger.cached_messages(cid, count, cursor)
        if len(page) < count:
            oldest = page[0].order if page else cursor
            with contextlib.suppress(NetworkError):
                await self._fetch_before(cid, oldest, count - len(page))
            page = await merger.cached_messages(cid, count, cursor)
        return page

    async def _fetch_before(self, cid: str, cursor: tuple[int, str] | None, count: int) -> None:
        """At least *count* messages before *cursor* (or the newest) into the cache, however
        many share one millisecond (a REST query bounds by timestamp alone)."""
        _, _, _, merger = self._account()
        limit = count + 1
        while True:
            if cursor is None:
                spec = QuerySpec("timestamp", limit_to_last=count)
            else:
                spec = QuerySpec("timestamp", end_at=cursor[0], limit_to_last=limit)
            found = await fetch_messages(self.db, cid, spec)
            await merger.merge_messages(cid, found)
            if cursor is None or len(found) < limit:
                return  # the beginning of the conversation
            if sum(message.order < cursor for message in found) >= count:
                return
            limit *= 2

    # messages ----------------------------------------------------------------------------
    async def send_message(self, cid: str, text: str, *, slot: Slot | None = None) -> str:
        """Queue *text* durably and return its message id, once it is on disk. Its request is
        made ready while the outbox stores it, and leaves once it is committed (the disk sync
        follows, off its path); should storing fail, it is taken back (failed, and the error
        raised), never sent. With a *slot*, the message is a booking card bound to it
        (``booking_proposal``)."""
        uid, _, outbox, merger = self._account()
        if self._block_list().hides_conversation(cid):
            raise InvalidRequestError("you blocked this user: unblock them to write to them")
        me, other = await self._other(cid)
        mid = outbox.new_id()
        try:
            kind = MessageType.TEXT if slot is None else MessageType.BOOKING_PROPOSAL
            body = writes.send_message(me, other, cid, mid, text, kind, slot)
        except CoreError as exc:
            raise InvalidRequestError(str(exc)) from exc
        item = outbox.pending_item({"id": mid, "cid": cid, "body": body})
        new: NewOutboxItem = {"id": mid, "cid": cid, "body": body, "created_at": item["created_at"]}
        created = item["created_at"]
        pending = Message(mid, cid, uid, other.uid, text, created, False, kind, slot=slot)

        def queued() -> None:
            self.bus.publish(DeliveryStateChanged(cid, mid, DeliveryState.PENDING))
            if self.realtime is not None:
                self.realtime.stop_typing(cid)

        written: asyncio.Future[bool] = asyncio.get_running_loop().create_future()  # (gate)
        storing = asyncio.ensure_future(asyncio.to_thread(outbox.enqueue, new))
        storing.add_done_callback(lambda done: _allow(written, _succeeded(done)))
        storing.add_done_callback(lambda done: self._not_stored(done, cid, mid))
        if self.sender is not None:
            self.sender.submit(item, written)
        try:
            await merger.add_pending(pending, queued)
        finally:  # (a cancelled caller leaves the storing, and so the sending, going)
            await asyncio.shield(storing)  # (its error, if any, is the caller's)
        await outbox.synced()
        return mid

    def _not_stored(self, storing: asyncio.Future[OutboxItem], cid: str, mid: str) -> None:
        """A message whose storing failed is taken back, failed (even if its caller left)."""
        error = None if storing.cancelled() else storing.exception()
        if error is not None:
            if self.sender is not None:
                self.sender.withdraw(mid)
            self.bus.publish(DeliveryStateChanged(cid, mid, DeliveryState.FAILED, str(error)))

    async def retry(self, message_id: str) -> None:
        """A manual retry of a failed message."""
        _, _, outbox, _ = self._account()
        await asyncio.to_thread(outbox.retry, message_id)
        if self.sender is not None:
            self.sender.wake(force=True, reload=True)

    async def mark_read(self, cid: str) -> int:
        """Mark all my unread received messages of *cid* read (asked of the server, not just
        the loaded page), reset my unread count and mark the conversation's ``message``
        notifications read, in one write; returns how many messages."""
        uid, _, _, merger = self._account()
        other_participant(cid, uid)
        spec = QuerySpec("read", equal_to=False)
        found = await fetch_messages(self.db, cid, spec)
        unread = [m.id for m in found if m.receiver_id == uid and not m.read]
        await mark_conversation_read(self.db, uid, cid, unread, merger.notes)
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

    # blocking ----------------------------------------------------------------------------
    def _other_uid(self, uid: str) -> tuple[str, str]:
        me, *_ = self._account()
        if not is_uid(uid) or uid == me:
            raise InvalidRequestError(f"cannot block {uid!r}: not another user's id")
        return me, uid

    async def block(self, uid: str) -> None:
        """Block *uid*: they can no longer write to me; their conversation and events hide."""
        me, other = self._other_uid(uid)
        blocks = self._block_list()
        await self.db.set(f"blocks/{me}/{other}", True)
        await blocks.replace(blocks.uids | {other})

    async def unblock(self, uid: str) -> None:
        """Unblock *uid*: their conversation shows again and they may write to me."""
        me, other = self._other_uid(uid)
        blocks = self._block_list()
        await self.db.delete(f"blocks/{me}/{other}")
        await blocks.replace(blocks.uids - {other})

    async def blocked(self, *, refresh: bool = False) -> list[str]:
        """The uids I blocked, sorted: as last known, or read from the server if *refresh*."""
        me, *_ = self._account()
        blocks = self._block_list()
        if refresh:
            value = await self.db.get(f"blocks/{me}")
            found = value.items() if isinstance(value, dict) else ()
            await blocks.replace(uid for uid, flag in found if flag is True)
        return sorted(blocks.uids)

    # drafts ------------------------------------------------------------------------------
    def _own(self, cid: str) -> str:
        uid, *_ = self._account()
        try:
            other_participant(cid, uid)
        except CoreError as exc:
            raise InvalidRequestError(f"not a conversation of yours: {exc}") from exc
        return cid

    async def draft(self, cid: str) -> str:
        """The unsent text kept for *cid* ("" if none); it survives restarts."""
        _, cache, _, _ = self._account()
        kept = await asyncio.to_thread(cache.draft, self._own(cid))
        return "" if kept is None else kept["text"]

    async def set_draft(self, cid: str, text: str) -> None:
        """Keep *text* as *cid*'s draft; an empty (or blank) text clears it."""
        _, cache, _, _ = self._account()
        await asyncio.to_thread(cache.set_draft, self._own(cid), text)
