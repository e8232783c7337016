"""Moving whole trees in and out in Firebase's JSON export format."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import IO

import orjson

from desktop_chat.core.errors import CoreError
from desktop_chat.core.tree import iter_leaves
from desktop_chat.core.values import normalize as normalize_value
from desktop_chat.core.values import render
from desktop_chat.server.datadir import DataDir
from desktop_chat.server.errors import ServerError, StoreError
from desktop_chat.server.store import Store

__all__ = ["export_tree", "import_tree"]


def export_tree(data_dir: FsPath, out: IO[bytes]) -> None:
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


def import_tree(data_dir: FsPath, source: IO[bytes]) -> int:
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
