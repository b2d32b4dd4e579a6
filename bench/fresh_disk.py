"""Runs in fresh containers: two checkouts, each a `customer-sync sync` per run in a new empty
data directory, sharing one bucket on moto's S3 server (one bucket per checkout).

    git worktree add --detach /work/wt/before <commit>      # once: the code before the change
    (cd /work/wt/before && make .venv/.synced)
    .venv/bin/python -m bench.fresh_disk --before /work/wt/before --customers 20000

Per checkout: a full sync, then after 1% of the customers changed (the same ids for both), and
once more with nothing changed; each run in its own empty `CUSTOMER_SYNC_DATA_DIR`, as a
Kubernetes run pod starts. Reported per run: the whole command's wall and CPU time, the quality
gate step's seconds and whether it validated in full or only what changed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from bench import path_before_after
from bench.lake_location import AWS, moto_server
from bench.run import API_KEY, ROOT, Simulator, mutate
from pipelines.sync.lake import Lake

RUNS = ("full sync", "after 1%, empty disk", "nothing changed, empty disk")


def run(checkout: Path, env: dict[str, str]) -> dict[str, Any]:
    """One `customer-sync sync` of `checkout` in a new empty data directory."""
    data_dir = Path(tempfile.mkdtemp(prefix="fresh-disk-"))
    figures = path_before_after.run(checkout, data_dir, env)
    gate = json.loads((data_dir / "quality" / "customers.json").read_text())
    return {
        "wall": figures["stages"]["whole command"],
        "cpu": figures["stages"]["client CPU s"],
        "gate": figures["steps"]["quality_gate"],
        "mode": gate["mode"],
    }


def measure(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    sim = Simulator.spawn(args.customers, args.seed)
    moto, endpoint = moto_server(args.work_dir / "moto.log")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=AWS["AWS_REGION"],
                      aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"])  # fmt: skip
    checkouts = {"before": args.before.resolve(), "after": ROOT}
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in checkouts}
    try:
        for side, checkout in checkouts.items():
            s3.create_bucket(Bucket=side)
            env = {
                **AWS,
                "AWS_ENDPOINT_URL": endpoint,
                "CUSTOMER_SYNC_LAKE_URL": f"s3://{side}/lake",
                "VIVENU_BASE_URL": sim.base_url,
                "VIVENU_API_KEY": API_KEY,
                "CUSTOMER_SYNC_MAX_RPS": "100000",
            }
            for i, name in enumerate(RUNS):
                if i == 1:
                    ids = _customer_ids(env)
                    chosen = random.Random(args.seed).sample(ids, max(1, len(ids) // 100))
                    mutate(sim.base_url, chosen, f"fresh disk {side}")
                    time.sleep(2.1)  # past the safety lag, so the run sees every change
                results[side].append({"run": name, **run(checkout, env)})
                print(side, results[side][-1], flush=True)
    finally:
        sim.stop()
        if moto.stdin is not None:
            moto.stdin.close()
        moto.wait(10)
    return results


def _customer_ids(env: dict[str, str]) -> list[str]:
    """The customer ids the first run's snapshot in the bucket holds (sorted: the same sample
    for both checkouts)."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    lake = Lake(Path(tempfile.mkdtemp()), url=env["CUSTOMER_SYNC_LAKE_URL"])
    ids = lake.read_snapshot("customers", "customers", ["id"]).column("id").to_pylist()
    return sorted(str(i) for i in ids)


def report(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "| run | before wall s | after wall s | after / before | before CPU s | after CPU s "
        "| before gate s | after gate s | before gate | after gate |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for b, a in zip(results["before"], results["after"], strict=True):
        lines.append(
            f"| {b['run']} | {b['wall']:.1f} | {a['wall']:.1f} | {a['wall'] / b['wall']:.2f} "
            f"| {b['cpu']:.1f} | {a['cpu']:.1f} | {b['gate']:.1f} | {a['gate']:.1f} "
            f"| {b['mode']} | {a['mode']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    parser = argparse.ArgumentParser(prog="python -m bench.fresh_disk")
    parser.add_argument("--before", type=Path, required=True, help="the checkout before")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/customer-sync-fresh-disk"))
    parser.add_argument("--out", type=Path, default=ROOT / "data/bench/fresh_disk.md")
    args = parser.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    results = measure(args)
    text = f"# Runs on an empty disk, {args.customers:,} customers\n\n{report(results)}\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return results


if __name__ == "__main__":
    main()
