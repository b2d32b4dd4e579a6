"""What the UI shows about every asset: owners, tags, column schemas, automation conditions."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa

from pipelines.sync.lake import TABLES
from pipelines.warehouse import catalog

# Who answers for the assets (Dagster owners are e-mail addresses or "team:<name>").
OWNERS = ["team:data-engineering"]

# When the sync and the reconcile run under declarative automation (`sync_automation` sensor);
# the same times as the schedules `sync_every_15_minutes` and `reconcile_nightly`.
SYNC_CRON = "*/15 * * * *"
RECONCILE_CRON = "30 2 * * *"
ON_SYNC_CRON = dg.AutomationCondition.on_cron(SYNC_CRON)
ON_RECONCILE_CRON = dg.AutomationCondition.on_cron(RECONCILE_CRON)
# Everything downstream of the sync follows as soon as its inputs changed.
EAGER = dg.AutomationCondition.eager()


def tags(resource: str, *, personal_data: bool) -> dict[str, str]:
    """Asset tags: the vivenu resource the asset holds (its registry name, or `all`),
    and whether it holds personal data (names, e-mails, addresses: GDPR scope)."""
    return {"resource": resource, "personal_data": "yes" if personal_data else "no"}


def columns(resource: str, table: str) -> list[tuple[str, pa.DataType, bool, str | None]]:
    """(name, Arrow type, nullable, description) of each column of a lake table: the types from
    the registry (via the lake's table registry), the descriptions from the header of the SQL
    that creates the warehouse table of the same name (the analyst copy's comments)."""
    schema = TABLES[resource][table]
    documented = catalog.tables().get(f"main.{table}")
    described = {c.name: c.comment for c in documented.columns} if documented else {}
    return [
        (
            f.name,
            f.type,
            f.nullable,
            (f.metadata or {}).get(b"description", b"").decode() or described.get(f.name),
        )
        for f in schema
    ]


def column_schema(resource: str, table: str) -> dg.TableSchema:
    """The `dagster/column_schema` of a lake table, as the UI's Columns tab shows it."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=str(kind),
                description=description,
                constraints=dg.TableColumnConstraints(nullable=nullable),
            )
            for name, kind, nullable, description in columns(resource, table)
        ]
    )


def table_metadata(resource: str, table: str) -> dict[str, object]:
    """Definition metadata of an asset holding one lake table."""
    return {"dagster/column_schema": column_schema(resource, table)}
