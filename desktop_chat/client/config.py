"""Which backend the client talks to (Firebase, an emulator or our server), and its URLs."""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import orjson
import platformdirs

from desktop_chat.client.errors import ConfigError

__all__ = ["ENV_VARS", "BackendConfig", "default_settings_path"]

log = logging.getLogger("desktop_chat.client")

Mode = Literal["firebase", "local"]

ENV_VARS = {
    "backend": "DESKTOP_CHAT_BACKEND",
    "api_key": "DESKTOP_CHAT_API_KEY",
    "database_url": "DESKTOP_CHAT_DATABASE_URL",
    "socketio_url": "DESKTOP_CHAT_SOCKETIO_URL",
    "project_id": "DESKTOP_CHAT_PROJECT_ID",
    "server_url": "DESKTOP_CHAT_SERVER_URL",
    "namespace": "DESKTOP_CHAT_NAMESPACE",
}
"""Environment variables that override the settings file, by field."""
SETTINGS_ENV = "DESKTOP_CHAT_SETTINGS"
AUTH_EMULATOR_ENV = "FIREBASE_AUTH_EMULATOR_HOST"
DATABASE_EMULATOR_ENV = "FIREBASE_DATABASE_EMULATOR_HOST"

_FILE_KEYS = {
    "backend": "backend",
    "apiKey": "api_key",
    "databaseURL": "database_url",
    "socketioURL": "socketio_url",
    "projectId": "project_id",
    "serverURL": "server_url",
    "namespace": "namespace",
}
"""Settings-file keys (Firebase's web-config spelling) and the fields they fill."""
_GOOGLE_IDENTITY = "https://identitytoolkit.googleapis.com/v1"
_GOOGLE_SECURETOKEN = "https://securetoken.googleapis.com/v1"
_FIREBASE_HOST_SUFFIXES = (".firebaseio.com", ".firebasedatabase.app")


def default_settings_path() -> Path:
    """Where the settings file lives unless ``DESKTOP_CHAT_SETTINGS`` says otherwise."""
    return platformdirs.user_config_path("desktop-chat") / "settings.json"


def _emulator_host(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if "://" in raw or "/" in raw:
        raise ConfigError(f"{name} must be host:port without a scheme or path, not {raw!r}")
    return raw


@dataclass(frozen=True, slots=True)
class _HttpUrl:
    """A checked http(s) URL with no path: what the config's URLs are made of."""

    scheme: str
    host: str
    origin: str
    """``scheme://host[:port]`` (the host IDNA-encoded, lower case)."""
    query: dict[str, str]


_LABEL = r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?"
_HOST = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")


def _http_url(raw: str, what: str) -> _HttpUrl:
    """Parse and check *raw* (the standard library's parser: yarl, which the requests use,
    need not load before the first window shows)."""
    try:
        parts = urllib.parse.urlsplit(raw.strip())
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii").lower()
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    except (ValueError, UnicodeError) as exc:
        raise ConfigError(f"{what} is not a URL: {raw!r}") from exc
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    valid_host = bracketed or _HOST.fullmatch(host) is not None
    if parts.scheme.lower() not in ("http", "https") or not host or not valid_host:
        raise ConfigError(f"{what} must be an http(s) URL with a host, not {raw!r}")
    if parts.path not in ("", "/") or parts.fragment:
        raise ConfigError(f"{what} must have no path: {raw!r}")
    if set(query) - {"ns"}:
        raise ConfigError(f"{what} may only carry ?ns=NAMESPACE: {raw!r}")
    scheme = parts.scheme.lower()
    shown = f"[{host}]" if bracketed else host
    default = {"http": 80, "https": 443}[scheme]
    origin = f"{scheme}://{shown}" + (f":{port}" if port is not None and port != default else "")
    return _HttpUrl(scheme, host, origin, {k: v[-1] for k, v in query.items()})


def _origin(url: _HttpUrl) -> str:
    return url.origin


@dataclass(frozen=True, slots=True)
class BackendConfig:
    """A backend: Firebase (``api_key``, ``database_url``, ...) or our server (``server_url``).

    ``embedded`` means nothing was configured: the app starts its own local server and then
    calls :meth:`with_server`. The URL properties raise ConfigError until a server is known.
    """

    mode: Mode = "local"
    api_key: str = ""
    database_url: str = ""
    socketio_url: str | None = None
    project_id: str | None = None
    server_url: str | None = None
    namespace: str | None = None
    embedded: bool = False
    auth_emulator_host: str | None = None
    database_emulator_host: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Settings-file keys this class does not know, kept for other parts of the app."""

    # building ---------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        settings_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        *,
        default_file: bool = True,
    ) -> BackendConfig:
        """Build from a JSON settings file and environment variables (which win).

        Without *settings_file*, ``$DESKTOP_CHAT_SETTINGS`` is read, else (with
        *default_file*) :func:`default_settings_path` if it exists. Nothing configured at all
        gives an embedded local config.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        path = settings_file
        if path is None and env.get(SETTINGS_ENV):
            path = Path(env[SETTINGS_ENV])
        if path is None and default_file and default_settings_path().is_file():
            path = default_settings_path()
        if path is not None:
            for key, value in cls._read_file(path).items():
                if key in _FILE_KEYS:
                    values[_FILE_KEYS[key]] = value
                else:
                    extra[key] = value
        for name, variable in ENV_VARS.items():
            if env.get(variable, "").strip():
                values[name] = env[variable].strip()
        for name, value in values.items():
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"setting {name} must be a string, not {value!r}")
        return cls.from_values(
            values,
            auth_emulator_host=_emulator_host(env, AUTH_EMULATOR_ENV),
            database_emulator_host=_emulator_host(env, DATABASE_EMULATOR_ENV),
            extra=extra,
        )

    @staticmethod
    def _read_file(path: Path) -> dict[str, Any]:
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            raise ConfigError(f"settings file {path} does not exist") from None
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"settings file {path} must hold a JSON object")
        return data

    @classmethod
    def from_values(
        cls,
        values: Mapping[str, str | None],
        *,
        auth_emulator_host: str | None = None,
        database_emulator_host: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> BackendConfig:
        """Build from field values (None or "" meaning unset) and check them."""
        given = {name: value for name, value in values.items() if value}
        backend = given.pop("backend", None)
        if backend not in (None, "firebase", "local"):
            raise ConfigError(f"backend must be 'firebase' or 'local', not {backend!r}")
        unknown = set(given) - set(ENV_VARS)
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        if backend is None:
            if "database_url" in given or "api_key" in given:
                backend = "firebase"
            elif "server_url" in given:
                backend = "local"
        config = cls(
            mode="firebase" if backend == "firebase" else "local",
            api_key=given.get("api_key", ""),
            database_url=given.get("database_url", ""),
            socketio_url=given.get("socketio_url"),
            project_id=given.get("project_id"),
            server_url=given.get("server_url"),
            namespace=given.get("namespace"),
            embedded=backend != "firebase" and "server_url" not in given,
            auth_emulator_host=auth_emulator_host,
            database_emulator_host=database_emulator_host,
            extra=dict(extra or {}),
        )
        config.check()
        if config.mode == "local" and (auth_emulator_host or database_emulator_host):
            log.info(
                "FIREBASE_*_EMULATOR_HOST ignored: not in Firebase mode (%s)", config.describe()
            )
        return config

    def with_server(self, server_url: str, namespace: str | None = None) -> BackendConfig:
        """This config pointed at a (started) local server."""
        config = replace(self, mode="local", server_url=server_url, namespace=namespace)
        config.check()
        return config

    def check(self) -> None:
        """Raise ConfigError unless the URLs this config needs can be computed."""
        if self.mode == "firebase":
            if not self.database_url:
                raise ConfigError("Firebase mode needs a databaseURL (DESKTOP_CHAT_DATABASE_URL)")
            if not self.api_key and self.auth_emulator_host is None:
                raise ConfigError("Firebase mode needs an apiKey (DESKTOP_CHAT_API_KEY)")
            _ = self.database_base, self.database_params
        elif self.server_url is not None:
            _http_url(self.server_url, "serverURL")
        if self.socketio_url is not None:
            _http_url(self.socketio_url, "socketioURL")

    # URLs -------------------------------------------------------------------------------
    def _server(self) -> _HttpUrl:
        if self.server_url is None:
            raise ConfigError("the embedded server has not been started (no server URL yet)")
        return _http_url(self.server_url, "serverURL")

    @property
    def identity_base(self) -> str:
        """Base of the Identity Toolkit API: ``<base>/accounts:signUp`` etc."""
        if self.mode == "firebase":
            if self.auth_emulator_host is not None:
                return f"http://{self.auth_emulator_host}/identitytoolkit.googleapis.com/v1"
            return _GOOGLE_IDENTITY
        return f"{_origin(self._server())}/identitytoolkit.googleapis.com/v1"

    @property
    def securetoken_base(self) -> str:
        """Base of the Secure Token API: ``<base>/token`` refreshes an ID token."""
        if self.mode == "firebase":
            if self.auth_emulator_host is not None:
                return f"http://{self.auth_emulator_host}/securetoken.googleapis.com/v1"
            return _GOOGLE_SECURETOKEN
        return f"{_origin(self._server())}/securetoken.googleapis.com/v1"

    @property
    def auth_key(self) -> str:
        """The ``?key=`` of auth requests (emulators and our server take any)."""
        return self.api_key or "local-api-key"

    @property
    def database_base(self) -> str:
        """Where ``/<path>.json`` requests go: scheme, host and port, no trailing slash."""
        if self.mode == "local":
            return _origin(self._server())
        url = _http_url(self.database_url, "databaseURL")
        if self.database_emulator_host is not None:
            return f"http://{self.database_emulator_host}"
        host = url.host or ""
        if host.endswith(_FIREBASE_HOST_SUFFIXES) and url.scheme != "https":
            raise ConfigError(f"a Firebase databaseURL must use https: {self.database_url!r}")
        return _origin(url)

    @property
    def realtime_url(self) -> str | None:
        """Where the Socket.IO server is: ``socketioURL`` if set, else (local mode) the
        database server itself; None for Firebase without one (no typing or presence)."""
        if self.socketio_url is not None:
            return _origin(_http_url(self.socketio_url, "socketioURL"))
        return self.database_base if self.mode == "local" else None

    @property
    def database_namespace(self) -> str | None:
        """The database's name: ``?ns=``, else the first label of a Firebase host."""
        if self.mode == "local":
            return self.namespace
        url = _http_url(self.database_url, "databaseURL")
        if url.query.get("ns"):
            return url.query["ns"]
        host = url.host or ""
        if host.endswith(_FIREBASE_HOST_SUFFIXES) or self.database_emulator_host is not None:
            label = host.split(".", 1)[0]
            return label or None
        return None

    @property
    def database_params(self) -> dict[str, str]:
        """Query parameters every database request carries (``ns`` for emulators, our server
        and databaseURLs that name one; none for Firebase's own hosts)."""
        namespace = self.database_namespace
        if namespace is None:
            return {}
        if self.mode == "local" or self.database_emulator_host is not None:
            return {"ns": namespace}
        url = _http_url(self.database_url, "databaseURL")
        return {"ns": namespace} if url.query.get("ns") else {}

    def describe(self) -> str:
        """A one-line summary for logs (never includes the API key)."""
        if self.mode == "firebase":
            emulators = [
                f"{kind} emulator {host}"
                for kind, host in (
                    ("auth", self.auth_emulator_host),
                    ("database", self.database_emulator_host),
                )
                if host
            ]
            suffix = f" via {', '.join(emulators)}" if emulators else ""
            return f"firebase {self.database_url}{suffix}"
        if self.server_url is None:
            return "local (embedded server, not started)"
        return f"local {self.server_url} ns={self.namespace or '-'}"
