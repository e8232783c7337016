"""Unit tests for the client's backend configuration, error mapping, backoff and token store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend

from desktop_chat.client.config import BackendConfig
from desktop_chat.client.errors import (
    AuthError,
    BadRequestError,
    ConfigError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    TokenExpiredError,
    auth_error_from_body,
    database_error,
)
from desktop_chat.client.rtdb import MISSING, QuerySpec
from desktop_chat.client.token_store import (
    SERVICE,
    KeyringTokenStore,
    MemoryTokenStore,
    keychain_usable,
    open_token_store,
)
from desktop_chat.client.transport import Backoff


def _load(env: dict[str, str], settings: dict[str, Any] | None = None, tmp: Path | None = None):  # type: ignore[no-untyped-def]
    path = None
    if settings is not None:
        assert tmp is not None
        path = tmp / "settings.json"
        path.write_text(json.dumps(settings))
    return BackendConfig.load(path, env=env, default_file=False)


def test_nothing_configured_is_embedded() -> None:
    config = BackendConfig.load(None, env={}, default_file=False)
    assert config.embedded and config.mode == "local"
    with pytest.raises(ConfigError):
        _ = config.database_base
    started = config.with_server("http://127.0.0.1:9000", "chat")
    assert started.embedded
    assert started.database_base == "http://127.0.0.1:9000"
    assert started.database_params == {"ns": "chat"}
    assert started.identity_base == "http://127.0.0.1:9000/identitytoolkit.googleapis.com/v1"
    assert started.securetoken_base == "http://127.0.0.1:9000/securetoken.googleapis.com/v1"
    assert started.realtime_url == "http://127.0.0.1:9000"  # Socket.IO on the same server


def test_firebaseio_production() -> None:
    config = _load(
        {
            "DESKTOP_CHAT_API_KEY": "AIza",
            "DESKTOP_CHAT_DATABASE_URL": "https://chat-1.firebaseio.com/",
        }
    )
    assert config.mode == "firebase" and not config.embedded
    assert config.database_base == "https://chat-1.firebaseio.com"
    assert config.database_params == {}
    assert config.database_namespace == "chat-1"
    assert config.identity_base == "https://identitytoolkit.googleapis.com/v1"
    assert config.securetoken_base == "https://securetoken.googleapis.com/v1"
    assert config.auth_key == "AIza"
    assert config.realtime_url is None  # Firebase without a Socket.IO server: no realtime


def test_regional_database_from_settings_file_with_env_override(tmp_path: Path) -> None:
    settings = {
        "apiKey": "from-file",
        "databaseURL": "https://chat-2-default-rtdb.europe-west1.firebasedatabase.app",
        "socketioURL": "https://io.example.com",
        "projectId": "chat-2",
        "theme": "dark",
    }
    config = _load({"DESKTOP_CHAT_API_KEY": "from-env"}, settings, tmp_path)
    assert config.api_key == "from-env"
    assert config.database_base == settings["databaseURL"]
    assert config.database_params == {}
    assert config.database_namespace == "chat-2-default-rtdb"
    assert config.socketio_url == "https://io.example.com"
    assert config.realtime_url == "https://io.example.com"
    assert config.project_id == "chat-2"
    assert config.extra == {"theme": "dark"}


def test_emulator_hosts() -> None:
    config = _load(
        {
            "DESKTOP_CHAT_DATABASE_URL": "https://my-ns.firebaseio.com",
            "FIREBASE_DATABASE_EMULATOR_HOST": "127.0.0.1:9000",
            "FIREBASE_AUTH_EMULATOR_HOST": "localhost:9099",
        }
    )
    assert config.database_base == "http://127.0.0.1:9000"
    assert config.database_params == {"ns": "my-ns"}
    assert config.identity_base == "http://localhost:9099/identitytoolkit.googleapis.com/v1"
    assert config.securetoken_base == "http://localhost:9099/securetoken.googleapis.com/v1"
    assert config.auth_key  # the emulator takes any key
    regional = _load(
        {
            "DESKTOP_CHAT_DATABASE_URL": "https://db1.us-central1.firebasedatabase.app",
            "DESKTOP_CHAT_API_KEY": "k",
            "FIREBASE_DATABASE_EMULATOR_HOST": "127.0.0.1:9000",
        }
    )
    assert regional.database_params == {"ns": "db1"}
    explicit = _load(
        {"DESKTOP_CHAT_DATABASE_URL": "http://127.0.0.1:9000?ns=other", "DESKTOP_CHAT_API_KEY": "k"}
    )
    assert explicit.database_base == "http://127.0.0.1:9000"
    assert explicit.database_params == {"ns": "other"}


def test_local_server_mode(tmp_path: Path) -> None:
    config = _load({}, {"serverURL": "http://10.0.0.5:9000/", "namespace": "team"}, tmp_path)
    assert config.mode == "local" and not config.embedded
    assert config.database_base == "http://10.0.0.5:9000"
    assert config.database_params == {"ns": "team"}
    assert config.identity_base.startswith("http://10.0.0.5:9000/identitytoolkit")
    env_only = _load({"DESKTOP_CHAT_SERVER_URL": "http://127.0.0.1:1"})
    assert env_only.database_params == {}


@pytest.mark.parametrize(
    "env",
    [
        {"FIREBASE_DATABASE_EMULATOR_HOST": "http://127.0.0.1:9000"},
        {"DESKTOP_CHAT_DATABASE_URL": "https://x.firebaseio.com"},  # no api key, no emulator
        {"DESKTOP_CHAT_API_KEY": "k"},  # no databaseURL
        {"DESKTOP_CHAT_API_KEY": "k", "DESKTOP_CHAT_DATABASE_URL": "http://x.firebaseio.com"},
        {"DESKTOP_CHAT_API_KEY": "k", "DESKTOP_CHAT_DATABASE_URL": "https://x.firebaseio.com/a"},
        {"DESKTOP_CHAT_API_KEY": "k", "DESKTOP_CHAT_DATABASE_URL": "ftp://x"},
        {"DESKTOP_CHAT_SERVER_URL": "127.0.0.1:9000"},
        {"DESKTOP_CHAT_BACKEND": "cloud"},
    ],
)
def test_bad_configs_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        config = _load(env)
        _ = config.database_base, config.database_params


def test_bad_settings_files(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("[1]")
    with pytest.raises(ConfigError):
        BackendConfig.load(path, env={})
    path.write_text("{")
    with pytest.raises(ConfigError):
        BackendConfig.load(path, env={})
    path.write_text('{"apiKey": 5}')
    with pytest.raises(ConfigError):
        BackendConfig.load(path, env={})
    with pytest.raises(ConfigError):
        BackendConfig.load(tmp_path / "missing.json", env={})
    assert (
        "k"
        not in _load(
            {"DESKTOP_CHAT_API_KEY": "k", "DESKTOP_CHAT_DATABASE_URL": "https://a.firebaseio.com"}
        ).describe()
    )


def test_error_mapping() -> None:
    body = (
        b'{"error": {"code": 400, '
        b'"message": "WEAK_PASSWORD : Password should be at least 6 characters"}}'
    )
    error = auth_error_from_body(400, body)
    assert isinstance(error, AuthError) and error.code == "WEAK_PASSWORD"
    assert error.detail == "Password should be at least 6 characters"
    assert auth_error_from_body(400, b'{"error": "invalid_grant"}').code == "INVALID_GRANT"
    assert auth_error_from_body(502, b"<html>").code == "HTTP_502"
    assert isinstance(database_error(401, b'{"error": "Permission denied"}'), PermissionDeniedError)
    assert isinstance(database_error(401, b'{"error": "Auth token is expired"}'), TokenExpiredError)
    assert isinstance(database_error(400, b'{"error": "Index not defined"}'), BadRequestError)
    assert isinstance(database_error(404, b"not json"), NotFoundError)
    assert isinstance(database_error(503, b""), ServerError)


def test_backoff_is_capped_and_jittered() -> None:
    backoff = Backoff(base=1, cap=8, jitter=0.5, rng=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]
    backoff.reset()
    assert Backoff(base=1, cap=8, jitter=0.5, rng=lambda: 0.0).next_delay() == 1
    with pytest.raises(ValueError):
        Backoff(base=2, cap=1)


def test_query_spec_params() -> None:
    spec = QuerySpec("timestamp", start_at=5, limit_to_last=50)
    assert spec.params() == {"orderBy": '"timestamp"', "startAt": "5", "limitToLast": "50"}
    assert spec.parsed().limit_last == 50
    assert QuerySpec("$key", equal_to="a", start_at=MISSING).params()["equalTo"] == '"a"'


class _DictKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("none")


class _BrokenKeyring(_DictKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("locked")


def test_token_stores() -> None:
    async def main() -> None:
        backend = _DictKeyring()
        store = KeyringTokenStore(backend)
        await store.save("uid1", "refresh-1")
        assert backend.items == {(SERVICE, "uid1"): "refresh-1"}
        assert await store.load("uid1") == "refresh-1" and store.persistent
        await store.delete("uid1")
        await store.delete("uid1")  # nothing there: fine
        assert await store.load("uid1") is None

        broken = KeyringTokenStore(_BrokenKeyring())
        await broken.save("uid2", "refresh-2")  # falls back to memory, with a warning
        assert not broken.persistent and await broken.load("uid2") == "refresh-2"

        memory = MemoryTokenStore()
        await memory.save("u", "t")
        assert not memory.persistent and await memory.load("u") == "t"
        assert isinstance(await open_token_store(force_memory=True), MemoryTokenStore)

    asyncio.run(main())
    assert keychain_usable(_DictKeyring())
    from keyring.backends import fail, null

    assert not keychain_usable(fail.Keyring())
    assert not keychain_usable(null.Keyring())


def test_no_keychain_on_this_machine_means_memory(caplog: pytest.LogCaptureFixture) -> None:
    previous = keyring.get_keyring()
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    try:
        store = asyncio.run(open_token_store())
    finally:
        keyring.set_keyring(previous)
    assert isinstance(store, MemoryTokenStore) and not store.persistent
    assert "memory only" in caplog.text


def test_client_imports_no_server_ui_or_qt() -> None:
    """House rule: desktop_chat.client stands on desktop_chat.core and third-party libs only."""
    import subprocess
    import sys

    code = (
        "import sys, pkgutil, importlib, desktop_chat.client as c\n"
        "for m in pkgutil.iter_modules(c.__path__):\n"
        "    importlib.import_module(f'{c.__name__}.{m.name}')\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in ('PySide6', 'qasync', 'shiboken6')"
        " or n.startswith(('desktop_chat.server', 'desktop_chat.ui'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_settings_file_named_by_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    path.write_text(json.dumps({"backend": "local", "serverURL": "http://127.0.0.1:7000"}))
    config = BackendConfig.load(None, env={"DESKTOP_CHAT_SETTINGS": str(path)}, default_file=False)
    assert config.mode == "local" and config.server_url == "http://127.0.0.1:7000"
    explicit = BackendConfig.load(None, env={"DESKTOP_CHAT_BACKEND": "local"}, default_file=False)
    assert explicit.embedded  # local, but no server URL: the embedded server
