"""`desktop-chat-server`: serve, and export / import of whole trees in Firebase's JSON format."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import IO

import orjson

from desktop_chat.core.errors import CoreError
from desktop_chat.core.tree import iter_leaves
from desktop_chat.core.values import normalize as normalize_value
from desktop_chat.core.values import render
from desktop_chat.server.app import ServerConfig, serve
from desktop_chat.server.datadir import DataDir, default_data_dir
from desktop_chat.server.errors import ServerError, StoreError
from desktop_chat.server.history import HISTORY_IN_MEMORY
from desktop_chat.server.limits import LimitSettings, parse_limit
from desktop_chat.server.log_format import configure_logging
from desktop_chat.server.notifications import add_notify_parser, run_notify
from desktop_chat.server.store import Store
from desktop_chat.server.users_cli import add_users_parser, run_users, scrypt_n

__all__ = ["main"]

log = logging.getLogger("desktop_chat.server")
COMMANDS = ("serve", "export", "import", "users", "notify")


def export_tree(data_dir: Path, out: IO[bytes]) -> None:
    """Write the whole tree as Firebase export JSON (priorities included)."""
    directory = DataDir(data_dir)
    if not directory.store_file.exists():
        raise ServerError(f"no store in {data_dir}")
    store = Store(directory.store_file)
    try:
        root = store.load()
    finally:
        store.close()
    out.write(orjson.dumps(render(root, export=True), option=orjson.OPT_INDENT_2))
    out.write(b"\n")


def import_tree(data_dir: Path, source: IO[bytes]) -> int:
    """Replace the whole tree with the export JSON in *source*; returns the number of leaves.

    Refuses while a server holds the data dir, and changes nothing if the file is bad.
    """
    try:
        parsed = orjson.loads(source.read())
    except orjson.JSONDecodeError as exc:
        raise ServerError(f"the file is not valid JSON: {exc}") from exc
    try:
        written = normalize_value(parsed)
    except CoreError as exc:
        raise ServerError(f"the file cannot be imported: {exc}") from exc
    if written.has_server_values:
        raise ServerError("the file holds server values ({'.sv': ...}); export files never do")
    directory = DataDir(data_dir)
    directory.create()
    directory.lock()
    try:
        store = Store(directory.store_file)
        try:
            leaves = list(iter_leaves(written.value, ()))
            store.replace_all(leaves)
        finally:
            store.close()
    except StoreError:
        raise
    finally:
        directory.unlock()
    return len(leaves)


def _size(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of bytes")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number 0 or more, not {text!r}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 7 * 24 * 60:
        raise argparse.ArgumentTypeError("must be a number of minutes from 0 to 10080")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="desktop-chat-server",
        description="A Firebase-compatible Realtime Database server on SQLite.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the server (the default)")
    serve_cmd.add_argument(
        "--host", default="127.0.0.1", help="another address needs --tls-cert/--tls-key"
    )
    serve_cmd.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate")
    serve_cmd.add_argument("--tls-key", type=Path, help="the certificate's private key")
    serve_cmd.add_argument(
        "--insecure", action="store_true", help="plain HTTP on a non-loopback --host anyway"
    )
    serve_cmd.add_argument("--port", type=int, default=9000, help="0 picks a free port")
    serve_cmd.add_argument("--data-dir", type=Path, default=None)
    serve_cmd.add_argument(
        "--namespace", default="desktop-chat", help="the database name clients give as ?ns="
    )
    serve_cmd.add_argument(
        "--emulator-admin",
        action="store_true",
        help="treat 'Authorization: Bearer owner' as admin (tests only)",
    )
    serve_cmd.add_argument(
        "--keep-alive",
        type=float,
        default=30.0,
        help="seconds between keep-alive events on idle streams",
    )
    serve_cmd.add_argument(
        "--max-body",
        type=_size,
        default=16 * 1024 * 1024,
        help="largest accepted request body in bytes",
    )
    serve_cmd.add_argument(
        "--stream-buffer",
        type=_size,
        default=4 * 1024 * 1024,
        help="bytes a stream may fall behind before it is closed",
    )
    serve_cmd.add_argument(
        "--durability",
        choices=("normal", "full"),
        default="normal",
        help="SQLite synchronous mode: normal survives a crash of the "
        "process, full also a power loss",
    )
    serve_cmd.add_argument(
        "--project-id",
        default="desktop-chat",
        help="the Firebase project id: the aud and iss of the ID tokens this server issues",
    )
    serve_cmd.add_argument(
        "--token-ttl", type=_positive, default=3600, help="seconds an ID token is valid"
    )
    serve_cmd.add_argument(
        "--scrypt-n",
        type=scrypt_n,
        default=2**15,
        help="scrypt cost (a power of two) of new password hashes",
    )
    serve_cmd.add_argument(
        "--max-failed-sign-ins",
        type=_positive,
        default=5,
        help="failed sign-ins per account or client address before a 5 minute lock",
    )
    serve_cmd.add_argument(
        "--rules",
        type=Path,
        default=None,
        help="security rules file (default: the shipped database.rules.json)",
    )
    serve_cmd.add_argument("--log-level", default="INFO")
    serve_cmd.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per log line, for log collectors",
    )
    serve_cmd.add_argument(
        "--redis-url",
        default=None,
        help="share Socket.IO rooms and presence with other nodes through this Redis",
    )
    serve_cmd.add_argument(
        "--socketio-only",
        action="store_true",
        help="serve only Socket.IO (and /healthz, /metrics) against --database-url",
    )
    serve_cmd.add_argument(
        "--database-url",
        default=None,
        help="the data backend of a --socketio-only node: a Firebase Realtime Database URL "
        "(service-account credentials from GOOGLE_APPLICATION_CREDENTIALS) or a "
        "desktop-chat-server URL (its admin secret in DESKTOP_CHAT_ADMIN_SECRET)",
    )
    serve_cmd.add_argument(
        "--typing-rate",
        type=float,
        default=5.0,
        help="typing events a socket may send per second (bursts of twice that); default 5",
    )
    serve_cmd.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a limit (0 turns it off), repeatable: writes_per_user (100/s), "
        "writes_per_address (1000/s), events_per_user (50/s), events_per_address (1000/s), "
        "streams_per_user (50), streams_per_address (2000), sockets_per_user (50)",
    )
    serve_cmd.add_argument(
        "--firebase",
        action="store_true",
        default=None,
        help="treat --database-url as Firebase even if its host name does not say so",
    )
    serve_cmd.add_argument(
        "--embedded",
        action="store_true",
        help="the desktop app's own server: stop when the last app holding a lease "
        "(POST /_admin/leases) has released it or let it expire",
    )
    serve_cmd.add_argument(
        "--reminder-minutes",
        type=_minutes,
        default=15.0,
        help="remind both people of a confirmed booking this many minutes before its "
        "session (default 15; 0 sends no reminders)",
    )
    serve_cmd.add_argument(
        "--history-in-memory",
        type=_count,
        default=HISTORY_IN_MEMORY,
        metavar="N",
        help="keep the newest N messages of each conversation and notifications of each user "
        f"in memory, the older ones on disk only, read back when asked for (default "
        f"{HISTORY_IN_MEMORY}; 0 keeps everything in memory)",
    )
    serve_cmd.add_argument("--lease-ttl", type=_seconds, default=15.0, help=argparse.SUPPRESS)
    serve_cmd.add_argument("--lease-wait", type=_seconds, default=60.0, help=argparse.SUPPRESS)
    for name, text in (
        ("export", "write the whole tree as JSON to stdout"),
        ("import", "replace the whole tree with a JSON export file"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--data-dir", type=Path, default=None)
        if name == "import":
            sub.add_argument("file", type=Path)
    add_users_parser(commands)
    add_notify_parser(commands)
    return parser


def _limits(given: list[str]) -> LimitSettings:
    settings = LimitSettings()
    for text in given:
        try:
            settings = parse_limit(text, settings)
        except ValueError as exc:
            raise ServerError(f"--limit {text}: {exc}") from None
    return settings


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] not in (*COMMANDS, "-h", "--help"):
        args_list.insert(0, "serve")
    args = _parser().parse_args(args_list)
    data_dir: Path = args.data_dir or default_data_dir()
    level = logging.getLevelName(getattr(args, "log_level", "INFO").upper())
    configure_logging(getattr(args, "log_format", "text"), level if isinstance(level, int) else 20)
    try:
        if args.command == "export":
            export_tree(data_dir, sys.stdout.buffer)
        elif args.command == "import":
            with args.file.open("rb") as source:
                count = import_tree(data_dir, source)
            print(f"imported {count} values into {data_dir}")
        elif args.command == "users":
            run_users(args, data_dir)
        elif args.command == "notify":
            run_notify(args, data_dir)
        else:
            config = ServerConfig(
                data_dir=data_dir,
                host=args.host,
                port=args.port,
                namespace=args.namespace,
                emulator_admin=args.emulator_admin,
                keep_alive=args.keep_alive,
                max_body=args.max_body,
                stream_buffer=args.stream_buffer,
                durability=args.durability,
                project_id=args.project_id,
                token_ttl=args.token_ttl,
                scrypt_n=args.scrypt_n,
                max_failed_sign_ins=args.max_failed_sign_ins,
                rules_file=args.rules,
                redis_url=args.redis_url,
                socketio_only=args.socketio_only,
                tls_cert=args.tls_cert,
                tls_key=args.tls_key,
                insecure=args.insecure,
                database_url=args.database_url,
                firebase=args.firebase,
                typing_rate=args.typing_rate,
                embedded=args.embedded,
                lease_ttl=args.lease_ttl,
                lease_wait=args.lease_wait,
                reminder_minutes=args.reminder_minutes,
                history_in_memory=args.history_in_memory,
                limits=_limits(args.limit),
            )
            if not config.typing_rate > 0:
                raise ServerError("--typing-rate must be positive")
            if config.embedded and config.socketio_only:
                raise ServerError("--embedded is for the data server, not --socketio-only nodes")
            if config.database_url and not config.socketio_only:
                raise ServerError("--database-url is for --socketio-only nodes")
            asyncio.run(serve(config))
    except ServerError as exc:
        print(f"desktop-chat-server: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"desktop-chat-server: error: {exc.strerror or exc}"
            f"{f': {exc.filename}' if exc.filename else ''}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
