"""The lake on local disk beside the lake on S3 (moto's server), in the same run.

    .venv/bin/python -m bench.lake_location --customers 200000

One simulator, one S3 server on 127.0.0.1 (moto's, in its own process, so its CPU is not the
client's); the same `bench.child sync` stage (sync + compaction of customers and transactions)
into a local lake and into `s3://bench/lake`: a full sync, then after 1% and 0.1% of the
customers changed, an incremental one into each. moto is an in-memory S3 written in Python:
a real object store is slower per request and faster per byte, so the S3 column says what the
format costs on the protocol (requests, no rename), not what a cloud bucket will take.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3

from bench.run import ROOT, Bench, Row, Simulator, mutate, snapshot_ids

BUCKET = "bench"
AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}


def moto_server(log: Path) -> tuple[subprocess.Popen[str], str]:
    """moto's server, its request log (one line per S3 request) going to `log`."""
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.s3server", "--log"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert proc.stdout is not None
    url = f"http://127.0.0.1:{int(proc.stdout.readline())}"
    s3 = boto3.client(
        "s3",
        endpoint_url=url,
        region_name=AWS["AWS_REGION"],
        aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
    )
    s3.create_bucket(Bucket=BUCKET)
    return proc, url


def _s3_requests(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if '" 2' in line or '" 4' in line)


def _table(pairs: list[tuple[Row, Row, int]]) -> list[str]:
    lines = [
        "| phase | local wall s | S3 wall s | S3 / local | local CPU s | S3 CPU s "
        "| local peak MiB | S3 peak MiB | API requests (both) | S3 requests |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for local, s3, objects in pairs:
        lines.append(
            f"| {local.phase} | {local.wall_s:.1f} | {s3.wall_s:.1f} "
            f"| {s3.wall_s / local.wall_s:.2f} | {local.cpu_s:.1f} | {s3.cpu_s:.1f} "
            f"| {local.peak_rss_mib:,.0f} | {s3.peak_rss_mib:,.0f} "
            f"| {local.requests:,} / {s3.requests:,} | {objects:,} |"
        )
    return lines


def main(argv: list[str] | None = None) -> list[tuple[Row, Row, int]]:
    parser = argparse.ArgumentParser(prog="python -m bench.lake_location")
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/customer-sync-lake-bench"))
    parser.add_argument("--out", type=Path, default=ROOT / "data/bench/lake_location.md")
    args = parser.parse_args(argv)
    work = args.work_dir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sim = Simulator.spawn(args.customers, args.seed)
    moto_log = work / "moto.log"
    moto, endpoint = moto_server(moto_log)
    bench = Bench(work, sim)
    s3: dict[str, str] = {
        **AWS,
        "AWS_ENDPOINT_URL": endpoint,
        "CUSTOMER_SYNC_LAKE_URL": f"s3://{BUCKET}/lake",
    }
    local_dir, s3_dir = work / "local", work / "s3"
    rng = random.Random(args.seed)
    pairs: list[tuple[Row, Row, int]] = []

    def both(phase: str, *, full: bool) -> None:
        local = bench.cs_sync(phase, local_dir, full=full)
        before = _s3_requests(moto_log)
        remote = bench.cs_sync(phase, s3_dir, full=full, **s3)
        pairs.append((local, remote, _s3_requests(moto_log) - before))

    try:
        both("full sync", full=True)
        ids = snapshot_ids(local_dir)
        for share, phase in ((0.01, "1%"), (0.001, "0.1%")):
            mutate(sim.base_url, rng.sample(ids, max(1, int(len(ids) * share))), f"lake {phase}")
            time.sleep(2.1)  # past the safety lag, so both runs see every change
            both(f"incremental after {phase}", full=False)
    finally:
        sim.stop()
        if moto.stdin is not None:
            moto.stdin.close()
        moto.wait(10)
    text = "\n".join(
        [
            f"# Lake location: local disk and S3 (moto), {args.customers:,} customers",
            "",
            *_table(pairs),
            "",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return pairs


if __name__ == "__main__":
    main()
