"""The exactness tests catch the naive way of paging.

The README claims that plain `skip` paging (read pages until a short one, trust what came back)
loses records while vivenu changes, and that the mutation tests notice. Here the engine's window
fetcher is swapped for exactly that, and the mutation tests themselves must fail.
"""

from __future__ import annotations

import pytest

from pipelines.sync import engine, windows
from pipelines.sync.windows import Records, Window, WindowFetcher
from tests.sync import test_exactness, test_requests


class PlainSkipFetcher(WindowFetcher):
    """Pages a window with skip += top until a short page, with no verification at all."""

    async def fetch(self, window: Window) -> Records:
        pages = []
        skip = 0
        while True:
            page = await self._page(window, skip)
            pages.append((page, None))
            if page.short(self.policy.top):
                return Records(tuple(pages), self.keep)
            skip += self.policy.top


# The mutation tests' mismatch report with a non-empty list of missing ids.
RECORDS_MISSING = r"'missing': \['"


@pytest.fixture
def plain_paging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "WindowFetcher", PlainSkipFetcher)


@pytest.mark.usefixtures("plain_paging")
@pytest.mark.parametrize("seed", [1, 2])
def test_the_writer_test_catches_plain_paging(tmp_path, seed):
    with pytest.raises(AssertionError, match=RECORDS_MISSING):
        test_exactness.test_writer_mutating_while_the_sync_pages(tmp_path, seed)


@pytest.mark.usefixtures("plain_paging")
def test_the_crowded_millisecond_test_catches_plain_paging(tmp_path):
    with pytest.raises(AssertionError, match=RECORDS_MISSING):
        test_exactness.test_more_than_a_page_in_one_millisecond_while_it_changes(tmp_path)


def test_the_shift_test_catches_overlapping_pages_trusted_unlinked(tmp_path, shifted, monkeypatch):
    # Pages that overlap prove nothing by themselves: only a shared record links two. Trusting
    # every page as linked (the check left out) must lose the records a shift skipped.
    monkeypatch.setattr(windows, "_linked", lambda reads: reads)
    with pytest.raises(AssertionError, match=RECORDS_MISSING):
        test_requests.test_a_shift_past_the_overlap_is_bridged_from_where_it_failed(
            tmp_path, shifted
        )
