"""What an erasure costs: one person and a batch of people, out of a synced seller.

    nice -n 10 .venv/bin/python -m bench.erase_cost --customers 20000 --batch 100

Seeds the simulator, syncs every resource into a fresh data directory and loads the warehouse
(as sync_job does), copies that directory twice, then erases 1 customer in one copy and
`--batch` customers in the other, timing each erasure and counting the files of the lake it
rewrote (data files not in the lake before). Prints one line per erasure; writes only under its
work folder. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from pipelines.erase.people import Request
from pipelines.erase.run import erase
from pipelines.registry import RESOURCES
from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.warehouse import loader
from tests.sync.truth import sync


def _data_files(root: Path) -> set[Path]:
    return {p for p in (root / "lake").rglob("*.parquet") if "_delta_log" not in p.parts}


def _erase(base: Path, work: Path, ids: list[str]) -> str:
    data = work / f"erase-{len(ids)}"
    shutil.copytree(base, data)
    before = _data_files(data)
    start = time.perf_counter()
    report = erase(Request(ids=tuple(ids)), data_dir=data)
    seconds = time.perf_counter() - start
    after = _data_files(data)
    rows = report.as_dict()["rows"]
    return (
        f"erase {len(ids):>4} customer(s): {seconds:6.1f} s, lake files rewritten "
        f"{len(after - before)} of {len(before)}, rows lake {rows.get('lake', 0):,} "
        f"warehouse {rows.get('warehouse', 0):,}; "
        + ", ".join(f"{step} {s:.1f} s" for step, s in report.seconds.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="erase-bench-"))
    try:
        base = work / "base"
        store = Store.seeded(args.customers, args.seed)
        with SimulatorServer(store) as sim:
            start = time.perf_counter()
            sync(sim, base, resources=RESOURCES)
            loader.load(Lake(base), base / "warehouse.duckdb")
            print(
                f"sync + load of {args.customers:,} customers: {time.perf_counter() - start:.1f} s"
            )
        ids = sorted(d["_id"] for d in store.customers_truth() if d.get("transactions"))
        print(_erase(base, work, ids[:1]))
        print(_erase(base, work, ids[1 : 1 + args.batch]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
