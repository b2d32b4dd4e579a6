"""The quality gate: run the suites of `expectations/` over a resource's current snapshot.

GX decides every outcome. What it would do slowly is done before it sees the data: only the
columns a suite reads are handed over, references become one boolean column (an Arrow hash
lookup) and money is cast to float; GX's per-batch fingerprint (a hash of every value, seconds
at a million rows, used only to label the batch) is switched off. Great Expectations is imported
inside `validate_snapshot` only: it takes seconds to import.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.quality import rejects
from pipelines.quality.html import write_report
from pipelines.quality.suites import RECEIVED, Suite, load_suites
from pipelines.sync.lake import Lake

SAMPLE_ROWS = 5


@dataclass
class ExpectationOutcome:
    """One expectation's result: counts, and a few offending rows."""

    suite: str
    name: str
    type: str
    description: str
    on_failure: str
    success: bool
    element_count: int = 0
    unexpected_count: int = 0
    observed: Any = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.suite}.{self.name}"

    @property
    def failed(self) -> bool:
        return not self.success or self.unexpected_count > 0


@dataclass
class QualityReport:
    """What one validation of a resource found and decided."""

    resource: str
    rows: int
    rejected: int
    bad_share: float
    max_bad_share: float
    expectations: list[ExpectationOutcome]
    table_failures: list[str]
    passed: bool
    validated_at: datetime
    seconds: float
    rejected_path: Path
    report_path: Path | None = None
    json_path: Path | None = None

    @property
    def failing(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if e.failed]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["failing"] = [e.qualified_name for e in self.failing]
        return out


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
        asset = self.source.add_dataframe_asset(name=suite.name)
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
    run_dir = lake.run_dir(resource, last["run_id"])
    parts = [
        pq.read_table(f, columns=["id"]) for f in sorted(run_dir.glob(f"{resource}-*.parquet"))
    ] + [
        pq.read_table(f, columns=["record_id"]).rename_columns(["id"])
        for f in sorted(run_dir.glob("quarantine-*.parquet"))
    ]
    ids = pa.concat_tables(parts) if parts else pa.table({"id": pa.array([], pa.string())})
    # A resumed run's fetch count covers only the windows fetched after the restart; the
    # checkpointed totals cover them all.
    expected = (
        last["rows_written"] + last["quarantined"]
        if last.get("resumed")
        else last["records_fetched"]
    )
    return ids, {"api_records_fetched": int(expected)}


def _frame(lake: Lake, suite: Suite) -> tuple[pa.Table, dict[str, Any]] | None:
    """The Arrow table a suite validates (only the columns it reads) and runtime parameters."""
    if suite.table == RECEIVED:
        return _received(lake, suite.resource)
    snapshot = lake.read_snapshot(suite.resource, suite.table)
    wanted = [suite.record_id, "updated_at", *suite.columns()]
    table = snapshot.select([c for c in dict.fromkeys(wanted) if c in snapshot.schema.names])
    for name, ref in suite.references.items():
        known = pc.unique(lake.read_snapshot(ref["resource"], ref["table"]).column(ref["key"]))
        column = table.column(ref["column"])
        flag = pc.if_else(pc.is_null(column), None, pc.is_in(column, value_set=known))
        table = table.append_column(name, flag)
    for i, f in enumerate(table.schema):
        if pa.types.is_decimal(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.float64()))
    return table, {}


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


def _run_suite(
    gx: _Gx, suite: Suite, table: pa.Table, parameters: dict[str, Any]
) -> tuple[list[ExpectationOutcome], dict[str, list[int]]]:
    """Validate; returns outcomes and, per quarantining expectation, the failing row positions."""
    frame = table.to_pandas()
    result = gx.validate(suite, frame, parameters)
    specs = {e["meta"]["name"]: e for e in suite.expectations}
    outcomes, positions = [], {}
    for r in result.results:
        name = r.expectation_config.meta["name"]
        spec = specs[name]
        res = r.result or {}
        error = _error(r)
        bad = [int(i) for i in res.get("unexpected_index_list") or [] if isinstance(i, int)]
        columns = [suite.record_id, *_columns_of(spec["kwargs"])]
        sample = table.take(pa.array(bad[:SAMPLE_ROWS], pa.int64())).select(
            [c for c in dict.fromkeys(columns) if c in table.schema.names]
        )
        outcomes.append(
            ExpectationOutcome(
                suite=suite.name,
                name=name,
                type=spec["type"],
                description=spec.get("description") or "",
                on_failure=spec["meta"]["on_failure"],
                success=bool(r.success) and error is None,
                element_count=int(res.get("element_count") or len(table)),
                unexpected_count=int(res.get("unexpected_count") or 0),
                observed=_plain(res.get("observed_value")),
                samples=[{k: _plain(v) for k, v in row.items()} for row in sample.to_pylist()],
                error=error,
            )
        )
        if spec["meta"]["on_failure"] == "quarantine" and bad:
            positions[name] = bad
    return outcomes, positions


def _table_failures(outcomes: list[ExpectationOutcome], suites: dict[str, Suite]) -> list[str]:
    failures = []
    for o in outcomes:
        mostly = next(
            (e["kwargs"].get("mostly") for e in suites[o.suite].expectations if e["meta"]["name"] == o.name),
            None,
        )  # fmt: skip
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
        elif mostly is not None:
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
) -> QualityReport:
    """Run every suite of `resource` over its current snapshot and record the outcome.

    Rows failing a "quarantine" expectation put their record in
    `lake/<resource>/quality/rejected.parquet` (replaced on every call, so a record that now
    validates leaves it); table-level failures and a bad-record share above `max_bad_share`
    make the report fail. An HTML and a JSON report are written to `report_dir` (default
    `<data_dir>/quality`).

    Args:
        lake: the Parquet lake.
        resource: "customers" or "transactions".
        max_bad_share: largest tolerated share of rejected records (0.01 = 1%).
        report_dir: where the HTML/JSON reports go.
        suites_dir: the suites folder (default CUSTOMER_SYNC_EXPECTATIONS_DIR or `expectations/`).
        now: the validation time (`updated_at` tolerance); defaults to the current time.
    """
    started = time.monotonic()
    now = now or datetime.now(UTC)
    suites = load_suites(suites_dir, resource=resource)
    primary = lake.read_snapshot(resource, resource)
    gx = _Gx()
    outcomes: list[ExpectationOutcome] = []
    bad: dict[str, set[str]] = {}
    for suite in suites:
        framed = _frame(lake, suite)
        if framed is None:
            continue
        table, runtime = framed
        suite_outcomes, positions = _run_suite(gx, suite, table, suite.parameters(now, runtime))
        outcomes.extend(suite_outcomes)
        for name, rows in positions.items():
            for record_id in (
                table.column(suite.record_id).take(pa.array(rows, pa.int64())).to_pylist()
            ):
                if record_id is not None:
                    bad.setdefault(record_id, set()).add(f"{suite.name}.{name}")

    rejected = rejects.build(primary, resource, bad, validated_at=now)
    rejected_path = rejects.write(lake, resource, rejected)
    n_bad = len(set(rejected.column("record_id").to_pylist()))
    bad_share = n_bad / len(primary) if len(primary) else 0.0
    failures = _table_failures(outcomes, {s.name: s for s in suites})
    if bad_share > max_bad_share:
        failures.append(
            f"{n_bad:,} of {len(primary):,} {resource} ({bad_share:.2%}) failed row-level "
            f"expectations, more than the allowed {max_bad_share:.2%}"
        )
    report = QualityReport(
        resource=resource,
        rows=len(primary),
        rejected=n_bad,
        bad_share=bad_share,
        max_bad_share=max_bad_share,
        expectations=outcomes,
        table_failures=failures,
        passed=not failures,
        validated_at=now,
        seconds=0.0,
        rejected_path=rejected_path,
    )
    report.seconds = round(time.monotonic() - started, 3)
    write_report(report, Path(report_dir) if report_dir else lake.data_dir / "quality")
    return report
