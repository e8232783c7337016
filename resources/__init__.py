"""Resource files (rules, icons, sounds, stylesheets) shipped inside the installed package."""

from __future__ import annotations

import sys
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

__all__ = ["ResourceNotFoundError", "path", "read_bytes", "read_text"]


class ResourceNotFoundError(FileNotFoundError):
    """A named resource is missing from this installation."""


def _root() -> Traversable:
    # A PyInstaller bundle unpacks data next to the executable under sys._MEIPASS.
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        candidate = Path(bundle) / "desktop_chat" / "resources"
        if candidate.is_dir():
            return candidate
    return resources.files(__name__)


def path(name: str) -> Traversable:
    """Return the resource called *name* (slash separated, e.g. ``icons/app.svg``)."""
    node = _root()
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise ResourceNotFoundError(f"invalid resource name: {name!r}")
        node = node / part
    if not node.is_file():
        raise ResourceNotFoundError(f"resource not found: {name}")
    return node


def read_bytes(name: str) -> bytes:
    """Read a resource as bytes."""
    return path(name).read_bytes()


def read_text(name: str) -> str:
    """Read a resource as UTF-8 text."""
    return path(name).read_text(encoding="utf-8")
