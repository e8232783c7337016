"""The operators' user admin API (``/_admin/users``), and firebase-admin's account lookup."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from desktop_chat.server.access import request_token
from desktop_chat.server.account_records import user_info
from desktop_chat.server.auth_http import Handler, json_response, read_body, text_field
from desktop_chat.server.auth_service import AuthService
from desktop_chat.server.credentials import AuthError
from desktop_chat.server.errors import ServerError

__all__ = ["ADMIN_USERS", "MAX_IMPORT_BODY", "AdminApi"]

log = logging.getLogger("desktop_chat.server")

ADMIN_USERS = "/_admin/users"
MAX_IMPORT_BODY = 64 * 1024 * 1024
UNAUTHORIZED = "UNAUTHORIZED : the admin API needs 'Authorization: Bearer <admin secret>'"


class AdminApi:
    """User administration for whoever holds the server's admin secret."""

    def __init__(self, auth: AuthService, is_admin: Callable[[str | None], bool]) -> None:
        self.auth = auth
        self.is_admin = is_admin

    def routes(self) -> list[tuple[str, Handler, tuple[str, ...]]]:
        """(path, handler, methods) to register; specific paths before the ``{target}`` one."""
        return [
            (ADMIN_USERS, self.users, ("GET", "POST")),
            (f"{ADMIN_USERS}:export", self.export, ("GET",)),
            (f"{ADMIN_USERS}:import", self.import_users, ("POST",)),
            (f"{ADMIN_USERS}/{{target}}", self.user_action, ("POST",)),
        ]

    def _require_admin(self, request: web.Request) -> None:
        if not self.is_admin(request_token(request)):
            raise AuthError(UNAUTHORIZED, 401)

    async def users(self, request: web.Request) -> web.Response:
        """GET: every user. POST ``{email, password, displayName?}``: add one."""
        self._require_admin(request)
        if request.method == "GET":
            accounts = await self.auth.list_users()
            return json_response({"users": [user_info(account) for account in accounts]})
        body = await read_body(request)
        if not body.get("email"):
            raise AuthError("MISSING_EMAIL")
        account = await self.auth.add_user(
            body.get("email"), body.get("password"), text_field(body, "displayName")
        )
        log.info("operator added the account %s", account.uid)
        return json_response({"user": user_info(account)})

    async def user_action(self, request: web.Request) -> web.Response:
        """POST ``/_admin/users/<email>:disable|:enable|:resetPassword``."""
        self._require_admin(request)
        email, _, action = request.match_info["target"].rpartition(":")
        if not email:
            raise AuthError("NOT_FOUND : expected /_admin/users/<email>:<action>", 404)
        if action in ("disable", "enable"):
            account = await self.auth.set_disabled(email, action == "disable")
        elif action == "resetPassword":
            body = await read_body(request)
            account = await self.auth.reset_password(email, body.get("password"))
        else:
            raise AuthError(
                f"NOT_FOUND : unknown action {action!r} (disable, enable, resetPassword)", 404
            )
        log.info("operator: %s for the account %s", action, account.uid)
        return json_response({"user": user_info(account)})

    async def export(self, request: web.Request) -> web.Response:
        """Every account with its uid and password hash, for ``import``."""
        self._require_admin(request)
        return json_response({"users": await self.auth.export_users()})

    async def import_users(self, request: web.Request) -> web.Response:
        """``{"users": [...]}`` as exported: added or replaced by uid, all or none."""
        self._require_admin(request)
        body = await read_body(request, limit=MAX_IMPORT_BODY)
        records = body.get("users")
        if not isinstance(records, list):
            raise AuthError('INVALID_JSON : expected {"users": [...]}')
        try:
            count = await self.auth.import_users(records)
        except AuthError:
            raise
        except ServerError as exc:
            raise AuthError(f"INVALID_IMPORT : {exc}; nothing was imported") from exc
        log.info("operator imported %d accounts", count)
        return json_response({"imported": count})

    async def project_lookup(self, request: web.Request) -> web.Response:
        """``projects/<id>/accounts:lookup`` as firebase-admin calls it (``auth.get_user``,
        ``verify_id_token(check_revoked=True)``): by ``localId`` and ``email`` lists."""
        self._require_admin(request)
        if request.match_info["project"] != self.auth.project_id:
            raise AuthError(f"PROJECT_NOT_FOUND : this server serves {self.auth.project_id}", 404)
        body = await read_body(request)
        wanted: dict[str, list[str]] = {}
        for key in ("localId", "email"):
            values = body.get(key) or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise AuthError(f"INVALID_JSON : {key} must be a list of strings")
            wanted[key] = values
        found = await self.auth.get_users(wanted["localId"], wanted["email"])
        answer: dict[str, Any] = {"kind": "identitytoolkit#GetAccountInfoResponse"}
        if found:
            answer["users"] = [user_info(account) for account in found]
        return json_response(answer)
