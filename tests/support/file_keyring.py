"""A keyring backend in a JSON file, for app processes started by tests and benchmarks."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError

PATH_ENV = "DESKTOP_CHAT_TEST_KEYRING"
"""The file a :class:`FileKeyring` made by keyring itself (``PYTHON_KEYRING_BACKEND``) uses."""
BACKEND = f"{__name__}.FileKeyring"
"""The ``PYTHON_KEYRING_BACKEND`` value that makes an app process use this backend."""


class FileKeyring(KeyringBackend):
    """Passwords as ``{service: {username: password}}`` in one JSON file (plain text: tests
    only). An app process picks it with ``PYTHON_KEYRING_BACKEND`` = :data:`BACKEND` and
    ``DESKTOP_CHAT_TEST_KEYRING`` = the file; a test can pass the file directly."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        if path is None:
            configured = os.environ.get(PATH_ENV, "")
            if not configured:
                raise RuntimeError(f"{PATH_ENV} names no keyring file")
            path = Path(configured)
        self.path = path

    @properties.classproperty
    def priority(cls) -> float:  # noqa: N805
        """Viable only where the test asked for it (never chosen by accident elsewhere)."""
        if not os.environ.get(PATH_ENV):
            raise RuntimeError(f"{PATH_ENV} is not set")
        return 1.0

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".tmp")
        partial.write_text(json.dumps(data))
        partial.replace(self.path)

    def get_password(self, service: str, username: str) -> str | None:
        return self._read().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._read()
        data.setdefault(service, {})[username] = password
        self._write(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._read()
        if username not in data.get(service, {}):
            raise PasswordDeleteError(f"no password for {username!r} in {service!r}")
        del data[service][username]
        self._write(data)
