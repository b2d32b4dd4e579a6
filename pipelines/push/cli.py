"""`customer-sync push FILE`: push a CRM change file back to vivenu (or plan it with --dry-run).

Exit codes: 0 every row handled (rejects and held conflicts are listed in the report, not
errors; a file without rows says "nothing to push"); 1 refused by the guardrail, unreadable, or
stopped (the report says why); 3 missing configuration.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from pipelines import clikit, settings
from pipelines.push.runner import DEFAULT_MAX_SHARE, PushOptions, PushReport, run_push
from pipelines.vivenu.client import ClientSettings
from pipelines.vivenu.errors import VivenuConfigError

console = Console(stderr=True)
# Rows of each table printed; the report file lists more, push_log has every attempt.
SHOWN = 50


def _short(value: Any, width: int = 40) -> str:
    text = "∅" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _print(report: PushReport) -> None:
    counts = report.counts()
    title = f"push {report.file}: {report.status}" + (
        " (dry run)" if report.options.dry_run else ""
    )
    summary = Table(title=title, show_header=False)
    for key in (
        "rows",
        "rejected",
        "applied",
        "would_apply",
        "skipped",
        "conflicts",
        "races",
        "failed",
    ):
        summary.add_row(key, str(counts[key]))
    if report.share is not None:
        summary.add_row("share of customers", f"{report.share:.2%}")
    console.print(summary)
    changes = Table(title="changes", show_lines=False)
    for column in ("row", "customer", "outcome", "field", "old", "new"):
        changes.add_column(column)
    shown = [p for p in report.listed_customers(SHOWN) if p.outcome != "unchanged"]
    for p in shown:
        for i, change in enumerate(p.changes()):
            first = i == 0
            changes.add_row(
                str(p.row) if first else "",
                p.customer_id if first else "",
                p.outcome if first else "",
                change["field"],
                _short(change["old"]),
                _short(change["new"]),
            )
    if changes.row_count:
        console.print(changes)
    hidden = sum(p.outcome != "unchanged" for p in report.customers) - len(shown)
    if hidden:
        console.print(f"... and {hidden} more customers in the report")
    if report.rejects:
        rejects = Table(title="rejected rows")
        for column in ("row", "customer", "reason"):
            rejects.add_column(column)
        for r in report.listed_rejects(SHOWN):
            rejects.add_row(str(r.row), r.customer or "", r.reason)
        console.print(rejects)
        if len(report.rejects) > SHOWN:
            console.print(f"... and {len(report.rejects) - SHOWN} more rejected rows in the report")
    if report.note:
        console.print(report.note)
    if report.error:
        console.print(f"[red]{report.error}[/]")
    console.print(f"report: {report.report_path}")


@click.command("push")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Classify and write the plan; send no write request.")
@click.option(
    "--on-conflict",
    type=click.Choice(["skip", "overwrite"]),
    default="skip",
    show_default=True,
    help="A field changed in vivenu since the last sync: hold the customer back, or overwrite.",
)
@click.option(
    "--max-share",
    type=click.FloatRange(0.0, 1.0),
    default=DEFAULT_MAX_SHARE,
    show_default=True,
    help="Refuse a file that changes more than this share of all customers.",
)
@click.option("--force", is_flag=True, help="Push even above --max-share.")
@clikit.json_option("Print the report as JSON on stdout.")
def push(
    file: Path, dry_run: bool, on_conflict: str, max_share: float, force: bool, as_json: bool
) -> None:
    """Push the CRM change FILE (CSV, JSON Lines or Parquet) to vivenu.

    Only fields that differ from the last sync are sent; a field changed in vivenu since then is
    a conflict and is not overwritten (unless --on-conflict overwrite). Files in
    <data_dir>/crm/inbox are moved to crm/processed or crm/failed with their report; other files
    stay where they are, copied beside the report when the push sent a write. An empty cell
    keeps a field, the cell <clear> clears it; NULL and JSON null are rejected as ambiguous.
    """
    try:
        client_settings = ClientSettings.from_env()
    except VivenuConfigError as exc:
        raise clikit.ConfigProblems([str(exc)]) from None
    data_dir = settings.data_dir()
    report = run_push(
        file,
        settings=client_settings,
        db_path=data_dir / "warehouse.duckdb",
        data_dir=data_dir,
        options=PushOptions(
            dry_run=dry_run,
            on_conflict=on_conflict,  # type: ignore[arg-type]
            max_share=max_share,
            force=force,
        ),
    )
    if as_json:
        click.echo(report.to_json().decode())
    else:
        _print(report)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    push()
