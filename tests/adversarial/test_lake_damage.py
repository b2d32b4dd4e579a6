"""A damaged lake: a commit carrying an unusable state, a snapshot table deleted or missing a
file, a log table whose commit is garbage. Each is named in one line with its fix, or repaired
from the logs, and the result is exact."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import Result
from deltalake import CommitProperties, DeltaTable, write_deltalake

from pipelines.sync.engine import SyncFailed, reconcile_resource
from pipelines.sync.lake import STATE_KEY, Lake
from pipelines.vivenu.client import Resource
from pipelines.vivenu.simulator.server import SimulatorServer
from tests.sync.truth import cli_in_process, client_for, mismatches, sync


def _failed_with(result: Result, *needles: str) -> str:
    """The one line a failed command ended with; it must name every needle."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    line = result.stderr.strip().splitlines()[-1]
    for needle in needles:
        assert needle in line, line
    return line


def _sync_twice(sim: SimulatorServer, data_dir: Path) -> None:
    """A full sync, some changes, an incremental one: two runs."""
    sync(sim, data_dir)
    for cid in sim.store.live_customer_ids()[::20]:
        sim.store.update_customer(cid, {"notes": "changed"})
    sync(sim, data_dir)


STATES = {
    "invalid-json": '{"resource": "customers", "high_water_mark_ms": 17',
    "a-list": "[]",
    "wrong-field-type": '{"resource": "customers", "high_water_mark_ms": "yesterday"}',
}


def _commit_state(lake: Lake, text: str) -> None:
    """A commit to `customers/changes` whose state is `text` (a hostile or buggy writer)."""
    table = DeltaTable(lake.uri("customers", "changes"))
    empty = pa.schema(table.schema()).empty_table()
    write_deltalake(
        table,
        empty,
        mode="append",
        commit_properties=CommitProperties(custom_metadata={STATE_KEY: text}),
    )


@pytest.mark.attack("11.14 an unusable sync state: state show/sync crash or resume wrongly")
@pytest.mark.parametrize("content", STATES.values(), ids=STATES.keys())
def test_unusable_state_is_named_and_sync_full_recovers(simulator, tmp_path, content):
    sync(simulator, tmp_path)
    lake = Lake(tmp_path)
    _commit_state(lake, content)
    where = lake.uri("customers", "changes")
    _failed_with(cli_in_process(simulator, tmp_path, "state", "show"), where, "is unreadable")
    _failed_with(cli_in_process(simulator, tmp_path, "sync", "--quiet"), where, "sync --full")
    full = cli_in_process(simulator, tmp_path, "sync", "--full", "--quiet")
    assert full.exit_code == 0, full.output
    assert cli_in_process(simulator, tmp_path, "state", "show").exit_code == 0
    assert mismatches(simulator, tmp_path) == {}


@pytest.mark.attack("11.8 a deleted snapshot is rebuilt from the last runs only")
def test_deleted_snapshot_is_rebuilt_from_every_run(simulator, tmp_path):
    _sync_twice(simulator, tmp_path)
    shutil.rmtree(tmp_path / "lake" / "customers" / "snapshot" / "customers")
    done = cli_in_process(simulator, tmp_path, "sync", "--quiet")
    assert done.exit_code == 0, done.output
    assert mismatches(simulator, tmp_path) == {}
    assert cli_in_process(simulator, tmp_path, "validate").exit_code == 0


@pytest.mark.attack("11.14 a snapshot data file lost: every later compaction fails")
def test_snapshot_missing_a_file_is_rebuilt(simulator, tmp_path):
    _sync_twice(simulator, tmp_path)
    for cid in simulator.store.live_customer_ids()[::7]:
        simulator.store.update_customer(cid, {"notes": "changed again"})
    time.sleep(2.1)  # past the safety lag the CLI's syncs keep
    folder = tmp_path / "lake" / "customers" / "snapshot" / "customers"
    for path in DeltaTable(str(folder)).file_uris():
        Path(path.removeprefix("file://")).unlink()
    done = cli_in_process(simulator, tmp_path, "sync", "--quiet")
    assert done.exit_code == 0, done.output
    assert mismatches(simulator, tmp_path) == {}


@pytest.mark.attack("11.14 a garbage commit file in a log table: a traceback")
def test_garbage_commit_in_the_log_is_named(simulator, tmp_path):
    sync(simulator, tmp_path)
    log = tmp_path / "lake" / "customers" / "changes" / "_delta_log"
    newest = max(log.glob("*.json"))
    newest.write_text('{"commitInfo": {"timestamp": ')
    shown = cli_in_process(simulator, tmp_path, "state", "show")
    _failed_with(shown, "customers", "changes")


@pytest.mark.attack("11.8 a reconcile over a lost snapshot finds nothing to confirm")
def test_reconcile_refuses_a_lost_snapshot(simulator, tmp_path):
    sync(simulator, tmp_path)
    lake = Lake(tmp_path)
    shutil.rmtree(tmp_path / "lake" / "customers" / "snapshot" / "customers")

    async def reconcile() -> None:
        async with client_for(simulator) as client:
            await reconcile_resource(client, lake, Resource.CUSTOMERS)

    with pytest.raises(SyncFailed, match=r"reconcile needs the snapshot: run `customer-sync sync`"):
        asyncio.run(reconcile())
