"""A query's answer over one location, kept current child by child instead of re-sorted."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from desktop_chat.core.query import Query
from desktop_chat.core.values import Node

__all__ = ["QueryWindow"]

Sort = tuple[Any, ...]


class QueryWindow:
    """The children a :class:`Query` selects from one location, updated as children change.

    A stream with ``limitToLast(50)`` over a conversation of 100,000 messages must not sort
    them all on every new message. The window remembers the sort keys of the children in it
    and whether it holds every matching child (no limit cut any). A change to some children
    is then settled among the window and the changed children alone whenever that is enough
    to know the answer: everything outside a cut window sorts beyond its edge, so the answer
    stays within the window as long as at least a limit's worth of children remain on the
    window's side of that edge. Otherwise (a child leaving a full window, say) the location is
    queried whole again.
    """

    def __init__(self, query: Query) -> None:
        self.query = query
        self._sort = query.sort_key()
        self._keys: dict[str, tuple[Any, ...]] = {}
        self._complete = True
        self.full_recomputes = 0
        """How often the whole location had to be queried (for tests and tuning)."""

    @property
    def _limit(self) -> int | None:
        query = self.query
        return query.limit_last if query.limit_last is not None else query.limit_first

    def reset(self, node: Node) -> list[str]:
        """Query *node* whole; the keys of the answer, in query order."""
        self.full_recomputes += 1
        items = self.query.ordered(node)
        self._keys = {item[0]: self._sort(item) for item in items}
        limit = self._limit
        self._complete = limit is None or len(items) < limit
        return list(self._keys)

    def update(self, node: Node, changed: Iterable[str] | None) -> list[str]:
        """The answer after the children *changed* of *node* changed (None: maybe all of them);
        its keys, in query order."""
        keys = self._settle(node, changed)
        if keys is None:
            return self.reset(node)
        limit = self._limit
        order = sorted(keys, key=keys.__getitem__)
        if limit is not None and len(order) > limit:
            order = order[-limit:] if self.query.limit_last is not None else order[:limit]
            self._complete = False
        self._keys = {key: keys[key] for key in order}
        return order

    def settles(self, node: Node, changed: Iterable[str] | None) -> bool:
        """Whether :meth:`update` can settle this change among the window and the *changed*
        children alone: if so, *node* need hold only those."""
        return self._settle(node, changed) is not None

    def _settle(
        self, node: Node, changed: Iterable[str] | None
    ) -> dict[str, tuple[Any, ...]] | None:
        """The sort keys of the window's candidates after the change, or None when the whole
        location must be queried again."""
        limit = self._limit
        if changed is None or not isinstance(node, dict) or ".value" in node or limit == 0:
            return None
        keys = dict(self._keys)
        edge = self._edge()
        for key in changed:
            keys.pop(key, None)
            child = node.get(key) if key != ".priority" else None
            if child is not None and self.query.matches((key, child)):
                keys[key] = self._sort((key, child))
        if limit is not None and edge is not None:
            last = self.query.limit_last is not None
            inside = sum((sort >= edge) if last else (sort <= edge) for sort in keys.values())
            if inside < limit:  # children from beyond the edge would come in: look at all
                return None
        return keys

    def _edge(self) -> tuple[Any, ...] | None:
        """The sort key at the window's cut edge, or None if the window holds every match."""
        if self._complete or not self._keys:
            return None
        if self.query.limit_last is not None:
            return min(self._keys.values())
        return max(self._keys.values())
