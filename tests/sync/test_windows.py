"""Window splitting: quantile cuts, heavy milliseconds isolated, always strictly narrower."""

from __future__ import annotations

import itertools

from pipelines.sync.windows import Keep, Window, _links, _Read, split
from pipelines.vivenu.client import Resource


def _covers(parent: Window, children: list[Window]) -> bool:
    return (
        children[0].lo == parent.lo
        and children[-1].hi == parent.hi
        and all(a.hi == b.lo for a, b in itertools.pairwise(children))
    )


def test_split_follows_sample_quantiles():
    w = Window(0, 1_000_000)
    sample = list(range(0, 1000, 1))  # everything in the first millisecond thousandth
    children = split(w, sample, 4)
    assert _covers(w, children)
    assert len(children) == 4
    assert children[0].hi <= 1000


def test_heavy_millisecond_gets_its_own_window():
    w = Window(100, 200)
    children = split(w, [150] * 1000, 4)
    assert _covers(w, children)
    assert Window(150, 151) in children


def test_all_sample_at_lower_bound_still_narrows():
    w = Window(100, 200)
    children = split(w, [100] * 1000, 10)
    assert _covers(w, children) and Window(100, 101) in children


def test_no_sample_splits_evenly():
    w = Window(0, 10)
    children = split(w, [], 5)
    assert _covers(w, children) and len(children) == 5


def test_two_ms_window_splits_into_single_ms():
    w = Window(0, 2)
    assert split(w, [0, 1], 50) == [Window(0, 1), Window(1, 2)]


def _page(skip: int, ids: list[str], total: int = 100) -> _Read:
    return _Read.of(skip, [{"_id": i} for i in ids], total, Resource.CUSTOMERS, Keep())


def test_pages_link_where_one_order_lets_them_share_records():
    earlier = _page(0, ["a", "b", "c", "d", "e"])
    # Read later, after "d" left: the next page starts where the first ends, shifted down.
    assert _links(earlier, _page(3, ["c", "e", "f", "g", "h"]))
    # Read first: its head still holds a record that left before the other page was read.
    assert _links(_page(3, ["c", "d", "e", "f", "g"]), _page(0, ["a", "b", "c", "e"], 99))


def test_pages_sharing_records_out_of_order_do_not_link():
    earlier = _page(0, ["a", "b", "c", "d", "e"])
    assert not _links(earlier, _page(3, ["x", "y", "z", "u", "v"]))  # nothing shared
    assert not _links(earlier, _page(3, ["e", "d", "f", "g", "h"]))  # the order moved
    assert not _links(earlier, _page(3, ["x", "b", "c", "y", "z"]))  # in the middle of both
