"""The lake's tables are open Delta tables: DuckDB and Polars read them with no project code,
and see what the project reads."""

from __future__ import annotations

import duckdb
import polars as pl
from deltalake import DeltaTable

from pipelines.sync.lake import Lake
from tests.sync.truth import sync


def test_duckdb_and_polars_read_the_lake_as_the_project_does(simulator, tmp_path):
    sync(simulator, tmp_path)
    lake = Lake(tmp_path)
    ours = sorted(lake.read_snapshot("customers", "customers", ["id"])["id"].to_pylist())
    assert len(ours) > 100

    con = duckdb.connect()
    con.register(
        "customers",
        DeltaTable(str(tmp_path / "lake/customers/snapshot/customers")).to_pyarrow_dataset(),
    )
    by_duckdb = con.sql("SELECT id FROM customers ORDER BY id").fetchall()
    assert [i for (i,) in by_duckdb] == ours

    by_polars = pl.scan_delta(str(tmp_path / "lake/customers/snapshot/customers")).select("id")
    assert sorted(by_polars.collect()["id"].to_list()) == ours
    run = lake.load_state("customers").runs[-1]["run_id"]
    changes = pl.scan_delta(str(tmp_path / "lake/customers/changes"))
    assert changes.filter(pl.col("_run_id") == run).collect().height == len(ours)
