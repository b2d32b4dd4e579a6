"""Analytics: spending tables built by the SQL files in `sql/`, with bound parameters only."""

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from assets.metadata import EAGER, OWNERS, tags
from assets.warehouse import warehouse
from pipelines.markdown import cell
from pipelines.sqlfiles import read_sql
from pipelines.warehouse import versions
from pipelines.warehouse.resource import WarehouseResource

SQL_DIR = Path(__file__).parent / "sql"

# The tables this module builds; each is `sql/<name>.sql`. Names come only from here.
TABLES = (
    "customer_spend",
    "customer_rfm",
    "cohorts",
    "monthly_spend",
    "event_spend",
    "tag_summary",
    "customer_bookings",
    "booking_conversion",
    "event_lead_time",
)


sql = partial(read_sql, SQL_DIR)


def build(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None) -> int:
    """(Re)build the analytics table `name` in one statement; returns its row count.

    Skipped when the table was built from the same query, parameters and versions of the tables
    it reads (`pipelines.warehouse.versions`): it would come out the same."""
    if name not in TABLES:
        raise ValueError(f"unknown analytics table {name!r}")
    query = sql(name)
    versions.ensure(con)
    built_from = versions.fingerprint(con, query, params)
    if built_from is not None and versions.version(con, name) == built_from:
        return int(con.execute(sql("row_count").format(name=name)).fetchall()[0][0])
    statement = sql("build").format(name=name, query=query)
    # Its version recorded in the same transaction: the analyst copy then copies it again.
    con.execute("BEGIN TRANSACTION")
    try:
        rows = int(con.execute(statement, params or {}).fetchall()[0][0])
        if built_from is None:
            versions.record_change(con, name)
        else:
            versions.set_version(con, name, built_from)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return rows


def markdown(
    con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | None = None
) -> str:
    """A query's result as a markdown table (for Dagster metadata)."""
    cur = con.execute(query, params or {})
    columns = [d[0] for d in cur.description]
    rows = cur.fetchall()
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _materialize(
    warehouse: WarehouseResource,
    name: str,
    summaries: tuple[str, ...],
    params: dict[str, Any] | None = None,
) -> dg.MaterializeResult:
    con = warehouse.connect()
    try:
        rows = build(con, name, params)
        metadata: dict[str, Any] = {
            "dagster/row_count": rows,
            # The SQL declares these columns, so they are read from the table it built.
            "dagster/column_schema": dg.TableSchema(
                columns=[
                    dg.TableColumn(
                        name=column,
                        type=kind.lower(),
                        constraints=dg.TableColumnConstraints(nullable=nullable),
                    )
                    for column, kind, nullable in con.execute(
                        sql("columns"), {"name": name}
                    ).fetchall()
                ]
            ),
            "sql": dg.MetadataValue.path(str(SQL_DIR / f"{name}.sql")),
        }
        for key in summaries:
            metadata[key] = dg.MetadataValue.md(markdown(con, sql(f"summaries/{key}")))
    finally:
        con.close()
    return dg.MaterializeResult(metadata=metadata)


def _analytics_asset(fn: Callable[..., dg.MaterializeResult]) -> dg.AssetsDefinition:
    return dg.asset(
        group_name="analytics",
        kinds={"duckdb", "sql"},
        deps=[warehouse],
        pool="duckdb",
        owners=OWNERS,
        # Per customer id or aggregate: no names, e-mails or addresses.
        tags=tags("all", personal_data=False),
        automation_condition=EAGER,
    )(fn)


@_analytics_asset
def customer_spend(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """What each customer has spent with us per currency: lifetime revenue net of refunds and
    cancellations, orders, average order value, and first and last purchase."""
    return _materialize(
        warehouse,
        "customer_spend",
        ("revenue_by_currency", "top_spenders"),
    )


class RfmConfig(dg.Config):
    """`as_of`: the RFM reference day, YYYY-MM-DD (UTC); default today."""

    as_of: str | None = None


def as_of_date(config: RfmConfig) -> date:
    return date.fromisoformat(config.as_of) if config.as_of else datetime.now(UTC).date()


@_analytics_asset
def customer_rfm(config: RfmConfig, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Each customer's recency, frequency and monetary scores (1-5) per currency and the named
    segment they put the customer in, as of a reference day (config `as_of`, default today)."""
    as_of = as_of_date(config)
    result = _materialize(
        warehouse,
        "customer_rfm",
        ("segment_sizes",),
        {"as_of": as_of},
    )
    return dg.MaterializeResult(metadata={**(result.metadata or {}), "as_of": str(as_of)})


@_analytics_asset
def cohorts(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Monthly first-purchase cohorts and the share of each buying again in later months."""
    return _materialize(
        warehouse,
        "cohorts",
        ("latest_cohorts",),
    )


@_analytics_asset
def monthly_spend(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Revenue, orders, customers and refunds per month and currency."""
    return _materialize(
        warehouse,
        "monthly_spend",
        ("revenue_by_month",),
    )


@_analytics_asset
def event_spend(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Revenue, orders, tickets, customers and refunds per event and currency, with the event's
    name, start and the share of its capacity its sold tickets fill."""
    return _materialize(
        warehouse,
        "event_spend",
        ("top_events",),
    )


@_analytics_asset
def tag_summary(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Customers and revenue (per currency) per tag."""
    return _materialize(
        warehouse,
        "tag_summary",
        ("top_tags",),
    )


@_analytics_asset
def customer_bookings(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Each customer's bookings, distinct events booked, tickets bought and median days between
    bookings."""
    return _materialize(
        warehouse,
        "customer_bookings",
        ("booking_habits",),
    )


class BookingConversionConfig(dg.Config):
    """`steps`: the deepest repeat-booking step listed (customers who booked that many events)."""

    steps: int = 4


@_analytics_asset
def booking_conversion(
    config: BookingConversionConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """The share of booking customers who go on to book a 2nd, 3rd, ... distinct event (config
    `steps`, default 4), and the median days each step took."""
    result = _materialize(
        warehouse,
        "booking_conversion",
        ("repeat_bookings",),
        {"steps": config.steps},
    )
    return dg.MaterializeResult(metadata={**(result.metadata or {}), "steps": config.steps})


@_analytics_asset
def event_lead_time(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """How long before each event's start its bookings were placed (quartiles of days)."""
    return _materialize(
        warehouse,
        "event_lead_time",
        ("lead_time_bands",),
    )


@dg.asset(
    group_name="analytics",
    kinds={"duckdb"},
    deps=[
        warehouse,
        customer_spend,
        customer_rfm,
        cohorts,
        monthly_spend,
        event_spend,
        tag_summary,
        customer_bookings,
        booking_conversion,
        event_lead_time,
    ],
    pool="duckdb",
    owners=OWNERS,
    tags=tags("all", personal_data=True),
    automation_condition=EAGER,
)
def analyst_copy(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The analysts' copy of the warehouse and its spending analytics, replaced whole after each
    sync so analysts always query one consistent state without ever delaying a sync."""
    path = warehouse.publish()
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path))})
