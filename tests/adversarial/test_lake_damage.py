"""A damaged lake: a corrupt or wrongly typed `_state.json`, a snapshot deleted or truncated, a
truncated change batch. Each is named in one line with its fix, and the fix recovers exactly."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
from click.testing import Result

from pipelines.sync.engine import SyncFailed, reconcile_resource, sync_resource
from pipelines.sync.lake import Lake
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


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _sync_twice(sim: SimulatorServer, data_dir: Path) -> None:
    """A full sync, some changes, an incremental one: two runs with change batches."""
    sync(sim, data_dir)
    for cid in sim.store.live_customer_ids()[::20]:
        sim.store.update_customer(cid, {"notes": "changed"})
    sync(sim, data_dir)


STATES = {
    "empty": "",
    "invalid-json": '{"resource": "customers", "high_water_mark_ms": 17',
    "a-list": "[]",
    "wrong-field-type": '{"resource": "customers", "high_water_mark_ms": "yesterday"}',
}


@pytest.mark.attack("11.14 a corrupt, empty or wrongly typed _state.json: state show/reset crash")
@pytest.mark.parametrize("content", STATES.values(), ids=STATES.keys())
def test_corrupt_state_is_named_and_state_reset_recovers(simulator, tmp_path, content):
    sync(simulator, tmp_path)
    state_file = Lake(tmp_path).folder("customers") / "_state.json"
    state_file.write_text(content)
    shown = cli_in_process(simulator, tmp_path, "state", "show")
    _failed_with(shown, str(state_file), "is unreadable", "state reset")
    reset = cli_in_process(simulator, tmp_path, "state", "reset", "--yes")
    assert reset.exit_code == 0, reset.output
    assert (state_file.parent / "_state.json.corrupt").read_text() == content
    assert Lake(tmp_path).load_state("customers").high_water_mark_ms is None
    assert cli_in_process(simulator, tmp_path, "state", "show").exit_code == 0
    sync(simulator, tmp_path)
    assert mismatches(simulator, tmp_path) == {}


@pytest.mark.attack("11.14 a corrupt _state.json leaves the sync stuck")
def test_corrupt_state_fails_the_sync_clearly_and_sync_full_recovers(simulator, tmp_path):
    sync(simulator, tmp_path)
    state_file = Lake(tmp_path).folder("customers") / "_state.json"
    state_file.write_text(STATES["invalid-json"])
    _failed_with(
        cli_in_process(simulator, tmp_path, "sync", "--quiet"), "is unreadable", "sync --full"
    )
    full = cli_in_process(simulator, tmp_path, "sync", "--full", "--quiet")
    assert full.exit_code == 0, full.output
    assert mismatches(simulator, tmp_path) == {}


@pytest.mark.attack("11.14 a truncated snapshot makes even sync --full exit 1")
def test_truncated_snapshot_is_rebuilt_by_sync_full(simulator, tmp_path):
    _sync_twice(simulator, tmp_path)
    _truncate(Lake(tmp_path).snapshot_path("customers", "customers"))
    full = cli_in_process(simulator, tmp_path, "sync", "--full", "--quiet")
    assert full.exit_code == 0, full.output
    assert mismatches(simulator, tmp_path) == {}


@pytest.mark.attack("11.14 a truncated change batch makes even sync --full exit 1")
def test_truncated_part_is_named_and_sync_full_recovers(simulator, tmp_path):
    sync(simulator, tmp_path)
    for cid in simulator.store.live_customer_ids()[::20]:
        simulator.store.update_customer(cid, {"notes": "changed"})
    time.sleep(2.1)  # past the safety lag the CLI's syncs keep too
    lake = Lake(tmp_path)

    async def committed_not_compacted() -> None:
        async with client_for(simulator) as client:
            await sync_resource(client, lake, Resource.CUSTOMERS)

    asyncio.run(committed_not_compacted())
    run = lake.load_state("customers").pending_compaction[-1]
    (part,) = lake.run_files("customers", [run], "customers")
    _truncate(Path(part))
    _failed_with(
        cli_in_process(simulator, tmp_path, "sync", "--quiet"), part, "unreadable", "sync --full"
    )
    full = cli_in_process(simulator, tmp_path, "sync", "--full", "--quiet")
    assert full.exit_code == 0, full.output
    assert mismatches(simulator, tmp_path) == {}
    assert Path(f"{part}.corrupt").exists() and not Path(part).exists()


@pytest.mark.attack("11.8 a deleted snapshot is rebuilt from the last runs only")
def test_deleted_snapshot_is_rebuilt_from_every_change_batch(simulator, tmp_path):
    _sync_twice(simulator, tmp_path)
    snapshot = Lake(tmp_path).snapshot_path("customers", "customers")
    snapshot.unlink()
    _failed_with(cli_in_process(simulator, tmp_path, "validate"), f"{snapshot} is missing", "sync")
    done = cli_in_process(simulator, tmp_path, "sync", "--quiet")
    assert done.exit_code == 0, done.output
    assert mismatches(simulator, tmp_path) == {}
    assert cli_in_process(simulator, tmp_path, "validate").exit_code == 0


@pytest.mark.attack("11.8 a deleted snapshot whose change batches are gone too")
def test_deleted_snapshot_without_its_batches_refuses_with_the_fix(simulator, tmp_path):
    _sync_twice(simulator, tmp_path)
    lake = Lake(tmp_path)
    lake.snapshot_path("customers", "customers").unlink()
    first = min(lake.batch_runs("customers"))
    shutil.rmtree(lake.run_dir("customers", first))
    _failed_with(
        cli_in_process(simulator, tmp_path, "sync", "--quiet"), "cannot be rebuilt", "sync --full"
    )
    full = cli_in_process(simulator, tmp_path, "sync", "--full", "--quiet")
    assert full.exit_code == 0, full.output
    assert mismatches(simulator, tmp_path) == {}


@pytest.mark.attack("11.8 a reconcile over a lost snapshot finds nothing to confirm")
def test_reconcile_refuses_a_lost_snapshot(simulator, tmp_path):
    sync(simulator, tmp_path)
    lake = Lake(tmp_path)
    lake.snapshot_path("customers", "customers").unlink()

    async def reconcile() -> None:
        async with client_for(simulator) as client:
            await reconcile_resource(client, lake, Resource.CUSTOMERS)

    with pytest.raises(SyncFailed, match=r"is missing; run `customer-sync sync` to rebuild it"):
        asyncio.run(reconcile())
