"""`customer-sync`: the command line. It runs the same Dagster jobs as the UI, in-process.

Exit codes: 0 success; 1 the run failed (one line names the stage and why; nothing
half-written was committed); 2 bad usage; 3 missing or invalid configuration.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines import clikit, failures, preflight, progress, settings
from pipelines.quality.cli import quarantine, validate
from pipelines.registry import RESOURCES
from pipelines.sync.engine import SyncOptions, SyncProgress
from pipelines.sync.lake import TABLES, Lake, LakeBusy
from pipelines.sync.state import LakeCorrupt

if TYPE_CHECKING:
    from dagster import ExecuteInProcessResult

console = Console(stderr=True)


class LazyGroup(click.Group):
    """Imports a subcommand's module only when it runs (keeps the simulator out of production
    code paths and `--help` fast)."""

    lazy = {
        "simulator": "pipelines.vivenu.simulator.cli:simulator",
        "demo": "pipelines.demo:demo",
        "segments": "pipelines.warehouse.cli:segments",
        "push": "pipelines.push.cli:push",
        "ui": "pipelines.ui:ui",
        "webhooks": "pipelines.webhooks.cli:webhooks",
        "erase": "pipelines.erase.cli:erase",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, attr = self.lazy[cmd_name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        # A full disk or a read-only directory outside a run (state reset, exports, ...) ends in
        # the same one line as inside one, not in a traceback.
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            clikit.echo_json_error(ctx, exc)
            raise
        except (click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            why = failures.explain_exception(exc, data_dir=settings.data_dir().absolute())
            if why is None:
                raise
            error = click.ClickException(why)
            clikit.echo_json_error(ctx, error)
            raise error from exc


def _help() -> str:
    """The top-level help: what the tool does, and every variable as `pipelines.settings`
    declares it."""
    variables = "\n\n".join(
        f"{v.name}: {v.doc}" + ("" if v.default is None else f" Default: {v.default}.")
        for v in settings.VARIABLES
    )
    return (
        "Keep a trustworthy analytics copy of a vivenu seller's customers.\n\n"
        f"Configuration comes from the environment:\n\n{variables}"
    )


@click.group(cls=LazyGroup, help=_help())
@click.version_option(package_name="customer-sync", message="customer-sync %(version)s")
def main() -> None:
    """Keep a trustworthy analytics copy of a vivenu seller's customers (help: `_help`)."""


def _check_config(*, api: bool = False, pipeline: bool = False) -> None:
    """Exit 3 naming every bad or missing variable, before the command does any work."""
    clikit.config_problems(preflight.problems(api=api, pipeline=pipeline))


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    bars = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<13}"),
        BarColumn(bar_width=None),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(p: SyncProgress) -> None:
        if p.resource not in tasks:
            tasks[p.resource] = bars.add_task(p.resource, total=None, detail="")
        bars.update(
            tasks[p.resource],
            detail=p.line(),
        )

    with bars, progress.listening(update):
        yield


# The key of `run_job`'s answer holding each step's seconds (no asset or check is named so).
STEP_SECONDS = "step_seconds"


def run_job(job_name: str, run_config: dict[str, Any], *, verbose: bool = False) -> dict[str, Any]:
    """Execute a job of the code location in-process; returns per-asset metadata, and under
    STEP_SECONDS the seconds each step took (Dagster's own count).

    Raises click.ClickException (exit 1) with the first failure's one-line reason.
    """
    import dagster as dg

    from pipelines.definitions import defs

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    run_config = {
        **run_config,
        "loggers": {"console": {"config": {"log_level": "INFO" if verbose else "CRITICAL"}}},
    }
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)
    if not result.success:
        raise click.ClickException(_failure_reason(result))
    metadata: dict[str, Any] = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        metadata[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    for check in result.get_asset_check_evaluations():
        metadata[check.check_name] = {
            "passed": check.passed,
            **{k: v.value for k, v in check.metadata.items()},
        }
    metadata[STEP_SECONDS] = {
        event.step_key: round(event.step_success_data.duration_ms / 1000, 3)
        for event in result.all_events
        if event.is_step_success and event.step_key
    }
    return metadata


def _failure_reason(result: ExecuteInProcessResult) -> str:
    for check in result.get_asset_check_evaluations():
        if not check.passed:
            table_failures = check.metadata.get("table_failures")
            why = check.description or (table_failures.value if table_failures else "failed")
            return (
                f"quality gate {check.check_name} failed: {why}; the warehouse was not touched "
                "(details: customer-sync quarantine list, data/quality/*.html)"
            )
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            description = data.user_failure_data.description if data.user_failure_data else None
            if data.error is None:
                why = description or "failed"
            else:
                why = failures.explain(
                    data.error, data_dir=settings.data_dir().absolute(), description=description
                )
            return f"{event.step_key}: {why}"
    return "the run failed"


def _emit(summary: dict[str, Any], *, as_json: bool, quiet: bool, table: Table | None) -> None:
    if as_json:
        click.echo(json.dumps(summary, default=str, indent=2))
    elif not quiet and table is not None:
        Console().print(table)


@main.command()
@click.option("--full", is_flag=True, help="Ignore the high-water mark and fetch everything.")
@click.option(
    "--batch-rows",
    type=click.IntRange(min=1),
    default=SyncOptions().batch_rows,
    show_default=True,
    help="Records per Parquet part, and so per checkpoint a rerun resumes from.",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="No progress bars and no summary; exit code only."
)
@clikit.json_option("Print the summary as JSON on stdout.")
@click.option("--verbose", "-v", is_flag=True, help="Show Dagster's run log.")
@click.option(
    "--plan",
    is_flag=True,
    help="Fetch no record: print the requests this sync would send per resource (counted with "
    "one top=1 request per window) and how long the rate caps make them take.",
)
@click.option(
    "--resource",
    "resources",
    type=click.Choice([r.name for r in RESOURCES]),
    multiple=True,
    help="With --plan: plan only this resource (repeatable; default: every resource).",
)
def sync(
    full: bool,
    batch_rows: int,
    quiet: bool,
    as_json: bool,
    verbose: bool,
    plan: bool,
    resources: tuple[str, ...],
) -> None:
    """One incremental sync of every vivenu resource into the lake.

    Exits 0 only when everything fetched was written or quarantined; otherwise exits 1 with a
    one-line reason and the high-water mark stays where it was (a rerun resumes).
    """
    if resources and not plan:
        raise click.UsageError("--resource goes with --plan: a sync syncs every resource")
    if plan:
        _check_config(api=True)
        _plan(full=full, names=resources, as_json=as_json, quiet=quiet)
        return
    _check_config(api=True, pipeline=True)
    op_config = {"config": {"full": full, "batch_rows": batch_rows}}
    with _progress_bars(enabled=not quiet and not as_json and console.is_terminal):
        metadata = run_job(
            "sync_job",
            {"ops": {r.changes_asset: op_config for r in RESOURCES}},
            verbose=verbose,
        )
    warehouse = metadata.get("warehouse", {})
    summary = {
        r.name: {
            **{k: metadata.get(r.changes_asset, {}).get(k) for k in _SYNC_KEYS},
            **{k: metadata.get(r.snapshot_asset, {}).get(k) for k in _SNAPSHOT_KEYS},
            "quality_passed": metadata.get(r.quality_check, {}).get("passed"),
            "quality_rejected": metadata.get(r.quality_check, {}).get("rejected"),
            **{f"warehouse_{k}": warehouse.get(f"{r.name}_{k}") for k in _WAREHOUSE_KEYS},
        }
        for r in RESOURCES
    }
    table = Table(title="customer-sync: sync finished")
    table.add_column("")
    for resource in summary:
        table.add_column(resource, justify="right")
    for key in next(iter(summary.values())):
        table.add_row(key, *(_fmt(summary[r][key]) for r in summary))
    # Reported once, by the run that first meets them; nothing fails (declare them to model).
    new_fields = {
        r.name: metadata.get(r.changes_asset, {}).get("new_api_fields") or [] for r in RESOURCES
    }
    for name, fields in new_fields.items():
        summary[name]["new_api_fields"] = fields
    # Where the run's time went, for --json readers (bench/run.py's incremental path).
    summary[STEP_SECONDS] = metadata[STEP_SECONDS]
    _emit(summary, as_json=as_json, quiet=quiet, table=table)
    if not quiet and not as_json:
        for name, fields in new_fields.items():
            for api_field in fields:
                Console().print(
                    f"new API field `{api_field}` on {name}, kept in api_extra", markup=False
                )


def _plan(*, full: bool, names: tuple[str, ...], as_json: bool, quiet: bool) -> None:
    """`sync --plan`: count, print, write nothing."""
    import asyncio

    from pipelines.registry import spec
    from pipelines.sync.plan import plan_sync
    from pipelines.vivenu.client import ClientSettings, VivenuClient
    from pipelines.vivenu.errors import VivenuError

    chosen = [spec(n) for n in dict.fromkeys(names)] if names else list(RESOURCES)

    async def count() -> dict[str, Any]:
        async with VivenuClient(ClientSettings.from_env()) as client:
            found = await plan_sync(
                client, Lake(settings.data_dir()), chosen, SyncOptions(full=full)
            )
        return found.as_dict()

    try:
        found = asyncio.run(count())
    except (LakeCorrupt, VivenuError) as exc:
        raise click.ClickException(f"sync --plan: {exc}") from None
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if quiet:
        return
    table = Table(title=f"customer-sync: plan of {'a full' if full else 'an incremental'} sync")
    table.add_column("", no_wrap=True, min_width=max(len(name) for name in found["resources"]))
    table.add_column("run", no_wrap=True)
    for column in ("windows", "records", "pages", "overhead", "requests", "plan req"):
        table.add_column(column, justify="right")
    for r in found["resources"].values():
        table.add_row(
            r["resource"],
            r["run"],
            _fmt(len(r["windows"])),
            *(_fmt(r[k]) for k in ("records", "pages", "overhead")),
            _span(r["requests"], r["requests_at_most"]),
            _fmt(r["plan_requests"]),
        )
    out = Console()
    out.print(table)
    budget = found["max_requests_per_hour"]
    caps = f"{settings.MAX_RPS.name}={found['max_rps']:g}" + (
        f", {settings.MAX_REQUESTS_PER_HOUR.name}={budget} "
        f"({found['budget_used'] or 0:,.0f} spent in the last hour)"
        if budget
        else " (no hourly budget)"
    )
    least, most = found["sync_seconds"], found["sync_seconds_at_most"]
    out.print(
        f"a sync would send {_span(found['sync_requests'], found['sync_requests_at_most'])} "
        f"requests: at least {_duration(least)}"
        + ("" if most == least else f" (to {_duration(most)})")
        + f" under {caps}; this plan sent {found['plan_requests']:,} requests",
        markup=False,
    )
    for note in found["notes"]:
        out.print(f"note: {note}", markup=False)


def _span(least: int, most: int) -> str:
    return _fmt(least) if most == least else f"{least:,}..{most:,}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


_SYNC_KEYS = (
    "records_fetched",
    "quarantined",
    "windows",
    "requests",
    "retries",
    "seconds",
    "high_water_mark",
)
_SNAPSHOT_KEYS = ("new", "changed", "deleted", "rows", "in_quarantine")
_WAREHOUSE_KEYS = ("inserted", "updated", "deleted", "rows")


def _fmt(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


@main.command()
@click.option("--quiet", "-q", is_flag=True, help="No summary; exit code only.")
@clikit.json_option("Print the summary as JSON on stdout.")
@click.option("--verbose", "-v", is_flag=True, help="Show Dagster's run log.")
@click.option(
    "--reuse-listing",
    is_flag=True,
    help="Take the listing of a full sync started within the hour instead of listing every "
    "id again (no listing request; a deletion after that sync waits for a later reconcile).",
)
def reconcile(quiet: bool, as_json: bool, verbose: bool, reuse_listing: bool) -> None:
    """Find records deleted in vivenu and apply the deletions.

    Lists every id (or, with --reuse-listing, takes a recent full sync's listing), and marks a
    record deleted only after GET answers 404 for it.
    """
    _check_config(api=True, pipeline=True)
    config = {"ops": {"deleted_records": {"config": {"reuse_listing": reuse_listing}}}}
    metadata = run_job("reconcile_job", config, verbose=verbose)
    found = metadata.get("deleted_records", {})
    table = Table(title="customer-sync: reconcile finished")
    table.add_column("")
    table.add_column("value", justify="right")
    for key, value in found.items():
        table.add_row(key, _fmt(value))
    _emit(found, as_json=as_json, quiet=quiet, table=table)


@main.group()
def state() -> None:
    """Show or reset the high-water marks and checkpoints."""


def _ts(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


@state.command("show")
@clikit.json_option("Print as JSON on stdout.")
def state_show(as_json: bool) -> None:
    """High-water mark, run in progress and recent runs of each resource."""
    lake = Lake(settings.data_dir())
    report = {}
    for resource in TABLES:
        try:
            s = lake.load_state(resource)
        except LakeCorrupt as exc:
            raise click.ClickException(str(exc)) from None
        run = s.in_progress
        report[resource] = {
            "high_water_mark": _ts(s.high_water_mark_ms),
            "run_in_progress": None
            if run is None
            else {
                "run_id": run.run_id,
                "lower": _ts(run.lower_ms),
                "upper": _ts(run.upper_ms),
                "windows_checkpointed": len(run.done),
                "records_written": run.records,
            },
            "runs_pending_compaction": s.pending_compaction,
            "last_run": s.runs[-1] if s.runs else None,
        }
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    out = Console()
    out.print(f"[bold]customer-sync state[/] ({lake.root})")
    for resource, r in report.items():
        run = r["run_in_progress"]
        last = r["last_run"] or {}
        out.print(f"\n[bold]{resource}[/]")
        out.print(
            f"  high-water mark     {r['high_water_mark'] or 'never synced (next sync is full)'}"
        )
        out.print(
            "  run in progress     "
            + ("none" if run is None else f"{run['run_id']}: {run['windows_checkpointed']} windows, "
               f"{run['records_written']:,} records checkpointed (a rerun resumes it)")
        )  # fmt: skip
        out.print(f"  pending compaction  {len(r['runs_pending_compaction'])} run(s)")
        if last:
            out.print(
                f"  last run            {last.get('kind')} {last.get('run_id')} finished "
                f"{last.get('finished_at')}: "
                f"{_fmt(last.get('records_fetched', last.get('deleted', 0)))} records"
            )


@state.command("reset")
@click.option(
    "--resource",
    type=click.Choice([*TABLES, "all"]),
    default="all",
    show_default=True,
    help="Which resource to reset.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def state_reset(resource: str, yes: bool) -> None:
    """Forget the high-water mark and any run in progress, so the next sync is a full one.

    Data already in the lake stays; the full sync re-reads everything and compaction
    de-duplicates by id.
    """
    lake = Lake(settings.data_dir())
    resources = list(TABLES) if resource == "all" else [resource]
    if not yes:
        click.confirm(f"Reset the sync state of {', '.join(resources)} in {lake.root}?", abort=True)
    for name in resources:
        try:
            with lake.writer(name, wait_s=0, recover=True) as writer:
                writer.state.in_progress = None
                writer.state.high_water_mark_ms = None
                writer.commit(writer.state, release=True)
        except LakeBusy as exc:
            raise click.ClickException(str(exc)) from None
        console.print(f"{name}: state reset; the next sync is a full sync")


@main.group()
def lake() -> None:
    """The lake's tables: migrate one written by an earlier release."""


@lake.command("migrate")
@click.option("--dry-run", is_flag=True, help="Print what would be written; change nothing.")
def lake_migrate(dry_run: bool) -> None:
    """Turn a lake written by customer-sync 0.1 (Parquet files and _state.json) into Delta
    tables, in place; run ids, high-water marks and history are kept. Safe to rerun."""
    from pipelines.sync import migrate

    target = Lake(settings.data_dir())
    done = []
    for name in TABLES:
        try:
            result = migrate.migrate(target, name, dry_run=dry_run)
        except (ValueError, LakeBusy, LakeCorrupt) as exc:
            raise click.ClickException(f"{name}: {exc}") from None
        if result is None:
            continue
        done.append(name)
        verb = "would migrate" if dry_run else "migrated"
        dropped = (
            f"; run {result.dropped_run} was in progress and is dropped (the next sync reads "
            "its windows again)"
            if result.dropped_run
            else ""
        )
        click.echo(
            f"{name}: {verb} {result.runs} run(s), {result.rows:,} change rows, "
            f"{result.snapshot_rows:,} current records{dropped}",
            err=True,
        )
    if not dry_run:
        migrate.finish(target)
    if not done:
        click.echo(f"{target.root}: already migrated (nothing in the 0.1 layout)", err=True)


@lake.command("compact-history")
@click.option("--dry-run", is_flag=True, help="Count the versions that would go; change nothing.")
def lake_compact_history(dry_run: bool) -> None:
    """Drop the record versions older than CUSTOMER_SYNC_HISTORY_RETENTION days that a newer
    version replaced (the current ones stay), from the lake's files and commit log and from the
    warehouse's *_history tables (the file rewritten, the analyst copy published again)."""
    from pipelines.erase.retention import compact_history, compact_warehouse_history
    from pipelines.warehouse.loader import WarehouseBusy
    from pipelines.warehouse.remote import WarehouseRemoteError

    retention = clikit.required_setting(
        settings.history_retention,
        settings.HISTORY_RETENTION.name,
        "set it to the days replaced versions are kept (e.g. 90)",
    )
    lake = Lake(settings.data_dir())
    try:
        dropped = compact_history(lake, retention, dry_run=dry_run)
        db_path = settings.data_dir() / "warehouse.duckdb"
        in_warehouse = compact_warehouse_history(lake, db_path, retention, dry_run=dry_run)
    except (LakeBusy, LakeCorrupt, WarehouseBusy, WarehouseRemoteError) as exc:
        raise click.ClickException(str(exc)) from None
    verb = "would drop" if dry_run else "dropped"
    for name, rows in dropped.items():
        click.echo(f"{name}: {verb} {rows:,} replaced version(s)", err=True)
    for table, rows in in_warehouse.items():
        click.echo(f"warehouse {table}: {verb} {rows:,} replaced version(s)", err=True)


main.add_command(validate)
main.add_command(quarantine)

if __name__ == "__main__":
    main()
