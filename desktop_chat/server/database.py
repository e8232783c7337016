"""The live database: the tree in memory, writes serialised and group-committed, events out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from desktop_chat.core.paths import Path
from desktop_chat.core.query import Query
from desktop_chat.core.tree import get, set_in, storage_key
from desktop_chat.core.values import Node
from desktop_chat.server.access import ADMIN, Caller
from desktop_chat.server.errors import HttpError, PageFaultError, StoreError
from desktop_chat.server.history import History
from desktop_chat.server.rules import RuleSet
from desktop_chat.server.store import LeafOp, Store
from desktop_chat.server.streams import CANCEL_FRAME, Hub, Listener
from desktop_chat.server.write_apply import SetOp, View, WriteRequest, WriteResult, apply_write

__all__ = ["Database", "SetOp", "View", "WriteRequest", "WriteResult"]

log = logging.getLogger("desktop_chat.server")

MAX_BATCH = 512
T = TypeVar("T")


class Database:
    """Owns the tree. Reads are immediate; writes go through one writer task in batches."""

    def __init__(
        self,
        store: Store,
        hub: Hub,
        rules: RuleSet | None = None,
        clock_ms: Callable[[], int] | None = None,
        history: History | None = None,
    ) -> None:
        self._store = store
        self.hub = hub
        self.rules = rules or RuleSet.deny_all()
        """Checked for every caller but admins; with none, only admins get in."""
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.root: Node = None
        """The tree in memory; history collections may hold only their newest children here
        (see :class:`History`): look values up through :meth:`view` or :meth:`examine`."""
        self.history = history or History(0)
        self._trim_every = max(self.history.grace, 1.0)
        self._queue: asyncio.Queue[WriteRequest | None] = asyncio.Queue(maxsize=10_000)
        self._settled = asyncio.Event()
        self._settled.set()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self.commit_hooks: list[Callable[[list[tuple[Path, Node]]], None]] = []
        """Called after each committed write with its ``(path, value)`` changes (values with
        server values resolved); the Socket.IO layer pushes notifications from here."""

    def now_ms(self) -> int:
        """The server clock (epoch ms): what server timestamps and the rules' ``now`` use."""
        return self._clock_ms()

    async def start(self) -> None:
        trim = self.history.trim_all if self.history.keep else None
        self.root = await asyncio.to_thread(self._store.load, trim)  # (trimmed as it loads)
        self.history.trim_all(self.root)
        self._writer = asyncio.create_task(self._write_loop(), name="database-writer")

    async def settled(self) -> None:
        """Wait until no batch is between applied and committed, so reads see durable data."""
        while not self._settled.is_set():
            await self._settled.wait()

    def view(self, path: Path) -> Node:
        """The value at *path* now; PageFaultError if part of it is on disk only (see examine)."""
        needed = self.history.faults(path)
        if needed:
            raise PageFaultError(needed)
        return get(self.root, path)

    async def examine(self, look: Callable[[View], T]) -> T:
        """``look(view)`` on durable data, with whatever it looks up in memory: a PageFaultError
        reads the collections it names back from disk, and *look* runs again."""
        while True:
            await self.settled()
            try:
                return look(self.view)
            except PageFaultError as fault:
                await self._page_in(fault.paths)

    async def _page_in(self, paths: list[Path]) -> None:
        for path in paths:
            cold = self.history.coldness(path)
            if cold is None:
                continue  # brought back meanwhile
            try:
                children = await asyncio.to_thread(
                    self._store.read_children, storage_key(path), cold.horizon
                )
                self.history.restore(self.root, path, cold, children)
            except StoreError as exc:
                log.error("%s", exc)
                raise HttpError(503, "The server could not read its store; try again") from exc

    async def read(self, path: Path, caller: Caller = ADMIN, query: Query | None = None) -> Node:
        """The value at *path*, if the rules let *caller* read it (else a 401)."""

        def look(view: View) -> Node:
            self._check_read(path, caller, query, view)
            return view(path)

        return await self.examine(look)

    async def listen(self, listener: Listener) -> bytes:
        """Register a stream and return its first ``put``, atomically with respect to writes."""

        def look(view: View) -> bytes:
            self._check_read(listener.path, listener.caller, listener.query, view)
            view(listener.path)  # (in memory whole, or a PageFaultError)
            self.hub.add(listener)
            return listener.snapshot(self.root)

        return await self.examine(look)

    def _check_read(self, path: Path, caller: Caller, query: Query | None, view: View) -> None:
        if not caller.admin and not self.rules.can_read(
            path, caller.auth, self.root, self._clock_ms(), query, view=view
        ):
            raise HttpError(401, "Permission denied")

    async def write(self, request: WriteRequest) -> WriteResult:
        if self._closing:
            raise HttpError(503, "The server is shutting down; try again shortly")
        request.future = asyncio.get_running_loop().create_future()
        await self._queue.put(request)
        return await request.future

    async def close(self) -> None:
        """Finish every accepted write, refuse new ones, and close the store."""
        self._closing = True
        if self._writer is not None:
            await self._queue.put(None)
            await self._writer
            self._writer = None
        while not self._queue.empty():  # raced past the closing check: refuse, never drop
            late = self._queue.get_nowait()
            if late is not None and not late.future.done():
                late.future.set_exception(HttpError(503, "The server is shutting down"))
        self.hub.close_all("server shutting down")
        await asyncio.to_thread(self._store.close)

    async def _write_loop(self) -> None:
        while True:
            if self.history.keep:  # (collections read back for readers are trimmed later)
                try:
                    first = await asyncio.wait_for(self._queue.get(), self._trim_every)
                except TimeoutError:
                    self.history.trim(self.root)
                    continue
            else:
                first = await self._queue.get()
            batch: list[WriteRequest] = []
            stop = first is None
            if first is not None:
                batch.append(first)
            while not stop and len(batch) < MAX_BATCH and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                else:
                    batch.append(item)
            if batch:
                await self._run_batch(batch)
                self.history.trim(self.root)  # (everything in memory is committed now)
            if stop:
                return
            await asyncio.sleep(0)  # let readers woken by the commit run before the next batch

    async def _run_batch(self, batch: list[WriteRequest]) -> None:
        self._settled.clear()
        try:
            now = self._clock_ms()
            leaf_ops: list[LeafOp] = []
            undo: list[tuple[Path, Node]] = []
            frames: list[tuple[Listener, bytes]] = []
            done: list[tuple[WriteRequest, WriteResult]] = []
            for request in batch:
                if request.future.done():  # the caller went away before we got to it
                    continue
                result = await self._apply_one(request, now, leaf_ops, undo, frames)
                if result is not None:
                    done.append((request, result))
            if leaf_ops:
                try:
                    await asyncio.to_thread(self._store.commit, leaf_ops)
                except StoreError as exc:
                    self._roll_back(undo, frames, str(exc))
                    error = (
                        HttpError(507, "The server's disk is full: the write was not applied")
                        if "full" in str(exc)
                        else HttpError(503, f"The write was not applied: {exc}")
                    )
                    for request, _ in done:
                        if not request.future.done():
                            request.future.set_exception(error)
                    return
            for listener, frame in frames:
                listener.send(frame)
                if frame is CANCEL_FRAME:
                    listener.close("permission revoked")
            for request, result in done:
                if not request.future.done():
                    request.future.set_result(result)
            if self.commit_hooks:
                self._run_hooks(done)
        finally:
            self._settled.set()

    async def _apply_one(
        self,
        request: WriteRequest,
        now: int,
        leaf_ops: list[LeafOp],
        undo: list[tuple[Path, Node]],
        frames: list[tuple[Listener, bytes]],
    ) -> WriteResult | None:
        """Apply one write of the batch; on failure take it back alone and fail its future
        (None). A write that needs history from disk is taken back, reads it, and runs again."""
        marks = (len(leaf_ops), len(undo), len(frames))
        while True:
            try:
                return apply_write(self, request, now, leaf_ops, undo, frames)
            except Exception as exc:  # one bad write must not take the others down
                self._undo_from(marks, leaf_ops, undo, frames)
                error = exc
            if isinstance(error, PageFaultError):
                try:
                    await self._page_in(error.paths)
                except HttpError as unread:
                    error = unread
                else:
                    if request.future.done():  # its caller went away meanwhile
                        return None
                    continue
            if not isinstance(error, HttpError):
                log.error("write failed unexpectedly; it was not applied", exc_info=error)
                error = HttpError(500, "Internal error; the write was not applied")
            request.future.set_exception(error)
            return None

    def _undo_from(
        self,
        marks: tuple[int, int, int],
        leaf_ops: list[LeafOp],
        undo: list[tuple[Path, Node]],
        frames: list[tuple[Listener, bytes]],
    ) -> None:
        """Take back what one write of the batch did (its changes start at *marks*)."""
        for path, old in reversed(undo[marks[1] :]):
            self.root = set_in(self.root, path, old).root
        del leaf_ops[marks[0] :], undo[marks[1] :], frames[marks[2] :]

    def _run_hooks(self, done: list[tuple[WriteRequest, WriteResult]]) -> None:
        for request, result in done:
            changes = [(op.path, v) for op, v in zip(request.ops, result.values, strict=True)]
            for hook in self.commit_hooks:
                try:
                    hook(changes)
                except Exception:
                    log.exception("a commit hook failed")

    def _roll_back(
        self, undo: list[tuple[Path, Node]], frames: list[tuple[Listener, bytes]], why: str
    ) -> None:
        log.error("store commit failed, batch rolled back: %s", why)
        for path, old in reversed(undo):
            self.root = set_in(self.root, path, old).root
        for listener, _ in frames:  # their view may hold the rolled-back state: make them resync
            listener.close("write rolled back")
