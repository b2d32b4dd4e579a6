"""The incremental path of two checkouts on copies of one data directory, after the same change.

    git worktree add --detach /work/wt/before <commit>      # once: the code before the change
    (cd /work/wt/before && make .venv/.synced)
    .venv/bin/customer-sync simulator --customers 1000000 --port 8791 &
    CUSTOMER_SYNC_DATA_DIR=/tmp/path/synced VIVENU_BASE_URL=http://127.0.0.1:8791 \\
        .venv/bin/customer-sync sync --full --quiet
    .venv/bin/python -m bench.path_before_after --before /work/wt/before \\
        --data-dir /tmp/path/synced --base-url http://127.0.0.1:8791

The data directory (synced and loaded by `customer-sync sync`) is copied once per checkout; each
copy is brought to a published analyst copy by one unmeasured `customer-sync sync` (a copied file
is a new inode, so its first publish writes it afresh). Then, per share and round, that share of
the customers is changed (`PUT /api/customers/{id}`, the same ids for both) and each checkout's
`customer-sync sync --quiet --json` runs on its copy, before then after on even rounds and after
then before on odd ones. Wall time, CPU time (`os.wait4`) and Dagster's step seconds, split by
stage as `bench.run` splits them; the report gives each round's figure side by side and the
ratio of the medians (after / before). Rounds closer than the sync's lookback (5 minutes) re-read
the previous round's changes too, alike for both.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.run import API_KEY, ROOT, mutate, snapshot_ids, stage_of

SIDES = ("before", "after")
ROWS = (
    "sync",
    "snapshot",
    "quality gate",
    "warehouse",
    "analytics",
    "analyst copy",
    "segments",
    "outside steps",
    "whole command",
    "client CPU s",
    "peak RSS MiB",
)


def run(checkout: Path, data_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """One `customer-sync sync --quiet --json` of `checkout` on `data_dir`: its figures."""
    cmd = [str(checkout / ".venv/bin/customer-sync"), "sync", "--quiet", "--json"]
    env = {**os.environ, **env, "CUSTOMER_SYNC_DATA_DIR": str(data_dir)}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=checkout, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{checkout}: customer-sync sync failed (exit {status}) on {data_dir}")
    summary = json.loads(out)
    steps: dict[str, float] = summary["step_seconds"]
    split: dict[str, float] = {}
    for step, seconds in steps.items():
        split[stage_of(step)] = split.get(stage_of(step), 0.0) + seconds
    split["outside steps"] = wall - sum(steps.values())
    split["whole command"] = wall
    split["client CPU s"] = usage.ru_utime + usage.ru_stime
    split["peak RSS MiB"] = usage.ru_maxrss / 1024
    fetched = sum(
        int(v.get("records_fetched") or 0)
        for v in summary.values()
        if isinstance(v, dict) and "records_fetched" in v
    )
    return {"stages": split, "steps": steps, "fetched": fetched, "loadavg": os.getloadavg()[0]}


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    env = {
        "VIVENU_BASE_URL": args.base_url,
        "VIVENU_API_KEY": args.api_key,
        "CUSTOMER_SYNC_MAX_RPS": "100000",
        "CUSTOMER_SYNC_CONCURRENCY": "4",
    }
    checkouts = {"before": args.before.resolve(), "after": ROOT}
    copies = {side: args.work_dir / side for side in SIDES}
    for side, copy in copies.items():
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(args.data_dir, copy, symlinks=True)
        run(checkouts[side], copy, env)  # settles the copy: not measured
    ids = snapshot_ids(copies["after"])
    rng = random.Random(args.seed)
    results = []
    for share in args.shares:
        for round_ in range(args.rounds):
            chosen = rng.sample(ids, max(1, int(len(ids) * share)))
            mutate(args.base_url, chosen, f"path before/after {share:g} {round_}")
            time.sleep(2.1)  # past the safety lag, so each run sees every change
            for side in SIDES if round_ % 2 == 0 else SIDES[::-1]:
                figures = run(checkouts[side], copies[side], env)
                results.append({"share": share, "round": round_, "side": side, **figures})
                print(
                    f"- {share:g} round {round_} {side}: {figures['stages']['whole command']:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
    return results


def report(results: list[dict[str, Any]], shares: list[float]) -> str:
    columns = [(share, side) for share in shares for side in SIDES]
    lines = [
        "| stage | " + " | ".join(f"{share:.1%}, {side}" for share, side in columns) + " |",
        "| --- |" + " ---: |" * len(columns),
    ]
    for row in ROWS:
        cells = [
            " / ".join(
                f"{r['stages'].get(row, 0.0):.{0 if row.endswith('MiB') else 1}f}"
                for r in results
                if r["share"] == share and r["side"] == side
            )
            for share, side in columns
        ]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines.append("")
    for share in shares:
        for row in ("whole command", "client CPU s"):
            median = {
                side: statistics.median(
                    r["stages"][row] for r in results if r["share"] == share and r["side"] == side
                )
                for side in SIDES
            }
            lines.append(
                f"- after {share:.1%}, {row}: median {median['before']:.1f} -> "
                f"{median['after']:.1f} ({median['after'] / median['before']:.2f})"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.path_before_after")
    parser.add_argument("--before", type=Path, required=True, help="checkout of the code before")
    parser.add_argument("--data-dir", type=Path, required=True, help="a synced data directory")
    parser.add_argument("--base-url", required=True, help="the simulator the data came from")
    parser.add_argument("--api-key", default=API_KEY)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.01, 0.001])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/customer-sync-path-ab"))
    parser.add_argument("--out", type=Path, default=ROOT / "data/bench/path_before_after.md")
    args = parser.parse_args(argv)
    results = measure(args)
    text = report(results, args.shares)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    print(text)
    return {"results": results, "report": text}


if __name__ == "__main__":
    main()
