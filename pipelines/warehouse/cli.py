"""`customer-sync segments ...`: marketing segment files from the analyst copy."""

from __future__ import annotations

from pathlib import Path

import click

from pipelines import settings
from pipelines.warehouse.loader import analyst_path
from pipelines.warehouse.segments import Segment, SegmentError, export


@click.group()
def segments() -> None:
    """Export tag segments (contact fields of live customers) for marketing."""


@segments.command("export")
@click.option("--tag", "tags", multiple=True, required=True, help="A tag; repeat for several.")
@click.option(
    "--match",
    type=click.Choice(["any", "all"]),
    default="any",
    show_default=True,
    help="Customers with any of the tags, or with all of them.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
    help="File format of the segment.",
)
@click.option(
    "--hash-emails",
    is_flag=True,
    help="Write SHA-256 of the trimmed, lower-cased email (column primary_email_sha256).",
)
@click.option(
    "--include-blocked", is_flag=True, help="Keep blocked customers (left out by default)."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="File to write, or an existing folder. Default: <data dir>/exports/<tags>.plain.<format> (<tags>.hashed.<format> with --hash-emails).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the file if it exists (a hashed-email file is never replaced by plain emails).",
)
def export_command(
    tags: tuple[str, ...],
    match: str,
    fmt: str,
    hash_emails: bool,
    include_blocked: bool,
    out: Path | None,
    force: bool,
) -> None:
    """Write the segment's id, primary_email, prename, lastname, name, phone, company,
    location_country and tags. Reads data/analytics.duckdb (never blocks a sync)."""
    data_dir = settings.data_dir()
    try:
        segment = Segment(
            tags=tags,
            match=match,  # type: ignore[arg-type]
            format=fmt,  # type: ignore[arg-type]
            hash_emails=hash_emails,
            include_blocked=include_blocked,
        )
        path, rows = export(
            analyst_path(data_dir / "warehouse.duckdb"),
            segment,
            out=out,
            exports_dir=data_dir / "exports",
            force=force,
        )
    except SegmentError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{path}\t{rows} customers", err=True)
    click.echo(str(path))
