"""A broken disk, a held lock, a corrupt file: the CLI's last line names the root cause and the fix,
never Dagster's wrapper ("DagsterExecutionStepExecutionError: Error occurred while executing op")."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from deltalake.exceptions import DeltaError

from pipelines import failures
from pipelines.sync.engine import SyncFailed, sync_resource
from pipelines.sync.lake import Lake
from pipelines.vivenu.client import Resource
from pipelines.vivenu.simulator.server import SimulatorServer
from tests.adversarial.disk import resize
from tests.sync.truth import client_for

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = "DagsterExecutionStepExecutionError"


def _sync(
    sim: SimulatorServer, data_dir: Path, *args: str, **extra: str
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIVENU_", "CUSTOMER_SYNC_"))}
    env.update(
        VIVENU_BASE_URL=sim.base_url,
        VIVENU_API_KEY=sim.api_key,
        CUSTOMER_SYNC_DATA_DIR=str(data_dir),
        CUSTOMER_SYNC_MAX_RPS="1000",
        **extra,
    )
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "sync", "--quiet", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _last_line(done: subprocess.CompletedProcess, exit_code: int = 1) -> str:
    assert done.returncode == exit_code, done.stderr[-2000:]
    assert WRAPPER not in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    return done.stderr.strip().splitlines()[-1]


def _fill(disk: Path, leave: int) -> None:
    """Fill `disk` until about `leave` bytes are free."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with (disk / "filler").open("wb") as f:
        f.write(b"\0" * max(0, free - leave))
    if leave == 0:
        with pytest.raises(OSError), (disk / "filler").open("ab") as f:
            f.write(b"\0" * (1 << 16))
            f.flush()


@pytest.fixture
def read_only_dir() -> Iterator[Path]:
    """A read-only tmpfs: every write fails with EROFS, even for root (chmod does not stop root)."""
    mountpoint = Path(tempfile.mkdtemp(prefix="cs-read-only-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        mountpoint.rmdir()
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
        mountpoint.rmdir()


@pytest.mark.attack("11.11 full disk: the reason names the disk, its free space and the fix")
def test_full_disk_names_the_disk_and_free_space(simulator, small_disk):
    _fill(small_disk, leave=0)
    data_dir = small_disk / "data"
    done = _sync(simulator, data_dir, "--json")
    line = _last_line(done)
    assert "disk full" in line and str(small_disk) in line and "free" in line, line
    assert "CUSTOMER_SYNC_DATA_DIR" in line, line
    assert "disk full" in json.loads(done.stdout)["error"]


@pytest.mark.attack("11.11 full disk while claiming the lake: the claim stays held")
def test_a_lock_taken_on_a_full_disk_is_released_with_the_failure(small_disk):
    lake = Lake(small_disk / "data")
    (small_disk / "data" / "lake").mkdir(parents=True)
    _fill(small_disk, leave=0)
    with pytest.raises((OSError, DeltaError)), lake.writer("customers", wait_s=0):
        pass
    resize(small_disk, "8m")
    with lake.writer("customers", wait_s=0):
        pass


@pytest.mark.attack("11.11 disk fills mid-run (compaction): the root cause, not Dagster's wrapper")
def test_disk_filling_during_the_run_names_the_disk(simulator, small_disk):
    _fill(small_disk, leave=150_000)
    line = _last_line(_sync(simulator, small_disk / "data"))
    assert "disk full" in line and str(small_disk) in line, line


@pytest.mark.attack("11.11 read-only data directory: named, with the fix")
def test_read_only_data_dir_is_named(simulator, read_only_dir):
    data_dir = read_only_dir / "data"
    line = _last_line(_sync(simulator, data_dir))
    assert "read-only" in line and str(data_dir) in line and "CUSTOMER_SYNC_DATA_DIR" in line


@pytest.mark.attack("11.11 warehouse.duckdb held by another process: the file and holder named")
def test_locked_warehouse_names_the_file_and_the_holder(simulator, tmp_path):
    holder = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        line = _last_line(
            _sync(simulator, tmp_path, "--json", CUSTOMER_SYNC_WAREHOUSE_LOCK_WAIT="1")
        )
    finally:
        holder.close()
    assert "warehouse.duckdb" in line and f"process {os.getpid()}" in line, line
    assert "analytics.duckdb" in line, line


@pytest.mark.attack("11.11 corrupt JSON file read by the run: 'bad JSON' and where")
def test_corrupt_suite_json_says_bad_json(simulator, tmp_path):
    suites = tmp_path / "expectations"
    suites.mkdir()
    for path in (ROOT / "expectations").glob("*.json"):
        (suites / path.name).write_text(path.read_text())
    (suites / "customers.json").write_text('{"name": "customers", ')
    done = _sync(simulator, tmp_path / "data", CUSTOMER_SYNC_EXPECTATIONS_DIR=str(suites))
    line = _last_line(done, exit_code=3)  # found by the configuration check, before any work
    assert "bad JSON" in line and "customers.json" in line, line


def _hold_lock_in_another_process(lake: Lake) -> subprocess.Popen[str]:
    """A child that claims the customers table, says so on stdout, and keeps it until killed."""
    code = (
        "import sys, time; from pipelines.sync.lake import Lake\n"
        "with Lake(sys.argv[1]).writer('customers'):\n    print('held', flush=True); time.sleep(600)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(lake.data_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


@pytest.mark.attack("11.11 lock held: sync_resource raises the typed SyncFailed, not a bare error")
def test_sync_resource_lock_failure_is_typed(simulator, tmp_path):
    lake = Lake(tmp_path, lock_wait_s=0.2)
    holder = _hold_lock_in_another_process(lake)

    async def go() -> None:
        async with client_for(simulator) as client:
            await sync_resource(client, lake, Resource.CUSTOMERS)

    try:
        with pytest.raises(
            SyncFailed,
            match=f"did not start: another sync of customers is running .run -, pid {holder.pid} ",
        ):
            asyncio.run(go())
    finally:
        holder.kill()
        holder.wait()
    assert lake.load_state("customers").in_progress is None


@pytest.mark.attack("11.11 read-only data dir outside a run (state reset): one line, no traceback")
def test_state_reset_on_read_only_dir_is_one_line(read_only_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIVENU_", "CUSTOMER_SYNC_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "state", "reset", "--yes"],
        cwd=ROOT,
        env={**env, "CUSTOMER_SYNC_DATA_DIR": str(read_only_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"Error: read-only file system at {read_only_dir / 'lake'}: remount it read-write or "
        "point CUSTOMER_SYNC_DATA_DIR at a writable directory"
    ]


def _raised(exc: BaseException, cause: BaseException | None = None) -> BaseException:
    try:
        raise exc from cause
    except BaseException as caught:
        return caught


def test_explain_picks_the_innermost_known_cause(tmp_path):
    disk = OSError(28, "Error writing bytes to file. Detail: [errno 28] No space left on device")
    wrapped = _raised(SyncFailed("customers sync stopped: [Errno 28] ..."), _raised(disk))
    line = failures.explain(failures.error_info(wrapped), data_dir=tmp_path)
    assert line.startswith(f"disk full at {tmp_path} (") and "free of" in line
    denied = _raised(PermissionError(13, "Permission denied", str(tmp_path / "x")))
    assert failures.explain_exception(denied, data_dir=Path("/elsewhere")) == (
        f"permission denied at {tmp_path / 'x'}: grant this user write access or point "
        "CUSTOMER_SYNC_DATA_DIR at a writable directory"
    )
    assert failures.explain_exception(_raised(KeyError("x")), data_dir=tmp_path) is None
    assert failures.explain(failures.error_info(_raised(KeyError("x"))), data_dir=tmp_path) == (
        "KeyError: 'x'"
    )
    bad = _raised(json.JSONDecodeError("Expecting value", "", 0))
    assert failures.explain(failures.error_info(bad), data_dir=tmp_path).startswith(
        f"bad JSON read by {__file__}:"
    )
