"""`customer-sync segments ...`: marketing audience files from the analyst copy."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from pipelines import clikit, settings
from pipelines.warehouse.layouts import LAYOUTS
from pipelines.warehouse.loader import analyst_path
from pipelines.warehouse.segments import (
    Segment,
    SegmentConfigError,
    SegmentError,
    configured_segments,
    export,
    select,
)


@click.group()
def segments() -> None:
    """Export marketing audiences (tag segments, or those defined in <data dir>/segments.json)."""


def _configured(data_dir: Path) -> list[Segment]:
    """The configured audiences; a bad definition exits 3 with its one line, like every
    configuration error."""
    try:
        return configured_segments(data_dir)
    except SegmentConfigError as exc:
        raise clikit.ConfigProblems([str(exc)]) from None


def _as_of(value: datetime | None) -> date | None:
    return value.date() if value else None


_AS_OF = click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Day that spend, events and recency count back from. Default: customer_rfm's as_of.",
)


@segments.command("export")
@click.option("--tag", "tags", multiple=True, help="A tag; repeat for several.")
@click.option(
    "--audience",
    help="The name of an audience defined in <data dir>/segments.json (instead of --tag).",
)
@click.option(
    "--match",
    type=click.Choice(["any", "all"]),
    default="any",
    show_default=True,
    help="Customers with any of the tags, or with all of them.",
)
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    help="contacts (our fields; default), google (Customer Match) or meta (customer list); "
    "google and meta are always hashed.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    help="File format (default csv; google and meta are CSV only).",
)
@click.option(
    "--hash-emails",
    is_flag=True,
    default=None,
    help="contacts layout: SHA-256 of the trimmed, lower-cased email (column primary_email_sha256).",
)
@click.option(
    "--include-blocked", is_flag=True, help="Keep blocked customers (left out by default)."
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Write the file even when no customer matches (otherwise: exit 1, nothing written).",
)
@_AS_OF
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="File to write, or an existing folder. Default: <data dir>/exports/<name>.plain.<format> "
    "(<name>.hashed.<format> when hashed, <name>.<layout>.hashed.csv for google and meta).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the file if it exists (a hashed file is never replaced by plain emails).",
)
def export_command(
    tags: tuple[str, ...],
    audience: str | None,
    match: str,
    layout: str | None,
    fmt: str | None,
    hash_emails: bool | None,
    include_blocked: bool,
    allow_empty: bool,
    as_of: datetime | None,
    out: Path | None,
    force: bool,
) -> None:
    """Write one audience. The contacts layout has id, primary_email, prename, lastname, name,
    phone, company, location_country and tags; google and meta follow the platforms' upload
    templates. Reads data/analytics.duckdb (never blocks a sync)."""
    if bool(tags) == bool(audience):
        raise click.UsageError("give either --tag (one or more) or --audience NAME")
    data_dir = settings.data_dir()
    overrides: dict[str, Any] = {
        k: v
        for k, v in {"layout": layout, "format": fmt, "hash_emails": hash_emails}.items()
        if v is not None
    }
    if include_blocked:
        overrides["include_blocked"] = True
    try:
        if audience:
            segment = _named(_configured(data_dir), audience)
            segment = dataclasses.replace(segment, **overrides)
        else:
            segment = Segment(tags=tags, match=match, **overrides)  # type: ignore[arg-type]
        path, rows = export(
            analyst_path(data_dir / "warehouse.duckdb"),
            segment,
            out=out,
            exports_dir=data_dir / "exports",
            force=force,
            allow_empty=allow_empty,
            as_of=_as_of(as_of),
        )
    except SegmentError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{path}\t{rows} customers", err=True)
    click.echo(str(path))


def _named(configured: list[Segment], name: str) -> Segment:
    for segment in configured:
        if segment.label == name:
            return segment
    names = ", ".join(s.label for s in configured) or "none are defined"
    raise click.UsageError(f"no audience named {name!r} in segments.json ({names})")


@segments.command("list")
@_AS_OF
def list_command(as_of: datetime | None) -> None:
    """The configured audiences, their criteria and how many customers each holds now."""
    data_dir = settings.data_dir()
    db = analyst_path(data_dir / "warehouse.duckdb")
    configured = _configured(data_dir)
    if not configured:
        click.echo("no audiences configured (CUSTOMER_SYNC_SEGMENTS or segments.json)", err=True)
    for segment in configured:
        try:
            size = str(len(select(db, segment, as_of=_as_of(as_of))))
        except SegmentError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{segment.label}\t{size}\t{segment.file_name}\t{segment.describe()}")
