"""`customer-sync validate` and `customer-sync quarantine list|show`.

The lead attaches these to the `customer-sync` group (`main.add_command(...)`).
"""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table

from pipelines import clikit, settings
from pipelines.quality import rejects, stored
from pipelines.quality.suites import SuiteError, require_suites
from pipelines.sync.lake import TABLES, Lake
from pipelines.sync.state import LakeCorrupt
from pipelines.warehouse.loader import analyst_path, live_versions
from pipelines.warehouse.remote import WarehouseRemoteError

EXIT_FAILED = 1


@click.command()
@click.option(
    "--resource",
    type=click.Choice([*TABLES, "all"]),
    default="all",
    show_default=True,
    help="Which resource to validate.",
)
@click.option(
    "--max-bad-share",
    type=click.FloatRange(0, 1),
    default=None,
    help="Largest tolerated share of rejected records [default: CUSTOMER_SYNC_MAX_BAD_SHARE or 0.01].",
)
@click.option(
    "--full",
    is_flag=True,
    help="Re-judge every row, not only the rows changed since the last validation.",
)
@clikit.json_option("Print the reports as JSON on stdout.")
def validate(resource: str, max_bad_share: float | None, full: bool, as_json: bool) -> None:
    """Re-run the expectation suites over the current snapshot.

    Like the asset check, row-level expectations judge only the rows changed since the last
    validation (and the currently rejected records) unless --full is given; table-level
    expectations always cover the whole table. Updates the quality rejects (records that now
    pass leave them) and the HTML reports under the data directory. Exits 1 when a resource
    fails the gate.
    """
    from pipelines.quality.gate import validate_snapshot

    lake = Lake(settings.data_dir())
    try:
        share = settings.max_bad_share() if max_bad_share is None else max_bad_share
        require_suites()
    except (settings.SettingsError, SuiteError) as exc:
        raise clikit.ConfigProblems([str(exc)]) from None
    names = list(TABLES) if resource == "all" else [resource]
    try:
        reports = [validate_snapshot(lake, name, max_bad_share=share, full=full) for name in names]
    except (LakeCorrupt, WarehouseRemoteError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports], default=str, indent=2))
    else:
        out = Console()
        for r in reports:
            verdict = "[green]passed[/]" if r.passed else "[red]FAILED[/]"
            out.print(
                f"[bold]{r.resource}[/]: {verdict}  {r.rows:,} records, {r.rejected:,} rejected "
                f"({r.bad_share:.2%}, allowed {r.max_bad_share:.2%}), {r.seconds:.1f} s"
            )
            out.print(
                f"  {r.mode} ({r.mode_reason}): {r.rows_revalidated:,} rows re-judged, "
                f"{r.rows_carried_over:,} carried over"
            )
            for e in r.failing:
                out.print(
                    f"  {e.qualified_name}: {e.unexpected_count:,} unexpected ({e.on_failure})"
                )
            for f in r.table_failures:
                out.print(f"  [red]blocking:[/] {f}")
            out.print(f"  report: {r.report_path}")
    if not all(r.passed for r in reports):
        sys.exit(EXIT_FAILED)


@click.group()
def quarantine() -> None:
    """Quarantined record versions: those the sync could not parse (schema) and those the
    quality gate rejected (quality).

    A quarantined version is not merged into the warehouse; the warehouse keeps the version of
    the record it already had, if any (an earlier one, or this one when it was loaded before the
    gate rejected it). `list` says which, from the analyst copy analytics.duckdb.
    """


def _entries(resource: str) -> list[dict]:
    lake = Lake(settings.data_dir())
    names = list(TABLES) if resource == "all" else [resource]
    for name in names:  # a lake in a bucket: what the last gate, wherever it ran, rejected
        if not stored.sealed(lake, name):
            try:
                stored.fetch(lake, name)
            except WarehouseRemoteError as exc:
                raise click.ClickException(str(exc)) from None
    return rejects.quarantined(lake, None if resource == "all" else resource)


def _with_warehouse(entries: list[dict]) -> list[dict]:
    """Each entry with `in_warehouse` (None: no analyst copy yet) and `warehouse_updated_at`:
    whether, and in which version, analytics.duckdb holds the record."""
    copy = analyst_path(settings.data_dir() / "warehouse.duckdb")
    found: dict[str, dict | None] = {}
    for resource in {e["resource"] for e in entries}:
        ids = sorted({e["record_id"] for e in entries if e["resource"] == resource} - {None})
        found[resource] = live_versions(copy, resource, ids)
    for e in entries:
        versions = found[e["resource"]]
        e["in_warehouse"] = None if versions is None else e["record_id"] in versions
        e["warehouse_updated_at"] = (versions or {}).get(e["record_id"])
    return entries


def _in_warehouse(e: dict) -> str:
    if e["in_warehouse"] is None:
        return "? (no analytics.duckdb yet)"
    if not e["in_warehouse"]:
        return "no"
    if e["warehouse_updated_at"] == e["updated_at"]:
        return "yes, this version"
    return f"yes, version {e['warehouse_updated_at']}"


_RESOURCE = click.option(
    "--resource",
    type=click.Choice([*TABLES, "all"]),
    default="all",
    show_default=True,
    help="Whose quarantine to list.",
)


@quarantine.command("list")
@_RESOURCE
@clikit.json_option("Print as JSON on stdout.")
def quarantine_list(resource: str, as_json: bool) -> None:
    """Every quarantined record version with its resource, source, reason(s), and whether the
    warehouse (its analyst copy) holds the record anyway, in this or another version."""
    entries = _with_warehouse(_entries(resource))
    if as_json:
        rows = [{k: v for k, v in e.items() if k != "payload"} for e in entries]
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    table = Table(
        title=f"customer-sync: {len(entries)} quarantined record version(s)",
        caption="A quarantined version is not merged into the warehouse; 'in warehouse' is "
        "what analytics.duckdb holds of the record.",
    )
    for col in ("resource", "source", "record_id", "updated_at", "reasons", "in warehouse"):
        table.add_column(col)
    for e in entries:
        table.add_row(
            e["resource"],
            e["source"],
            e["record_id"] or "(no id)",
            str(e["updated_at"] or ""),
            "; ".join(e["reasons"]),
            _in_warehouse(e),
        )
    Console().print(table)


@quarantine.command("show")
@click.argument("record_id")
@_RESOURCE
def quarantine_show(record_id: str, resource: str) -> None:
    """The quarantine entries of one record, with reasons and payload (JSON on stdout)."""
    found = [e for e in _entries(resource) if e["record_id"] == record_id]
    if not found:
        raise click.ClickException(f"{record_id} is not in quarantine")
    for e in found:
        e["payload"] = json.loads(e["payload"])
    click.echo(json.dumps(found, default=str, indent=2))
