"""`customer-sync erase` (with vivenu's own erasure) and `erase_job`: one code path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pyarrow.compute as pc
import pytest
from click.testing import CliRunner

from assets import analytics
from pipelines.cli import main
from pipelines.erase.people import Request
from pipelines.erase.run import erase
from pipelines.jobs import compact_history_job, erase_job
from pipelines.registry import RESOURCES
from pipelines.resources import LakeResource, VivenuResource
from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.warehouse import loader, versions
from pipelines.warehouse.loader import analyst_path
from pipelines.warehouse.resource import WarehouseResource
from pipelines.webhooks.apply import apply_inbox
from pipelines.webhooks.inbox import Inbox, parse
from tests.sync.truth import sync
from tests.warehouse.test_end_to_end import run
from tests.webhooks.conftest import envelope


@pytest.fixture
def synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SimulatorServer, Path]]:
    with SimulatorServer(Store.seeded(60, 3)) as sim:
        data = tmp_path / "data"
        sync(sim, data)
        loader.load(Lake(data), data / "warehouse.duckdb")
        monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(data))
        monkeypatch.setenv("VIVENU_BASE_URL", sim.base_url)
        monkeypatch.setenv("VIVENU_API_KEY", sim.api_key)
        yield sim, data


def _ids(data: Path) -> list[str]:
    return Lake(data).read_snapshot("customers", "customers", ["id"])["id"].to_pylist()


def _log_rows(data: Path) -> int:
    con = loader.connect(data / "warehouse.duckdb", read_only=True)
    try:
        return con.execute("SELECT count(*) FROM erasure_log").fetchall()[0][0]
    finally:
        con.close()


def test_cli_erases_here_and_in_vivenu_and_the_next_sync_keeps_them_out(synced) -> None:
    sim, data = synced
    victim = sorted(_ids(data))[0]
    before = sim.store.get_customer(victim)
    runner = CliRunner()
    dry = runner.invoke(main, ["erase", "--id", victim, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["rows"]["lake"] > 0
    assert victim in _ids(data)

    done = runner.invoke(main, ["erase", "--id", victim, "--also-in-vivenu", "--json"])

    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["in_vivenu"] == 1 and report["people"] == 1
    after = sim.store.get_customer(victim)  # vivenu keeps the customer, not their data
    assert after["primaryEmail"] != before["primaryEmail"] and not after.get("name")
    assert victim not in _ids(data)
    sync(sim, data)  # vivenu's erased version is listed again: it stays out too
    assert victim not in _ids(data)
    # The proof names nobody: no id, no email.
    con = loader.connect(data / "warehouse.duckdb", read_only=True)
    try:
        rows = con.execute("SELECT * FROM erasure_log").fetchall()
    finally:
        con.close()
    assert len(rows) == 1 and rows[0][-1] is True
    assert victim not in str(rows) and before["primaryEmail"] not in str(rows)


def test_cli_refuses_without_a_person_and_names_an_unknown_one(synced) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["erase"]).exit_code == 2
    unknown = runner.invoke(main, ["erase", "--email", "nobody@example.invalid"])
    assert unknown.exit_code == 1
    assert (
        "no customer in the lake or the warehouse matches nobody@example.invalid" in unknown.output
    )


def _resources(sim: SimulatorServer, data: Path) -> dict[str, dg.ConfigurableResource]:
    return {
        "lake": LakeResource(data_dir=str(data)),
        "warehouse": WarehouseResource(db_path=str(data / "warehouse.duckdb")),
        "vivenu": VivenuResource(base_url=sim.base_url, api_key=sim.api_key),
    }


def _erase_config(**config: object) -> dict:
    return {"ops": {"erase_people": {"config": config}}}


def test_erase_job_runs_the_same_code(synced, tmp_path: Path) -> None:
    sim, data = synced
    first, second = sorted(_ids(data))[:2]
    listed = tmp_path / "people.txt"
    listed.write_text(f"# to erase\n{second}\n")
    result = erase_job.execute_in_process(
        run_config=_erase_config(ids=[first], file=str(listed)),
        resources=_resources(sim, data),
    )
    assert result.success
    assert result.output_for_node("erase_people")["lake"] > 0
    assert not {first, second} & set(_ids(data))
    assert _log_rows(data) == 2


def test_erase_job_keeps_emails_out_of_dagsters_storage(synced, tmp_path: Path) -> None:
    sim, data = synced
    # Run config is stored with the run: an email there would outlive the erasure.
    with pytest.raises(dg.DagsterInvalidConfigError, match="emails"):
        erase_job.execute_in_process(
            run_config=_erase_config(emails=["anna@example.org"]), resources=_resources(sim, data)
        )
    listed = tmp_path / "people.txt"
    listed.write_text("nobody@example.invalid\n")
    result = erase_job.execute_in_process(
        run_config=_erase_config(file=str(listed)),
        resources=_resources(sim, data),
        raise_on_error=False,
    )
    assert not result.success
    events = repr(result.all_events)
    assert "matches the 1 id(s) or email(s) named" in events
    assert "nobody@example.invalid" not in events


def test_deleted_customers_are_erased_once_their_retention_passed(synced, monkeypatch) -> None:
    sim, data = synced
    gone = sorted(_ids(data))[-1]
    sim.store.delete_customer(gone)
    sync(sim, data, reconcile=True)
    runner = CliRunner()
    off = runner.invoke(main, ["erase", "--deleted"])
    assert off.exit_code == 3 and "CUSTOMER_SYNC_ERASE_DELETED_AFTER is not set" in off.output
    monkeypatch.setenv("CUSTOMER_SYNC_ERASE_DELETED_AFTER", "30")
    assert runner.invoke(main, ["erase", "--deleted"]).exit_code == 0  # not due yet
    changes = Lake(data).dataset("customers", "changes")
    assert changes is not None and gone in changes.to_table(columns=["id"])["id"].to_pylist()

    monkeypatch.setenv("CUSTOMER_SYNC_ERASE_DELETED_AFTER", "0")
    done = runner.invoke(main, ["erase", "--deleted", "--json"])

    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["people"] == 1
    changes = Lake(data).dataset("customers", "changes")
    assert changes is not None and gone not in changes.to_table(columns=["id"])["id"].to_pylist()
    # Erased once: the next run finds nobody left to erase.
    assert "nothing to erase" in runner.invoke(main, ["erase", "--deleted"]).output


def test_a_webhook_after_the_erasure_does_not_bring_them_back(synced) -> None:
    sim, data = synced
    victim = sorted(_ids(data))[1]
    runner = CliRunner()
    assert runner.invoke(main, ["erase", "--id", victim]).exit_code == 0
    # vivenu delivers a change of the person (late, or a retry), and a sale to them.
    doc = sim.store.update_customer(victim, {"notes": "after the erasure"})
    sale = sim.store.create_transaction(victim)
    inbox = Inbox(data / "webhooks")
    inbox.prepare()
    inbox.store(parse(envelope("customer.updated", {"customer": doc})))
    inbox.store(parse(envelope("transaction.complete", {"transaction": sale})))

    apply_inbox(Lake(data), inbox)

    lake = Lake(data)
    changes = lake.dataset("customers", "changes")
    assert changes is not None and victim not in changes.to_table(columns=["id"])["id"].to_pylist()
    got = lake.dataset("transactions", "changes")
    assert got is not None
    (row,) = got.to_table(filter=pc.field("id") == sale["_id"]).to_pylist()
    assert row["customer_id"].startswith("erased-") and row["email"] is None
    assert row["real_price"] is not None


def test_an_erasure_stopped_after_the_lake_is_finished_by_running_it_again(
    synced, monkeypatch
) -> None:
    from pipelines.erase import run

    sim, data = synced
    victim = sorted(_ids(data))[2]
    email = sim.store.get_customer(victim)["primaryEmail"]

    def killed(*args, **kwargs):
        raise RuntimeError("killed")

    real = run._file_layers
    monkeypatch.setattr(run, "_file_layers", killed)
    with pytest.raises(RuntimeError):
        run.erase(run.Request(ids=(victim,)), data_dir=data)
    assert victim not in _ids(data)  # the lake is done, the warehouse not yet
    monkeypatch.setattr(run, "_file_layers", real)

    report = run.erase(run.Request(emails=(email,)), data_dir=data)

    assert report.people == 1 and report.layers["warehouse"]
    con = loader.connect(data / "warehouse.duckdb", read_only=True)
    try:
        left = con.execute(
            "SELECT count(*) FROM customers_history WHERE id = $i", {"i": victim}
        ).fetchall()
    finally:
        con.close()
    assert left == [(0,)]


def test_an_order_naming_them_only_by_email_loses_their_data(synced) -> None:
    sim, data = synced
    buyers = [i for i in sorted(_ids(data)) if sim.store.get_customer(i).get("transactions")]
    victim, other = buyers[:2]
    person = sim.store.get_customer(victim)
    order = sim.store.get_customer(other)["transactions"][0]
    # Bought by another customer for them: their email and name at checkout.
    sim.store.update_transaction(order, {"email": person["primaryEmail"], "name": person["name"]})
    sync(sim, data)
    loader.load(Lake(data), data / "warehouse.duckdb")

    assert CliRunner().invoke(main, ["erase", "--id", victim]).exit_code == 0

    lake = Lake(data)
    changes = lake.dataset("transactions", "changes")
    assert changes is not None
    rows = changes.to_table(filter=pc.field("id") == order).to_pylist()
    assert rows and all(r["email"] is None and r["name"] is None for r in rows)
    assert {r["customer_id"] for r in rows} == {other}  # the buyer's link stays
    con = loader.connect(data / "warehouse.duckdb", read_only=True)
    try:
        found = con.execute(
            "SELECT count(*) FROM transactions_history WHERE lower(email) = lower($e)",
            {"e": person["primaryEmail"]},
        ).fetchall()
    finally:
        con.close()
    assert found == [(0,)]


def _scheduled_run_config(name: str, job: str) -> dict:
    """The schedule as the daemon finds it (off), and the run config of its next tick."""
    from pipelines.definitions import defs

    schedule = defs.resolve_schedule_def(name)
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.job_name == job and schedule.execution_timezone == "UTC"
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2030, 1, 6, 4, tzinfo=UTC)
    )
    (request,) = schedule.evaluate_tick(context).run_requests or []
    return request.run_config


def _failure(result: dg.ExecuteInProcessResult) -> str:
    (event,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return str(event.step_failure_data.user_failure_data.description)


def test_the_erase_deleted_schedule_runs_erase_job_in_its_deleted_mode(synced, monkeypatch) -> None:
    sim, data = synced
    config = _scheduled_run_config("erase_deleted_nightly", "erase_job")
    gone = sorted(_ids(data))[-2]
    sim.store.delete_customer(gone)
    sync(sim, data, reconcile=True)

    def run() -> dg.ExecuteInProcessResult:
        return erase_job.execute_in_process(
            run_config=config, resources=_resources(sim, data), raise_on_error=False
        )

    monkeypatch.delenv("CUSTOMER_SYNC_ERASE_DELETED_AFTER", raising=False)
    off = run()
    assert not off.success
    assert "CUSTOMER_SYNC_ERASE_DELETED_AFTER is not set" in _failure(off)
    monkeypatch.setenv("CUSTOMER_SYNC_ERASE_DELETED_AFTER", "0")

    done = run()

    assert done.success and done.output_for_node("erase_people")["lake"] > 0
    changes = Lake(data).dataset("customers", "changes")
    assert changes is not None and gone not in changes.to_table(columns=["id"])["id"].to_pylist()
    assert _log_rows(data) == 1
    again = run()  # the next night: nobody left to erase, and no failure
    assert again.success and again.output_for_node("erase_people") == {}
    assert _log_rows(data) == 1


def test_the_compact_history_schedule_runs_its_job(synced, monkeypatch) -> None:
    sim, data = synced
    config = _scheduled_run_config("compact_history_weekly", "compact_history_job")
    victim = sorted(_ids(data))[0]
    sim.store.update_customer(victim, {"notes": "a newer version"})
    sync(sim, data)
    loader.load(Lake(data), data / "warehouse.duckdb")
    resources = _resources(sim, data)
    del resources["vivenu"]

    def run() -> dg.ExecuteInProcessResult:
        return compact_history_job.execute_in_process(
            run_config=config, resources=resources, raise_on_error=False
        )

    monkeypatch.delenv("CUSTOMER_SYNC_HISTORY_RETENTION", raising=False)
    off = run()
    assert not off.success and "CUSTOMER_SYNC_HISTORY_RETENTION is not set" in _failure(off)
    monkeypatch.setenv("CUSTOMER_SYNC_HISTORY_RETENTION", "1")

    done = run()

    # Replaced today, so within the retention: kept, in the lake and the warehouse.
    assert done.success
    assert not any(done.output_for_node("drop_replaced_versions").values())
    changes = Lake(data).dataset("customers", "changes")
    assert changes is not None
    assert changes.to_table(columns=["id"])["id"].to_pylist().count(victim) == 2


def _analytics_versions(db: Path) -> dict[str, tuple[str | None, str | None]]:
    """Per analytics table: its recorded version and the fingerprint of what it reads now."""
    params = {"customer_rfm": {"as_of": date(2030, 1, 1)}, "booking_conversion": {"steps": 4}}
    con = loader.connect(db, read_only=True)
    try:
        return {
            name: (
                versions.version(con, name),
                versions.fingerprint(con, analytics.sql(name), params.get(name)),
            )
            for name in analytics.TABLES
        }
    finally:
        con.close()


def _sql(db: Path, query: str) -> list[tuple[object, ...]]:
    con = loader.connect(db, read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_analytics_after_an_erasure_rebuild_once_without_a_load(tmp_path: Path) -> None:
    """The erasure changes tables without recording their versions: the analytics built next
    (materialized on their own, no warehouse load in between, as the UI does) rebuild every
    table once and then skip them again."""
    data = tmp_path / "data"
    db = data / "warehouse.duckdb"
    with SimulatorServer(Store.seeded(80, 4)) as sim:
        sync(sim, data, resources=RESOURCES)  # every table an analytics query reads
        run(data)  # load, analytics, analyst copy
    ((person,),) = _sql(db, "SELECT min(customer_id) FROM customer_spend")
    erase(Request(ids=(person,)), data_dir=data)
    resources = {"warehouse": WarehouseResource(db_path=str(db))}
    config = {"ops": {"customer_rfm": {"config": {"as_of": "2030-01-01"}}}}
    only_analytics = [*(getattr(analytics, name) for name in analytics.TABLES)]
    tables = []
    for _ in range(2):
        result = dg.materialize(
            [*only_analytics, analytics.analyst_copy], resources=resources, run_config=config
        )
        assert result.success
        built = _analytics_versions(db)
        # Each table was built from what it reads now (its version is that fingerprint).
        assert [n for n, (v, f) in built.items() if v is None or v != f] == []
        tables.append(_sql(db, "SELECT table_name, table_oid FROM duckdb_tables() ORDER BY 1"))
    assert tables[0] == tables[1]  # the second build rebuilt nothing
    (spenders,) = zip(
        *_sql(analyst_path(db), "SELECT customer_id FROM customer_spend"), strict=True
    )
    assert person not in spenders
    # A warehouse whose record an earlier release's erasure dropped builds them too.
    con = loader.connect(db)
    try:
        con.execute("DROP TABLE internal.table_versions")
    finally:
        con.close()
    assert dg.materialize(only_analytics, resources=resources, run_config=config).success
