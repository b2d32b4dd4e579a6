"""The Dagster side: the crm_push asset's metadata and the inbox sensor; the click command."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from assets.push import crm_push
from pipelines.push.cli import push
from pipelines.resources import VivenuResource
from pipelines.sensors import FILE_TAG, crm_inbox_sensor
from pipelines.warehouse.resource import WarehouseResource
from tests.push.conftest import Synced


def _inbox_file(synced: Synced, rows: list[dict], name: str) -> Path:
    inbox = synced.data_dir / "crm" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / name
    synced.write_csv(rows, name).replace(target)
    return target


def test_asset_pushes_the_inbox_and_reports_counts(
    synced: Synced, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(synced.data_dir))
    a, b, c = synced.customers()[:3]
    synced.sim.store.update_customer(b["_id"], {"company": "Theirs"})
    target = _inbox_file(
        synced,
        [
            {"id": a["_id"], "company": "Asset Co"},
            {"id": b["_id"], "company": "Ours"},
            {"id": c["_id"], "company": c["company"] or "<clear>"},
            {"id": "nope", "company": "x"},
        ],
        "asset.csv",
    )

    context = dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral())
    result = crm_inbox_sensor(context)
    assert isinstance(result, dg.SensorResult)
    [request] = result.run_requests
    assert request.tags[FILE_TAG] == str(target)

    outcome = dg.materialize(
        [crm_push],
        resources={
            "vivenu": VivenuResource(
                base_url=synced.sim.base_url, api_key=synced.sim.api_key, max_rps=1000
            ),
            "warehouse": WarehouseResource(db_path=str(synced.db_path)),
        },
        run_config=request.run_config,
    )
    assert outcome.success
    [materialization] = outcome.asset_materializations_for_node("crm_push")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert (meta["applied"], meta["skipped"], meta["conflicts"], meta["rejected"]) == (1, 1, 1, 1)
    assert not target.exists()
    assert isinstance(crm_inbox_sensor(context), dg.SkipReason)


def test_cli_dry_run_json_and_exit_codes(synced: Synced, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIVENU_BASE_URL", synced.sim.base_url)
    monkeypatch.setenv("VIVENU_API_KEY", synced.sim.api_key)
    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(synced.data_dir))
    monkeypatch.setenv("CUSTOMER_SYNC_MAX_RPS", "1000")
    a = synced.customers()[0]
    path = synced.write_csv([{"id": a["_id"], "notes": "cli"}])
    runner = CliRunner()

    result = runner.invoke(push, [str(path), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "dry_run" and report["counts"]["would_apply"] == 1
    assert synced.writes() == []

    result = runner.invoke(push, [str(path), "--max-share", "0.001"])
    assert result.exit_code == 1
    assert synced.writes() == []

    result = runner.invoke(push, [str(path), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["counts"]["applied"] == 1
    assert synced.live(a["_id"])["notes"] == "cli"


def test_cli_missing_file_is_bad_usage(tmp_path: Path) -> None:
    result = CliRunner().invoke(push, [str(tmp_path / "missing.csv")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
