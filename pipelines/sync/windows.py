"""Exact extraction of an `updatedAt` range from an offset-paged, unordered, changing API.

vivenu lists by `top`/`skip` with no sort parameter, and a record updated while we page leaves
its window and shifts every offset behind it. The rules that keep extraction exact:

* The range's upper bound is frozen in the past, so while we page a window can only lose
  records (updated past the bound, or deleted), never gain them.
* A window is complete only when verified. A window that fits one page is one atomic answer.
  Pages that all reported one `total` saw a window that held still: their distinct records
  must equal it. Pages whose totals differ saw records leave; consecutive pages overlap by a
  few records, and as a departure only moves later records to lower offsets (vivenu's order of
  the records left stays put), pages that share a record hold everything still in the window
  between them (`proven`). A gap (no shared record) is closed by one bridging page read from
  where the linked pages end.
* A range too large for one window (a checkpoint each) is cut once at quantiles of its first
  page's `updatedAt` values (a sample); a window that still fails verification is narrowed the
  same way.
* A single millisecond cannot be split; it is paged and re-read until it verifies, so more
  than `top` records sharing one `updatedAt` still come out complete.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from pipelines.registry import ResourceSpec
from pipelines.sync.normalize import timestamp_ms
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
        window_pages: the most pages a window is planned in; a larger one is cut once, at
            quantiles of its first page, into windows of about this many pages (each window
            is a checkpoint, and its last page is a part page).
        overlap: records each page repeats of the page before it: a shift of the offsets by
            fewer records while paging is seen (the pages share a record) and costs no re-read.
            0 turns the shift proof off: then only a window whose total held still verifies.
        bridge_rounds: rounds of bridging pages read where neighbouring pages share no record,
            before the window is narrowed (or, one millisecond, read again).
        split_target: records aimed at per window when narrowing a window that failed.
        single_ms_attempts: re-reads of a one-millisecond window before giving up.
    """

    top: int = MAX_TOP
    window_pages: int = 100
    overlap: int = 5
    bridge_rounds: int = 4
    split_target: int = 700
    single_ms_attempts: int = 10

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < self.top:
            raise ValueError(f"overlap must be within 0..{self.top - 1}, got {self.overlap}")

    @property
    def step(self) -> int:
        """The offset between consecutive pages of a window."""
        return self.top - self.overlap


@dataclass
class WindowStats:
    windows_done: int = 0
    splits: int = 0
    reverifications: int = 0
    bridges: int = 0
    records: int = 0
    # The requests the windows met so far will take, nothing changing (a progress estimate).
    expected_requests: int = 0
    in_flight: set[Window] = field(default_factory=set)


def _record_key(doc: Any, field: str = "_id") -> Any:
    record_id = doc.get(field) if isinstance(doc, dict) else None
    if isinstance(record_id, str) and record_id:
        return record_id
    # Records without a usable id still count (quarantine keeps them); overlapping pages
    # repeat them, so they are told apart by content.
    return ("no-id", orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))


def _listed(docs: list[Any], kept: tuple[int, ...] | None) -> list[Any]:
    return docs if kept is None else [docs[i] for i in kept]


@dataclass(frozen=True)
class Keep:
    """How a page's records are held until their window is proven (`hold`, as the page
    arrives: a window holds up to 100 pages, and proving it needs their keys only), and taken
    then (`take(held, positions)`: the records at those positions of the page, in its order;
    None: all of them). By default as parsed; the sync holds them normalized, a tenth of that."""

    hold: Callable[[list[Any]], Any] = list
    take: Callable[[Any, tuple[int, ...] | None], Any] = _listed


@dataclass(frozen=True, eq=False)
class _Read:
    """One page as read: its offset, its records as held (`Keep`), the total announced with
    it, their keys and their raw `updatedAt` values."""

    skip: int
    held: Any
    total: int
    order: tuple[Any, ...]  # the records' keys, in the page's order
    stamps: tuple[Any, ...]  # their `updatedAt`, unparsed (needed only to cut a window)

    @classmethod
    def of(
        cls, skip: int, docs: list[Any], total: int, resource: ResourceSpec, keep: Keep
    ) -> _Read:
        field = resource.updated_field
        order = tuple(_record_key(d, resource.id_field) for d in docs)
        stamps = tuple(d.get(field) if isinstance(d, dict) else None for d in docs)
        return cls(skip, keep.hold(docs), total, order, stamps)

    @functools.cached_property
    def keys(self) -> frozenset[Any]:
        return frozenset(self.order)

    def short(self, top: int) -> bool:
        """Whether the page ran out of records: it reached the end of the window as it was."""
        return len(self.order) < top


@dataclass(frozen=True, eq=False)
class Records:
    """A proven window's records, one copy of each, taken page by page (`Keep.take`)."""

    # Each page read, in offset order, with the positions of its records kept (None: all).
    pages: tuple[tuple[_Read, tuple[int, ...] | None], ...]
    keep: Keep

    def __len__(self) -> int:
        return sum(len(r.order) if kept is None else len(kept) for r, kept in self.pages)

    def __iter__(self) -> Iterator[Any]:
        for read, kept in self.pages:
            yield self.keep.take(read.held, kept)


def _links(a: _Read, b: _Read) -> bool:
    """Whether two pages share records the way one order, from which records only leave, lets
    them: in the same order, and all of the later-read page's records between the two pages'
    starts, so at the head of one page or the tail of the other. Anything else is an order
    that moved, which proves nothing."""
    shared = a.keys & b.keys
    if not shared:
        return False
    in_a = [k for k in a.order if k in shared]
    if in_a != [k for k in b.order if k in shared]:
        return False
    n = len(in_a)
    return any(list(ends) == in_a for r in (a, b) for ends in (r.order[:n], r.order[-n:]))


def page_skips(total: int, policy: WindowPolicy) -> list[int]:
    """The offsets a window of `total` records is planned in: as few pages as overlap by at
    least `overlap` records and reach `total`, spread evenly (the spare records widen every
    overlap)."""
    if total <= policy.top:
        return [0]
    gaps = math.ceil((total - policy.top) / policy.step)
    return [(total - policy.top) * k // gaps for k in range(gaps + 1)]


def _contradicts(reads: list[_Read], top: int, distinct: int) -> bool:
    """Whether pages that all announced one total contradict it themselves: more distinct
    records than it, or a page shorter than it leaves room for. Offsets shifting while we page
    do neither; records leaving between an answer's count and its page do, and a re-read tells
    that apart from a wrong total."""
    total = reads[0].total
    short = any(len(r.order) < min(top, total - r.skip) for r in reads)
    return distinct > total or short


def _merged(reads: list[_Read]) -> dict[Any, tuple[_Read, int]]:
    """Each distinct record's key -> where its copy is kept: the page of the highest offset
    holding it, and its position there."""
    received: dict[Any, tuple[_Read, int]] = {}
    for read in sorted(reads, key=lambda r: r.skip):
        for i, key in enumerate(read.order):
            received[key] = (read, i)
    return received


def _records(received: dict[Any, tuple[_Read, int]], keep: Keep) -> Records:
    kept: dict[_Read, list[int]] = {}
    for read, i in received.values():
        kept.setdefault(read, []).append(i)
    pages = sorted(kept.items(), key=lambda item: item[0].skip)
    positions = ((r, None if len(k) == len(r.order) else tuple(sorted(k))) for r, k in pages)
    return Records(tuple(positions), keep)


def _linked(reads: list[_Read]) -> list[_Read]:
    """The pages connected to the first page (`skip` 0) through shared records (`_links`)."""
    component = [r for r in reads if r.skip == 0][:1]
    rest = sorted((r for r in reads if r not in component), key=lambda r: r.skip)
    grew = True
    while grew:
        grew = False
        for read in list(rest):
            if any(_links(member, read) for member in reversed(component)):
                component.append(read)
                rest.remove(read)
                grew = True
    return component


def proven(reads: list[_Read], distinct: int, policy: WindowPolicy) -> bool:
    """Whether the pages hold every record still in the window.

    With one total on every page the window held still: the distinct records must equal it.
    Otherwise records left while it was paged (with the upper bound frozen they never join),
    and vivenu's order of the rest stays put, so a departure only moves later records to lower
    offsets. Two pages sharing a record then hold every record still in the window between
    their ends; pages linked that way from the first page (offset 0, the window's start) to a
    short page (the window's end) hold all of it. The distinct records must also lie between
    the least total (what is left) and the largest (what there was).
    """
    totals = {r.total for r in reads}
    if len(totals) == 1:
        return distinct == reads[0].total
    if not policy.overlap or not min(totals) <= distinct <= max(totals):
        return False
    return any(r.short(policy.top) for r in _linked(reads))


def _bridge_skip(reads: list[_Read], policy: WindowPolicy, margin: int) -> int:
    """Where to read the page bridging the gap after the pages linked to the first: `margin`
    records before the furthest record they reached, at its offset now (moved down by the
    records that left since)."""
    most, least = max(r.total for r in reads), min(r.total for r in reads)
    # A record's offset at its read, plus the records gone by then: where it stood at first.
    reach = max(r.skip + len(r.order) + most - r.total for r in _linked(reads))
    return max(0, reach - (most - least) - margin)


def least_window_requests(total: int, policy: WindowPolicy) -> int:
    """The requests `WindowFetcher.fetch` spends on a window of `total` records that nothing
    changes while it is paged, at the least: a page per `step` records (one for an empty
    window), plus the first page, which is not reused, when the window is split before paging.
    The narrower windows' last pages are rarely full: each costs up to one request more."""
    if pieces := split_pieces(total, policy):
        return 1 + sum(len(page_skips(n, policy)) for n in _even(total, pieces))
    return len(page_skips(total, policy))


def _even(total: int, pieces: int) -> list[int]:
    return [total // pieces + (i < total % pieces) for i in range(pieces)]


def split_pieces(total: int, policy: WindowPolicy) -> int:
    """The narrower windows a window of `total` records is cut into before it is paged; 0 when
    it has at most `window_pages` pages and is paged whole."""
    # What `window_pages` overlapping pages hold: the pieces then average whole pages or less.
    per_window = policy.top + (policy.window_pages - 1) * policy.step
    return 0 if total <= per_window else math.ceil(total / per_window)


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
        keep: Keep | None = None,
    ) -> None:
        self.client = client
        self.resource = resource
        self.policy = policy or WindowPolicy()
        self.keep = keep or Keep()
        self.stats = WindowStats()
        self._on_progress = on_progress or (lambda stats: None)
        self._prefetched: tuple[Window, _Read] | None = None
        # Windows whose requests `stats.expected_requests` counts already (cut from a larger one).
        self._expected: set[Window] = set()
        self._holding = asyncio.Semaphore(1)
        self._held: set[Window] = set()

    async def prefetch(self, window: Window) -> None:
        """Read the first page of `window` now (a run's first request, which tells vivenu's
        clock); fetching `window` later starts from this page instead of asking again."""
        self._prefetched = (window, await self._read(window, 0))

    async def _page(self, window: Window, skip: int) -> _Read:
        if skip == 0 and self._prefetched is not None and self._prefetched[0] == window:
            page, self._prefetched = self._prefetched[1], None
            return page
        return await self._read(window, skip)

    async def _read(self, window: Window, skip: int) -> _Read:
        page = await self.client.list_page(
            self.resource,
            top=self.policy.top,
            skip=skip,
            params=window.params(self.resource.updated_field),
        )
        return _Read.of(skip, page.docs, page.total, self.resource, self.keep)

    async def _reads(self, window: Window, skips: list[int]) -> list[_Read]:
        """The pages at `skips`, asked for at once (the least time for a change between them)."""
        reads = await asyncio.gather(*(self._page(window, s) for s in skips))
        self._on_progress(self.stats)
        return list(reads)

    async def _bridged(self, window: Window, reads: list[_Read]) -> list[_Read]:
        """`reads` with bridging pages where neighbours share no record: each re-reads from
        where the pages linked to the window's start end, not the window from its start."""
        policy = self.policy
        for attempt in range(policy.bridge_rounds if policy.overlap else 0):
            if proven(reads, len(_merged(reads)), policy):
                break
            if any(r.short(policy.top) for r in _linked(reads)):
                break  # linked to the end, yet not proven: a bridge cannot help
            self.stats.bridges += 1
            self.stats.expected_requests += 1
            skip = _bridge_skip(reads, policy, policy.overlap * 2**attempt)
            reads = [*reads, *await self._reads(window, [skip])]
        return reads

    def _ms(self, stamp: Any) -> int | None:
        return timestamp_ms(stamp, self.resource.updated_field)

    def _sample(self, stamps: Iterable[Any]) -> list[int]:
        """The `updatedAt` values (epoch ms) of records: where to cut a window."""
        return [ms for stamp in stamps if (ms := self._ms(stamp)) is not None]

    async def fetch(self, window: Window) -> Records | list[Window]:
        """The window's records when verified, or the narrower windows to fetch instead."""
        top = self.policy.top
        first = await self._page(window, 0)
        total = first.total
        if window not in self._expected:
            self.stats.expected_requests += least_window_requests(total, self.policy)
        # Distinct ids, as everywhere a window is verified: a duplicate may stand in for a record.
        distinct = len(first.keys)
        if total <= top and distinct == len(first.order) == total:
            return Records(((first, None),), self.keep)  # one atomic answer
        if (pieces := split_pieces(total, self.policy)) and window.hi - window.lo > 1:
            self.stats.splits += 1
            cut = split(window, self._sample(first.stamps), pieces)
            self._expected.update(cut)
            return cut
        skips = page_skips(total, self.policy)[1:]
        if len(skips) < self.client.settings.concurrency:
            return await self._verified(window, [first, *await self._reads(window, skips)])
        # A window of more pages than requests go in flight fills the client alone: paged one
        # at a time, such windows cost no speed, and only one holds its records (up to 100
        # pages of them) until the consumer has taken them (`stream`).
        await self._holding.acquire()
        try:
            reads = [first, *await self._reads(window, skips)]
            outcome = await self._verified(window, reads)
        except BaseException:
            self._holding.release()
            raise
        if isinstance(outcome, list):
            self._holding.release()
        else:
            self._held.add(window)
        return outcome

    async def _verified(self, window: Window, reads: list[_Read]) -> Records | list[Window]:
        """The window's records once `reads` (bridged, or read again) prove it complete, or the
        narrower windows to fetch instead."""
        top = self.policy.top
        first = reads[0]
        reads = await self._bridged(window, reads)
        attempts = 1
        contradicted: tuple[int, dict[Any, int | None]] | None = None
        while True:
            received = _merged(reads)
            if proven(reads, len(received), self.policy):
                return _records(received, self.keep)
            # Something in the window changed while we paged: narrow it, or re-read one ms.
            self.stats.reverifications += 1
            totals = {r.total for r in reads}
            confirming = False
            if len(totals) == 1 and _contradicts(reads, top, len(received)):
                seen = (
                    reads[0].total,
                    {key: self._ms(r.stamps[i]) for key, (r, i) in received.items()},
                )
                if seen == contradicted:
                    raise InconsistentTotal(
                        f"{self.resource.name} window {window}: vivenu announced total "
                        f"{reads[0].total} but its pages held {len(received)} distinct records, "
                        "alike when read again with no record changed, so the total is wrong "
                        "(not churn); check that VIVENU_BASE_URL reaches the vivenu API itself, "
                        "not a proxy that rewrites its answers"
                    )
                # Read it once more as it is before narrowing: churn changes what comes back,
                # a wrong total does not.
                confirming, contradicted = contradicted is None, seen
            if window.hi - window.lo > 1 and not confirming:
                self.stats.splits += 1
                # The first page's too, as a window is cut up front, and what came back now.
                stamps = [r.stamps[i] for r, i in received.values()]
                sample = self._sample([*first.stamps, *stamps])
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
            skips = page_skips(min(totals), self.policy)
            self.stats.expected_requests += len(skips)
            reads = await self._bridged(window, await self._reads(window, skips))

    async def stream(self, windows: list[Window]) -> AsyncIterator[tuple[Window, Records]]:
        """Yields (window, records) for every window, each verified, splitting as needed.

        Windows are fetched concurrently (the client bounds requests in flight and their
        rate); the yielded windows together cover exactly the windows given.
        """
        queue: asyncio.Queue[Window] = asyncio.Queue()
        results: asyncio.Queue[tuple[Window, Records] | BaseException] = asyncio.Queue()
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
                if isinstance(outcome, list):
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
                if item[0] in self._held:  # the consumer is done with its records
                    self._held.discard(item[0])
                    self._holding.release()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
