"""`customer-sync erase (--id ID | --email EMAIL | --file FILE) [--dry-run] [--also-in-vivenu]`.

Exit codes: 0 erased (or, with --dry-run, counted); 1 the erasure failed or named nobody the
lake holds (one line saying why; rerunning finishes an interrupted erasure); 2 bad usage; 3
missing configuration.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from pipelines import clikit, preflight, settings
from pipelines.erase.people import EraseRequestError, Request
from pipelines.erase.run import ErasureReport
from pipelines.erase.run import erase as run_erase
from pipelines.sync.lake import LakeBusy
from pipelines.sync.state import LakeCorrupt
from pipelines.warehouse.remote import WarehouseRemoteError

console = Console(stderr=True)


def _print(report: ErasureReport) -> None:
    verb = "would remove or redact" if report.dry_run else "removed or redacted"
    table = Table(title=f"erasure {report.erasure_id}: {report.people} customer(s), {verb}")
    for column in ("layer", "table or file", "rows"):
        table.add_column(column)
    for layer, found in report.layers.items():
        if not found:
            table.add_row(layer, "-", "0")
        for i, (where, rows) in enumerate(sorted(found.items())):
            table.add_row(layer if i == 0 else "", where, f"{rows:,}")
    console.print(table)
    if report.missing:
        console.print(f"not in the lake (nothing to erase): {', '.join(report.missing)}")
    if report.in_vivenu is not None:
        console.print(f"vivenu erased and confirmed {report.in_vivenu} customer(s)")
    if report.seconds:
        console.print(", ".join(f"{step} {s:.1f} s" for step, s in report.seconds.items()))


@click.command("erase")
@click.option("--id", "ids", multiple=True, help="A vivenu customer id (repeatable).")
@click.option("--email", "emails", multiple=True, help="A customer's email (repeatable).")
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file of customer ids or emails, one a line (`#` comments).",
)
@click.option(
    "--deleted",
    is_flag=True,
    help="The customers a reconcile confirmed deleted at least CUSTOMER_SYNC_ERASE_DELETED_AFTER "
    "days ago (and not erased yet).",
)
@click.option("--dry-run", is_flag=True, help="Count what each layer holds; change nothing.")
@click.option(
    "--also-in-vivenu",
    is_flag=True,
    help="Also POST vivenu's /api/customers/{id}/erase-data, and confirm it with a GET.",
)
@clikit.json_option()
def erase(
    ids: tuple[str, ...],
    emails: tuple[str, ...],
    file: Path | None,
    deleted: bool,
    dry_run: bool,
    also_in_vivenu: bool,
    as_json: bool,
) -> None:
    """Remove people from every layer: the lake's tables (vacuumed, commit logs cut), the
    warehouse (rewritten) and its analyst copy, segment exports, CRM files and reports, quality
    reports, webhook envelopes. Their transactions and tickets keep money and dates under a
    pseudonym, and the next syncs keep them out. The warehouse's erasure_log keeps the proof."""
    if not (ids or emails or file or deleted):
        raise click.UsageError("name whom to erase: --id, --email, --file or --deleted")
    clikit.config_problems(preflight.problems(api=also_in_vivenu and not dry_run))
    if deleted:
        ids = (*ids, *_deleted_due())
        if not (ids or emails or file):
            click.echo("nothing to erase: no customer deleted long enough ago", err=True)
            return
    try:
        request = Request.from_file(file) if file else Request()
        request = Request(ids=(*request.ids, *ids), emails=(*request.emails, *emails))
        report = run_erase(
            request,
            data_dir=settings.data_dir(),
            dry_run=dry_run,
            vivenu=_client() if also_in_vivenu and not dry_run else None,
        )
    except (EraseRequestError, LakeBusy, LakeCorrupt, WarehouseRemoteError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print(report)


def _deleted_due() -> list[str]:
    from pipelines.erase.run import deleted_due
    from pipelines.sync.lake import Lake

    after = clikit.required_setting(
        settings.erase_deleted_after,
        settings.ERASE_DELETED_AFTER.name,
        "set it to the days a confirmed deletion is kept before --deleted erases it (e.g. 30)",
    )
    return deleted_due(Lake(settings.data_dir()), after)


def _client():
    from pipelines.vivenu.client import ClientSettings, VivenuClient

    return VivenuClient(ClientSettings.from_env())
