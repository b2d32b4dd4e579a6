"""Quality gate: blocking asset checks running the `expectations/` suites on the snapshots.

A failed check (a table-level failure, or more bad records than CUSTOMER_SYNC_MAX_BAD_SHARE)
stops everything downstream of the snapshot in the run; rows that merely fail a row-level
expectation are moved to `quality/<resource>/rejected.parquet` and the rest goes through.
Validation is incremental: row-level expectations re-judge only the rows changed since the last
validation (see `pipelines.quality.incremental`); the metadata says how many.
"""

from collections.abc import Iterator

import dagster as dg

from assets.ingest import SNAPSHOTS
from assets.metadata import EAGER
from pipelines import settings
from pipelines.markdown import cell
from pipelines.quality import QualityReport, validate_snapshot
from pipelines.quality.report import ExpectationOutcome
from pipelines.quality.suites import SuiteError
from pipelines.registry import RESOURCES, spec
from pipelines.resources import LakeResource
from pipelines.warehouse.remote import WarehouseRemoteError

MAX_SAMPLE_ROWS = 5


# Dagster keeps metadata in its run storage, which no erasure can rewrite: nothing here may hold a
# person's values. Bad rows are named by record id and the columns that failed; the rows as they
# were are in the rejects and the report (files an erasure rewrites).
def _observed(e: ExpectationOutcome) -> str:
    """A table-level observation (a count) or the error; never a value of a row."""
    if e.error:
        return cell(e.error)
    return cell(e.observed) if isinstance(e.observed, int | float) else ""


def _samples(failing: list[ExpectationOutcome]) -> str:
    lines = ["| expectation | columns | records (first ids) |", "|---|---|---|"]
    for e in failing:
        if e.samples:
            columns = [c for c in e.samples[0] if c != e.record_id] or [e.record_id]
            ids = [str(row.get(e.record_id)) for row in e.samples[:MAX_SAMPLE_ROWS]]
            lines.append(
                f"| `{e.qualified_name}` | {cell(', '.join(columns))} | {', '.join(ids)} |"
            )
    return "\n".join(lines) if len(lines) > 2 else "none"


def _metadata(report: QualityReport) -> dict[str, dg.MetadataValue | float | int | str]:
    failing = report.failing
    lines = [
        "| expectation | on failure | unexpected | rows | judged | observed |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{e.qualified_name}` | {e.on_failure} | {e.unexpected_count:,} | "
        f"{e.element_count:,} | {e.judged:,} | {_observed(e)} |"
        for e in failing
    ]
    metadata: dict[str, dg.MetadataValue | float | int | str] = {
        "records": report.rows,
        "rejected": report.rejected,
        "bad_share": round(report.bad_share, 6),
        "max_bad_share": report.max_bad_share,
        "expectations_run": len(report.expectations),
        "expectations_failing": len(failing),
        "table_failures": dg.MetadataValue.md(
            "\n".join(f"- {f}" for f in report.table_failures) or "none"
        ),
        "failing_expectations": dg.MetadataValue.md("\n".join(lines) if failing else "none"),
        "sample_bad_rows": dg.MetadataValue.md(_samples(failing)),
        "rejected_path": dg.MetadataValue.path(str(report.rejected_path)),
        "validation_mode": report.mode,
        "validation_mode_reason": report.mode_reason,
        "rows_revalidated": report.rows_revalidated,
        "rows_carried_over": report.rows_carried_over,
        "suites": dg.MetadataValue.md(
            "\n".join(
                [
                    "| suite | table | rows | re-judged | carried over | seconds |",
                    "|---|---|---|---|---|---|",
                ]
                + [
                    f"| `{s.suite}` | {s.table} | {s.rows:,} | {s.judged:,} | "
                    f"{s.carried_over:,} | {s.seconds} |"
                    for s in report.suites
                ]
            )
        ),
        "seconds": report.seconds,
    }
    if report.report_path is not None:
        metadata["report"] = dg.MetadataValue.path(str(report.report_path))
        metadata["report_url"] = dg.MetadataValue.url(report.report_path.resolve().as_uri())
    return metadata


def check_result(lake: LakeResource, resource: str) -> dg.AssetCheckResult:
    """Validate one resource's snapshot and report it as the check's result."""
    try:
        report = validate_snapshot(lake.lake(), resource, max_bad_share=settings.max_bad_share())
    except (SuiteError, WarehouseRemoteError) as exc:  # no suites, or the bucket unreachable
        raise dg.Failure(description=str(exc)) from None
    return dg.AssetCheckResult(
        asset_key=SNAPSHOTS[resource].key,
        check_name=spec(resource).quality_check,
        passed=report.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(report.table_failures) or None,
        metadata=_metadata(report),
    )


# One op for every resource: each resource's suites may read another's snapshot (referential
# integrity), so all snapshots must be compacted first. Checks with crossed deps would form a
# cycle once blocking (each would wait for the other's check).
@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            r.quality_check,
            asset=SNAPSHOTS[r.name],
            blocking=True,
            automation_condition=EAGER,
            description=f"Suites {', '.join(r.suites)}.",
        )
        for r in RESOURCES
    ],
    can_subset=True,
)
def quality_gate(
    context: dg.AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[dg.AssetCheckResult]:
    """The expectation suites of `expectations/` over every snapshot."""
    for r in RESOURCES:
        key = dg.AssetCheckKey(SNAPSHOTS[r.name].key, r.quality_check)
        if key in context.selected_asset_check_keys:
            yield check_result(lake, r.name)


quality_checks = [quality_gate]
