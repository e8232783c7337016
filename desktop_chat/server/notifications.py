"""System notifications: checked, written through the database, the admin API, `notify`."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path as FsPath
from typing import Any

from aiohttp import web

from desktop_chat.core.model import is_uid, utf16_len
from desktop_chat.core.paths import Path, PushIdGenerator
from desktop_chat.core.values import Node, ServerValue, render
from desktop_chat.server.access import request_token
from desktop_chat.server.auth_http import Handler, guarded, json_response, read_body
from desktop_chat.server.auth_service import AuthService
from desktop_chat.server.credentials import AuthError
from desktop_chat.server.database import Database, SetOp, WriteRequest
from desktop_chat.server.datadir import ADMIN_SECRET_ENV, DataDir
from desktop_chat.server.errors import DataDirLockedError, HttpError, ServerError
from desktop_chat.server.users_cli import Online, online

__all__ = [
    "ADMIN_NOTIFICATIONS",
    "LINK_KEYS",
    "NOTIFY_KINDS",
    "NotificationError",
    "NotificationsApi",
    "add_notification_routes",
    "add_notify_parser",
    "check_uid",
    "create_notification",
    "notification_path",
    "run_notify",
    "send_notification",
    "system_notification",
]

log = logging.getLogger("desktop_chat.server")

ADMIN_NOTIFICATIONS = "/_admin/notifications"
NOTIFY_KINDS = ("review", "payment")
"""The kinds other parts of the platform send through ``desktop-chat-server notify``."""
SYSTEM_KINDS = (*NOTIFY_KINDS, "session_reminder")
"""The kinds only admins write: no ``senderId``."""
LINK_KEYS: Mapping[str, int] = {"conversationId": 300, "bookingId": 128, "skillId": 128}
"""What a notification may open, and the longest id of each (docs/data-model.md)."""
MAX_TITLE = 200
MAX_BODY = 1000
_LINK_HELP = " or ".join(f"{key}=ID" for key in LINK_KEYS)
UNAUTHORIZED = "UNAUTHORIZED : the admin API needs 'Authorization: Bearer <admin secret>'"


class NotificationError(ServerError):
    """A notification that does not fit the data model; nothing was written."""


def check_uid(uid: object) -> str:
    """*uid* if it is a uid the data model allows, else NotificationError."""
    if not is_uid(uid):
        raise NotificationError(f"invalid uid {uid!r}: a uid is 1-128 ASCII letters or digits")
    return uid


def _text(name: str, value: object, high: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise NotificationError(f"the {name} is missing: give a non-empty {name}")
    if utf16_len(value) > high:
        raise NotificationError(f"the {name} is longer than {high} characters")
    return value


def _link(link: object) -> dict[str, str] | None:
    if link is None:
        return None
    keys = " or ".join(f"{key}=ID" for key in LINK_KEYS)
    if not isinstance(link, dict) or len(link) != 1:
        raise NotificationError(f"a link names exactly one of {keys}")
    ((key, value),) = link.items()
    if key not in LINK_KEYS:
        raise NotificationError(f"unknown link {key!r}: a link is one of {keys}")
    if not isinstance(value, str) or not value.strip():
        raise NotificationError(f"the link {key} is empty")
    if utf16_len(value) > LINK_KEYS[key] or not value.isprintable():
        raise NotificationError(
            f"the link {key} must be printable and at most {LINK_KEYS[key]} characters"
        )
    return {key: value}


def system_notification(
    kind: str,
    title: object,
    body: object,
    link: object = None,
    kinds: tuple[str, ...] = SYSTEM_KINDS,
) -> dict[str, Node]:
    """A system notification (no ``senderId``) ready to write: ``createdAt`` is the server's
    time of the write, ``read`` false. NotificationError if any field is not allowed."""
    if kind not in kinds:
        raise NotificationError(f"unknown kind {kind!r}: expected one of {', '.join(kinds)}")
    value: dict[str, Node] = {
        "kind": kind,
        "title": _text("title", title, MAX_TITLE),
        "body": _text("body", body, MAX_BODY),
        "createdAt": ServerValue("timestamp"),
        "read": False,
    }
    checked_link = _link(link)
    if checked_link is not None:
        value["link"] = checked_link
    return value


def notification_path(uid: str, notification_id: str) -> Path:
    return ("notifications", uid, notification_id)


async def create_notification(
    db: Database, uid: str, notification_id: str, value: dict[str, Node]
) -> Node:
    """Write *value* (from :func:`system_notification`) at ``notifications/{uid}/{id}`` through
    the database's ordinary write path, so the owner's streams see it at once. Returns the
    stored value, server time resolved."""
    request = WriteRequest(
        [SetOp(notification_path(uid, notification_id), value)], has_server_values=True
    )
    result = await db.write(request)
    return result.values[0]


class NotificationsApi:
    """``POST /_admin/notifications``: a review or payment notification for one user."""

    def __init__(
        self, db: Database, auth: AuthService, is_admin: Callable[[str | None], bool]
    ) -> None:
        self.db = db
        self.auth = auth
        self.is_admin = is_admin
        self.push_id = PushIdGenerator()

    async def create(self, request: web.Request) -> web.Response:
        """Body ``{to, kind, title, body, link?}``; answers ``{name, path, notification}``."""
        if not self.is_admin(request_token(request)):
            raise AuthError(UNAUTHORIZED, 401)
        fields = await read_body(request)
        unknown = sorted(set(fields) - {"to", "kind", "title", "body", "link"})
        if unknown:
            raise AuthError(f"INVALID_ARGUMENT : unknown fields {', '.join(unknown)}")
        try:
            uid = check_uid(fields.get("to"))
            value = system_notification(
                str(fields.get("kind")),
                fields.get("title"),
                fields.get("body"),
                fields.get("link"),
                kinds=NOTIFY_KINDS,
            )
        except NotificationError as exc:
            raise AuthError(f"INVALID_ARGUMENT : {exc}") from None
        if not await self.auth.get_users([uid], []):
            raise AuthError(f"USER_NOT_FOUND : no account has the uid {uid}", 404)
        notification_id = self.push_id()
        try:
            stored = await create_notification(self.db, uid, notification_id, value)
        except HttpError as exc:
            raise AuthError(f"UNAVAILABLE : {exc.message}; nothing was sent", exc.status) from None
        log.info("operator sent a %s notification %s to %s", value["kind"], notification_id, uid)
        answer: dict[str, Any] = {
            "name": notification_id,
            "path": "/".join(notification_path(uid, notification_id)),
            "notification": render(stored),
        }
        return json_response(answer)


def add_notification_routes(
    app: web.Application,
    db: Database,
    auth: AuthService,
    is_admin: Callable[[str | None], bool],
) -> None:
    """Register the notifications admin API; call it before any catch-all route."""
    api = NotificationsApi(db, auth, is_admin)
    routes: list[tuple[str, Handler, tuple[str, ...]]] = [
        (ADMIN_NOTIFICATIONS, api.create, ("POST",)),
    ]
    for path, handler, methods in routes:
        app.router.add_route("*", path, guarded(handler, methods))


# `desktop-chat-server notify`


def link_argument(text: str) -> dict[str, str]:
    """argparse type of ``--link``: ``conversationId=ID``, ``bookingId=ID`` or ``skillId=ID``."""
    key, sep, value = text.partition("=")
    if not sep or key not in LINK_KEYS or not value:
        raise argparse.ArgumentTypeError(f"expected {_LINK_HELP}, got {text!r}")
    return {key: value}


def _running_server(data_dir: FsPath) -> Online:
    """The admin API of the server that holds *data_dir*; ServerError if none runs."""
    not_running = ServerError(
        f"no desktop-chat-server is running on {data_dir}: notifications are sent through "
        "the running server (start it with `desktop-chat-server serve --data-dir ...`)"
    )
    if not data_dir.is_dir():
        raise not_running
    directory = DataDir(data_dir)
    try:
        directory.lock()
    except DataDirLockedError:
        return online(directory)
    directory.unlock()
    raise not_running


def send_notification(
    server: Online, uid: str, kind: str, title: str, body: str, link: dict[str, str] | None
) -> dict[str, Any]:
    """POST the notification to *server*'s admin API; its answer ``{name, path, notification}``.
    Checked here first, so a bad one never reaches the server; ServerError on any failure."""
    try:
        check_uid(uid)
        system_notification(kind, title, body, link, kinds=NOTIFY_KINDS)
    except NotificationError as exc:
        raise ServerError(f"{exc}; nothing was sent") from None
    fields: dict[str, Any] = {"to": uid, "kind": kind, "title": title, "body": body}
    if link is not None:
        fields["link"] = link
    try:
        answer: dict[str, Any] = server.call("POST", ADMIN_NOTIFICATIONS, fields)
    except ServerError as exc:
        message = str(exc)
        if message.startswith("UNAUTHORIZED"):
            source = ADMIN_SECRET_ENV if os.environ.get(ADMIN_SECRET_ENV) else "the data dir"
            raise ServerError(
                f"the server at {server.url} refused the admin secret from {source}; "
                "nothing was sent"
            ) from None
        if message.startswith("USER_NOT_FOUND"):
            raise ServerError(f"no user has the uid {uid}; nothing was sent") from None
        raise
    return answer


def run_notify(args: argparse.Namespace, data_dir: FsPath) -> None:
    """Run ``notify``; raises ServerError (printed by the caller) on failure."""
    server = _running_server(data_dir)
    answer = send_notification(server, args.to, args.kind, args.title, args.body, args.link)
    print(f"sent {args.kind} notification {answer['name']} to {args.to} ({answer['path']})")


def add_notify_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``notify`` command."""
    notify = commands.add_parser(
        "notify",
        help="send a user a review or payment notification through the running server",
        description="Send one user a system notification (no sender) through the running "
        f"server's admin API; the admin secret comes from {ADMIN_SECRET_ENV} or the data dir.",
    )
    notify.add_argument("--data-dir", type=FsPath, default=None)
    notify.add_argument("--to", required=True, metavar="UID", help="the user to notify")
    notify.add_argument("--kind", required=True, choices=NOTIFY_KINDS)
    notify.add_argument("--title", required=True, help="1-200 characters")
    notify.add_argument("--body", required=True, help="1-1000 characters")
    notify.add_argument(
        "--link",
        type=link_argument,
        default=None,
        metavar="KEY=ID",
        help=f"what the notification opens: {_LINK_HELP}",
    )
