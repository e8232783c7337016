"""QueryWindow: the answer kept child by child equals querying the whole location again."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_chat.core.query import Query
from desktop_chat.core.query_window import QueryWindow

KEYS = [f"k{n:02d}" for n in range(24)]
values = st.one_of(st.none(), st.integers(-5, 5), st.booleans(), st.sampled_from(["a", "b"]))
children = st.one_of(st.none(), st.fixed_dictionaries({"t": values}), values)
locations = st.dictionaries(st.sampled_from(KEYS), children.filter(lambda c: c is not None))


@st.composite
def queries(draw: st.DrawFn) -> Query:
    order = draw(st.sampled_from(["t", "$key", "$value"]))
    if order == "$key":
        bounds = draw(st.sampled_from([{}, {"start_at": "k05"}, {"end_before": "k17"}]))
    else:
        bounds = draw(
            st.sampled_from(
                [{}, {"start_at": 0}, {"end_at": 2}, {"start_after": -2, "end_before": 4}]
            )
        )
    limit = draw(st.one_of(st.none(), st.integers(0, 6)))
    last = draw(st.booleans())
    return Query(
        order_by=order,
        limit_first=None if last else limit,
        limit_last=limit if last else None,
        **bounds,
    )


changes = st.lists(
    st.dictionaries(st.sampled_from(KEYS), children, min_size=1, max_size=4), max_size=8
)


def _apply(node: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = dict(node)
    for key, child in change.items():
        if child is None:
            out.pop(key, None)
        else:
            out[key] = child
    return out


@settings(max_examples=400, deadline=None)
@given(queries(), locations, changes)
def test_updates_agree_with_querying_all_again(
    query: Query, start: dict[str, Any], steps: list[dict[str, Any]]
) -> None:
    window = QueryWindow(query)
    assert window.reset(start) == [key for key, _ in query.ordered(start)]
    node = start
    for change in steps:
        node = _apply(node, change)
        assert window.update(node, set(change)) == [key for key, _ in query.ordered(node)]


def test_new_messages_at_the_end_never_requery_the_location() -> None:
    query = Query(order_by="t", limit_last=3)
    window = QueryWindow(query)
    node = {f"m{n:04d}": {"t": n} for n in range(1000)}
    assert window.reset(node) == ["m0997", "m0998", "m0999"]
    for n in range(1000, 1100):
        node[f"m{n:04d}"] = {"t": n}
        assert window.update(node, {f"m{n:04d}"}) == [f"m{n - 2:04d}", f"m{n - 1:04d}", f"m{n:04d}"]
    node["m0500"] = {"t": 500, "read": True}  # outside the window: no change, no re-query
    assert window.update(node, {"m0500"}) == ["m1097", "m1098", "m1099"]
    assert window.full_recomputes == 1
    del node["m1099"]  # leaving a full window: the next one in comes from outside it
    assert window.update(node, {"m1099"}) == ["m1096", "m1097", "m1098"]
    assert window.full_recomputes == 2
