"""One write applied to the tree in memory: rules, server values, the store's rows, and the
frames each listener is owed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from desktop_chat.core.paths import Path, is_prefix
from desktop_chat.core.tree import get, iter_leaves, set_in, storage_key
from desktop_chat.core.values import Node, etag, render, resolve_server_values
from desktop_chat.server.access import ADMIN, Caller
from desktop_chat.server.errors import HttpError, PageFaultError
from desktop_chat.server.rules_values import View
from desktop_chat.server.store import LeafOp
from desktop_chat.server.streams import CANCEL_FRAME, Listener, frames_for, note_child, query_frames

if TYPE_CHECKING:
    from desktop_chat.server.database import Database

__all__ = ["SetOp", "View", "WriteRequest", "WriteResult", "apply_write"]


@dataclass(frozen=True, slots=True)
class SetOp:
    """Put one normalised value (None deletes) at one location."""

    path: Path
    value: Node


@dataclass(slots=True)
class WriteRequest:
    """One atomic write: a set (one op) or a multi-path update (several), maybe conditional."""

    ops: list[SetOp]
    has_server_values: bool = False
    if_match: str | None = None
    want_etag: bool = False
    caller: Caller = ADMIN
    precondition: Callable[[View], bool] | None = None
    """The server's own writes: applied only if this holds of the tree then (else a 412); it
    looks values up through the view it is given."""
    future: asyncio.Future[WriteResult] = field(init=False)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write stored: the values with server values resolved, and the new ETag if asked."""

    values: list[Node]
    etag: str | None = None


def _result(request: WriteRequest, values: list[Node]) -> WriteResult:
    """What the write answers: its values as they are now, copied (the tree holds the same
    objects, which later writes of the batch and trimming change in place)."""
    return WriteResult(
        [_copied(value) for value in values], etag(values[0]) if request.want_etag else None
    )


def _copied(node: Node) -> Node:
    if isinstance(node, dict):
        return {key: _copied(child) for key, child in node.items()}
    return node


def _leaf_ops(path: Path, old: Node, new: Node, replaced_path: Path) -> list[LeafOp]:
    """The store's row changes for one set of *new* at *path* that replaced *old*."""
    ops: list[LeafOp] = []
    if replaced_path != path:  # a leaf above became an object, or emptied parents were cut
        ops.append(("del_tree", storage_key(replaced_path), None))
    elif isinstance(old, dict):
        ops.append(("del_tree", storage_key(path), None))
    elif old is not None and (new is None or isinstance(new, dict)):
        ops.append(("del", storage_key(path), None))  # the old leaf's row, gone or now a branch
    ops.extend(("put", key, value) for key, value in iter_leaves(new, path))
    return ops


def apply_write(
    db: Database,
    request: WriteRequest,
    now: int,
    leaf_ops: list[LeafOp],
    undo: list[tuple[Path, Node]],
    frames: list[tuple[Listener, bytes]],
) -> WriteResult:
    """Apply *request* to ``db.root`` at time *now*: the rows it changes go to *leaf_ops*,
    what undoes it to *undo*, each listener's frames to *frames*. HttpError if refused;
    PageFaultError if it needs history on disk (the caller undoes, reads, and calls again)."""
    values = [op.value for op in request.ops]
    if request.has_server_values:
        values = [
            resolve_server_values(value, op.path, db.view, now)
            for op, value in zip(request.ops, values, strict=True)
        ]
    caller = request.caller
    if not caller.admin and not db.rules.can_write(
        [(op.path, value) for op, value in zip(request.ops, values, strict=True)],
        caller.auth,
        db.root,
        now,
        view=db.view,
    ):  # checked here, in write order, so of two racing writes the rules see the winner
        raise HttpError(401, "Permission denied")
    if request.precondition is not None and not request.precondition(db.view):
        raise HttpError(412, "Precondition failed")
    if request.if_match is not None:  # after the rules: a 412 must not leak to strangers
        path = request.ops[0].path
        current = db.view(path)
        current_tag = etag(current)
        if current_tag != request.if_match:
            readable = caller.admin or db.rules.can_read(
                path, caller.auth, db.root, now, view=db.view
            )
            body = orjson.dumps(render(current) if readable else None)
            raise HttpError(412, "ETag mismatch", {"ETag": current_tag}, body=body)
    events: dict[Listener, list[tuple[Path, Node]]] = {}
    queried: dict[Listener, set[str] | None] = {}
    heard: dict[Listener, None] = {}  # in the order of the write's paths (see below)
    start = len(undo)
    for op, value in zip(request.ops, values, strict=True):
        _apply_op(db, op.path, value, leaf_ops, undo, events, queried, heard)
    if len(undo) == start:  # nothing changed: no events, no rows
        return _result(request, values)
    revoked = {  # listeners this write took read access from: they get cancel, no data
        listener
        for listener in (*events, *queried)
        if not listener.caller.admin
        and not db.rules.can_read(
            listener.path, listener.caller.auth, db.root, now, listener.query, view=db.view
        )
    }
    frames.extend((listener, CANCEL_FRAME) for listener in revoked)
    for listener in revoked:
        queried.pop(listener, None)
    for listener, changed in queried.items():  # before any window moves: it may need disk
        _check_window(db, listener, changed)
    # Listeners hear a multi-path write in the order of its paths (an update: its body's):
    # a message's own stream before the lists and counters the same write touches.
    encoded: dict[tuple[tuple[Path, int], ...], list[bytes]] = {}
    for listener in heard:
        if listener in revoked:
            continue
        if listener in queried:
            result = listener.answer(get(db.root, listener.path), queried[listener])
            previous, listener.last_result = listener.last_result, result
            frames.extend((listener, frame) for frame in query_frames(previous, result))
            continue
        changes = events.get(listener)
        if not changes:
            continue
        # Listeners at one location share the same changes: encode them once.
        key = tuple((path, id(value)) for path, value in changes)
        if key not in encoded:
            encoded[key] = frames_for(changes)
        frames.extend((listener, frame) for frame in encoded[key])
    return _result(request, values)


def _apply_op(
    db: Database,
    path: Path,
    value: Node,
    leaf_ops: list[LeafOp],
    undo: list[tuple[Path, Node]],
    events: dict[Listener, list[tuple[Path, Node]]],
    queried: dict[Listener, set[str] | None],
    heard: dict[Listener, None],
) -> None:
    needed = db.history.write_faults(path, value)
    if needed:
        raise PageFaultError(needed)
    hub = db.hub
    above = list(hub.above(path)) if hub.count else []
    below = [(lis, get(db.root, lis.path)) for lis in hub.below(path)] if hub.count else []
    replaced = set_in(db.root, path, value)
    if replaced.path == path and replaced.old == value:
        db.root = replaced.root
        return
    db.root = replaced.root
    db.history.note(db.root, path)
    undo.append((replaced.path, replaced.old))
    leaf_ops.extend(_leaf_ops(path, replaced.old, value, replaced.path))
    top = replaced.path
    top_value = value if top == path else get(db.root, top)
    for listener in above:
        heard.setdefault(listener)
        if listener.query is not None:
            note_child(queried, listener, top)
        elif is_prefix(listener.path, top):
            events.setdefault(listener, []).append((top[len(listener.path) :], top_value))
        else:  # below the cut (a leaf turned object, or parents pruned): now all changed
            events.setdefault(listener, []).append(((), get(db.root, listener.path)))
    for listener, old in below:
        if listener.query is not None:
            heard.setdefault(listener)
            queried[listener] = None  # the whole location changed
            continue
        new = get(db.root, listener.path)
        if new != old:
            heard.setdefault(listener)
            events.setdefault(listener, []).append(((), new))


def _check_window(db: Database, listener: Listener, changed: set[str] | None) -> None:
    """PageFaultError if the query stream *listener* needs children on disk to follow a change
    to its *changed* children: its location is partly on disk and the change is not one
    its window settles alone (or the location is above such a collection)."""
    needed = db.history.faults(listener.path)
    if not needed:
        return
    window = listener.window
    if needed != [listener.path] or window is None:
        raise PageFaultError(needed)
    if not window.settles(get(db.root, listener.path), changed):
        raise PageFaultError(needed)
