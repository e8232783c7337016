"""Firebase Auth's REST API at the Auth emulator's paths: sign up, sign in, refresh, profile."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from desktop_chat.server.account_records import user_info
from desktop_chat.server.auth_http import (
    Handler,
    google_error,
    guarded,
    json_response,
    read_body,
    text_field,
)
from desktop_chat.server.auth_service import AuthService, Session
from desktop_chat.server.credentials import AuthError
from desktop_chat.server.users_api import AdminApi

__all__ = ["CERTS_PATH", "IDENTITY", "JWKS_PATH", "AuthApi", "add_auth_routes"]

log = logging.getLogger("desktop_chat.server")

IDENTITY = "/identitytoolkit.googleapis.com"
SECURETOKEN = "/securetoken.googleapis.com"
CERTS_PATH = "/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
JWKS_PATH = "/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
_DELETABLE = {"DISPLAY_NAME": "display_name", "PHOTO_URL": "photo_url"}


def _tokens(session: Session) -> dict[str, Any]:
    return {
        "idToken": session.id_token,
        "refreshToken": session.refresh_token,
        "expiresIn": str(session.expires_in),
    }


class AuthApi:
    """The end-user endpoints."""

    def __init__(self, auth: AuthService) -> None:
        self.auth = auth

    async def accounts(self, request: web.Request) -> web.StreamResponse:
        action = request.match_info["action"]
        handler = {
            "signUp": self.sign_up,
            "signInWithPassword": self.sign_in,
            "lookup": self.lookup,
            "update": self.update,
        }.get(action)
        if handler is None:
            return google_error(f"NOT_FOUND : accounts:{action} is not supported here", 404)
        return await handler(request, await read_body(request))

    async def sign_up(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        email, password = body.get("email"), body.get("password")
        if not email and not password:
            raise AuthError("ADMIN_ONLY_OPERATION : anonymous accounts are not supported here")
        if not email:
            raise AuthError("MISSING_EMAIL")
        if not password:
            raise AuthError("MISSING_PASSWORD")
        session = await self.auth.sign_up(email, password, text_field(body, "displayName"))
        answer: dict[str, Any] = {
            "kind": "identitytoolkit#SignupNewUserResponse",
            "localId": session.account.uid,
            "email": session.account.email,
        }
        if session.account.display_name is not None:
            answer["displayName"] = session.account.display_name
        return json_response({**answer, **_tokens(session)})

    async def sign_in(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        session = await self.auth.sign_in(
            body.get("email"), body.get("password"), request.remote or "unknown"
        )
        account = session.account
        answer: dict[str, Any] = {
            "kind": "identitytoolkit#VerifyPasswordResponse",
            "localId": account.uid,
            "email": account.email,
            "displayName": account.display_name or "",
            "registered": True,
        }
        if account.photo_url is not None:
            answer["profilePicture"] = account.photo_url
        return json_response({**answer, **_tokens(session)})

    async def lookup(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        account = await self.auth.lookup(body.get("idToken"))
        return json_response(
            {"kind": "identitytoolkit#GetAccountInfoResponse", "users": [user_info(account)]}
        )

    async def update(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        if body.get("email") is not None:
            raise AuthError("OPERATION_NOT_ALLOWED : changing the email is not supported here")
        deletions = body.get("deleteAttribute") or []
        if not isinstance(deletions, list) or not all(d in _DELETABLE for d in deletions):
            raise AuthError(
                "INVALID_JSON : Invalid value at 'deleteAttribute': "
                "expected a list of DISPLAY_NAME, PHOTO_URL"
            )
        password = body.get("password")
        if password == "":
            raise AuthError("MISSING_PASSWORD")
        account, session = await self.auth.update(
            body.get("idToken"),
            display_name=text_field(body, "displayName"),
            photo_url=text_field(body, "photoUrl"),
            password=password,
            clear=[_DELETABLE[d] for d in deletions],
            new_session=body.get("returnSecureToken") is True,
        )
        info = user_info(account)
        answer: dict[str, Any] = {"kind": "identitytoolkit#SetAccountInfoResponse"}
        for key in ("localId", "email", "displayName", "photoUrl", "providerUserInfo"):
            if key in info:
                answer[key] = info[key]
        answer["emailVerified"] = False
        if session is not None:
            answer.update(_tokens(session))
        return json_response(answer)

    async def token(self, request: web.Request) -> web.Response:
        body = await read_body(request, form=True)
        grant_type = body.get("grant_type", body.get("grantType"))
        refresh_token = body.get("refresh_token", body.get("refreshToken"))
        if not grant_type:
            raise AuthError("MISSING_GRANT_TYPE")
        if grant_type != "refresh_token":
            raise AuthError("INVALID_GRANT_TYPE")
        if not refresh_token:
            raise AuthError("MISSING_REFRESH_TOKEN")
        if not isinstance(refresh_token, str):
            raise AuthError("INVALID_REFRESH_TOKEN")
        session = await self.auth.refresh(refresh_token)
        return json_response(
            {
                "access_token": session.id_token,
                "expires_in": str(session.expires_in),
                "token_type": "Bearer",
                "refresh_token": session.refresh_token,
                "id_token": session.id_token,
                "user_id": session.account.uid,
                "project_id": self.auth.project_id,
            }
        )

    async def certificates(self, request: web.Request) -> web.Response:
        return json_response(
            self.auth.issuer.public_certificates(),
            headers={"Cache-Control": "public, max-age=3600"},
        )

    async def jwks(self, request: web.Request) -> web.Response:
        return json_response(
            self.auth.issuer.public_jwks(), headers={"Cache-Control": "public, max-age=3600"}
        )

    async def unknown(self, request: web.Request) -> web.Response:
        return google_error(f"NOT_FOUND : {request.path} is not supported here", 404)


def add_auth_routes(
    app: web.Application, auth: AuthService, is_admin: Callable[[str | None], bool]
) -> None:
    """Register the sign-in endpoints, the public keys and the operators' user admin API.

    Call it before any catch-all route."""
    api = AuthApi(auth)
    admin = AdminApi(auth, is_admin)
    routes: list[tuple[str, Handler, tuple[str, ...]]] = [
        (f"{IDENTITY}/v1/accounts:{{action}}", api.accounts, ("POST",)),
        (f"{IDENTITY}/v1/projects/{{project}}/accounts:lookup", admin.project_lookup, ("POST",)),
        (f"{IDENTITY}/{{tail:.*}}", api.unknown, ("POST", "GET")),
        (f"{SECURETOKEN}/v1/token", api.token, ("POST",)),
        (f"{SECURETOKEN}/{{tail:.*}}", api.unknown, ("POST", "GET")),
        (CERTS_PATH, api.certificates, ("GET", "HEAD")),
        (JWKS_PATH, api.jwks, ("GET", "HEAD")),
        *admin.routes(),
    ]
    for path, handler, methods in routes:
        app.router.add_route("*", path, guarded(handler, methods))
