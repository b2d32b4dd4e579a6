"""A lake (and warehouse) written by older code, then synced and loaded by this code: no resync.

    git worktree add --detach /work/wt/before <commit>      # once: the code before the change
    (cd /work/wt/before && make .venv/.synced)
    nice -n 5 .venv/bin/python -m bench.old_lake --before /work/wt/before --customers 1000000
    .venv/bin/python -m bench.old_lake --before /work/wt/before --fixture tests/sync/old_lake

One in-process simulator (this checkout's code, so its truth can be read) serves both:

1. before: `customer-sync sync --full` of the older checkout (its own virtualenv): the lake,
   its quality gate and a warehouse, all written by the old code;
2. changes in the simulator: `--changes` customers updated and as many transactions refunded,
   `--new` customers created with a transaction each, so both resources have work to do;
3. after: `customer-sync sync` of this checkout, incremental, into the same data directory: it
   continues from the old state, merges into the old snapshot, gates it and loads the old
   warehouse;
4. after: the whole old-and-new lake loaded into a fresh warehouse by this checkout's loader;
5. checks: the old run's and the new run's exit codes; the new run fetched only the changed
   records (not a resync) in a handful of requests; the lake's snapshots and both warehouses hold
   exactly the simulator's live records (id and `updatedAt`); the quality gate passed.

`--fixture DIR` stops after step 1 on a tiny seller (history ending on a fixed `--today`) and
copies the old code's lake to DIR: the test `tests/sync/test_old_lake.py` syncs and loads that
lake with the current code in CI, where no older checkout exists.

Wall and CPU seconds and peak RSS of each `customer-sync` run come from `os.wait4`; requests
from the simulator's counter. The report goes to stdout and --out (Markdown, and .json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.run import API_KEY, ROOT, Simulator, compare

RESOURCES = ("customers", "transactions")
QUERIES = {name: f"SELECT id, updated_at FROM {name}" for name in RESOURCES}
# The most requests an incremental run of a few thousand changes may take per resource: the
# window query, its pages (1,000 records each), and the checks around them.
REQUESTS_SLACK = 20


def run_cli(
    checkout: Path, args: list[str], data_dir: Path, sim: Simulator, log: Path
) -> dict[str, Any]:
    """`customer-sync <args> --json` of `checkout` against `sim`; its summary and figures."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
        "VIVENU_BASE_URL": sim.base_url,
        "VIVENU_API_KEY": API_KEY,
        "CUSTOMER_SYNC_DATA_DIR": str(data_dir),
        "CUSTOMER_SYNC_MAX_RPS": "100000",
        "CUSTOMER_SYNC_CONCURRENCY": "4",
    }
    cmd = [str(checkout / ".venv/bin/customer-sync"), *args, "--json"]
    requests, load = sim.requests(), os.getloadavg()[0]
    started = time.perf_counter()
    with open(log, "ab") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, cwd=checkout)
        stdout, code, cpu, peak = finish(proc)
    try:
        summary = json.loads(stdout)
    except json.JSONDecodeError:
        summary = {"stdout": stdout.decode(errors="replace")[-2000:]}
    return {
        "command": f"{checkout.name}: customer-sync {' '.join(args)}",
        "exit_code": code,
        "wall_s": time.perf_counter() - started,
        "cpu_s": cpu,
        "peak_rss_mib": peak,
        "requests": sim.requests() - requests,
        "loadavg_1m": load,
        "summary": summary,
    }


def finish(proc: subprocess.Popen) -> tuple[bytes, int, float, float]:
    """Wait for `proc`: its stdout, exit code, CPU seconds and peak RSS (MiB).

    The peak is the child's own VmHWM, sampled while it runs: `wait4`'s ru_maxrss would report
    this process's RSS (the in-process simulator, GBs at 1M) for every child, since Linux carries
    the high-water mark of the forking process across exec.
    """
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    return (
        stdout,
        os.waitstatus_to_exitcode(status),
        usage.ru_utime + usage.ru_stime,
        peak[0] / 1024,
    )


def lake_versions(data_dir: Path, name: str) -> dict[str, int]:
    """id -> updatedAt (ms) of the lake's snapshot."""
    t = pq.read_table(
        data_dir / "lake" / name / "snapshot" / f"{name}.parquet", columns=["id", "updated_at"]
    )
    return _versions(t)


def warehouse_versions(db: Path, name: str) -> dict[str, int]:
    """id -> updatedAt (ms) of the warehouse's live table."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        t = con.sql(QUERIES[name]).to_arrow_table()
    finally:
        con.close()
    return _versions(t)


def _versions(t: pa.Table) -> dict[str, int]:
    ms = pc.cast(pc.cast(t.column("updated_at"), pa.timestamp("ms", "UTC")), "int64")
    return dict(zip(t.column("id").to_pylist(), ms.to_pylist(), strict=True))


def truth(store: Any) -> dict[str, dict[str, int]]:
    from pipelines.vivenu.simulator.store import iso_to_ms_fast

    return {
        "customers": {d["_id"]: iso_to_ms_fast(d["updatedAt"]) for d in store.customers_truth()},
        "transactions": {
            d["_id"]: iso_to_ms_fast(d["updatedAt"]) for d in store.transactions_truth()
        },
    }


def change(store: Any, updates: int, new: int, seed: int) -> int:
    """Update `updates` customers and as many transactions (refunded), create `new` customers
    with a transaction each; the ms the first change was made at."""
    import random

    rng = random.Random(seed)
    first = store.now_ms()
    for n, customer_id in enumerate(rng.sample(store.live_customer_ids(), updates)):
        store.update_customer(customer_id, {"notes": f"old-lake bench change {n}"})
    for transaction_id in rng.sample(store.live_transaction_ids(), updates):
        store.update_transaction(transaction_id, {"paymentStatus": "REFUND"})
    for n in range(new):
        body = {"primaryEmail": f"old-lake-{seed}-{n}@example.com", "prename": "Old"}
        doc, _ = store.create_customer(body)
        store.create_transaction(doc["_id"])
    return first


def check(results: dict[str, Any], store: Any, data_dir: Path, since_ms: int) -> list[str]:
    """What is wrong after the new run (empty: the old lake was read and loaded exactly)."""
    problems = []
    new = results["after"]
    for name in ("before", "after", "fresh load"):
        if name in results and results[name]["exit_code"] != 0:
            problems.append(f"{name} exited {results[name]['exit_code']}")
    t = truth(store)
    changed = {n: sum(1 for ms in v.values() if ms >= since_ms) for n, v in t.items()}
    results["changed_in_api"] = changed
    results["compare"] = {}
    for name in RESOURCES:
        got = new["summary"].get(name, {})
        fetched = got.get("records_fetched")
        # The run re-reads the few records its safety window overlaps; a resync reads them all.
        if fetched is None or not changed[name] <= fetched <= changed[name] + 100:
            problems.append(f"{name}: fetched {fetched}, changed {changed[name]}: a resync?")
        if got.get("quality_passed") is not True:
            problems.append(f"{name}: quality gate {got.get('quality_passed')}")
        for label, versions in (
            ("lake", lambda n: lake_versions(data_dir, n)),
            ("old warehouse", lambda n: warehouse_versions(data_dir / "warehouse.duckdb", n)),
            ("fresh warehouse", lambda n: warehouse_versions(data_dir / "fresh.duckdb", n)),
        ):
            c = compare(t[name], versions(name))
            results["compare"][f"{label} {name}"] = c
            if c["missing"] or c["stale"] or c["extra"]:
                problems.append(f"{label} {name}: {c}")
    budget = REQUESTS_SLACK * len(RESOURCES) + sum(changed.values()) // 1000
    if new["requests"] > budget:
        problems.append(f"the new run made {new['requests']} requests (budget {budget})")
    return problems


def fresh_load(data_dir: Path) -> dict[str, Any]:
    """This checkout's loader, the whole lake into a new warehouse (in a child, for wait4)."""
    code = (
        "import sys; from pathlib import Path; from pipelines.sync.lake import Lake; "
        "from pipelines.warehouse.loader import load; d = Path(sys.argv[1]); "
        "r = load(Lake(d), d / 'fresh.duckdb', publish_copy=False); "
        "print({n: x.rows for n, x in r.resources.items()})"
    )
    started = time.perf_counter()
    # DuckDB draws its progress bar on stdout: the rows are the last line.
    proc = subprocess.Popen([sys.executable, "-c", code, str(data_dir)], stdout=subprocess.PIPE)
    stdout, exit_code, cpu, peak = finish(proc)
    return {
        "command": "this checkout: loader.load into a fresh warehouse",
        "exit_code": exit_code,
        "wall_s": time.perf_counter() - started,
        "cpu_s": cpu,
        "peak_rss_mib": peak,
        "requests": 0,
        "loadavg_1m": os.getloadavg()[0],
        "summary": {"rows": stdout.decode().strip().splitlines()[-1:]},
    }


def report(args: argparse.Namespace, results: dict[str, Any], problems: list[str]) -> str:
    lines = [
        f"# old lake: {args.customers:,} customers written by {results['before_commit']}, "
        f"read and loaded by {results['after_commit']}",
        "",
        f"Machine: {results['machine']}; simulator seeded in {results['seed_s']:.1f}s "
        f"({results['api_start']}); changes: {args.changes:,} customers updated and as many "
        f"transactions refunded, {args.new:,} customers created with a transaction each "
        f"({results['changed_in_api']} records changed).",
        "",
        "| step | exit | wall s | CPU s | peak RSS MiB | requests | fetched (loaded) | load avg 1 min |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for step in ("before", "after", "fresh load"):
        r = results[step]
        fetched = r["summary"].get("rows") or {
            n: r["summary"].get(n, {}).get("records_fetched")
            for n in RESOURCES
            if isinstance(r["summary"].get(n), dict)
        }
        lines.append(
            f"| {r['command']} | {r['exit_code']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
            f"{r['peak_rss_mib']:,.0f} | {r['requests']:,} | {fetched or ''} | "
            f"{r['loadavg_1m']:.2f} |"
        )
    lines += ["", "| compared with the simulator | truth | missing | stale | extra |"]
    lines += ["| --- | ---: | ---: | ---: | ---: |"]
    for label, c in results["compare"].items():
        lines.append(f"| {label} | {c['truth']:,} | {c['missing']} | {c['stale']} | {c['extra']} |")
    lines += ["", "Result: " + ("**exact, no resync**" if not problems else "; ".join(problems))]
    return "\n".join(lines)


def commit(path: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(path), "log", "-1", "--format=%h"], capture_output=True, text=True
    )
    return out.stdout.strip()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.old_lake", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--before", type=Path, required=True, help="older checkout, with .venv")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--today", type=date.fromisoformat, default=None)
    parser.add_argument("--changes", type=int, default=1000, help="customers updated")
    parser.add_argument("--new", type=int, default=100, help="customers created")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/customer-sync-old-lake"))
    parser.add_argument("--out", type=Path, default=ROOT / "data/bench/old_lake.md")
    parser.add_argument("--fixture", type=Path, help="write the old lake there and stop")
    args = parser.parse_args(argv)
    from pipelines.vivenu.simulator.server import SimulatorServer
    from pipelines.vivenu.simulator.store import Store

    before = args.before.resolve()
    if args.fixture:
        args.customers, args.today = min(args.customers, 12), args.today or date(2026, 12, 1)
    work = args.work_dir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data_dir, log = work / "data", work / "children.log"
    results: dict[str, Any] = {
        "before_commit": commit(before),
        "after_commit": commit(ROOT),
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
    }
    started = time.perf_counter()
    store = Store.seeded(args.customers, args.seed, today=args.today)
    server = SimulatorServer(store, api_key=API_KEY).start()
    sim = Simulator(server.base_url, server=server)
    results["seed_s"] = time.perf_counter() - started
    results["api_start"] = store.counts()
    try:
        print(f"- before: full sync of {args.customers:,} customers ...", file=sys.stderr)
        results["before"] = run_cli(before, ["sync", "--full"], data_dir, sim, log)
        print(f"  {results['before']['wall_s']:.1f}s", file=sys.stderr)
        if results["before"]["exit_code"] != 0:
            raise SystemExit(f"the old code's sync failed: see {log}")
        if args.fixture:
            return write_fixture(args, data_dir, results)
        results["old_lake"] = {n: len(lake_versions(data_dir, n)) for n in RESOURCES}
        since = change(store, args.changes, args.new, args.seed)
        time.sleep(2.1)  # past the sync's safety lag, so the run sees every change
        print("- after: incremental sync ...", file=sys.stderr)
        results["after"] = run_cli(ROOT, ["sync"], data_dir, sim, log)
        print(f"  {results['after']['wall_s']:.1f}s", file=sys.stderr)
        print("- after: fresh load ...", file=sys.stderr)
        results["fresh load"] = fresh_load(data_dir)
        problems = check(results, store, data_dir, since)
    finally:
        server.stop()
    results["problems"] = problems
    text = report(args, results, problems)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    args.out.with_suffix(".json").write_bytes(
        orjson.dumps(results, option=orjson.OPT_INDENT_2, default=str)
    )
    print(text)
    if problems:
        raise SystemExit(1)
    return results


def write_fixture(args: argparse.Namespace, data_dir: Path, results: dict[str, Any]) -> dict:
    """The old code's lake, and how to rebuild the simulator it was synced from."""
    target = args.fixture
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(data_dir / "lake", target / "lake", ignore=shutil.ignore_patterns(".lock"))
    meta = {
        "written_by": results["before_commit"],
        "customers": args.customers,
        "seed": args.seed,
        "today": args.today.isoformat(),
        "rows": {n: len(lake_versions(data_dir, n)) for n in RESOURCES},
    }
    (target / "fixture.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))
    return meta


if __name__ == "__main__":
    main()
