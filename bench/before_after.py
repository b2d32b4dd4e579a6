"""The full sync of two checkouts, interleaved against one simulator: is a change slower?

    git worktree add --detach /work/wt/before <commit>      # once: the code before the change
    (cd /work/wt/before && make .venv/.synced)
    nice -n 5 .venv/bin/python -m bench.before_after --before /work/wt/before --customers 200000

Each checkout runs with its own virtualenv (`<checkout>/.venv/bin/python`), so each measures its
own code; both sync the same simulator process (this checkout's, or `--sim-checkout`'s), seeded
once. A round runs both, before then after on even rounds and after then before on odd ones, so
a drift in the machine's load falls on both alike. A run is one child process doing a full sync
of `--resources` (extract, normalize, write the Parquet parts) and then the snapshot compaction
of each, into a fresh data directory; its CPU time and peak RSS come from `os.wait4`, its
requests from the simulator's counter. The child is this file's `child` function, which imports
only `pipelines` (the checkout's), and reaches the resources through the registry or, in code
older than the registry, the client's `Resource` enum.

Reported: per run wall, CPU, split, RSS and the 1-minute load average at its start; per figure
the median of each side and the ratio after/before. CPU seconds are the contention-robust
figure; wall seconds follow the load of others on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("wall_s", "cpu_s", "sync_s", "compact_s", "peak_rss_mib")


# --------------------------------------------------------------------------- the child


def child(data_dir: Path, names: list[str]) -> dict[str, Any]:
    """A full sync of `names` into `data_dir`, then their compaction (runs in the checkout)."""
    import asyncio
    import resource

    import pipelines
    from pipelines.sync.engine import SyncOptions, sync_resource
    from pipelines.sync.lake import Lake
    from pipelines.vivenu.client import ClientSettings, VivenuClient

    try:
        from pipelines.registry import spec

        resources = [spec(name) for name in names]
    except ImportError:  # before the registry: the client's enum
        from pipelines.vivenu.client import Resource

        resources = [Resource[name.upper()] for name in names]
    lake = Lake(data_dir)
    out: dict[str, Any] = {"records": 0, "code": str(Path(pipelines.__file__).parent.parent)}

    async def go() -> None:
        async with VivenuClient(ClientSettings.from_env()) as client:
            for r in resources:
                result = await sync_resource(client, lake, r, SyncOptions(full=True))
                out["records"] += result.records

    started = time.perf_counter()
    asyncio.run(go())
    out["sync_s"] = time.perf_counter() - started
    out["sync_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    for name in names:
        lake.compact(name)
    out["compact_s"] = time.perf_counter() - started
    out["rows"] = {name: _rows(lake, name) for name in names}
    return out


def _rows(lake: Any, name: str) -> int:
    if hasattr(lake, "snapshot_rows"):  # the Delta lake
        return lake.snapshot_rows(name, name)
    import pyarrow.parquet as pq  # the Parquet lake, before issue 13

    return pq.read_metadata(lake.snapshot_path(name, name)).num_rows


# --------------------------------------------------------------------------- the parent


def measure(
    checkout: Path, data_dir: Path, names: list[str], env: dict[str, str], sim: Any, log: Path
) -> dict[str, Any]:
    """One run of `child` with `checkout`'s interpreter; its figures."""
    import orjson

    # -P: this file's folder is not put on sys.path, so `pipelines` is the checkout's own.
    cmd = [str(checkout / ".venv/bin/python"), "-P", str(Path(__file__).resolve()), "--child"]
    cmd += ["--data-dir", str(data_dir), "--resources", *names]
    load = os.getloadavg()[0]
    requests, sim_cpu = sim.requests(), sim.cpu_s()
    started = time.perf_counter()
    with open(log, "ab") as err:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=err, env={**os.environ, **env}, cwd=checkout
        )
        stdout = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed; see {log}")
    out = orjson.loads(stdout.decode().strip().splitlines()[-1])
    if Path(out["code"]) != checkout:  # the measured code must be the checkout's own
        raise RuntimeError(f"{checkout}'s interpreter imported pipelines from {out['code']}")
    return {
        **out,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "requests": sim.requests() - requests,
        "sim_cpu_s": sim.cpu_s() - sim_cpu,
        "loadavg_1m": load,
    }


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Per figure: the median of each side, their ratio after / before, and the median of the
    rounds' own ratios (a round's two runs are back to back, so they share the machine's load)."""
    out = {}
    for figure in FIGURES:
        before = statistics.median(r[figure] for r in runs["before"])
        after = statistics.median(r[figure] for r in runs["after"])
        paired = statistics.median(
            a[figure] / b[figure] for a, b in zip(runs["after"], runs["before"], strict=True)
        )
        out[figure] = {"before": before, "after": after, "ratio": after / before, "paired": paired}
    return out


def report(args: argparse.Namespace, facts: dict[str, Any], runs: dict, summary: dict) -> str:
    def commit(path: Path) -> str:
        return subprocess.run(
            ["git", "-C", str(path), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
        ).stdout.strip()[:72]

    lines = [
        f"# before / after: full sync of {args.customers:,} customers "
        f"({', '.join(args.resources)}), {args.rounds} rounds",
        "",
        f"before: `{commit(args.before)}` ({args.before}); "
        f"after: `{commit(args.after)}` ({args.after}).",
        f"Machine: {facts['machine']}; simulator seeded in {facts['seed_s']:.1f}s; "
        f"load average (1, 5, 15 min) at start {facts['loadavg_start']}, at end "
        f"{facts['loadavg_end']}.",
        "",
        "| round | side | wall s | CPU s | sync s | compaction s | peak RSS MiB | records | "
        "requests | load avg 1 min |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(runs["before"] + runs["after"], key=lambda r: r["order"]):
        lines.append(
            f"| {r['round']} | {r['side']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
            f"{r['sync_s']:.1f} | {r['compact_s']:.1f} | {r['peak_rss_mib']:.0f} | "
            f"{r['records']:,} | {r['requests']:,} | {r['loadavg_1m']:.2f} |"
        )
    lines += [
        "",
        "| figure | median before | median after | after / before | median of rounds' ratios |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for figure, s in summary.items():
        lines.append(
            f"| {figure} | {s['before']:.1f} | {s['after']:.1f} | {s['ratio']:.2f} | "
            f"{s['paired']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.before_after", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--before", type=Path, help="the checkout before, with its .venv")
    parser.add_argument("--after", type=Path, default=ROOT, help="default: this checkout")
    parser.add_argument("--sim-checkout", type=Path, default=None, help="default: --after")
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resources", nargs="+", default=["customers", "transactions"])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/customer-sync-before-after"))
    parser.add_argument("--out", type=Path, default=ROOT / "data/bench/before_after.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import orjson

        sys.stdout.write(orjson.dumps(child(args.data_dir, args.resources)).decode() + "\n")
        sys.stdout.flush()
        # Its figures are out: no interpreter shutdown, where delta-rs' and pyarrow's native
        # threads sometimes abort the process ("terminate called without an active exception",
        # delta-io/delta-rs#2184), which would fail a run that did its work.
        os._exit(0)

    import orjson

    from bench.run import API_KEY, Simulator

    if args.before is None:
        parser.error("--before is required")
    args.before, args.after = args.before.resolve(), args.after.resolve()
    for checkout in (args.before, args.after):
        if not (checkout / ".venv/bin/python").exists():
            parser.error(f"{checkout} has no .venv: run `make .venv/.synced` there")
    work = args.work_dir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    facts: dict[str, Any] = {
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}",
        "loadavg_start": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    started = time.perf_counter()
    sim = Simulator.spawn(args.customers, args.seed, root=args.sim_checkout or args.after)
    facts["seed_s"] = time.perf_counter() - started
    env = {
        "VIVENU_BASE_URL": sim.base_url,
        "VIVENU_API_KEY": API_KEY,
        "CUSTOMER_SYNC_MAX_RPS": "100000",
        "CUSTOMER_SYNC_CONCURRENCY": "4",
    }
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    order = 0
    try:
        for n in range(1, args.rounds + 1):
            sides = ["before", "after"] if n % 2 else ["after", "before"]
            for side in sides:
                data_dir = work / f"{side}-{n}"
                checkout = args.before if side == "before" else args.after
                print(f"- round {n} {side} ...", file=sys.stderr, flush=True)
                r = measure(checkout, data_dir, args.resources, env, sim, work / "children.log")
                order += 1
                r.update(round=n, side=side, order=order)
                runs[side].append(r)
                print(
                    f"  wall {r['wall_s']:.1f}s cpu {r['cpu_s']:.1f}s, {r['records']:,} records, "
                    f"{r['requests']} requests, load {r['loadavg_1m']:.2f}",
                    file=sys.stderr,
                    flush=True,
                )
                shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        sim.stop()
    facts["loadavg_end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = {tuple(sorted(r["rows"].items())) for side in runs.values() for r in side}
    if len(rows) != 1:
        raise RuntimeError(f"the runs disagree on the rows they synced: {rows}")
    summary = summarize(runs)
    text = report(args, facts, runs, summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    result = {"facts": facts, "runs": runs, "summary": summary}
    args.out.with_suffix(".json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(text)
    return result


if __name__ == "__main__":
    main()
