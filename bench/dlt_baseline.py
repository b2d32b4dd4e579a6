"""The baseline: dlt's `rest_api` source loading the same vivenu API into DuckDB.

Configured the way a dlt user would for vivenu: offset paging on `top`/`skip` with the
response's `total`, records under `docs`, incremental on `updatedAt` through the
`updatedAt[$gte]` query parameter, merge on `_id`. Nothing here verifies windows, so records
that move while dlt pages are skipped (see DESIGN.md section 3) -- that is what it measures.

    python -m bench.dlt_baseline --base-url URL --api-key K --work-dir D

Prints one JSON object (rows per table, seconds). Run as a child of `bench.run` so its peak
RSS and CPU time come from `os.wait4`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson

PIPELINE_NAME = "vivenu_dlt"
DATASET = "vivenu"
EPOCH = "1970-01-01T00:00:00.000Z"


def source(base_url: str, api_key: str) -> Any:
    """The dlt rest_api source for customers and transactions."""
    from dlt.sources.rest_api import rest_api_source

    def resource(name: str, path: str) -> dict[str, Any]:
        return {
            "name": name,
            "endpoint": {
                "path": path,
                "params": {
                    "updatedAt[$gte]": {
                        "type": "incremental",
                        "cursor_path": "updatedAt",
                        "initial_value": EPOCH,
                    }
                },
            },
        }

    return rest_api_source(
        {
            "client": {
                "base_url": base_url.rstrip("/") + "/api/",
                "auth": {"type": "bearer", "token": api_key},
                "paginator": {
                    "type": "offset",
                    "limit": 1000,
                    "offset_param": "skip",
                    "limit_param": "top",
                    "total_path": "total",
                },
            },
            "resource_defaults": {
                "primary_key": "_id",
                "write_disposition": "merge",
                "endpoint": {"data_selector": "docs"},
            },
            "resources": [
                resource("customers", "customers/rich"),
                resource("transactions", "transactions"),
            ],
        }
    )


def duckdb_path(work_dir: Path) -> Path:
    return work_dir / "dlt.duckdb"


def run(base_url: str, api_key: str, work_dir: Path) -> dict[str, Any]:
    """One dlt run (the first is full, later ones incremental from dlt's saved state)."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    import dlt

    work_dir.mkdir(parents=True, exist_ok=True)
    pipeline = dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        pipelines_dir=str(work_dir / "pipelines"),
        destination=dlt.destinations.duckdb(str(duckdb_path(work_dir))),
        dataset_name=DATASET,
        progress="log" if os.environ.get("BENCH_DLT_PROGRESS") else None,
    )
    started = time.perf_counter()
    pipeline.run(source(base_url, api_key))
    seconds = time.perf_counter() - started
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return {
        "seconds": seconds,
        "rows": {k: v for k, v in counts.items() if not k.startswith("_dlt")},
    }


def read_result(work_dir: Path, table: str) -> dict[str, int]:
    """id -> updatedAt (epoch ms) of what dlt loaded into `table`."""
    import duckdb

    con = duckdb.connect(str(duckdb_path(work_dir)), read_only=True)
    try:
        rows = con.execute(
            f"SELECT _id, epoch_ms(CAST(updated_at AS TIMESTAMPTZ)) FROM {DATASET}.{table}"
        ).fetchall()
    finally:
        con.close()
    return {i: int(ms) for i, ms in rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dlt_baseline")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", default="sim-key")
    parser.add_argument("--work-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    out = run(args.base_url, args.api_key, args.work_dir)
    sys.stdout.write(orjson.dumps(out).decode() + "\n")


if __name__ == "__main__":
    main()
