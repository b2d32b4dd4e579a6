"""One measured stage of the benchmark, run in its own process by `bench.run`.

The parent reads peak RSS and CPU time of this process from `os.wait4`; this process prints one
JSON object on stdout with what it did (records, requests, per-stage seconds).

    python -m bench.child sync --data-dir D [--full]      extract+normalize+write, then compact
    python -m bench.child validate --data-dir D           pipelines.quality.validate_snapshot x2
    python -m bench.child load --data-dir D               pipelines.warehouse.loader.load
    python -m bench.child push --data-dir D --file F      the push engine (pipelines.push)
    python -m bench.child put --ids-file F                VivenuClient.update_customer, one by one

The API settings come from the environment (VIVENU_BASE_URL, VIVENU_API_KEY,
CUSTOMER_SYNC_MAX_RPS, CUSTOMER_SYNC_CONCURRENCY), as for `customer-sync`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import orjson


def _sync(data_dir: Path, full: bool) -> dict[str, Any]:
    from pipelines.sync.engine import SyncOptions, sync_resource
    from pipelines.sync.lake import Lake
    from pipelines.vivenu.client import ClientSettings, Resource, VivenuClient

    lake = Lake(data_dir)
    out: dict[str, Any] = {"records": 0, "written": 0, "requests": 0, "retries": 0}

    async def go() -> None:
        async with VivenuClient(ClientSettings.from_env()) as client:
            for resource in (Resource.CUSTOMERS, Resource.TRANSACTIONS):
                result = await sync_resource(client, lake, resource, SyncOptions(full=full))
                name = resource.name.lower()
                out[name] = result.as_metadata()
                for key in ("records", "written", "requests", "retries"):
                    out[key] += getattr(result, key)

    started = time.perf_counter()
    asyncio.run(go())
    out["sync_s"] = time.perf_counter() - started
    # Peak RSS before compaction: the sync alone (the parent's wait4 figure includes compaction).
    out["sync_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    for name in ("customers", "transactions"):
        lake.compact(name)
    out["compact_s"] = time.perf_counter() - started
    return out


def _validate(data_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    import great_expectations  # noqa: F401  (timed on its own: seconds per process)

    from pipelines.quality.gate import validate_snapshot
    from pipelines.sync.lake import Lake

    out: dict[str, Any] = {"import_s": time.perf_counter() - started}
    lake = Lake(data_dir)
    started = time.perf_counter()
    for name in ("customers", "transactions"):
        report = validate_snapshot(lake, name, report_dir=data_dir / "bench-quality")
        out[f"{name}_rows"] = report.rows
        out[f"{name}_passed"] = report.passed
    out["validate_s"] = time.perf_counter() - started
    return out


def _load(data_dir: Path) -> dict[str, Any]:
    from pipelines.sync.lake import Lake
    from pipelines.warehouse.loader import load

    started = time.perf_counter()
    result = load(Lake(data_dir), data_dir / "warehouse.duckdb")
    out: dict[str, Any] = {"load_s": time.perf_counter() - started}
    out["rows"] = {name: r.rows for name, r in result.resources.items()}
    return out


def _push(data_dir: Path, file: Path) -> dict[str, Any]:
    from pipelines.push.runner import PushOptions, push_file
    from pipelines.vivenu.client import ClientSettings, VivenuClient

    out: dict[str, Any] = {}

    async def go() -> None:
        async with VivenuClient(ClientSettings.from_env()) as client:
            started = time.perf_counter()
            report = await push_file(
                file,
                client=client,
                db_path=data_dir / "warehouse.duckdb",
                data_dir=data_dir,
                options=PushOptions(force=True),
            )
            out["push_s"] = time.perf_counter() - started
            out["status"] = report.status
            out["error"] = report.error
            out["counts"] = report.counts()
            out["requests"] = client.stats.requests

    asyncio.run(go())
    return out


def _put(ids_file: Path) -> dict[str, Any]:
    from pipelines.vivenu.client import ClientSettings, VivenuClient

    ids = ids_file.read_text().split()
    out: dict[str, Any] = {"updates": len(ids)}

    async def go() -> None:
        settings = ClientSettings.from_env()
        async with VivenuClient(settings) as client:
            queue = list(ids)

            async def worker() -> None:
                while queue:
                    await client.update_customer(queue.pop(), {"notes": "bench put"})

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(settings.concurrency)))
            out["put_s"] = time.perf_counter() - started
            out["requests"] = client.stats.requests

    asyncio.run(go())
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("stage", choices=["sync", "validate", "load", "push", "put"])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--file", type=Path)
    parser.add_argument("--ids-file", type=Path)
    args = parser.parse_args(argv)
    if args.stage == "sync":
        out = _sync(args.data_dir, args.full)
    elif args.stage == "validate":
        out = _validate(args.data_dir)
    elif args.stage == "load":
        out = _load(args.data_dir)
    elif args.stage == "push":
        out = _push(args.data_dir, args.file)
    else:
        out = _put(args.ids_file)
    sys.stdout.write(orjson.dumps(out, default=str).decode() + "\n")
    sys.stdout.flush()
    # Its figures are out: no interpreter shutdown, where delta-rs' and pyarrow's native threads
    # sometimes abort the process (delta-io/delta-rs#2184), which would fail a stage that worked.
    os._exit(0)


if __name__ == "__main__":
    main()
