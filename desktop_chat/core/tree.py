"""The data tree in memory: reading, replacing and deleting at a path, and listing its leaves."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import orjson

from desktop_chat.core.paths import Path, is_prefix
from desktop_chat.core.values import Node

__all__ = [
    "Replaced",
    "get",
    "is_branch",
    "iter_leaves",
    "overlay_get",
    "set_in",
    "storage_key",
]


def is_branch(node: Node) -> bool:
    """True for an object with children (not a leaf, not a leaf carrying a priority)."""
    return isinstance(node, dict) and ".value" not in node


def get(root: Node, path: Path) -> Node:
    """The value stored at *path*, or None."""
    node = root
    for key in path:
        if not is_branch(node):
            return None
        node = node.get(key)
        if node is None:
            return None
    return node


@dataclass(frozen=True, slots=True)
class Replaced:
    """What one set changed: the highest location whose old value is gone, and that value.

    Usually ``path`` is where the write happened; when the write went below a leaf, it is that
    leaf's path, since the leaf had to become an object. Setting ``old`` back at ``path`` undoes
    the write.
    """

    root: Node
    path: Path
    old: Node


def set_in(root: Node, path: Path, value: Node) -> Replaced:
    """Put *value* (None deletes) at *path*, mutating objects along the way.

    Returns the new root and what was replaced. Objects that would be left empty are removed
    whole, as Firebase never stores an empty object. The replaced old value is detached, never
    mutated, so setting it back at the returned path undoes the write exactly.
    """
    if not path:
        return Replaced(value, (), root)
    if not is_branch(root):
        if value is None:
            return Replaced(root, path, None)
        return Replaced(set_in({}, path, value).root, () if root is not None else path, root)
    node: dict[str, Node] = root
    parents: list[tuple[dict[str, Node], str]] = []
    for depth, key in enumerate(path[:-1]):
        child = node.get(key)
        if not is_branch(child):
            if value is None:
                return Replaced(root, path, None)
            node[key] = set_in({}, path[depth + 1 :], value).root
            return Replaced(root, path[: depth + 1] if child is not None else path, child)
        parents.append((node, key))
        node = cast(dict[str, Node], child)
    last = path[-1]
    old = node.get(last)
    if value is not None:
        node[last] = value
        return Replaced(root, path, old)
    if old is None:
        return Replaced(root, path, None)
    # Deleting the only child empties its parent, which Firebase never keeps: cut the tree at
    # the highest ancestor that would be left empty, so the cut-off part stays whole for undo.
    depth, container, key = len(path) - 1, node, last
    while _only_child(container, key):
        if depth == 0:
            return Replaced(None, (), root)
        depth -= 1
        container, key = parents[depth]
    return Replaced(root, path[: depth + 1], container.pop(key))


def _only_child(node: dict[str, Node], key: str) -> bool:
    """True when *node* holds nothing but *key* (and perhaps a priority)."""
    return len(node) == 1 or (len(node) == 2 and ".priority" in node and key != ".priority")


def storage_key(path: Path) -> str:
    """The row key of a location in the store: keys joined by ``/``, the root being ``""``."""
    return "/".join(path)


def iter_leaves(node: Node, path: Path) -> Iterator[tuple[str, bytes]]:
    """Each leaf under *node* (stored at *path*) as (storage key, JSON bytes)."""
    if isinstance(node, dict):
        prefix = storage_key(path)
        stack: list[tuple[str, dict[str, Node]]] = [(prefix, node)]
        while stack:
            base, branch = stack.pop()
            for key, child in branch.items():
                child_key = f"{base}/{key}" if base else key
                if isinstance(child, dict):
                    stack.append((child_key, child))
                else:
                    yield child_key, orjson.dumps(child)
    elif node is not None:
        yield storage_key(path), orjson.dumps(node)


def overlay_get(root: Node, writes: Sequence[tuple[Path, Node]], path: Path) -> Node:
    """The value at *path* as it would be after *writes* (non-overlapping sets), without
    touching *root*: only the objects on the way from *path* to a write are copied."""
    for at, value in writes:
        if is_prefix(at, path):
            return get(value, path[len(at) :])
    below = [(at[len(path) :], value) for at, value in writes if is_prefix(path, at)]
    node = get(root, path)
    if not below:
        return node
    for relative, value in below:
        node = _copied_set(node, relative, value)
    return node


def _copied_set(node: Node, path: Path, value: Node) -> Node:
    """set_in on a copy: the objects along *path* are copied, everything else is shared."""
    if not path:
        return value
    if value is None and not is_branch(node):
        return node  # deleting below a leaf, or below nothing, changes nothing
    branch = dict(node) if is_branch(node) else {}
    child = _copied_set(branch.get(path[0]), path[1:], value)
    if child is None:
        branch.pop(path[0], None)
    else:
        branch[path[0]] = child
    if not branch or (len(branch) == 1 and ".priority" in branch):
        return None
    return branch
