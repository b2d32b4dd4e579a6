"""The files beside the lake's tables and the warehouse: a migration killed half-way (the 0.1
lake moved into `<resource>/.legacy/`) and a warehouse `fetch_remote` set aside. The first is
refused in one line until `lake migrate` has moved it into the tables; the second is rewritten
like the warehouse. The byte scan then finds nobody in either."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.sync import migrate
from pipelines.sync.lake import Lake
from pipelines.warehouse import loader
from tests.erase.world import scan

FIXTURE = Path(__file__).parents[1] / "fixtures" / "lake-0.1.0"


def _rows(lake: Path, resource: str, table: str) -> list[dict]:
    return pq.read_table(lake / resource / "snapshot" / f"{table}.parquet").to_pylist()


def _needles(lake: Path, ids: list[str]) -> dict[str, set[str]]:
    """Each one's email, name, phone and street as the 0.1 lake holds them, where no one else's
    records hold the same value."""
    customers = _rows(lake, "customers", "customers")
    orders = _rows(lake, "transactions", "transactions")
    mine = {o["id"] for o in orders if o.get("customer_id") in ids}
    others = [c for c in customers if c["id"] not in ids]
    others += [o for o in orders if o["id"] not in mine]
    if (lake / "tickets").exists():
        others += [
            t for t in _rows(lake, "tickets", "tickets") if t.get("transaction_id") not in mine
        ]
    text = json.dumps(others, default=str, ensure_ascii=False).lower()
    out = {}
    for c in customers:
        if c["id"] in ids:
            values = {c["primary_email"], c["name"], c["phone"], c["location_street"]}
            out[c["id"]] = {
                v for v in values if isinstance(v, str) and len(v) >= 5 and v.lower() not in text
            }
    return out


def test_a_half_migrated_lake_and_a_set_aside_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    shutil.copytree(FIXTURE / "lake", data / "lake")
    customers = _rows(data / "lake", "customers", "customers")
    buyers = sorted(c["id"] for c in customers if c.get("transaction_ids"))
    ids = buyers[:2]
    needles = _needles(data / "lake", ids)
    assert all(needles.values())
    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(data))

    # A migration killed after moving the customers aside.
    def killed(*args: object, **kwargs: object) -> int:
        raise RuntimeError("killed")

    with monkeypatch.context() as m:
        m.setattr(migrate, "_logs", killed)
        with pytest.raises(RuntimeError):
            migrate.migrate(Lake(data), "customers")
    legacy = data / "lake" / "customers" / migrate.LEGACY
    assert scan(legacy, needles)

    runner = CliRunner()
    for dry in ([], ["--dry-run"]):
        refused = runner.invoke(main, ["erase", "--id", ids[0], *dry])
        assert refused.exit_code == 1
        assert "run `customer-sync lake migrate` once, then run this again" in refused.output
        assert len(refused.output.strip().splitlines()) == 1
    assert scan(legacy, needles)  # nothing was changed

    assert runner.invoke(main, ["lake", "migrate"]).exit_code == 0
    db = data / "warehouse.duckdb"
    loader.load(Lake(data), db)
    # As `fetch_remote` leaves a local file the bucket does not know.
    shutil.copyfile(db, loader.set_aside_path(db))
    held = {name for name, _, _ in scan(data, needles)}
    assert "warehouse.duckdb.set-aside" in held and not legacy.exists()

    dry = runner.invoke(main, ["erase", "--id", ids[0], "--id", ids[1], "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["rows"]["set-aside warehouse"] > 0

    done = runner.invoke(main, ["erase", "--id", ids[0], "--id", ids[1], "--json"])

    assert done.exit_code == 0, done.output
    assert scan(data, needles) == []
    assert json.loads(done.output)["rows"]["set-aside warehouse"] > 0
