"""Sync speed and memory at N customers, side by side with dlt on the same simulator.

    make bench                                   # = .venv/bin/python -m bench.run (N = 1,000,000)
    .venv/bin/python -m bench.run --customers 50000 --writer-customers 5000 --no-whole-job

One run, one machine: a simulator process is seeded with N customers (and their transactions);
every measured stage runs in its own child process, so its peak RSS and CPU time come from
`os.wait4`. The simulator's CPU time (/proc/<pid>/stat utime+stime) is read around every stage,
so it is never the hidden limit of a figure. Phases:

1. full sync, customer-sync then dlt (`bench.dlt_baseline`);
2. quality gate (validate_snapshot) and warehouse load (loader.load) on the synced lake;
3. 1% of the customers changed through `PUT /api/customers/{id}`, both tools incremental;
   then 0.1% the same way; then the incremental warehouse load;
4. push throughput at CUSTOMER_SYNC_MAX_RPS=50 (the push engine, or `update_customer`);
5. the full sync again with 50 ms latency per request (`PUT /_simulator/faults`);
6. the whole `customer-sync sync --full` job (sync + gate + load + analytics), optional;
6b. the whole incremental path (`path`): `customer-sync sync` on the synced and loaded lake (one
   run first to build what a bench.child stage does not: gate state, analytics, analyst copy),
   then after a fresh 1% and 0.1% change each (`--skip 0.1%`: 1% only), beside dlt's
   incremental run of the same change; split by Dagster's step durations;
7. correctness: a second, in-process simulator (N = --writer-customers) so the truth can be
   read: both tools with the background writer off, then on (full run during the writes,
   writer stopped, one incremental catch-up run), each compared with the truth;
8. optional (--profile): py-spy of a full sync, hot spots by self and total time.

The report (Markdown) goes to stdout and to --out; the raw figures to --out with .json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.sync.lake import Lake

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
API_KEY = "sim-key"
TICK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the simulator


class Simulator:
    """A simulator to measure against: a separate process, or in-process (truth readable)."""

    def __init__(self, base_url: str, *, pid: int | None = None, server: Any = None) -> None:
        self.base_url = base_url
        self.pid = pid
        self.server = server
        self.proc: subprocess.Popen | None = None

    @classmethod
    def spawn(
        cls, customers: int, seed: int, *, root: Path = ROOT, today: str | None = None
    ) -> Simulator:
        """`customer-sync simulator` of checkout `root` in its own process (history ending on
        `today`, YYYY-MM-DD, if given); returns once it serves."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [str(root / ".venv/bin/customer-sync"), "simulator", "--port", str(port)]
        cmd += ["--customers", str(customers), "--seed", str(seed), "--api-key", API_KEY]
        cmd += ["--today", today] if today else []
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=root)
        line = proc.stdout.readline() if proc.stdout else ""
        if "http://" not in line:
            proc.kill()
            raise RuntimeError(f"the simulator did not start: {line!r}")
        sim = cls(f"http://127.0.0.1:{port}", pid=proc.pid)
        sim.proc = proc
        deadline = time.monotonic() + 60
        while True:
            try:
                sim.admin()
                return sim
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    @classmethod
    def in_process(cls, customers: int, seed: int) -> Simulator:
        from pipelines.vivenu.simulator.server import SimulatorServer
        from pipelines.vivenu.simulator.store import Store

        server = SimulatorServer(Store.seeded(customers, seed), api_key=API_KEY).start()
        return cls(server.base_url, server=server)

    def cpu_s(self) -> float:
        """CPU seconds the simulator used so far (user + system)."""
        if self.pid is not None:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / TICK
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def admin(self, **changes: Any) -> dict[str, Any]:
        """Read (or change) the fault knobs; also the count of API requests served."""
        url = f"{self.base_url}/_simulator/faults"
        r = httpx.put(url, json=changes) if changes else httpx.get(url)
        r.raise_for_status()
        return r.json()

    def requests(self) -> int:
        return int(self.admin()["requests"])

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------- measuring


@dataclass
class Row:
    """One measured stage."""

    phase: str
    tool: str
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    records: int
    requests: int
    sim_cpu_s: float
    ok: bool = True
    out: dict[str, Any] = field(default_factory=dict)

    @property
    def records_per_s(self) -> float:
        return self.records / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_us_per_record(self) -> float:
        return self.cpu_s / self.records * 1e6 if self.records else 0.0


def child(
    cmd: list[str], env: dict[str, str], sim: Simulator, log: Path
) -> tuple[dict[str, Any], dict[str, float], bool]:
    """Run `cmd`; returns (its JSON output, {wall, cpu, rss, sim_cpu, requests}, success)."""
    sim_cpu, sim_requests = sim.cpu_s(), sim.requests()
    started = time.perf_counter()
    with open(log, "ab") as err:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=err, env={**os.environ, **env}, cwd=ROOT
        )
        stdout = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    figures = {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "sim_cpu_s": sim.cpu_s() - sim_cpu,
        "requests": sim.requests() - sim_requests,
    }
    lines = stdout.decode().strip().splitlines()
    out: dict[str, Any] = {}
    if lines:
        try:  # one JSON line (bench.child), or the whole output (`customer-sync --json`)
            out = orjson.loads(lines[-1] if lines[-1] != "}" else stdout)
        except orjson.JSONDecodeError:
            out = {"stdout": lines[-1][:300]}
    if proc.returncode != 0:
        print(f"  !! {' '.join(cmd[:4])} exited {proc.returncode}; see {log}", file=sys.stderr)
    return out, figures, proc.returncode == 0


class Bench:
    """The measurements of one run and how to take them."""

    def __init__(self, work: Path, sim: Simulator) -> None:
        self.work = work
        self.sim = sim
        self.rows: list[Row] = []
        self.log = work / "children.log"

    def env(self, data_dir: Path | None = None, **extra: str) -> dict[str, str]:
        env = {
            "VIVENU_BASE_URL": self.sim.base_url,
            "VIVENU_API_KEY": API_KEY,
            "CUSTOMER_SYNC_MAX_RPS": "100000",
            "CUSTOMER_SYNC_CONCURRENCY": "4",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
        if data_dir is not None:
            env["CUSTOMER_SYNC_DATA_DIR"] = str(data_dir)
        return {**env, **extra}

    def measure(self, phase: str, tool: str, cmd: list[str], env: dict[str, str]) -> Row:
        print(f"- {phase} [{tool}] ...", file=sys.stderr, flush=True)
        out, f, ok = child(cmd, env, self.sim, self.log)
        records = int(out.get("records") or sum((out.get("rows") or {}).values() or [0]))
        row = Row(phase, tool, records=records, ok=ok, out=out, **f)  # type: ignore[arg-type]
        self.rows.append(row)
        print(
            f"  {row.wall_s:.1f}s, {row.records:,} records, {row.peak_rss_mib:.0f} MiB, "
            f"cpu {row.cpu_s:.1f}s, {row.requests} req, sim cpu {row.sim_cpu_s:.1f}s",
            file=sys.stderr,
            flush=True,
        )
        return row

    def cs_sync(self, phase: str, data_dir: Path, *, full: bool, **env: str) -> Row:
        cmd = [PYTHON, "-m", "bench.child", "sync", "--data-dir", str(data_dir)]
        return self.measure(
            phase, "customer-sync", [*cmd, *(["--full"] if full else [])], self.env(**env)
        )

    def dlt(self, phase: str, work_dir: Path) -> Row:
        cmd = [PYTHON, "-m", "bench.dlt_baseline", "--base-url", self.sim.base_url]
        cmd += ["--api-key", API_KEY, "--work-dir", str(work_dir)]
        row = self.measure(phase, "dlt", cmd, self.env())
        # dlt's row counts include its child tables; count top-level records like customer-sync.
        rows = row.out.get("rows") or {}
        row.records = int(rows.get("customers", 0)) + int(rows.get("transactions", 0))
        return row

    def stage(self, phase: str, stage: str, data_dir: Path, *args: str, **env: str) -> Row:
        cmd = [PYTHON, "-m", "bench.child", stage, "--data-dir", str(data_dir), *args]
        return self.measure(phase, "customer-sync", cmd, self.env(data_dir, **env))


def snapshot_ids(data_dir: Path) -> list[str]:
    return Lake(data_dir).read_snapshot("customers", "customers", ["id"])["id"].to_pylist()


def mutate(base_url: str, ids: list[str], tag: str, concurrency: int = 32) -> float:
    """Change `ids` through the real API (PUT notes); returns the seconds it took."""

    async def go() -> None:
        queue = list(ids)
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
        ) as api:

            async def worker() -> None:
                while queue:
                    record_id = queue.pop()
                    r = await api.put(f"/api/customers/{record_id}", json={"notes": tag})
                    r.raise_for_status()

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - started


def api_totals(base_url: str) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    out = {}
    for name, path in (("customers", "/api/customers/rich"), ("transactions", "/api/transactions")):
        r = httpx.get(base_url + path, params={"top": 1}, headers=headers, timeout=60)
        out[name] = int(r.json()["total"])
    return out


def cs_counts(data_dir: Path) -> dict[str, int]:
    lake = Lake(data_dir)
    return {name: lake.snapshot_rows(name, name) for name in ("customers", "transactions")}


def dlt_counts(work_dir: Path) -> dict[str, int]:
    from bench.dlt_baseline import read_result

    return {name: len(read_result(work_dir, name)) for name in ("customers", "transactions")}


# --------------------------------------------------------------------------- correctness


def cs_result(data_dir: Path, table: str) -> dict[str, int]:
    t = Lake(data_dir).read_snapshot(table, table, ["id", "updated_at"])
    ms = pc.cast(pc.cast(t.column("updated_at"), pa.timestamp("ms", "UTC")), "int64")
    return dict(zip(t.column("id").to_pylist(), ms.to_pylist(), strict=True))


def compare(truth: dict[str, int], got: dict[str, int]) -> dict[str, int]:
    """missing: live in the API, absent here; stale: present with an older version; extra:
    here but deleted in the API (deletes are invisible to an updatedAt sync without reconcile)."""
    missing = sum(1 for i in truth if i not in got)
    stale = sum(1 for i, ms in truth.items() if i in got and got[i] != ms)
    extra = sum(1 for i in got if i not in truth)
    return {"truth": len(truth), "missing": missing, "stale": stale, "extra": extra}


def truth(store: Any) -> dict[str, dict[str, int]]:
    """id -> updatedAt (epoch ms) of every live record of an in-process simulator's `store`."""
    from pipelines.vivenu.simulator.store import iso_to_ms_fast

    return {
        "customers": {d["_id"]: iso_to_ms_fast(d["updatedAt"]) for d in store.customers_truth()},
        "transactions": {
            d["_id"]: iso_to_ms_fast(d["updatedAt"]) for d in store.transactions_truth()
        },
    }


def correctness(
    args: argparse.Namespace, work: Path, *, with_writer_off: bool = True
) -> list[dict[str, Any]]:
    """Both tools against an in-process simulator whose truth we read: writer off, then on."""
    from bench.dlt_baseline import read_result
    from pipelines.vivenu.simulator.writer import BackgroundWriter

    sim = Simulator.in_process(args.writer_customers, args.seed + 1)
    bench = Bench(work, sim)
    store = sim.server.store
    results = []

    def check(label: str, cs_dir: Path, dlt_dir: Path) -> None:
        t = truth(store)
        for tool, read in (
            ("customer-sync", lambda n: cs_result(cs_dir, n)),
            ("dlt", lambda n: read_result(dlt_dir, n)),
        ):
            entry = {"case": label, "tool": tool}
            for name in ("customers", "transactions"):
                entry[name] = compare(t[name], read(name))
            results.append(entry)

    try:
        if with_writer_off:  # a full run of each on a quiet API, then compare
            cs_dir, dlt_dir = work / "truth-cs", work / "truth-dlt"
            bench.cs_sync("truth: full, writer off", cs_dir, full=True)
            bench.dlt("truth: full, writer off", dlt_dir)
            check("writer off, full run", cs_dir, dlt_dir)
        # Writer on during both full runs; then stop it and let each tool catch up once.
        writer = BackgroundWriter(store, rate=args.writer_rate, seed=args.seed)
        cs_dir, dlt_dir = work / "writer-cs", work / "writer-dlt"
        writer.start()
        try:
            bench.cs_sync("truth: full, writer on", cs_dir, full=True)
            bench.dlt("truth: full, writer on", dlt_dir)
        finally:
            writer.stop()
        time.sleep(2.5)  # past customer-sync's safety lag, so the catch-up covers every write
        bench.cs_sync("truth: catch-up, writer off", cs_dir, full=False)
        bench.dlt("truth: catch-up, writer off", dlt_dir)
        check(f"writer on ({sum(writer.counts.values())} writes), then catch-up", cs_dir, dlt_dir)
        results.append(
            {"writer_counts": dict(writer.counts), "rows": [asdict(r) for r in bench.rows]}
        )
    finally:
        sim.stop()
    return results


# --------------------------------------------------------------------------- profile


def profile(bench: Bench, work: Path, seconds_rate: int = 50) -> dict[str, Any]:
    """py-spy of a full sync (extract+normalize+write+compact), summarized."""
    raw = work / "profile-full-sync.txt"
    data_dir = work / "profile-cs"
    cmd = [str(ROOT / ".venv/bin/py-spy"), "record", "-f", "raw", "-r", str(seconds_rate)]
    cmd += ["-o", str(raw), "--", PYTHON, "-m", "bench.child", "sync", "--full"]
    cmd += ["--data-dir", str(data_dir)]
    bench.measure("profile (py-spy, not timed)", "customer-sync", cmd, bench.env())
    shutil.rmtree(data_dir, ignore_errors=True)
    return summarize_profile(raw) if raw.exists() else {}


def _frame(text: str) -> str:
    # py-spy raw frames: "function (path/to/file.py:line)"; group by function and file.
    name, _, where = text.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


def summarize_profile(raw: Path, top: int = 20) -> dict[str, Any]:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [_frame(f) for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if frames:
            own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    return {
        "samples": samples,
        "self": [(f, n / samples) for f, n in own.most_common(top)],
        "total": [
            (f, n / samples)
            for f, n in total.most_common(200)
            if any(k in f for k in ("pipelines/", "pyarrow", "orjson", "duckdb", "httpx", "h11"))
        ][:top],
    }


# --------------------------------------------------------------------------- report


def table(rows: list[Row]) -> list[str]:
    out = [
        "| phase | tool | wall s | records | records/s | peak RSS MiB | client CPU s | CPU µs/record | requests | simulator CPU s (share of wall) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        flag = "" if r.ok else " (FAILED)"
        out.append(
            f"| {r.phase}{flag} | {r.tool} | {r.wall_s:.1f} | {r.records:,} | "
            f"{r.records_per_s:,.0f} | {r.peak_rss_mib:,.0f} | {r.cpu_s:.1f} | "
            f"{r.cpu_us_per_record:,.0f} | {r.requests:,} | "
            f"{r.sim_cpu_s:.1f} ({r.sim_cpu_s / r.wall_s:.0%}) |"
        )
    return out


def report(
    args: argparse.Namespace, rows: list[Row], extra: dict[str, Any], truth: list[dict[str, Any]]
) -> str:
    by = {(r.phase, r.tool): r for r in rows}
    lines = [
        f"# customer-sync bench: {args.customers:,} customers (seed {args.seed})",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}; load average at start {extra['loadavg_start']}, "
        f"at end {os.getloadavg()[0]:.2f}.",
        f"Command: `{' '.join(['python -m bench.run', *sys.argv[1:]])}`; "
        f"simulator seeded in {extra['seed_s']:.1f}s "
        f"({extra['api_totals']['customers']:,} customers, "
        f"{extra['api_totals']['transactions']:,} transactions).",
        "",
        *table(rows),
        "",
    ]
    full, dfull = by.get(("full sync", "customer-sync")), by.get(("full sync", "dlt"))
    if full and dfull and dfull.wall_s:
        lines.append(
            f"Full sync, customer-sync / dlt: time {full.wall_s / dfull.wall_s:.2f} "
            f"(throughput {dfull.wall_s / full.wall_s:.1f}x dlt's), peak memory "
            f"{full.peak_rss_mib / dfull.peak_rss_mib:.2f}, CPU {full.cpu_s / dfull.cpu_s:.2f}."
        )
        for phase in ("incremental after 1%", "incremental after 0.1%"):
            a, b = by.get((phase, "customer-sync")), by.get((phase, "dlt"))
            if a and b and b.wall_s:
                lines.append(
                    f"{phase}: customer-sync {a.wall_s:.1f}s "
                    f"({a.wall_s / full.wall_s:.1%} of its full run; "
                    f"sync {a.out.get('sync_s', 0):.1f}s + compaction {a.out.get('compact_s', 0):.1f}s), "
                    f"dlt {b.wall_s:.1f}s ({b.wall_s / dfull.wall_s:.1%} of its full run); "
                    f"ratio {a.wall_s / b.wall_s:.2f}."
                )
    if full:
        lines.append(
            f"customer-sync full sync split: extract+normalize+write {full.out.get('sync_s', 0):.1f}s, "
            f"snapshot compaction {full.out.get('compact_s', 0):.1f}s."
        )
    split = [
        f"{r.phase} {r.out['sync_peak_rss_mib']:,.0f} MiB"
        for r in rows
        if r.tool == "customer-sync" and "sync_peak_rss_mib" in r.out
    ]
    if split:
        lines.append("customer-sync peak RSS before compaction: " + "; ".join(split) + ".")
    for r in rows:
        if r.phase.startswith("full sync, 50 ms latency"):
            conc = int(r.phase.rsplit("concurrency ", 1)[1].rstrip(")"))
            floor = max(r.requests * args.latency_ms / 1000 / conc, r.cpu_s)
            lines.append(
                f"{r.phase}: {r.wall_s:.1f}s for {r.requests:,} requests; "
                f"max(requests x latency / concurrency = {r.requests * args.latency_ms / 1000 / conc:.1f}s, "
                f"client CPU = {r.cpu_s:.1f}s) = {floor:.1f}s; ratio {r.wall_s / floor:.2f}."
            )
    counts = extra.get("counts")
    if counts:
        lines.append(
            f"Record counts after the 0.1% run: API {counts['api']}, customer-sync {counts['customer-sync']}, "
            f"dlt {counts['dlt']}."
        )
    path = extra.get("path")
    if path:
        lines += ["", "Incremental path (`customer-sync sync`, one command), seconds by stage:", ""]
        phases = [p for p in ("settle", "1%", "0.1%") if p in path]
        stages = list(dict.fromkeys(s for p in phases for s in path[p]["stages"]))
        lines.append(
            "| stage | "
            + " | ".join(f"after {p}" if p != "settle" else "first run" for p in phases)
            + " |"
        )
        lines.append("| --- |" + " ---: |" * len(phases))
        for stage in stages:
            lines.append(
                f"| {stage} | "
                + " | ".join(f"{path[p]['stages'].get(stage, 0):.2f}" for p in phases)
                + " |"
            )
        lines.append(
            "| **whole command** | "
            + " | ".join(f"**{path[p]['wall_s']:.1f}**" for p in phases)
            + " |"
        )
        if any("dlt_wall_s" in path[p] for p in phases):
            lines.append(
                "| dlt incremental (sync + load) | "
                + " | ".join(
                    f"{path[p]['dlt_wall_s']:.1f}" if "dlt_wall_s" in path[p] else ""
                    for p in phases
                )
                + " |"
            )
            lines.append(
                "| ratio customer-sync / dlt | "
                + " | ".join(
                    f"{path[p]['wall_s'] / path[p]['dlt_wall_s']:.2f}"
                    if "dlt_wall_s" in path[p]
                    else ""
                    for p in phases
                )
                + " |"
            )
        lines.append("")
    for key, label in (("mutate_1", "1%"), ("mutate_01", "0.1%")):
        if key in extra:
            n, s = extra[key]
            lines.append(f"Changing {label} ({n:,} customers, PUT, 32 at once) took {s:.1f}s.")
    lines.append("")
    if truth:
        lines += [
            f"## Correctness vs the simulator's truth ({args.writer_customers:,} customers, "
            f"in-process simulator, writer at {args.writer_rate:g} writes/s)",
            "",
            "| case | tool | customers: truth / missing / stale / extra | transactions: truth / missing / stale / extra |",
            "| --- | --- | --- | --- |",
        ]
        for e in truth:
            if "tool" not in e:
                continue
            c, t = e["customers"], e["transactions"]
            lines.append(
                f"| {e['case']} | {e['tool']} | {c['truth']:,} / {c['missing']} / {c['stale']} / {c['extra']} "
                f"| {t['truth']:,} / {t['missing']} / {t['stale']} / {t['extra']} |"
            )
        lines += [
            "",
            "missing: live in the API, absent from the result; stale: present with another "
            "`updatedAt`; extra: deleted in the API (deletes need `customer-sync reconcile`, "
            "not run here).",
            "",
        ]
        side = [r for e in truth if "rows" in e for r in e["rows"]]
        if side:
            lines += ["Timings of those runs:", ""]
            lines += table([Row(**r) for r in side])
            lines.append("")
    prof = extra.get("profile")
    if prof:
        lines += [f"## Profile of the full sync (py-spy, {prof['samples']:,} samples)", ""]
        lines += ["| self time | function |", "| ---: | --- |"]
        lines += [f"| {share:.1%} | `{f}` |" for f, share in prof["self"]]
        lines += ["", "| total time | function |", "| ---: | --- |"]
        lines += [f"| {share:.1%} | `{f}` |" for f, share in prof["total"]]
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/customer-sync-bench"))
    parser.add_argument("--out", type=Path, default=ROOT / "data/bench/latest.md")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--latency-concurrency", type=int, nargs="+", default=[8])
    parser.add_argument("--push-customers", type=int, default=250)
    parser.add_argument("--push-rps", type=float, default=50.0)
    parser.add_argument("--writer-customers", type=int, default=50_000)
    parser.add_argument("--writer-rate", type=float, default=200.0)
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=sorted(PHASES),
        help="phases to leave out (the smoke test skips the slow ones)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy a full sync")
    args = parser.parse_args(argv)
    skip = set(args.skip)
    args.no_dlt = "dlt" in skip

    work = args.work_dir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    extra: dict[str, Any] = {"loadavg_start": f"{os.getloadavg()[0]:.2f}"}
    print(f"seeding {args.customers:,} customers ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    sim = Simulator.spawn(args.customers, args.seed)
    extra["seed_s"] = time.perf_counter() - started
    bench = Bench(work, sim)
    rng = random.Random(args.seed)
    try:
        extra["api_totals"] = api_totals(sim.base_url)
        cs, dl = work / "cs", work / "dlt"
        bench.cs_sync("full sync", cs, full=True)
        if not args.no_dlt:
            bench.dlt("full sync", dl)
        if "gate" not in skip:
            bench.stage("quality gate (validate_snapshot x2)", "validate", cs)
        bench.stage("warehouse load (full)", "load", cs)

        ids = snapshot_ids(cs)
        shares = [(0.01, "mutate_1", "1%"), (0.001, "mutate_01", "0.1%")]
        for share, key, phase in shares[:1] if "0.1%" in skip else shares:
            chosen = rng.sample(ids, max(1, int(len(ids) * share)))
            extra[key] = (len(chosen), mutate(sim.base_url, chosen, f"bench {phase}"))
            time.sleep(2.1)  # past the safety lag, so the incremental run sees every change
            bench.cs_sync(f"incremental after {phase}", cs, full=False)
            if not args.no_dlt:
                bench.dlt(f"incremental after {phase}", dl)
        extra["counts"] = {
            "api": api_totals(sim.base_url),
            "customer-sync": cs_counts(cs),
            "dlt": dlt_counts(dl) if not args.no_dlt else {},
        }
        bench.stage("warehouse load (incremental)", "load", cs)
        if "path" not in skip:
            extra["path"] = incremental_path(bench, args, cs, dl, ids, rng)

        # Push: the engine when present, else update_customer; both under the same rate cap.
        if "push" not in skip:
            push_throughput(
                bench, args, work, cs, rng.sample(ids, min(args.push_customers, len(ids)))
            )
        if "latency" not in skip:
            latency(bench, args, work)
        if "whole-job" not in skip:
            whole_job(bench, work)
        if args.profile:
            extra["profile"] = profile(bench, work)
    finally:
        sim.stop()

    truth = (
        [] if "truth" in skip else correctness(args, work, with_writer_off="truth-off" not in skip)
    )
    text = report(args, bench.rows, extra, truth)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    args.out.with_suffix(".json").write_bytes(
        orjson.dumps(
            {"rows": [asdict(r) for r in bench.rows], "extra": extra, "truth": truth},
            option=orjson.OPT_INDENT_2,
            default=str,
        )
    )
    print(text)
    return {"rows": bench.rows, "extra": extra, "truth": truth, "report": text}


def push_throughput(
    bench: Bench, args: argparse.Namespace, work: Path, cs: Path, chosen: list[str]
) -> None:
    """PUT throughput under CUSTOMER_SYNC_MAX_RPS: the push engine if present, else the client."""
    rate = {"CUSTOMER_SYNC_MAX_RPS": f"{args.push_rps:g}"}
    try:
        import pipelines.push.runner  # noqa: F401

        crm = work / "push.csv"
        crm.write_text(
            "id,notes\n" + "".join(f"{i},bench push {n}\n" for n, i in enumerate(chosen))
        )
        row = bench.stage(
            f"push engine at {args.push_rps:g} rps", "push", cs, "--file", str(crm), **rate
        )
    except ImportError:
        ids_file = work / "put-ids.txt"
        ids_file.write_text("\n".join(chosen))
        row = bench.measure(
            f"update_customer at {args.push_rps:g} rps",
            "customer-sync",
            [PYTHON, "-m", "bench.child", "put", "--ids-file", str(ids_file)],
            bench.env(**rate),
        )
    row.records = len(chosen)


def latency(bench: Bench, args: argparse.Namespace, work: Path) -> None:
    """The full sync again with latency injected into every request."""
    bench.sim.admin(latency_ms=args.latency_ms)
    try:
        for conc in args.latency_concurrency:
            phase = f"full sync, {args.latency_ms:g} ms latency (concurrency {conc})"
            data_dir = work / f"cs-latency-{conc}"
            bench.cs_sync(phase, data_dir, full=True, CUSTOMER_SYNC_CONCURRENCY=str(conc))
            shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        bench.sim.admin(latency_ms=0)


def whole_job(bench: Bench, work: Path) -> None:
    """`customer-sync sync --full`: sync, quality gate, warehouse load and analytics, one job."""
    job = work / "job"
    cmd = [str(ROOT / ".venv/bin/customer-sync"), "sync", "--full", "--quiet", "--json"]
    row = bench.measure(
        "whole job: `customer-sync sync --full`", "customer-sync", cmd, bench.env(job)
    )
    row.records = bench.rows[0].records
    shutil.rmtree(job, ignore_errors=True)


# Dagster step keys of `sync_job` by stage of the incremental path (the rest: analytics tables).
STAGES = (
    ("sync", ("_changes", "unseen_deletions")),
    ("snapshot", ("_snapshot",)),
    ("quality gate", ("quality_gate",)),
    ("warehouse", ("warehouse",)),
    ("analyst copy", ("analyst_copy",)),
    ("segments", ("segment_exports",)),
)


def stage_of(step: str) -> str:
    for stage, keys in STAGES:
        if any(step == k or step.endswith(k) for k in keys):
            return stage
    return "analytics"


def incremental_path(
    bench: Bench, args: argparse.Namespace, cs: Path, dl: Path, ids: list[str], rng: random.Random
) -> dict[str, Any]:
    """`customer-sync sync` (no --full) as one command after 1% and 0.1% changed, with dlt's
    incremental run of the same change beside it; per stage from Dagster's step durations."""
    cmd = [str(ROOT / ".venv/bin/customer-sync"), "sync", "--quiet", "--json"]
    runs: dict[str, Any] = {}
    rounds = (("settle", 0.0), ("1%", 0.01), ("0.1%", 0.001))
    for phase, share in rounds[:2] if "0.1%" in args.skip else rounds:
        if share:
            chosen = rng.sample(ids, max(1, int(len(ids) * share)))
            runs[f"mutate {phase}"] = (
                len(chosen),
                mutate(bench.sim.base_url, chosen, f"path {phase}"),
            )
            time.sleep(2.1)  # past the safety lag
        label = (
            "incremental path: first `customer-sync sync` after bench stages"
            if not share
            else f"incremental path after {phase}: `customer-sync sync`"
        )
        row = bench.measure(label, "customer-sync", cmd, bench.env(cs))
        row.records = sum(
            int(v.get("records_fetched") or 0)
            for v in row.out.values()
            if isinstance(v, dict) and "records_fetched" in v
        )
        steps = row.out.get("step_seconds") or {}
        split: dict[str, float] = {}
        for step, seconds in steps.items():
            split[stage_of(step)] = split.get(stage_of(step), 0.0) + seconds
        split["outside steps (process, imports, Dagster)"] = row.wall_s - sum(steps.values())
        runs[phase] = {"wall_s": row.wall_s, "stages": split, "steps": steps}
        if share and not args.no_dlt:
            drow = bench.dlt(f"incremental path after {phase}", dl)
            runs[phase]["dlt_wall_s"] = drow.wall_s
    return runs


PHASES = {"dlt", "gate", "0.1%", "push", "latency", "whole-job", "path", "truth", "truth-off"}


if __name__ == "__main__":
    main()
