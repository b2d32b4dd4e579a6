"""Reverse ETL of one CRM change file: validate, diff, guard, check live, PUT, verify, audit.

Per customer the decision is made atom by atom (see `pipelines.push.fields`), with three
versions of the customer at hand: the *warehouse* row (our last sync), the *desired* value from
the file and the *live* record fetched right before the PUT.

    warehouse == desired            unchanged: nothing to do, no request at all
    live == desired (every atom)    already applied: our own earlier write, or vivenu agrees
    live != warehouse (an atom)     conflict: vivenu changed it after our sync; held back
                                    (`on_conflict="overwrite"` sends it anyway)
    otherwise                       PUT the changed top-level fields, then verify the answer

Comparing with the live record is what makes a push idempotent: pushing a file twice, or
re-running a push killed mid-way, sends nothing that is already in vivenu. A PUT body holds
whole values (tag lists and locations rebuilt from the live record), so a retried PUT sets the
same state again rather than applying an increment twice.

vivenu has no ETag or conditional PUT, so another writer can change a customer between our GET
and our PUT. Every PUT attempt, retries included, is built from a GET made right before it and
goes through the conflict check again: the window is one round trip (plus a rate-limit slot),
never a backoff. The PUT's answer is then compared with that GET: a field we did not send that
changed, or a field we sent that does not hold our value, is a `race` (another writer was
active in the window), never reported as applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from pipelines.push import fields
from pipelines.push.db import PushDB, WarehouseError
from pipelines.push.parse import ChangeRow, FileError, Reject, parse
from pipelines.sync.state import atomic_write_bytes
from pipelines.vivenu.client import ClientSettings, Resource, VivenuClient
from pipelines.vivenu.errors import VivenuError, VivenuHTTPError, VivenuNotFound
from pipelines.vivenu.ids import ID_RULE, is_vivenu_id

OnConflict = Literal["skip", "overwrite"]
DEFAULT_MAX_SHARE = 0.10
# Rejects and customers listed in a report file; the rest are counted (push_log has every attempt).
REPORT_LIST_LIMIT = 1000


@dataclass(frozen=True, kw_only=True)
class PushOptions:
    """How to push.

    Args:
        dry_run: classify and write the plan, send no write request (GETs still happen).
        on_conflict: "skip" holds back a customer with a conflict; "overwrite" sends it anyway.
        max_share: refuse a file that changes more than this share of the warehouse's customers.
        force: push even when `max_share` is exceeded.
    """

    dry_run: bool = False
    on_conflict: OnConflict = "skip"
    max_share: float = DEFAULT_MAX_SHARE
    force: bool = False


@dataclass
class CustomerPlan:
    """What the push decided and did for one customer."""

    customer_id: str
    row: int
    atoms: list[fields.Atom]  # the atoms whose desired value differs from the warehouse
    before: dict[str, Any]  # warehouse view
    synced_updated_at: datetime | None
    outcome: str = "pending"
    live: dict[str, Any] | None = None
    live_updated_at: str | None = None
    conflicts: list[fields.Atom] = field(default_factory=list)
    body: dict[str, Any] | None = None
    http_status: int | None = None
    error: str | None = None
    attempt_id: str | None = None  # the push_log row of the write attempt, once logged

    def changes(self) -> list[dict[str, Any]]:
        """field / old (warehouse) / live / new, tags shown as whole lists."""
        out = []
        tag_atoms = [a for a in self.atoms if a.field == "tags"]
        if tag_atoms:
            entry = {
                "field": "tags",
                "old": self.before["tags"],
                "new": fields.apply(tag_atoms, self.before, self.before)["tags"],
            }
            if self.live is not None:
                entry["live"] = self.live["tags"]
            out.append(entry)
        for atom in self.atoms:
            if atom.field == "tags":
                continue
            entry = {"field": atom.label, "old": atom.current(self.before), "new": atom.desired()}
            if self.live is not None:
                entry["live"] = atom.current(self.live)
            out.append(entry)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "row": self.row,
            "outcome": self.outcome,
            "changes": self.changes(),
            "conflicts": [
                {
                    "field": a.label,
                    "synced": a.current(self.before),
                    "live": a.current(self.live) if self.live is not None else None,
                    "new": a.desired(),
                }
                for a in self.conflicts
            ],
            "synced_updated_at": self.synced_updated_at,
            "live_updated_at": self.live_updated_at,
            "sent_fields": sorted(self.body) if self.body is not None else [],
            "http_status": self.http_status,
            "error": self.error,
        }


@dataclass
class PushReport:
    """Everything one push did; written as the report (or plan) file next to the input."""

    file: str
    sha256: str
    push_id: str
    options: PushOptions
    status: str = "running"  # completed | dry_run | refused | failed
    error: str | None = None
    rows: int = 0
    rejects: list[Reject] = field(default_factory=list)
    customers: list[CustomerPlan] = field(default_factory=list)
    warehouse_customers: int | None = None
    share: float | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    report_path: str | None = None
    file_moved_to: str | None = None
    note: str | None = None
    put_attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.status in ("completed", "dry_run")

    def counts(self) -> dict[str, int]:
        """Outcome counts; `skipped` = unchanged + already applied."""
        outcomes = Counter(p.outcome for p in self.customers)
        return {
            "rows": self.rows,
            "rejected": len(self.rejects),
            "applied": outcomes["applied"],
            "would_apply": outcomes["would_apply"],
            "skipped": outcomes["unchanged"] + outcomes["already_applied"],
            "unchanged": outcomes["unchanged"],
            "already_applied": outcomes["already_applied"],
            "conflicts": sum(1 for p in self.customers if p.conflicts),
            "conflicts_held": outcomes["conflict"],
            "gone": outcomes["gone"],
            "races": outcomes["race"],
            "failed": outcomes["failed"],
            "not_attempted": outcomes["pending"],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "push_id": self.push_id,
            "status": self.status,
            "error": self.error,
            "dry_run": self.options.dry_run,
            "on_conflict": self.options.on_conflict,
            "max_share": self.options.max_share,
            "force": self.options.force,
            "counts": self.counts(),
            "warehouse_customers": self.warehouse_customers,
            "share": self.share,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "report_path": self.report_path,
            "file_moved_to": self.file_moved_to,
            "note": self.note,
            "put_attempts": self.put_attempts,
            "rejects": [r.to_dict() for r in self.listed_rejects()],
            "rejects_not_listed": len(self.rejects) - len(self.listed_rejects()),
            "customers": [p.to_dict() for p in self.listed_customers()],
            "customers_not_listed": len(self.customers) - len(self.listed_customers()),
        }

    def listed_rejects(self, limit: int = REPORT_LIST_LIMIT) -> list[Reject]:
        """The first `limit` rejects by row: a huge bad file must not make a huger report."""
        return sorted(self.rejects, key=lambda r: r.row)[:limit]

    def listed_customers(self, limit: int = REPORT_LIST_LIMIT) -> list[CustomerPlan]:
        """The first `limit` customers by row, unchanged ones last (nothing was done for them)."""
        return sorted(self.customers, key=lambda p: (p.outcome == "unchanged", p.row))[:limit]

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), default=str, option=orjson.OPT_INDENT_2)


# ------------------------------------------------------------------ folders


@dataclass(frozen=True)
class CrmDirs:
    """`<data_dir>/crm/`: inbox (drop files here), processed, failed, plans (dry runs)."""

    root: Path

    @classmethod
    def of(cls, data_dir: Path) -> CrmDirs:
        return cls(Path(data_dir) / "crm")

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def processed(self) -> Path:
        return self.root / "processed"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    @property
    def plans(self) -> Path:
        return self.root / "plans"

    def inbox_files(self) -> list[Path]:
        """Complete change files waiting in the inbox, oldest first.

        Writers should copy to a dot-file or `*.tmp` name and rename: those are ignored.
        """
        if not self.inbox.is_dir():
            return []
        files = [
            p
            for p in self.inbox.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in _SUFFIXES
        ]
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


_SUFFIXES = frozenset({".csv", ".jsonl", ".ndjson", ".parquet"})


def _finish_file(path: Path, report: PushReport, dirs: CrmDirs) -> None:
    """Write the report (or the dry run's plan); move an inbox file to processed/ or failed/.

    A file pushed from elsewhere stays where it is; when the push tried to write to vivenu a copy
    is kept beside its report, so the audit trail holds exactly what was pushed. A file that
    sent nothing (refused, unreadable, nothing to change) is not copied: its report and sha256
    say what it was.
    """
    stamp = report.started_at.strftime("%Y%m%dT%H%M%SZ")
    name = f"{stamp}-{report.push_id[:8]}-{path.name}"
    if report.options.dry_run:
        target_dir, suffix = dirs.plans, ".plan.json"
    else:
        target_dir, suffix = (dirs.processed if report.ok else dirs.failed), ".report.json"
    report_path = target_dir / f"{name}{suffix}"
    report.report_path = str(report_path)
    in_inbox = path.resolve().parent == dirs.inbox.resolve()
    if not report.options.dry_run and path.exists() and (in_inbox or report.put_attempts):
        report.file_moved_to = str(target_dir / name)
    atomic_write_bytes(report_path, report.to_json())
    if report.file_moved_to is None:
        return
    if in_inbox:
        path.replace(report.file_moved_to)
    else:
        shutil.copy2(path, report.file_moved_to)


# ------------------------------------------------------------------ planning


def plan(rows: list[ChangeRow], db: PushDB) -> tuple[list[CustomerPlan], list[Reject]]:
    """Resolve each row's customer in the warehouse and diff it; rows that cannot go are rejected."""
    ids = sorted({r.id for r in rows if r.id})
    emails = {r.email.lower() for r in rows if r.email}
    emails |= {
        str(r.changes["primaryEmail"]).lower() for r in rows if r.changes.get("primaryEmail")
    }
    found = db.lookup(ids, sorted(emails))
    by_id = {c["id"]: c for c in found}
    by_email: dict[str, list[str]] = defaultdict(list)
    for c in found:
        if c["primary_email"]:
            by_email[c["primary_email"].lower()].append(c["id"])

    rejects: list[Reject] = []
    resolved: dict[str, list[ChangeRow]] = defaultdict(list)
    for row in rows:
        if row.id is not None:
            if row.id not in by_id:
                rejects.append(Reject(row.row, row.ref, f"unknown customer id {row.id!r}"))
                continue
            customer_id = row.id
            email = (by_id[customer_id]["primary_email"] or "").lower()
            if row.email is not None and row.email.lower() != email:
                rejects.append(
                    Reject(row.row, row.ref, f"id {row.id} does not have email {row.email!r}")
                )
                continue
        else:
            matches = by_email.get((row.email or "").lower(), [])
            if not matches:
                rejects.append(Reject(row.row, row.ref, f"unknown customer email {row.email!r}"))
                continue
            if len(matches) > 1:
                rejects.append(
                    Reject(
                        row.row, row.ref, f"email {row.email!r} matches {len(matches)} customers"
                    )
                )
                continue
            customer_id = matches[0]
            if not is_vivenu_id(customer_id):
                reason = f"the warehouse id {customer_id!r} is not a vivenu id ({ID_RULE})"
                rejects.append(Reject(row.row, row.ref, reason))
                continue
        new_email = row.changes.get("primaryEmail")
        taken = [c for c in by_email.get(str(new_email).lower(), []) if c != customer_id]
        if new_email and taken:
            rejects.append(
                Reject(row.row, customer_id, f"primaryEmail {new_email!r} belongs to {taken[0]}")
            )
            continue
        resolved[customer_id].append(row)

    plans: list[CustomerPlan] = []
    for customer_id, group in resolved.items():
        if len(group) > 1:
            numbers = ", ".join(str(r.row) for r in group)
            rejects += [
                Reject(
                    r.row, customer_id, f"several rows for customer {customer_id} (rows {numbers})"
                )
                for r in group
            ]
            continue
        row = group[0]
        warehouse_row = by_id[customer_id]
        before = fields.warehouse_view(warehouse_row)
        atoms = [a for a in fields.atoms_of(row.changes) if not a.satisfied(before)]
        plans.append(
            CustomerPlan(
                customer_id=customer_id,
                row=row.row,
                atoms=atoms,
                before=before,
                synced_updated_at=warehouse_row["updated_at"],
                outcome="pending" if atoms else "unchanged",
            )
        )
    return plans, rejects


def verify(
    live_raw: dict[str, Any], body: dict[str, Any], answer: Any, atoms: list[fields.Atom]
) -> list[str]:
    """Differences between the PUT's answer and the intended result: empty when exactly applied.

    The intended result is every atom of the change satisfied (checked against the atoms
    themselves, so a wrong body cannot verify itself) and every other field as it was live,
    apart from what the body sent.
    """
    if not isinstance(answer, dict):
        return [f"the answer is {type(answer).__name__}, not a customer"]
    got = fields.view(answer)
    problems = [
        f"{atom.label}: expected {atom.desired()!r}, vivenu has {atom.current(got)!r}"
        for atom in atoms
        if not atom.satisfied(got)
    ]
    expected = fields.view({**live_raw, **body})
    # vivenu derives `name` from prename/lastname when those are sent without it.
    derived = {"name"} if {"prename", "lastname"} & body.keys() and "name" not in body else set()
    for key, want in expected.items():
        have = got[key]
        if key == "tags":
            want, have = sorted(set(want)), sorted(set(have))
        if key not in derived and want != have:
            problems.append(f"{key}: expected {want!r}, vivenu has {have!r}")
    return problems


# ------------------------------------------------------------------ delivery


class _Settled(Exception):
    """The GET before a PUT attempt decided the customer (`CustomerPlan.outcome`): no PUT."""


class _Delivery:
    def __init__(
        self, client: VivenuClient, db: PushDB, report: PushReport, options: PushOptions
    ) -> None:
        self.client = client
        self.db = db
        self.report = report
        self.options = options
        self.stopped: str | None = None

    def _log(self, p: CustomerPlan, outcome: str, **kwargs: Any) -> None:
        self.db.log(
            attempt_id=kwargs.pop("attempt_id", None) or uuid.uuid4().hex,
            push_id=self.report.push_id,
            file_name=self.report.file,
            file_sha256=self.report.sha256,
            row_number=p.row,
            customer_id=p.customer_id,
            fields=[a.label for a in p.atoms],
            changes=p.changes(),
            outcome=outcome,
            **kwargs,
        )

    async def run(self, plans: list[CustomerPlan]) -> None:
        todo = iter([p for p in plans if p.outcome == "pending"])

        async def worker() -> None:
            for p in todo:
                if self.stopped:
                    return
                try:
                    await self.one(p)
                except Exception as exc:
                    # The warehouse stayed locked, or a bug: no further PUT; the other workers
                    # finish their customer, and the report and push_log say what happened.
                    detail = str(exc) if isinstance(exc, WarehouseError) else repr(exc)
                    p.outcome, p.error = "failed", f"unexpected error: {detail}"
                    self.stopped = f"customer {p.customer_id}: {p.error}"
                    with contextlib.suppress(Exception):  # best effort: the report has it
                        if p.attempt_id is None:
                            self._log(p, "failed", error=p.error)
                        else:
                            self.db.finish(p.attempt_id, "failed", None, p.error)

        workers = max(1, min(self.client.settings.concurrency, len(plans)))
        await asyncio.gather(*(worker() for _ in range(workers)))

    async def _check(self, p: CustomerPlan) -> tuple[dict[str, Any], list[fields.Atom]]:
        """GET the live record and classify: (live record, atoms to send) with `p.body` built,
        or `_Settled` raised with `p.outcome` set (gone, already applied, conflict held back)."""
        try:
            raw = await self.client.get(Resource.CUSTOMERS, p.customer_id)
        except VivenuNotFound:
            p.outcome, p.http_status = "gone", 404
            p.error = "deleted in vivenu since the last sync"
            raise _Settled from None
        p.live = fields.view(raw)
        p.live_updated_at = raw.get("updatedAt")
        pending = [a for a in p.atoms if not a.satisfied(p.live)]
        if not pending:
            p.outcome, p.conflicts, p.error = "already_applied", [], None
            raise _Settled
        # Changed in vivenu after our sync, and not to the value we want (that would be an echo).
        p.conflicts = [a for a in pending if a.current(p.live) != a.current(p.before)]
        if p.conflicts and self.options.on_conflict == "skip":
            p.outcome = "conflict"
            p.error = "changed in vivenu after the last sync: " + ", ".join(
                a.label for a in p.conflicts
            )
            raise _Settled
        p.body = fields.apply(pending, p.live, raw)
        return raw, pending

    async def one(self, p: CustomerPlan) -> None:
        if self.options.dry_run:
            try:
                await self._check(p)
            except _Settled:
                return
            except VivenuError as exc:
                self._stop(p, exc)
                return
            p.outcome = "would_apply"
            return
        # Logged before the first GET, so no database write sits between a GET and its PUT.
        attempt_id = p.attempt_id = uuid.uuid4().hex
        self._log(p, "sending", attempt_id=attempt_id, finished=False)
        checked: list[tuple[dict[str, Any], list[fields.Atom]]] = []

        async def fresh_body() -> dict[str, Any]:
            # Called by the client before every PUT attempt: a retry after a 429 or a dropped
            # connection is rebuilt from a new GET, never sent on a state read a backoff ago.
            checked.append(await self._check(p))
            self.report.put_attempts += 1
            return p.body or {}

        try:
            answer = await self.client.update_customer(p.customer_id, fresh_body)
        except _Settled:
            pass
        except VivenuNotFound as exc:
            p.outcome, p.http_status, p.error = "gone", 404, str(exc)
        except VivenuHTTPError as exc:
            # vivenu refused this one body (400): report it and go on with the others.
            p.outcome, p.http_status, p.error = "failed", exc.status, str(exc)
            if exc.status in (401, 403):
                self.stopped = p.error
        except VivenuError as exc:
            self._stop(p, exc)
        else:
            p.http_status = 200
            raw, pending = checked[-1]
            problems = verify(raw, p.body or {}, answer, pending)
            if problems:
                p.outcome = "race"
                p.error = (
                    "the PUT answer differs from the record read just before it (another writer "
                    "changed the customer in between, or vivenu applied it differently): "
                    + "; ".join(problems)
                )
                self.stopped = (
                    f"customer {p.customer_id}: {p.error}; check the customer in vivenu, "
                    "then push the file again"
                )
            else:
                p.outcome = "applied"
        self.db.finish(attempt_id, p.outcome, p.http_status, p.error)

    def _stop(self, p: CustomerPlan, exc: Exception) -> None:
        p.outcome, p.error = "failed", str(exc)
        self.stopped = f"customer {p.customer_id}: {exc}"


# ------------------------------------------------------------------ entry points


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


async def push_file(
    path: Path,
    *,
    client: VivenuClient,
    db_path: Path,
    data_dir: Path,
    options: PushOptions | None = None,
) -> PushReport:
    """Push one change file and write its report; never raises for a bad file, a refusal or an
    unexpected error (an inbox file then moves to crm/failed/ with the report saying why).

    Returns the report: `status` is "completed" (or "dry_run") when every row was handled,
    "refused" when the guardrail tripped, "failed" when the push stopped.
    """
    options = options or PushOptions()
    path = Path(path)
    report = PushReport(
        file=path.name,
        sha256=_sha256(path) if path.is_file() else "",
        push_id=uuid.uuid4().hex,
        options=options,
    )
    try:
        if not path.is_file():
            raise FileError(f"{path}: no such file")
        rows, rejects = parse(path)
        report.rows = len(rows) + len(rejects)
        report.rejects = rejects
        if not report.rows:
            # An export that came out empty is no error, but it must not look like a push.
            report.note = f"nothing to push: {path.name} holds no rows"
            report.status = "dry_run" if options.dry_run else "completed"
        else:
            await _push_rows(rows, report, client, db_path, options)
    except (FileError, WarehouseError) as exc:
        report.status, report.error = "failed", str(exc)
    except Exception as exc:
        # Anything else is a bug; still a failed push with a report, and the file leaves the
        # inbox (to crm/failed/), so the inbox sensor does not request it again forever.
        report.status, report.error = "failed", f"unexpected error: {exc!r}"
    report.finished_at = datetime.now(UTC)
    if path.is_file():
        _finish_file(path, report, CrmDirs.of(data_dir))
    return report


async def _push_rows(
    rows: list[ChangeRow],
    report: PushReport,
    client: VivenuClient,
    db_path: Path,
    options: PushOptions,
) -> None:
    """Plan the parsed rows, apply the guardrail, deliver; the outcome goes into `report`."""
    db = PushDB(db_path, read_only=options.dry_run)
    plans, more = plan(rows, db)
    report.rejects += more
    report.customers = plans
    total = db.customer_count()
    changing = sum(1 for p in plans if p.outcome == "pending")
    report.warehouse_customers = total
    report.share = changing / total if total else (1.0 if changing else 0.0)
    if report.share > options.max_share and not options.force:
        report.status = "refused"
        report.error = (
            f"the file changes {changing} of {total} customers ({report.share:.1%}), "
            f"more than the allowed {options.max_share:.1%}: check it, then use --force"
        )
        return
    db.mark_interrupted(report.sha256)
    delivery = _Delivery(client, db, report, options)
    await delivery.run(plans)
    failed = report.counts()["failed"]
    if delivery.stopped:
        report.status, report.error = "failed", delivery.stopped
    elif failed:
        report.status = "failed"
        report.error = f"vivenu refused {failed} customer update(s): see the report"
    else:
        report.status = "dry_run" if options.dry_run else "completed"


def run_push(
    path: Path,
    *,
    settings: ClientSettings,
    db_path: Path,
    data_dir: Path,
    options: PushOptions | None = None,
) -> PushReport:
    """`push_file` with its own client (one rate cap per push)."""

    async def go() -> PushReport:
        async with VivenuClient(settings) as client:
            return await push_file(
                path, client=client, db_path=db_path, data_dir=data_dir, options=options
            )

    return asyncio.run(go())
