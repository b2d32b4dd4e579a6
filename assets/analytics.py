"""Analytics: spending tables built by the SQL files in `sql/`, with bound parameters only."""

from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from assets.warehouse import warehouse
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
)


@cache
def sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def build(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None) -> int:
    """(Re)build the analytics table `name` in one statement; returns its row count."""
    if name not in TABLES:
        raise ValueError(f"unknown analytics table {name!r}")
    con.execute(f"CREATE OR REPLACE TABLE {name} AS\n{sql(name)}", params or {})
    return con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]


def markdown(
    con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | None = None
) -> str:
    """A query's result as a markdown table (for Dagster metadata)."""
    cur = con.execute(query, params or {})
    columns = [d[0] for d in cur.description]
    rows = cur.fetchall()
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _materialize(
    warehouse: WarehouseResource,
    name: str,
    summaries: dict[str, str],
    params: dict[str, Any] | None = None,
) -> dg.MaterializeResult:
    con = warehouse.connect()
    try:
        rows = build(con, name, params)
        metadata: dict[str, Any] = {
            "dagster/row_count": rows,
            "sql": dg.MetadataValue.path(str(SQL_DIR / f"{name}.sql")),
        }
        for key, query in summaries.items():
            metadata[key] = dg.MetadataValue.md(markdown(con, query))
    finally:
        con.close()
    return dg.MaterializeResult(metadata=metadata)


_ASSET = {
    "group_name": "analytics",
    "kinds": {"duckdb", "sql"},
    "deps": [warehouse],
    "pool": "duckdb",
}


@dg.asset(**_ASSET)
def customer_spend(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Lifetime revenue (completed, paid, net of refunds/cancellations), orders, average order
    value, first and last purchase per customer and currency."""
    return _materialize(
        warehouse,
        "customer_spend",
        {
            "revenue_by_currency": "SELECT currency, count(*) AS customers, sum(revenue) AS revenue, "
            "sum(orders) AS orders, sum(refunded) AS refunded FROM customer_spend "
            "GROUP BY currency ORDER BY revenue DESC",
        },
    )


class RfmConfig(dg.Config):
    """`as_of`: the RFM reference day, YYYY-MM-DD (UTC); default today."""

    as_of: str | None = None


def as_of_date(config: RfmConfig) -> date:
    return date.fromisoformat(config.as_of) if config.as_of else datetime.now(UTC).date()


@dg.asset(**_ASSET)
def customer_rfm(config: RfmConfig, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Recency/frequency/monetary scores (1-5) and named segments per customer and currency,
    as of a day (config `as_of`, default today)."""
    as_of = as_of_date(config)
    result = _materialize(
        warehouse,
        "customer_rfm",
        {
            "segment_sizes": "SELECT currency, segment, count(*) AS customers, "
            "sum(monetary) AS monetary FROM customer_rfm GROUP BY ALL "
            "ORDER BY currency, customers DESC, segment",
        },
        {"as_of": as_of},
    )
    return dg.MaterializeResult(metadata={**(result.metadata or {}), "as_of": str(as_of)})


@dg.asset(**_ASSET)
def cohorts(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Monthly first-purchase cohorts and the share of each buying again in later months."""
    return _materialize(
        warehouse,
        "cohorts",
        {
            "latest_cohorts": "SELECT cohort_month, any_value(cohort_size) AS size, "
            "max(retention) FILTER (WHERE month_number = 1) AS month_1, "
            "max(retention) FILTER (WHERE month_number = 3) AS month_3 "
            "FROM cohorts GROUP BY cohort_month ORDER BY cohort_month DESC LIMIT 12",
        },
    )


@dg.asset(**_ASSET)
def monthly_spend(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Revenue, orders, customers and refunds per month and currency."""
    return _materialize(
        warehouse,
        "monthly_spend",
        {
            "revenue_by_month": "SELECT month, currency, revenue, orders, customers, refunded "
            "FROM monthly_spend WHERE month >= (SELECT max(month) FROM monthly_spend) "
            "- INTERVAL 11 MONTH ORDER BY month DESC, currency",
        },
    )


@dg.asset(**_ASSET)
def event_spend(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Revenue, orders, tickets, customers and refunds per event and currency."""
    return _materialize(
        warehouse,
        "event_spend",
        {
            "top_events": "SELECT event_id, currency, revenue, orders, tickets FROM event_spend "
            "ORDER BY revenue DESC, event_id LIMIT 10",
        },
    )


@dg.asset(**_ASSET)
def tag_summary(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Customers and revenue (per currency) per tag."""
    return _materialize(
        warehouse,
        "tag_summary",
        {
            "top_tags": "SELECT tag, customers, currency, paying_customers, revenue "
            "FROM tag_summary ORDER BY customers DESC, tag, currency NULLS LAST LIMIT 15",
        },
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
    ],
    pool="duckdb",
)
def analyst_copy(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """analytics.duckdb: a read-only copy of the warehouse with the analytics tables, swapped in
    atomically so analysts never block a load nor see half of one."""
    path = warehouse.publish()
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path))})


def _cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")
