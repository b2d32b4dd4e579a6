"""Activation: CRM change files from the inbox pushed back to vivenu (reverse ETL)."""

import asyncio
from pathlib import Path
from typing import Any

import dagster as dg

from assets.metadata import OWNERS, tags
from pipelines.push.runner import (
    DEFAULT_MAX_SHARE,
    CrmDirs,
    PushOptions,
    PushReport,
    push_file,
)
from pipelines.resources import VivenuResource
from pipelines.warehouse.resource import WarehouseResource


class PushConfig(dg.Config):
    """Which file to push and how; an empty `file` pushes every file waiting in the inbox."""

    file: str = ""
    dry_run: bool = False
    on_conflict: str = "skip"
    max_share: float = DEFAULT_MAX_SHARE
    force: bool = False


def _metadata(reports: list[PushReport]) -> dict[str, Any]:
    totals: dict[str, int] = {}
    for report in reports:
        for key, value in report.counts().items():
            totals[key] = totals.get(key, 0) + value
    metadata: dict[str, Any] = {
        key: totals.get(key, 0)
        for key in ("applied", "skipped", "conflicts", "rejected", "failed", "would_apply")
    }
    metadata["files"] = len(reports)
    metadata["statuses"] = ", ".join(f"{r.file}: {r.status}" for r in reports) or "no files"
    if reports and reports[-1].report_path:
        metadata["report"] = dg.MetadataValue.path(reports[-1].report_path)
    return metadata


# Writes push_log into warehouse.duckdb, so it shares the "duckdb" pool with the warehouse load
# (DuckDB allows one writing process per file).
@dg.asset(
    group_name="activation",
    kinds={"duckdb"},
    deps=[dg.AssetKey("warehouse")],
    pool="duckdb",
    owners=OWNERS,
    tags=tags("customers", personal_data=True),
)
def crm_push(
    context: dg.AssetExecutionContext,
    config: PushConfig,
    vivenu: VivenuResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """CRM edits pushed to vivenu: only changed fields, never over a newer vivenu change, audited."""
    if config.on_conflict not in ("skip", "overwrite"):
        raise dg.Failure(f"on_conflict must be skip or overwrite, got {config.on_conflict!r}")
    dirs = CrmDirs.of(warehouse.data_dir)
    files = [Path(config.file)] if config.file else dirs.inbox_files()
    options = PushOptions(
        dry_run=config.dry_run,
        on_conflict=config.on_conflict,  # type: ignore[arg-type]
        max_share=config.max_share,
        force=config.force,
    )

    async def run() -> list[PushReport]:
        reports = []
        async with vivenu.client() as client:
            for path in files:
                report = await push_file(
                    path,
                    client=client,
                    db_path=warehouse.path,
                    data_dir=warehouse.data_dir,
                    options=options,
                )
                context.log.info(f"{path.name}: {report.status} {report.counts()}")
                reports.append(report)
        return reports

    reports = asyncio.run(run())
    metadata = _metadata(reports)
    failed = [r for r in reports if not r.ok]
    if failed:
        raise dg.Failure(
            description="; ".join(f"{r.file}: {r.error}" for r in failed),
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)
