"""Exact extraction of an `updatedAt` range from an offset-paged, unordered, changing API.

vivenu lists by `top`/`skip` with no sort parameter, and a record updated while we page leaves
its window and shifts every offset behind it. The rules that keep extraction exact:

* The range's upper bound is frozen in the past, so while we page a window can only lose
  records (updated past the bound, or deleted), never gain them.
* A window is complete only when verified: every page reported the same `total`, and the
  distinct records received equal it. A window that fits one page is one atomic answer.
* A window that fails verification, or is too large to page, is split into narrower windows
  at quantiles of the `updatedAt` values already received (the first page is a sample).
* A single millisecond cannot be split; it is paged and re-read until it verifies, so more
  than `top` records sharing one `updatedAt` still come out complete.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipelines.registry import ResourceSpec
from pipelines.sync.normalize import updated_at_ms
from pipelines.vivenu.client import MAX_TOP, VivenuClient, updated_at_filter
from pipelines.vivenu.errors import VivenuProtocolError


class WindowIncomplete(Exception):
    """A window could not be verified within the attempts allowed (heavy churn in it)."""


class InconsistentTotal(VivenuProtocolError):
    """The list `total` disagrees with the API's own pages, alike on a re-read: not churn."""


@dataclass(frozen=True, order=True)
class Window:
    """The half-open `updatedAt` range [lo, hi) in epoch milliseconds."""

    lo: int
    hi: int

    def params(self, field: str = "updatedAt") -> dict[str, str]:
        """The list filter selecting the window by the records' `field`."""
        return updated_at_filter(gte=_from_ms(self.lo), lt=_from_ms(self.hi), field=field)

    def __str__(self) -> str:
        return f"[{_from_ms(self.lo).isoformat()}, {_from_ms(self.hi).isoformat()})"


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(kw_only=True)
class WindowPolicy:
    """How windows are paged and split.

    Args:
        top: page size (vivenu's maximum is 1000).
        max_pages: the most pages one window may be read in; larger windows are split first.
        split_target: records aimed at per window when splitting after a failed verification.
        single_ms_attempts: re-reads of a one-millisecond window before giving up.
    """

    top: int = MAX_TOP
    max_pages: int = 8
    split_target: int = 700
    single_ms_attempts: int = 10


@dataclass
class WindowStats:
    windows_done: int = 0
    splits: int = 0
    reverifications: int = 0
    records: int = 0
    in_flight: set[Window] = field(default_factory=set)


def _record_key(doc: Any, position: int, field: str = "_id") -> Any:
    record_id = doc.get(field) if isinstance(doc, dict) else None
    # Records without a usable id still count (quarantine keeps them) but cannot be deduplicated.
    return record_id if isinstance(record_id, str) and record_id else ("no-id", position)


def _contradicts(answers: list[tuple[list[Any], int]], total: int, top: int, distinct: int) -> bool:
    """Whether pages (in `skip` order) that all announced `total` contradict it themselves: more
    distinct records than it, or a page shorter than it leaves room for. Offsets shifting while
    we page do neither; records leaving between an answer's count and its page do, and a
    re-read tells that apart from a wrong total."""
    short = any(len(docs) < min(top, total - i * top) for i, (docs, _) in enumerate(answers))
    return distinct > total or short


def split_points(window: Window, sample: list[int], pieces: int) -> list[int]:
    """Cut points strictly inside the window: quantiles of the sample, heavy milliseconds
    isolated in windows of their own; an even split when the sample says nothing."""
    inside = sorted(ms for ms in sample if window.lo <= ms < window.hi)
    pieces = max(2, pieces)
    cuts: set[int] = set()
    if len(inside) >= 2:
        picks = [inside[len(inside) * i // pieces] for i in range(1, pieces)]
        counts = Counter(picks)
        cuts = set(picks) | {ms + 1 for ms, n in counts.items() if n > 1}
        if inside[0] == inside[-1]:
            cuts |= {inside[0], inside[0] + 1}
    width = window.hi - window.lo
    valid = sorted(c for c in cuts if window.lo < c < window.hi)
    if not valid:
        valid = sorted(
            {window.lo + width * i // pieces for i in range(1, pieces)} - {window.lo, window.hi}
        )
    return valid


def split_pieces(total: int, policy: WindowPolicy) -> int:
    """The narrower windows a window of `total` records is cut into before it is paged; 0 when
    it has at most `max_pages` pages and is paged whole."""
    if math.ceil(total / policy.top) <= policy.max_pages:
        return 0
    # Pieces of about half the pages allowed, so uneven cuts still fit.
    return math.ceil(total / (policy.top * policy.max_pages / 2))


def least_window_requests(total: int, policy: WindowPolicy) -> int:
    """The requests `WindowFetcher.fetch` spends on a window of `total` records that nothing
    changes while it is paged, at the least: a page per `top` records (one for an empty window),
    plus the first page, which is not reused, when the window is split before paging. The
    narrower windows' last pages are rarely full: each costs up to one request more."""
    pages = max(1, math.ceil(total / policy.top))
    return pages + (1 if split_pieces(total, policy) else 0)


def split(window: Window, sample: list[int], pieces: int) -> list[Window]:
    """The window cut at `split_points`."""
    bounds = [window.lo, *split_points(window, sample, pieces), window.hi]
    return [Window(a, b) for a, b in itertools.pairwise(bounds) if a < b]


class WindowFetcher:
    """Fetches windows of one resource and proves each complete before yielding it."""

    def __init__(
        self,
        client: VivenuClient,
        resource: ResourceSpec,
        policy: WindowPolicy | None = None,
        *,
        on_progress: Callable[[WindowStats], None] | None = None,
    ) -> None:
        self.client = client
        self.resource = resource
        self.policy = policy or WindowPolicy()
        self.stats = WindowStats()
        self._on_progress = on_progress or (lambda stats: None)
        self._prefetched: tuple[Window, tuple[list[Any], int]] | None = None

    async def prefetch(self, window: Window) -> None:
        """Read the first page of `window` now (a run's first request, which tells vivenu's
        clock); fetching `window` later starts from this page instead of asking again."""
        self._prefetched = (window, await self._read(window, 0))

    async def _page(self, window: Window, skip: int) -> tuple[list[Any], int]:
        if skip == 0 and self._prefetched is not None and self._prefetched[0] == window:
            page, self._prefetched = self._prefetched[1], None
            return page
        return await self._read(window, skip)

    async def _read(self, window: Window, skip: int) -> tuple[list[Any], int]:
        page = await self.client.list_page(
            self.resource,
            top=self.policy.top,
            skip=skip,
            params=window.params(self.resource.updated_field),
        )
        return page.docs, page.total

    async def fetch(self, window: Window) -> list[Any] | list[Window]:
        """The window's records when verified, or the narrower windows to fetch instead."""
        top = self.policy.top
        docs, total = await self._page(window, 0)
        # Distinct ids, as everywhere a window is verified: a duplicate may stand in for a record.
        distinct = len({_record_key(d, i, self.resource.id_field) for i, d in enumerate(docs)})
        if total <= top and distinct == len(docs) == total:
            return docs  # one atomic answer
        sample = [
            ms for d in docs if (ms := updated_at_ms(d, self.resource.updated_field)) is not None
        ]
        pages = math.ceil(total / top)
        if (pieces := split_pieces(total, self.policy)) and window.hi - window.lo > 1:
            self.stats.splits += 1
            return split(window, sample, pieces)
        answers = [(docs, total)]
        answers += await asyncio.gather(
            *(self._page(window, s) for s in range(top, pages * top, top))
        )
        attempts = 1
        contradicted: tuple[int, dict[Any, int | None]] | None = None
        while True:
            received: dict[Any, Any] = {}
            for page_docs, _ in answers:
                for d in page_docs:
                    received[_record_key(d, len(received), self.resource.id_field)] = d
            totals = {t for _, t in answers}
            if len(totals) == 1 and len(received) == total:
                return list(received.values())
            # Something in the window changed while we paged: narrow it, or re-read one ms.
            self.stats.reverifications += 1
            confirming = False
            if len(totals) == 1 and _contradicts(answers, total, top, len(received)):
                seen = (
                    total,
                    {
                        key: updated_at_ms(d, self.resource.updated_field)
                        for key, d in received.items()
                    },
                )
                if seen == contradicted:
                    raise InconsistentTotal(
                        f"{self.resource.name} window {window}: vivenu announced total "
                        f"{total} but its pages held {len(received)} distinct records, alike "
                        "when read again with no record changed, so the total is wrong (not "
                        "churn); check that VIVENU_BASE_URL reaches the vivenu API itself, not "
                        "a proxy that rewrites its answers"
                    )
                # Read it once more as it is before narrowing: churn changes what comes back,
                # a wrong total does not.
                confirming, contradicted = contradicted is None, seen
            if window.hi - window.lo > 1 and not confirming:
                self.stats.splits += 1
                sample += [
                    ms
                    for d in received.values()
                    if (ms := updated_at_ms(d, self.resource.updated_field)) is not None
                ]
                return split(window, sample, math.ceil(min(totals) / self.policy.split_target))
            if attempts >= self.policy.single_ms_attempts:
                raise WindowIncomplete(
                    f"{self.resource.name} window {window} kept changing while paged "
                    f"({attempts} attempts, totals {sorted(totals)}, received {len(received)})"
                )
            attempts += 1
            await asyncio.sleep(0.01 * 2**attempts)
            # The window only shrinks, so the last total bounds the pages; asking for them all at
            # once leaves the least time for a change to land between them.
            total = min(totals)
            answers = await asyncio.gather(
                *(
                    self._page(window, s)
                    for s in range(0, max(1, math.ceil(total / top)) * top, top)
                )
            )
            total = answers[0][1]

    async def stream(self, windows: list[Window]) -> AsyncIterator[tuple[Window, list[Any]]]:
        """Yields (window, records) for every window, each verified, splitting as needed.

        Windows are fetched concurrently (the client bounds requests in flight and their
        rate); the yielded windows together cover exactly the windows given.
        """
        queue: asyncio.Queue[Window] = asyncio.Queue()
        results: asyncio.Queue[tuple[Window, list[Any]] | BaseException] = asyncio.Queue()
        for w in windows:
            queue.put_nowait(w)
        pending = len(windows)

        async def worker() -> None:
            nonlocal pending
            while True:
                window = await queue.get()
                self.stats.in_flight.add(window)
                try:
                    outcome = await self.fetch(window)
                except BaseException as exc:  # handed to the consumer, which stops everything
                    await results.put(exc)
                    return
                finally:
                    self.stats.in_flight.discard(window)
                if outcome and isinstance(outcome[0], Window):
                    for child in outcome:
                        queue.put_nowait(child)
                    pending += len(outcome) - 1
                else:
                    await results.put((window, outcome))

        workers = [
            asyncio.create_task(worker()) for _ in range(max(2, self.client.settings.concurrency))
        ]
        try:
            while pending:
                item = await results.get()
                if isinstance(item, BaseException):
                    raise item
                pending -= 1
                self.stats.windows_done += 1
                self.stats.records += len(item[1])
                self._on_progress(self.stats)
                yield item
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
