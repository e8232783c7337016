"""`desktop-chat-server users ...`: sign-in accounts, through the running server or offline."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from desktop_chat.server.account_records import user_info
from desktop_chat.server.accounts import ACCOUNTS_FILE, AccountStore
from desktop_chat.server.credentials import AuthError, ScryptParams
from desktop_chat.server.datadir import ADMIN_SECRET_ENV, DataDir
from desktop_chat.server.errors import DataDirLockedError, ServerError

__all__ = ["Online", "add_users_parser", "online", "run_users"]

ACTIONS = ("add", "list", "disable", "enable", "reset-password", "export", "import")
_ANY_ADDRESS = ("", "0.0.0.0", "::")


class Backend(Protocol):
    """Where the accounts are: a running server's admin API, or the accounts file."""

    def add(self, email: str, password: str, name: str | None) -> dict[str, Any]: ...
    def list_users(self) -> list[dict[str, Any]]: ...
    def set_disabled(self, email: str, disabled: bool) -> dict[str, Any]: ...
    def reset_password(self, email: str, password: str) -> dict[str, Any]: ...
    def export(self) -> list[dict[str, Any]]: ...
    def import_users(self, records: list[Any]) -> int: ...


class Online:
    """The admin API of the server that holds the data dir."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One admin API request; its JSON answer, or ServerError with the server's message."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                raw = exc.read()
            try:
                message = json.loads(raw)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {exc.code}: {raw[:200]!r}"
            raise ServerError(str(message)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServerError(f"the running server at {self.url} does not answer: {exc}") from exc

    def _user(self, email: str, action: str, body: Any = None) -> dict[str, Any]:
        quoted = urllib.parse.quote(email, safe="@")
        user: dict[str, Any] = self.call("POST", f"/_admin/users/{quoted}:{action}", body or {})[
            "user"
        ]
        return user

    def add(self, email: str, password: str, name: str | None) -> dict[str, Any]:
        body = {"email": email, "password": password, "displayName": name}
        user: dict[str, Any] = self.call("POST", "/_admin/users", body)["user"]
        return user

    def list_users(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = self.call("GET", "/_admin/users")["users"]
        return users

    def set_disabled(self, email: str, disabled: bool) -> dict[str, Any]:
        return self._user(email, "disable" if disabled else "enable")

    def reset_password(self, email: str, password: str) -> dict[str, Any]:
        return self._user(email, "resetPassword", {"password": password})

    def export(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.call("GET", "/_admin/users:export")["users"]
        return records

    def import_users(self, records: list[Any]) -> int:
        count: int = self.call("POST", "/_admin/users:import", {"users": records})["imported"]
        return count


class Offline:
    """The accounts file itself, while no server runs (the data dir is locked meanwhile)."""

    def __init__(self, store: AccountStore) -> None:
        self.store = store

    def _find(self, email: str) -> str:
        account = self.store.get_by_email(email)
        if account is None:
            raise AuthError("EMAIL_NOT_FOUND")
        return account.uid

    def add(self, email: str, password: str, name: str | None) -> dict[str, Any]:
        return user_info(self.store.create(email, password, name))

    def list_users(self) -> list[dict[str, Any]]:
        return [user_info(account) for account in self.store.list_accounts()]

    def set_disabled(self, email: str, disabled: bool) -> dict[str, Any]:
        return user_info(self.store.set_disabled(self._find(email), disabled))

    def reset_password(self, email: str, password: str) -> dict[str, Any]:
        return user_info(self.store.set_password(self._find(email), password))

    def export(self) -> list[dict[str, Any]]:
        return self.store.export()

    def import_users(self, records: list[Any]) -> int:
        return self.store.import_accounts(records)


def _admin_secret(directory: DataDir) -> str:
    """The secret the running server uses, read without making one."""
    from_env = os.environ.get(ADMIN_SECRET_ENV)
    if from_env:
        return from_env
    try:
        secret = (directory.root / "admin-secret").read_text(encoding="ascii").strip()
    except OSError:
        secret = ""
    if not secret:
        raise ServerError(f"no admin secret in {directory.root}: set {ADMIN_SECRET_ENV}")
    return secret


def online(directory: DataDir) -> Online:
    """The admin API of the server holding *directory* (whose lock is taken), from its
    ``server.json``, with the admin secret from the environment or the data dir."""
    info = directory.published()
    port = None if info is None else info.get("port")
    if not isinstance(port, int):
        raise ServerError(
            f"a server holds {directory.root} but has not written server.json yet; try again"
        )
    host = str(info.get("host", "127.0.0.1")) if info else "127.0.0.1"
    host = "127.0.0.1" if host in _ANY_ADDRESS else host
    host = f"[{host}]" if ":" in host else host
    return Online(f"http://{host}:{port}", _admin_secret(directory))


@contextmanager
def open_backend(data_dir: Path, scrypt: ScryptParams, create: bool) -> Iterator[Backend]:
    """The running server's admin API if a server holds *data_dir*, else the file itself."""
    directory = DataDir(data_dir)
    if not data_dir.is_dir():
        if not create:
            raise ServerError(f"no data dir at {data_dir}")
        directory.create()
    try:
        directory.lock()
    except DataDirLockedError:
        yield online(directory)
        return
    try:
        store = AccountStore(data_dir / ACCOUNTS_FILE, scrypt)
        try:
            yield Offline(store)
        finally:
            store.close()
    finally:
        directory.unlock()


def _password(args: argparse.Namespace) -> str:
    if args.password is not None:
        return str(args.password)
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n")


def _line(user: dict[str, Any]) -> str:
    state = "disabled" if user.get("disabled") else "enabled"
    return "\t".join((user["localId"], user["email"], user.get("displayName") or "-", state))


def _read_records(path: Path) -> list[Any]:
    try:
        parsed = json.loads(path.read_bytes())
    except ValueError as exc:
        raise ServerError(f"{path} is not valid JSON: {exc}") from exc
    records = parsed.get("users") if isinstance(parsed, dict) else parsed
    if not isinstance(records, list):
        raise ServerError(f'{path} is not a users export ({{"users": [...]}})')
    return records


def run_users(args: argparse.Namespace, data_dir: Path) -> None:
    """Run one ``users`` action; raises ServerError (printed by the caller) on failure."""
    action: str = args.action
    scrypt = ScryptParams(n=args.scrypt_n)
    records = _read_records(args.file) if action == "import" else []
    password = _password(args) if action in ("add", "reset-password") else ""
    with open_backend(data_dir, scrypt, create=action in ("add", "import")) as backend:
        if action == "add":
            user = backend.add(args.email, password, args.name)
            print(f"added {user['localId']} {user['email']}")
        elif action == "list":
            for user in backend.list_users():
                print(_line(user))
        elif action in ("disable", "enable"):
            user = backend.set_disabled(args.email, action == "disable")
            print(f"{action}d {user['email']}")
        elif action == "reset-password":
            user = backend.reset_password(args.email, password)
            print(f"reset the password of {user['email']}; its sessions were signed out")
        elif action == "export":
            json.dump({"users": backend.export()}, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            print(f"imported {backend.import_users(records)} users")


def add_users_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``users`` command and its actions."""
    users = commands.add_parser("users", help="manage sign-in accounts")
    actions = users.add_subparsers(dest="action", required=True)
    texts = {
        "add": "add an account",
        "list": "list accounts: uid, email, name, enabled/disabled",
        "disable": "disable an account and sign it out everywhere",
        "enable": "enable a disabled account",
        "reset-password": "set a new password and sign the account out everywhere",
        "export": "write every account (uids and password hashes) as JSON to stdout",
        "import": "add or replace (by uid) the accounts of an export file",
    }
    for action in ACTIONS:
        sub = actions.add_parser(action, help=texts[action])
        sub.add_argument("--data-dir", type=Path, default=None)
        sub.add_argument(
            "--scrypt-n",
            type=scrypt_n,
            default=2**15,
            help="scrypt cost of new hashes when no server runs",
        )
        if action in ("add", "disable", "enable", "reset-password"):
            sub.add_argument("email")
        if action in ("add", "reset-password"):
            sub.add_argument("--password", default=None, help="the password (else read from stdin)")
        if action == "add":
            sub.add_argument("--name", default=None, help="the display name")
        if action == "import":
            sub.add_argument("file", type=Path)


def scrypt_n(text: str) -> int:
    """argparse type: a power of two, at least 2."""
    try:
        return ScryptParams(n=int(text)).n
    except (ValueError, ServerError) as exc:
        raise argparse.ArgumentTypeError("must be a power of two, at least 2") from exc
