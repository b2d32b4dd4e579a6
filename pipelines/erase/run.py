"""One erasure, layer by layer: the code path of `customer-sync erase` and of `erase_job`.

Order matters. Under every personal resource's writer claim (no sync writes meanwhile):
1. the people's hashes go into the erased set first: from then on the write path keeps them
   out, and an erasure killed half-way is finished by running it again (each step finds what
   is left);
2. the lake's tables are erased, vacuumed and their commit logs cut;
3. vivenu's copy (with `--also-in-vivenu`);
4. the files of the data directory;
5. the warehouse, with its `erasure_log` row per person, rewritten; then the analyst copy.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.erase import files, lake_tables, people
from pipelines.erase import warehouse as wh
from pipelines.erase.guard import Guard
from pipelines.erase.keys import PSEUDONYM_PREFIX, ErasedSet
from pipelines.erase.people import EraseRequestError, Person, Request
from pipelines.quality import stored
from pipelines.sync.engine import new_run_id
from pipelines.sync.lake import TABLES, Lake
from pipelines.sync.lake import _options as lake_options  # pyright: ignore[reportPrivateUsage]
from pipelines.sync.state import owner_gone
from pipelines.vivenu.client import VivenuClient
from pipelines.warehouse import loader, remote

# Folders of the data directory with a layer of their own; the rest is searched as text.
OWN_FOLDERS = ("exports", "crm", "quality", "webhooks", "lake", "dagster_home")
# A dry run's downloads of the bucket (`_count_bucket`), `<prefix><pid>.<random>`: copies of
# people, which a killed dry run leaves behind.
DRY_RUN_PREFIX = ".erase-dry-run-"


@dataclass
class ErasureReport:
    """What an erasure found (dry run) or removed, per layer and table or file."""

    erasure_id: str
    dry_run: bool
    people: int
    missing: list[str]
    layers: dict[str, dict[str, int]] = field(default_factory=dict)
    in_vivenu: int | None = None
    # Wall-clock seconds per step (lake, vivenu, files, warehouse and analyst copy).
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds[step] = round(time.monotonic() - start, 3)

    @property
    def touched(self) -> list[str]:
        return sorted(layer for layer, found in self.layers.items() if found)

    def as_dict(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            "dry_run": self.dry_run,
            "people": self.people,
            "missing": self.missing,
            "layers": self.layers,
            "rows": {layer: sum(found.values()) for layer, found in self.layers.items()},
            "in_vivenu": self.in_vivenu,
            "seconds": self.seconds,
        }


def _lake_layer(effects: list[lake_tables.TableEffect]) -> dict[str, int]:
    return {f"{e.resource}/{e.table}": e.rows for e in effects if e.rows}


def _file_layers(data_dir: Path, found: list[Person], erased: ErasedSet, *, dry_run: bool):
    m = files.Matcher.of(found)
    layers = {
        "exports": files.exports(data_dir / "exports", found, dry_run=dry_run),
        "crm": files.folder(data_dir / "crm", m, dry_run=dry_run),
        "quality": files.quality(data_dir / "quality", found, erased, dry_run=dry_run),
        "webhooks": files.webhooks(data_dir / "webhooks", m, dry_run=dry_run),
    }
    other: dict[str, int] = {}
    if data_dir.is_dir():
        for child in sorted(data_dir.iterdir()):
            if child.name in OWN_FOLDERS or child.suffix in files.SKIP_SUFFIXES:
                continue
            if child.is_dir():
                other.update(files.folder(child, m, dry_run=dry_run))
            elif child.is_file() and not child.name.startswith("."):
                n = files.any_file(child, m, dry_run=dry_run)
                if n:
                    other[str(child)] = n
    layers["other files"] = other
    return layers


def erase(
    request: Request,
    *,
    data_dir: Path,
    db_path: Path | None = None,
    lake: Lake | None = None,
    dry_run: bool = False,
    vivenu: VivenuClient | None = None,
) -> ErasureReport:
    """Erase the people `request` names from every layer (`dry_run`: count what each holds).
    `vivenu`: also erase vivenu's copy (and confirm it). EraseRequestError when the request
    names nobody the lake holds."""
    data_dir = Path(data_dir)
    lake = lake or Lake(data_dir)
    db_path = Path(db_path) if db_path is not None else data_dir / "warehouse.duckdb"
    erasure_id = new_run_id(datetime.now(UTC))
    # A lake still in (or half-way out of) the 0.1 layout keeps records in plain Parquet files
    # beside the tables, `.legacy/` included: `lake migrate` moves them all into the tables
    # erased here and deletes those files. Erasing first would leave the person there.
    for spec in lake_tables.personal_resources():
        lake.refuse_old_layout(spec.name)
    # Before counting or erasing: a killed dry run's copies are a layer no other step reads.
    _remove_dry_run_leftovers(db_path.parent)
    if dry_run:
        return _dry_run(request, lake, data_dir, db_path, erasure_id)
    with lake_tables.claims(lake) as writers:
        found, missing = _resolve(lake, request, db_path)
        erased = ErasedSet.ensure(lake.root, lake_options())
        erased.record(lake.root, people.entries(found), erasure_id, lake_options())
        for writer in writers.values():
            writer.guard = Guard(erased)
        report = ErasureReport(erasure_id, False, len(found), missing)
        with report.timed("lake"):
            guard = Guard(erased, people.targets(found))
            report.layers["lake"] = _lake_layer(
                lake_tables.erase(guard, lake, writers, dry_run=False)
            )
            pseudonyms = [erased.pseudonym(p.id) for p in found]
            lake_tables.tombstone_pseudonyms(writers[people.PEOPLE], lake, pseudonyms, erasure_id)
        if vivenu is not None:
            with report.timed("vivenu"):
                report.in_vivenu = asyncio.run(_vivenu(vivenu, found))
        with report.timed("files"):
            # A lake in a bucket keeps the gate's rejects and state there too (`stored`).
            for resource in TABLES:
                stored.fetch(lake, resource)
            report.layers.update(_file_layers(data_dir, found, erased, dry_run=False))
            for resource in TABLES:
                stored.push(lake, resource)
        with report.timed("warehouse"):
            erasure = wh.Erasure(found, erased, erasure_id, datetime.now(UTC))
            _warehouse(lake, db_path, report, erasure)
    return report


def deleted_due(lake: Lake, after: timedelta, now: datetime | None = None) -> list[str]:
    """Customers a reconcile confirmed deleted at least `after` ago and not erased yet (their
    versions stay in the lake's change log until they are)."""
    data = lake.dataset(people.PEOPLE, "snapshot/deletions")
    if data is None:
        return []
    cutoff = (now or datetime.now(UTC)) - after
    rows = data.to_table(columns=["id", "deleted_at"]).to_pylist()
    erased = ErasedSet.load(lake.root, lake_options())
    known = erased.hashes.get(people.PEOPLE, set())
    return sorted(
        r["id"]
        for r in rows
        if r["deleted_at"] <= cutoff
        and not r["id"].startswith(PSEUDONYM_PREFIX)
        and (erased.salt is None or erased.hash(r["id"]) not in known)
    )


async def _vivenu(client: VivenuClient, found: list[Person]) -> int:
    from pipelines.erase.vivenu import erase_in_vivenu

    async with client:
        return await erase_in_vivenu(client, found)


def _resolve(lake: Lake, request: Request, db_path: Path) -> tuple[list[Person], list[str]]:
    found, missing = people.resolve(lake, request, db_path)
    if not found:
        named = ", ".join(missing) or "nobody"
        fix = "check the id or email (nothing was changed)"
        raise EraseRequestError(
            f"no customer in the lake or the warehouse matches {named}: {fix}",
            f"no customer in the lake or the warehouse matches the {len(missing)} id(s) or "
            f"email(s) named: {fix}",
        )
    return found, missing


def _warehouse(lake: Lake, db_path: Path, report: ErasureReport, erasure: wh.Erasure) -> None:
    if lake.remote:
        loader.fetch_remote(lake.root, db_path)
    report.layers["warehouse"] = {}
    log = {
        "layers": report.touched,
        "rows": report.as_dict()["layers"],
        "in_vivenu": report.in_vivenu,
    }
    counts = wh.erase(db_path, erasure, log)
    report.layers["warehouse"] = counts
    # Not this lake's warehouse, but kept: it holds the people as every warehouse does.
    report.layers["set-aside warehouse"] = wh.erase(loader.set_aside_path(db_path), erasure, log)
    copy = loader.analyst_path(db_path)
    if db_path.exists():
        held = wh.count(copy, erasure) if copy.exists() else {}
        loader.publish(db_path, lake=lake.root if lake.remote else None)
        report.layers["analyst copy"] = held


def _remove_dry_run_leftovers(folder: Path) -> None:
    """The folders of dry runs whose process is gone (a running one's are left to it); one
    that cannot be removed fails the erasure rather than keep the copies."""
    for leftover in folder.glob(f"{DRY_RUN_PREFIX}*"):
        if not owner_gone(leftover.name, DRY_RUN_PREFIX):
            continue
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover)
        else:  # not one of ours: the name only, never what a link points at
            leftover.unlink(missing_ok=True)


def _dry_run(
    request: Request, lake: Lake, data_dir: Path, db_path: Path, erasure_id: str
) -> ErasureReport:
    found, missing = _resolve(lake, request, db_path)
    erased = ErasedSet.load(lake.root, lake_options()).plus(people.entries(found))
    guard = Guard(erased, people.targets(found))
    report = ErasureReport(erasure_id, True, len(found), missing)
    report.layers["lake"] = _lake_layer(lake_tables.erase(guard, lake, None, dry_run=True))
    erasure = wh.Erasure(found, erased, erasure_id, datetime.now(UTC))
    report.layers["warehouse"] = wh.count(db_path, erasure)
    report.layers["analyst copy"] = wh.count(loader.analyst_path(db_path), erasure)
    report.layers["set-aside warehouse"] = wh.count(loader.set_aside_path(db_path), erasure)
    report.layers.update(_file_layers(data_dir, found, erased, dry_run=True))
    if lake.remote:
        _count_bucket(lake, db_path, report, found, erasure)
    return report


def _count_bucket(
    lake: Lake, db_path: Path, report: ErasureReport, found: list[Person], erasure: wh.Erasure
) -> None:
    """What the lake's bucket holds beyond its tables: the warehouse and analyst copy an
    erasure fetches and rewrites (this disk's may be older, or absent in a fresh container)
    and the gate's files, counted on downloads to a temporary folder (nothing else changes)."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    # In the data dir, not /tmp: a copy a kill leaves behind is removed by the next erasure.
    prefix = f"{DRY_RUN_PREFIX}{os.getpid()}."
    with tempfile.TemporaryDirectory(prefix=prefix, dir=db_path.parent) as tmp:
        folder = Path(tmp)
        for layer, path in (("warehouse", db_path), ("analyst copy", loader.analyst_path(db_path))):
            copy = folder / path.name
            if remote.fetch(path.name, copy, lake=lake.root) is not None:
                report.layers[layer] = wh.count(copy, erasure)
        urls = {}
        for resource in TABLES:
            urls.update(stored.download(lake, resource, folder / "quality"))
        counted = files.quality(folder / "quality", found, erasure.erased, dry_run=True)
        report.layers["quality"].update({urls[Path(p)]: n for p, n in counted.items()})
