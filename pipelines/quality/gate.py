"""The quality gate: run the suites of `expectations/` over a resource's current snapshot.

GX decides every outcome of a full validation. What it would do slowly is done before it sees
the data: only the columns a suite reads are handed over, references become one boolean column (a
DuckDB anti join) and money is cast to float; GX's per-batch fingerprint (a hash of every value,
seconds at a million rows, used only to label the batch) is switched off. Great Expectations is
imported inside `validate_snapshot` only, and only when it judges: it takes seconds to import,
more than an incremental validation of a few thousand changed rows, which
`pipelines.quality.vectorized` judges instead (proven equal to GX on every shipped suite).

Validation is incremental (`pipelines.quality.incremental`): row-level expectations judge only
the rows that changed since the last validation (plus the currently rejected records and the
rows a whole-table DuckDB pass flags as possibly failing: duplicated keys, unknown references);
`mostly` and aggregate expectations see their columns of the whole table. `full=True`, a first
validation, or an edited suite re-judges every row.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

import pipelines.quality.incremental as incremental
import pipelines.quality.rejects as rejects
import pipelines.quality.stored as stored
import pipelines.quality.vectorized as vectorized
from pipelines.quality.html import write_report
from pipelines.quality.report import ExpectationOutcome, QualityReport, SuiteRun
from pipelines.quality.suites import RECEIVED, Suite, load_suites, substituted
from pipelines.sync.lake import TABLES, Lake

SAMPLE_ROWS = 5
INCREMENTAL_REASON = (
    "rows changed since the last validation, rejected records, duplicated keys, unknown references"
)


class _Gx:
    """An ephemeral GX context with one pandas data source; GX is imported on creation."""

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        # The fingerprint only labels the batch; skipping it saves a full hash of the frame.
        pandas_execution_engine.HASH_THRESHOLD = 0
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.source = self.context.data_sources.add_pandas(name="customer_sync_lake")

    def validate(self, suite: Suite, frame: Any, parameters: dict[str, Any]) -> Any:
        asset = self.source.add_dataframe_asset(name=suite.name)  # unique per context
        batch = asset.add_batch_definition_whole_dataframe("snapshot").get_batch(
            batch_parameters={"dataframe": frame}
        )
        return batch.validate(
            suite.to_gx(),
            result_format={"result_format": "COMPLETE", "partial_unexpected_count": SAMPLE_ROWS},
            expectation_parameters=parameters,
        )


def _received(lake: Lake, resource: str) -> tuple[pa.Table, dict[str, Any]] | None:
    """The ids the last sync run wrote (records and schema quarantine) and what the API said."""
    runs = [r for r in lake.load_state(resource).runs if r.get("kind") == "sync"]
    if not runs:
        return None
    last = runs[-1]
    rows = lake.run_rows(resource, "changes", [last["run_id"]], ["id"])
    rejected = lake.run_rows(resource, "quarantine", [last["run_id"]], ["record_id"])
    # A resumed run may have added a part's quarantine twice (before its checkpoint).
    received = pa.chunked_array([*rows["id"].chunks, *rejected["record_id"].chunks], pa.string())
    ids = pa.Table.from_arrays([pc.unique(received)], names=["id"])
    # A resumed run's fetch count covers only the windows fetched after the restart; the
    # checkpointed totals cover them all. Versions an earlier run wrote were skipped (each
    # record is fetched in one window of a run, so they are distinct from those written).
    expected = (
        last["rows_written"] + last["quarantined"]
        if last.get("resumed")
        else last["records_fetched"] - last.get("already_in_lake", 0)
    )
    return ids, {"api_records_fetched": int(expected)}


def _read(lake: Lake, resource: str, table: str, columns: list[str]) -> pa.Table:
    """Some columns of a snapshot table (empty before the first sync)."""
    names = [c for c in dict.fromkeys(columns) if c in TABLES[resource][table].names]
    return lake.read_snapshot(resource, table, names)


def deleted_ids(lake: Lake, resource: str) -> pa.ChunkedArray:
    """Ids of `resource` that existed and that vivenu no longer holds: the tombstones of
    confirmed deletions. (Records erased on request belong here too once they are recorded.)"""
    return lake.read_snapshot(resource, "deletions").column("id")


def _frame(
    lake: Lake,
    suite: Suite,
    since: incremental.ValidationState | None = None,
    now: datetime | None = None,
) -> tuple[pa.Table, dict[str, Any], dict[str, dict[str, Any]]] | None:
    """The Arrow table a suite validates (the columns it reads, `_run_id`), runtime parameters,
    and what to remember of its reference flags (`incremental.reference_flags`; `since`, the
    last validation, lets them look up only what may have changed)."""
    if suite.table == RECEIVED:
        received = _received(lake, suite.resource)
        return None if received is None else (*received, {})
    wanted = [suite.record_id, "updated_at", *suite.columns(), "_run_id"]
    table = _read(lake, suite.resource, suite.table, wanted)
    remembered = since.references.get(suite.name, {}) if since is not None else {}
    new_rows = (
        pc.invert(
            pc.is_in(
                table.column("_run_id"),
                value_set=pa.array(since.runs.get(suite.name, []), pa.string()),
            )
        )
        if since is not None
        else None
    )
    facts: dict[str, dict[str, Any]] = {}
    for name, ref in suite.references.items():
        keys = [_read(lake, ref["resource"], ref["table"], [ref["key"]]).column(ref["key"])]
        grows = "deleted" in ref.get("known", ["current"])  # without tombstones, ids leave
        if grows:
            keys.append(deleted_ids(lake, ref["resource"]))
        known = pa.chunked_array([c for k in keys for c in k.chunks], pa.string())
        flags, facts[name] = incremental.reference_flags(
            table.column(ref["column"]),
            known,
            new_rows=new_rows,
            previous=remembered.get(name) if grows else None,
            now=now,
        )
        table = table.append_column(name, flags)
    for i, f in enumerate(table.schema):
        if pa.types.is_decimal(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.float64()))
    return table, {}, facts


def _columns_of(kwargs: dict[str, Any]) -> list[str]:
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)]
    return cols + list(kwargs.get("column_list") or [])


def _error(result: Any) -> str | None:
    info = result.exception_info or {}
    # A single expectation reports {"raised_exception": ...}; a suite run may key it by metric.
    candidates = [info] + [v for v in info.values() if isinstance(v, dict)]
    for item in candidates:
        if item.get("raised_exception"):
            return str(item.get("exception_message") or "raised an exception")
    return None


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


@dataclass(frozen=True)
class _Result:
    """One expectation's outcome from either judge (GX, or `vectorized`)."""

    name: str
    success: bool
    element_count: int
    unexpected_count: int
    unexpected_index: pa.Array
    observed: Any = None
    error: str | None = None


def _judge_gx(gx: _Gx, suite: Suite, frame: pa.Table, parameters: dict[str, Any]) -> list[_Result]:
    result = gx.validate(suite, frame.to_pandas(), parameters)
    out = []
    for r in result.results:
        res = r.result or {}
        error = _error(r)
        out.append(
            _Result(
                name=r.expectation_config.meta["name"],
                success=bool(r.success) and error is None,
                element_count=int(res.get("element_count") or len(frame)),
                unexpected_count=int(res.get("unexpected_count") or 0),
                unexpected_index=pa.array(
                    [int(i) for i in res.get("unexpected_index_list") or [] if isinstance(i, int)],
                    pa.int64(),
                ),
                observed=res.get("observed_value"),
                error=error,
            )
        )
    return out


def _judge_vectorized(suite: Suite, frame: pa.Table, parameters: dict[str, Any]) -> list[_Result]:
    out = []
    for spec in suite.expectations:
        name = spec["meta"]["name"]
        try:
            v = vectorized.evaluate(spec, frame, parameters)
        except (KeyError, ValueError, TypeError, re.error, pa.ArrowException) as exc:
            out.append(
                _Result(name, False, len(frame), 0, pa.array([], pa.int64()), error=str(exc))
            )
            continue
        out.append(
            _Result(
                name, v.success, v.element_count, v.unexpected_count, v.unexpected_index, v.observed
            )
        )
    return out


def _run_suite(
    gx: Callable[[], _Gx] | None,
    suite: Suite,
    table: pa.Table,
    parameters: dict[str, Any],
    *,
    label: str,
    rows: int,
) -> tuple[list[ExpectationOutcome], dict[str, pa.Array]]:
    """Validate `suite` (some of its expectations) on `table`, rows of a table of `rows` rows:
    by GX (`gx` gives the context), or without it (`gx` None: `vectorized` supports them all).

    Returns the outcomes and, per failing quarantining expectation, the failing rows' record ids.
    """
    # The judge sees the columns the expectations read (a column to count rows by if none).
    read = [c for exp in suite.expectations for c in _columns_of(exp["kwargs"])]
    frame = table.select([c for c in dict.fromkeys(read) if c in table.schema.names])
    if not frame.num_columns:
        frame = table.select([suite.record_id])
    part = Suite(name=label, path=suite.path, doc=suite.doc)
    results = (
        _judge_vectorized(part, frame, parameters)
        if gx is None
        else _judge_gx(gx(), part, frame, parameters)
    )
    specs = {e["meta"]["name"]: e for e in suite.expectations}
    outcomes, failing = [], {}
    for r in results:
        spec = specs[r.name]
        bad = r.unexpected_index
        # The failing values: a derived reference flag (always False here) shows the column it
        # was computed from instead, e.g. the unknown `customer_id`.
        shown = [
            suite.record_id,
            *(suite.references.get(c, {}).get("column", c) for c in _columns_of(spec["kwargs"])),
        ]
        sample = table.take(bad[:SAMPLE_ROWS]).select(
            [c for c in dict.fromkeys(shown) if c in table.schema.names]
        )
        outcomes.append(
            ExpectationOutcome(
                suite=suite.name,
                name=r.name,
                type=spec["type"],
                description=spec.get("description") or "",
                on_failure=spec["meta"]["on_failure"],
                success=r.success,
                # On a subset the judge counts the rows it saw; the table has `rows` (the
                # others passed).
                element_count=rows if len(table) < rows else r.element_count,
                unexpected_count=r.unexpected_count,
                observed=_plain(r.observed),
                samples=[{k: _plain(v) for k, v in row.items()} for row in sample.to_pylist()],
                record_id=suite.record_id,
                error=r.error,
                judged=len(table),
            )
        )
        if spec["meta"]["on_failure"] == "quarantine" and len(bad):
            failing[r.name] = table.column(suite.record_id).take(bad)
    return outcomes, failing


def _part(suite: Suite, expectations: list[dict[str, Any]]) -> Suite:
    """The same suite with only some of its expectations (in their order)."""
    return Suite(name=suite.name, path=suite.path, doc={**suite.doc, "expectations": expectations})


def _table_failures(
    outcomes: list[ExpectationOutcome],
    suites: dict[str, Suite],
    parameters: dict[str, dict[str, Any]],
) -> list[str]:
    failures = []
    for o in outcomes:
        kwargs = next(
            e["kwargs"] for e in suites[o.suite].expectations if e["meta"]["name"] == o.name
        )
        # `mostly` may be a `$PARAMETER`: its value, as GX judged by it.
        mostly = (substituted(kwargs, parameters.get(o.suite, {})) or kwargs).get("mostly")
        if o.error:
            failures.append(f"{o.qualified_name} could not run: {o.error}")
        elif o.success:
            continue
        elif o.on_failure == "block":
            detail = (
                f"observed {o.observed}"
                if o.observed is not None
                else f"{o.unexpected_count:,} rows"
            )
            failures.append(f"{o.qualified_name} failed ({detail}): {o.description}")
        elif isinstance(mostly, int | float):
            failures.append(
                f"{o.qualified_name}: {o.unexpected_count:,} of {o.element_count:,} rows fail, "
                f"more than the tolerated {1 - mostly:.2%}"
            )
    return failures


def validate_snapshot(
    lake: Lake,
    resource: str,
    *,
    max_bad_share: float = 0.01,
    report_dir: Path | None = None,
    suites_dir: Path | None = None,
    now: datetime | None = None,
    full: bool = False,
) -> QualityReport:
    """Run every suite of `resource` over its current snapshot and record the outcome.

    Rows failing a "quarantine" expectation put their record in
    `<data dir>/quality/<resource>/rejected.parquet` (replaced on every call, so a record that now
    validates, or was deleted, leaves it); table-level failures and a bad-record share above
    `max_bad_share` make the report fail. An HTML and a JSON report are written to `report_dir`
    (default `<data_dir>/quality`).

    Row-level expectations judge only the rows that changed since the last validation (and the
    rows that may fail for other reasons: currently rejected records, duplicated keys, unknown
    references); see `pipelines.quality.incremental`. The outcome is the whole table's either way.

    Args:
        lake: the lake.
        resource: a resource name of `pipelines.registry`.
        max_bad_share: largest tolerated share of rejected records (0.01 = 1%).
        report_dir: where the HTML/JSON reports go.
        suites_dir: the suites folder (default CUSTOMER_SYNC_EXPECTATIONS_DIR or `expectations/`).
        now: the validation time (`updated_at` tolerance); defaults to the current time.
        full: judge every row, whatever was validated before.
    """
    started = time.monotonic()
    now = now or datetime.now(UTC)
    suites = load_suites(suites_dir, resource=resource)
    digest = incremental.suites_hash(suites)
    stored.fetch(lake, resource)
    previous = incremental.load_state(lake, resource)
    reason = _full_reason(previous, digest, full=full)
    since = previous if previous is not None and not reason else None
    rejected_ids = (
        pc.unique(rejects.read(lake, resource).column("record_id").combine_chunks())
        if since is not None
        else pa.array([], pa.string())
    )
    judgement = _run_suites(lake, suites, now, since=since, rejected_ids=rejected_ids)
    outcomes = _in_suite_order(judgement.outcomes, suites)
    n_rows, n_bad, rejected_path = _quarantine(lake, resource, judgement.bad, now)
    bad_share = n_bad / n_rows if n_rows else 0.0
    failures = _table_failures(outcomes, {s.name: s for s in suites}, judgement.parameters)
    if bad_share > max_bad_share:
        failures.append(
            f"{n_bad:,} of {n_rows:,} {resource} ({bad_share:.2%}) failed row-level "
            f"expectations, more than the allowed {max_bad_share:.2%}"
        )
    blocked = any(o.error or (o.failed and o.on_failure == "block") for o in outcomes)
    # After the rejects: a crash in between leaves the old state, and more rows to judge.
    incremental.save_state(
        lake,
        resource,
        incremental.ValidationState(
            suites=digest,
            validated_at=now.isoformat(),
            blocked=blocked,
            runs=judgement.validated,
            references=judgement.references,
        ),
    )
    stored.push(lake, resource)
    report = QualityReport(
        resource=resource,
        rows=n_rows,
        rejected=n_bad,
        bad_share=bad_share,
        max_bad_share=max_bad_share,
        expectations=outcomes,
        table_failures=failures,
        passed=not failures,
        validated_at=now,
        seconds=0.0,
        rejected_path=rejected_path,
        mode="incremental" if since is not None else "full",
        mode_reason=reason or INCREMENTAL_REASON,
        suites=judgement.runs,
    )
    report.seconds = round(time.monotonic() - started, 3)
    write_report(report, Path(report_dir) if report_dir else lake.data_dir / "quality")
    return report


def _full_reason(previous: incremental.ValidationState | None, digest: str, *, full: bool) -> str:
    """Why every row is judged again; "" when only the rows that may have changed need to be."""
    if full:
        return "full validation requested"
    if previous is None:
        return "first validation"
    if previous.suites != digest:
        return "the expectation suites changed"
    if previous.blocked:
        return "the previous validation failed a blocking expectation"
    return ""


@dataclass
class _Judgement:
    """What the suites of a resource found."""

    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    # Record id -> the "suite.expectation" names that quarantine it.
    bad: dict[str, set[str]] = field(default_factory=dict)
    runs: list[SuiteRun] = field(default_factory=list)
    # Per snapshot suite, the sync runs whose rows it has now judged.
    validated: dict[str, list[str]] = field(default_factory=dict)
    # Per snapshot suite, what its reference flags found (`incremental.reference_flags`).
    references: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # Per suite, the values of its `$PARAMETER`s.
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)


def _run_suites(
    lake: Lake,
    suites: list[Suite],
    now: datetime,
    *,
    since: incremental.ValidationState | None,
    rejected_ids: pa.Array,
) -> _Judgement:
    """Run every suite over its table: all rows, or (`since` a previous validation) only those
    `pipelines.quality.incremental` says may have changed their verdict."""
    context: list[_Gx] = []

    def gx() -> _Gx:  # created on first use: importing GX takes seconds
        if not context:
            context.append(_Gx())
        return context[0]

    judgement = _Judgement()
    for suite in suites:
        suite_started = time.monotonic()
        framed = _frame(lake, suite, since, now)
        if framed is None:
            continue
        table, runtime, facts = framed
        if facts:
            judgement.references[suite.name] = facts
        parameters = suite.parameters(now, runtime)
        if suite.table != RECEIVED:
            judgement.validated[suite.name] = sorted(
                r for r in pc.unique(table.column("_run_id")).to_pylist() if r is not None
            )
        validated_runs = set(since.runs.get(suite.name, [])) if since is not None else None
        judgement.parameters[suite.name] = parameters
        batches, judged_rows = _batches(suite, table, parameters, validated_runs, rejected_ids)
        for expectations, data, label in batches:
            # An incremental pass needs no GX when every expectation is one `vectorized`
            # reproduces; a full pass (first, suites edited, --full) is GX's.
            judge = (
                None
                if since is not None
                and all(vectorized.supports(e, data.schema, parameters) for e in expectations)
                else gx
            )
            suite_outcomes, failing = _run_suite(
                judge, _part(suite, expectations), data, parameters, label=label, rows=len(table)
            )
            judgement.outcomes.extend(suite_outcomes)
            for name, record_ids in failing.items():
                for record_id in record_ids.to_pylist():
                    if record_id is not None:
                        judgement.bad.setdefault(record_id, set()).add(f"{suite.name}.{name}")
        judgement.runs.append(
            SuiteRun(
                suite=suite.name,
                table=suite.table,
                rows=len(table),
                judged=judged_rows,
                seconds=round(time.monotonic() - suite_started, 3),
            )
        )
    return judgement


_Batch = tuple[list[dict[str, Any]], pa.Table, str]


def _batches(
    suite: Suite,
    table: pa.Table,
    parameters: dict[str, Any],
    validated_runs: set[str] | None,
    rejected_ids: pa.Array,
) -> tuple[list[_Batch], int]:
    """The (expectations, rows, label) batches `suite` runs as, none of them empty, and how many
    rows its row-level expectations judge. Without `validated_runs` (the runs judged before)
    every row is judged."""
    if suite.table == RECEIVED:  # the last run's ids: already proportional to the changes
        batches = [(suite.expectations, table, suite.name)]
        return [b for b in batches if b[0]], len(table)
    on_subset = [incremental.judged_on_subset(e, parameters) for e in suite.expectations]
    subset = [e for e, sub in zip(suite.expectations, on_subset, strict=True) if sub]
    whole = [e for e, sub in zip(suite.expectations, on_subset, strict=True) if not sub]
    judged = table
    if validated_runs is not None and subset:
        mask = incremental.rows_to_judge(
            table, suite, subset, validated_runs=validated_runs, rejected_ids=rejected_ids
        )
        judged = table.filter(mask)
    batches = [(subset, judged, suite.name), (whole, table, f"{suite.name}.whole_table")]
    return [b for b in batches if b[0]], len(judged) if subset else 0


def _in_suite_order(
    outcomes: list[ExpectationOutcome], suites: list[Suite]
) -> list[ExpectationOutcome]:
    """The outcomes as the suite files order their expectations, whichever batch judged them."""
    order = {(s.name, e["meta"]["name"]): i for s in suites for i, e in enumerate(s.expectations)}
    return sorted(
        outcomes,
        key=lambda o: (
            suites.index(next(s for s in suites if s.name == o.suite)),
            order[(o.suite, o.name)],
        ),
    )


def _quarantine(
    lake: Lake, resource: str, bad: dict[str, set[str]], now: datetime
) -> tuple[int, int, Path]:
    """Replace the resource's rejected records with `bad`; returns the snapshot's row count,
    the count of records rejected and the rejects file."""
    n_rows = lake.snapshot_rows(resource, resource)
    if bad:
        # An erasure recorded since the suites read the snapshot: its people's records are
        # left out and the records they own redacted, as the lake's writer would.
        primary = lake.guard().rows(
            resource, "changes", lake.read_snapshot(resource, resource, ids=sorted(bad))
        )
    else:
        primary = TABLES[resource][resource].empty_table()
    rejected = rejects.build(primary, resource, bad, validated_at=now)
    rejected_path = rejects.write(lake, resource, rejected)
    n_bad = len(set(rejected.column("record_id").to_pylist()))
    return n_rows, n_bad, rejected_path
