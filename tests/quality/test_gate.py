"""The quality gate over a real synced lake, corrupted on purpose one kind of defect at a time."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest
from click.testing import CliRunner

from assets.ingest import SNAPSHOTS
from assets.quality import check_result, quality_checks
from pipelines.quality import rejects as rejects_mod
from pipelines.quality import validate_snapshot
from pipelines.quality.cli import quarantine, validate
from pipelines.quality.suites import EXPECTATIONS_DIR
from pipelines.registry import RESOURCES
from pipelines.resources import LakeResource
from pipelines.sync.lake import TABLES, Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from tests.lakeio import save_state
from tests.sync.truth import sync

customer_snapshot, transaction_snapshot = SNAPSHOTS["customers"], SNAPSHOTS["transactions"]

UNKNOWN_ID = "f" * 24
Rows = list[dict[str, Any]]


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake synced from a 300-customer simulator; tests work on copies."""
    data_dir = tmp_path_factory.mktemp("synced")
    with SimulatorServer(Store.seeded(300, 7), api_key="sim-key") as sim:
        sync(sim, data_dir)
    return data_dir


@pytest.fixture
def lake(synced: Path, tmp_path: Path) -> Lake:
    shutil.copytree(synced, tmp_path / "data")
    return Lake(tmp_path / "data")


def corrupt(lake: Lake, resource: str, table: str, change: Callable[[Rows], Rows | None]) -> None:
    """Rewrite a snapshot table through `change` (which edits the rows in place or returns new)."""
    rows = lake.read_snapshot(resource, table).to_pylist()
    rows = change(rows) or rows
    data = pa.Table.from_pylist(rows, schema=TABLES[resource][table])
    lake.write_snapshot(resource, table, data)


def rejected(lake: Lake, resource: str) -> dict[str, list[str]]:
    return {r["record_id"]: r["expectations"] for r in rejects_mod.read(lake, resource).to_pylist()}


def test_clean_data_passes_every_expectation(lake: Lake) -> None:
    for resource in TABLES:
        report = validate_snapshot(lake, resource)
        assert report.passed, report.table_failures
        assert report.rejected == 0 and not report.failing
        assert report.report_path is not None and report.report_path.exists()
        assert len(report.expectations) >= 10 if resource == "customers" else 10
    assert rejected(lake, "customers") == {}


def test_row_level_defects_are_quarantined_with_their_reason(lake: Lake) -> None:
    customers = lake.read_snapshot("customers", "customers").to_pylist()
    c = [row["id"] for row in customers[:7]]
    future = datetime.now(UTC) + timedelta(days=1)

    def bad_customers(rows: Rows) -> None:
        rows[0]["primary_email"] = "not-an-email"
        rows[1]["location_country"] = "Germany"
        rows[2]["created_at"] = rows[2]["updated_at"] + timedelta(seconds=1)
        rows[3]["updated_at"] = future

    def bad_tags(rows: Rows) -> Rows:
        by_id = {r["id"]: r for r in customers}
        extra = [("", c[4]), ("x" * 65, c[5])]
        return rows + [
            {**rows[0], "customer_id": cid, "tag": tag, "updated_at": by_id[cid]["updated_at"]}
            for tag, cid in extra
        ]

    def bad_links(rows: Rows) -> Rows:
        link = next(r for r in rows if r["customer_id"] == c[6])
        return [*rows, {**link, "transaction_id": UNKNOWN_ID}]

    corrupt(lake, "customers", "customers", bad_customers)
    corrupt(lake, "customers", "customer_tags", bad_tags)
    corrupt(lake, "customers", "customer_transactions", bad_links)
    report = validate_snapshot(lake, "customers", max_bad_share=0.5)
    assert report.passed, report.table_failures
    assert rejected(lake, "customers") == {
        c[0]: ["customers.primary_email_valid"],
        c[1]: ["customers.location_country_iso_3166_alpha_2"],
        c[2]: ["customers.created_at_not_after_updated_at"],
        c[3]: ["customers.updated_at_not_in_future"],
        c[4]: ["customer_tags.tag_length_1_to_64", "customer_tags.tag_not_blank"],
        c[5]: ["customer_tags.tag_length_1_to_64"],
        c[6]: ["customer_transactions.transaction_id_is_known"],
    }
    email = next(e for e in report.failing if e.name == "primary_email_valid")
    assert email.unexpected_count == 1
    assert email.samples == [{"id": c[0], "primary_email": "not-an-email"}]
    row = rejects_mod.read(lake, "customers").to_pylist()[0]
    assert json.loads(row["payload"])["id"] == row["record_id"] and row["_run_id"]

    transactions = lake.read_snapshot("transactions", "transactions").to_pylist()
    t = [row["id"] for row in transactions[:6]]

    def bad_transactions(rows: Rows) -> None:
        rows[0]["real_price"] = Decimal("-5")
        rows[1]["currency"] = "EURO"
        rows[2]["status"] = "DONE"
        rows[3]["payment_status"] = "PAID"
        rows[4]["customer_id"] = UNKNOWN_ID
        rows[5]["created_at"] = rows[5]["updated_at"] + timedelta(days=1)

    corrupt(lake, "transactions", "transactions", bad_transactions)
    report = validate_snapshot(lake, "transactions", max_bad_share=0.5)
    assert report.passed, report.table_failures
    assert rejected(lake, "transactions") == {
        t[0]: ["transactions.real_price_non_negative"],
        t[1]: ["transactions.currency_iso_4217"],
        t[2]: ["transactions.status_enum"],
        t[3]: ["transactions.payment_status_enum"],
        t[4]: ["transactions.customer_id_is_known"],
        t[5]: ["transactions.created_at_not_after_updated_at"],
    }


def test_refunds_and_cancellations_keep_a_non_negative_price(lake: Lake) -> None:
    def refunds(rows: Rows) -> None:
        rows[0].update(status="CANCELED", payment_status="REFUND", real_price=Decimal("12.5"))
        rows[1].update(status="CANCELED", payment_status="CANCELED", real_price=Decimal("0"))
        rows[2].update(status="CANCELED", payment_status="REFUND", real_price=Decimal("-12.5"))

    corrupt(lake, "transactions", "transactions", refunds)
    validate_snapshot(lake, "transactions", max_bad_share=0.5)
    assert list(rejected(lake, "transactions").values()) == [
        ["transactions.real_price_non_negative"]
    ]


@pytest.mark.parametrize(
    "defect",
    ["duplicate_id", "count_mismatch", "references_beyond_tolerance", "threshold"],
)
def test_table_level_failures_fail_the_gate(lake: Lake, defect: str) -> None:
    resource = "transactions"
    if defect == "duplicate_id":
        corrupt(lake, "transactions", "transactions", lambda rows: [*rows, rows[0]])
        expected = "transactions.id_unique"
    elif defect == "count_mismatch":
        state = lake.load_state(resource)
        state.runs[-1]["records_fetched"] += 3
        save_state(lake, state)
        expected = "transactions_received.row_count_matches_api"
    elif defect == "references_beyond_tolerance":

        def orphans(rows: Rows) -> None:
            for row in rows[:10]:
                row["customer_id"] = UNKNOWN_ID

        corrupt(lake, "transactions", "transactions", orphans)
        expected = "transactions.customer_id_is_known"
    else:

        def emails(rows: Rows) -> None:
            for row in rows[:6]:
                row["primary_email"] = "broken"

        resource = "customers"
        corrupt(lake, "customers", "customers", emails)
        expected = "6 of 300 customers (2.00%)"
    report = validate_snapshot(lake, resource, max_bad_share=0.01)
    assert not report.passed
    assert any(expected in f for f in report.table_failures), report.table_failures
    assert "FAILED" in report.report_path.read_text()


def test_a_fixed_record_leaves_quarantine(lake: Lake) -> None:
    original = lake.read_snapshot("customers", "customers")

    def email(rows: Rows) -> None:
        rows[0]["primary_email"] = "two@@signs.com"

    corrupt(lake, "customers", "customers", email)
    validate_snapshot(lake, "customers")
    assert len(rejected(lake, "customers")) == 1
    # A later sync brings a valid version of the record.
    lake.write_snapshot("customers", "customers", original)
    validate_snapshot(lake, "customers")
    assert rejected(lake, "customers") == {}


def test_suites_are_data(lake: Lake, tmp_path: Path) -> None:
    suites = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, suites)
    doc = json.loads((suites / "customers.json").read_text())
    email = next(e for e in doc["expectations"] if e["meta"]["name"] == "primary_email_valid")
    email["kwargs"]["regex"] = r"@nowhere\.invalid$"
    (suites / "customers.json").write_text(json.dumps(doc))
    report = validate_snapshot(lake, "customers", suites_dir=suites, max_bad_share=1.0)
    assert report.rejected == 300 and report.passed

    email["kwargs"]["regex"] = r"["  # a suite GX cannot run must fail loudly, not pass
    (suites / "customers.json").write_text(json.dumps(doc))
    report = validate_snapshot(lake, "customers", suites_dir=suites)
    assert not report.passed
    assert any("primary_email_valid could not run" in f for f in report.table_failures)


def test_blocking_check_stops_downstream(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    @dg.asset(deps=[customer_snapshot, transaction_snapshot])
    def warehouse() -> None:
        """Stands in for the warehouse load."""

    def emails(rows: Rows) -> None:
        for row in rows[:30]:
            row["primary_email"] = "broken"

    corrupt(lake, "customers", "customers", emails)
    monkeypatch.setenv("CUSTOMER_SYNC_MAX_BAD_SHARE", "0.05")
    result = dg.materialize(
        [customer_snapshot, transaction_snapshot, warehouse, *quality_checks],
        resources={"lake": LakeResource(data_dir=str(lake.data_dir))},
        raise_on_error=False,
    )
    assert not result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["transaction_quality"].passed
    failed = checks["customer_quality"]
    assert not failed.passed
    assert "primary_email_valid" in failed.metadata["failing_expectations"].value
    # Named by id and column, never by value: Dagster's run storage outlives an erasure.
    samples = failed.metadata["sample_bad_rows"].value
    assert "primary_email" in samples and "broken" not in samples
    report = json.loads(Path(failed.metadata["report"].value).with_suffix(".json").read_text())
    (email,) = [e for e in report["expectations"] if e["name"] == "primary_email_valid"]
    assert email["samples"] and all(row["id"] in samples for row in email["samples"])
    assert Path(failed.metadata["report"].value).exists()
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "warehouse" not in materialized
    assert len(rejected(lake, "customers")) == 30

    # Under the threshold the same rows are quarantined and the rest goes through.
    monkeypatch.setenv("CUSTOMER_SYNC_MAX_BAD_SHARE", "0.2")
    check = check_result(LakeResource(data_dir=str(lake.data_dir)), "customers")
    assert check.passed and check.metadata["rejected"].value == 30
    # The second validation re-judges only the rejected records (nothing else changed).
    assert check.metadata["validation_mode"].value == "incremental"
    assert check.metadata["rows_revalidated"].value == 30 + sum(
        child_rows(lake, t, set(rejected(lake, "customers")))
        for t in ("customer_tags", "customer_transactions")
    )
    assert "carried over" in check.metadata["suites"].value


def test_cli_validate_and_quarantine(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(lake.data_dir))
    bad_id = lake.read_snapshot("customers", "customers").column("id")[0].as_py()

    def email(rows: Rows) -> None:
        rows[0]["primary_email"] = "broken"

    corrupt(lake, "customers", "customers", email)
    # A record normalization refused, as the sync writes it.
    corrupt(
        lake,
        "transactions",
        "quarantine",
        lambda rows: [
            {
                "resource": "transactions",
                "record_id": UNKNOWN_ID,
                "reason": "realPrice is str, expected a number",
                "payload": "{}",
                "updated_at": None,
                "_run_id": "r1",
                "_synced_at": datetime.now(UTC),
            }
        ],
    )
    runner = CliRunner()
    result = runner.invoke(validate, ["--json"])
    assert result.exit_code == 0, result.output
    # Events and tickets were never synced: nothing to reject.
    rejected = {r["resource"]: r["rejected"] for r in json.loads(result.output)}
    assert rejected == {"customers": 1, "transactions": 0, "events": 0, "tickets": 0}

    listed = json.loads(runner.invoke(quarantine, ["list", "--json"]).output)
    assert {(e["resource"], e["source"], e["record_id"], e["reasons"][0]) for e in listed} == {
        ("customers", "quality", bad_id, "customers.primary_email_valid"),
        ("transactions", "schema", UNKNOWN_ID, "realPrice is str, expected a number"),
    }
    shown = runner.invoke(quarantine, ["show", bad_id])
    assert shown.exit_code == 0 and json.loads(shown.output)[0]["payload"]["id"] == bad_id
    assert runner.invoke(quarantine, ["show", "nope"]).exit_code == 1
    assert runner.invoke(validate, ["--max-bad-share", "0"]).exit_code == 1


def test_code_location_does_not_import_great_expectations() -> None:
    code = "import pipelines.definitions, assets.quality, pipelines.quality.cli"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert "great_expectations" not in out.stderr


# Incremental validation: only rows changed since the last validation are judged again.


def sync_run(
    lake: Lake,
    resource: str,
    run_id: str,
    changes: dict[str, dict[str, Any]] | None = None,
    *,
    added: Rows = (),
    deleted: tuple[str, ...] = (),
) -> None:
    """Leave the snapshots as compaction would after a run that changed, added, deleted records.

    Changed and added records (and a changed customer's tag and link rows) carry `run_id`.
    """
    changes = changes or {}
    synced_at = datetime.now(UTC)
    lineage = {"_run_id": run_id, "_synced_at": synced_at}

    def primary(rows: Rows) -> Rows:
        out = []
        for row in rows:
            if row["id"] in deleted:
                continue
            if row["id"] in changes:
                row = {**row, **changes[row["id"]], **lineage}
            out.append(row)
        return out + [{**row, **lineage} for row in added]

    def children(rows: Rows) -> Rows:
        return [
            {**row, **lineage} if row["customer_id"] in changes else row
            for row in rows
            if row["customer_id"] not in deleted
        ]

    def tombstones(rows: Rows) -> Rows:
        return rows + [
            {"resource": resource, "id": i, "deleted_at": synced_at, **lineage} for i in deleted
        ]

    corrupt(lake, resource, resource, primary)
    if deleted:
        corrupt(lake, resource, "deletions", tombstones)
    if resource == "customers":
        corrupt(lake, "customers", "customer_tags", children)
        corrupt(lake, "customers", "customer_transactions", children)


def judged(report: Any) -> dict[str, int]:
    return {s.suite: s.judged for s in report.suites}


def child_rows(lake: Lake, table: str, ids: set[str]) -> int:
    return sum(
        r in ids for r in lake.read_snapshot("customers", table).column("customer_id").to_pylist()
    )


def test_incremental_validation_judges_only_changed_rows(lake: Lake) -> None:
    first = validate_snapshot(lake, "customers")
    assert (first.mode, first.mode_reason) == ("full", "first validation")
    assert judged(first)["customers"] == 300 and first.rows_carried_over == 0

    again = validate_snapshot(lake, "customers")
    assert again.mode == "incremental" and again.passed
    assert again.rows_revalidated == 0 and again.rows_carried_over == first.rows_revalidated
    assert {e.qualified_name for e in again.expectations} == {
        e.qualified_name for e in first.expectations
    }

    ids = lake.read_snapshot("customers", "customers").column("id").to_pylist()[:3]
    sync_run(
        lake, "customers", "run-2", {ids[0]: {"primary_email": "broken"}, ids[1]: {}, ids[2]: {}}
    )
    report = validate_snapshot(lake, "customers", max_bad_share=0.5)
    assert report.mode == "incremental"
    assert judged(report) == {
        "customer_tags": child_rows(lake, "customer_tags", set(ids)),
        "customer_transactions": child_rows(lake, "customer_transactions", set(ids)),
        "customers": 3,
        "customers_received": judged(first)["customers_received"],
    }
    assert rejected(lake, "customers") == {ids[0]: ["customers.primary_email_valid"]}
    email = next(e for e in report.expectations if e.name == "primary_email_valid")
    assert (email.unexpected_count, email.element_count, email.judged) == (1, 300, 3)
    assert email.samples == [{"id": ids[0], "primary_email": "broken"}]
    html = report.report_path.read_text()
    assert "Incremental validation" in html and f"{report.rows_revalidated:,} rows" in html


def test_incremental_validation_keeps_and_drops_rejects(lake: Lake) -> None:
    ids = lake.read_snapshot("customers", "customers").column("id").to_pylist()
    fixed, removed, kept, broken = ids[:4]

    def emails(rows: Rows) -> None:
        for row in rows[:3]:
            row["primary_email"] = "broken"

    corrupt(lake, "customers", "customers", emails)
    validate_snapshot(lake, "customers", max_bad_share=0.5)
    assert set(rejected(lake, "customers")) == {fixed, removed, kept}

    email = lake.read_snapshot("customers", "customers").column("primary_email")[5].as_py()
    sync_run(
        lake,
        "customers",
        "run-2",
        {fixed: {"primary_email": email}, broken: {"created_at": datetime(2100, 1, 1, tzinfo=UTC)}},
        deleted=(removed,),
    )
    report = validate_snapshot(lake, "customers", max_bad_share=0.5)
    assert report.mode == "incremental"
    # The changed records and the one still rejected; the deleted record is gone.
    assert judged(report)["customers"] == 3
    assert rejected(lake, "customers") == {
        kept: ["customers.primary_email_valid"],
        broken: ["customers.created_at_not_after_updated_at"],
    }
    assert report.rejected == 2 and report.bad_share == 2 / 299


def test_references_change_verdicts_of_unchanged_rows(lake: Lake) -> None:
    transactions = lake.read_snapshot("transactions", "transactions").to_pylist()
    orphan = transactions[0]["id"]

    def unknown_customer(rows: Rows) -> None:
        rows[0]["customer_id"] = UNKNOWN_ID

    corrupt(lake, "transactions", "transactions", unknown_customer)
    validate_snapshot(lake, "transactions", max_bad_share=0.5)
    assert rejected(lake, "transactions") == {orphan: ["transactions.customer_id_is_known"]}

    # The customer arrives in a later customers run: the unchanged transaction leaves.
    template = lake.read_snapshot("customers", "customers").to_pylist()[0]
    sync_run(lake, "customers", "run-2", added=[{**template, "id": UNKNOWN_ID}])
    report = validate_snapshot(lake, "transactions", max_bad_share=0.5)
    assert report.mode == "incremental" and rejected(lake, "transactions") == {}
    assert judged(report)["transactions"] == 1  # the former reject

    # A customer vanishes from the snapshot without a tombstone: its unchanged transactions now
    # reference an unknown customer.
    owner = transactions[1]["customer_id"]
    owned = {t["id"] for t in transactions if t["customer_id"] == owner}
    corrupt(lake, "customers", "customers", lambda rows: [r for r in rows if r["id"] != owner])
    report = validate_snapshot(lake, "transactions", max_bad_share=0.5)
    assert report.mode == "incremental"
    assert set(rejected(lake, "transactions")) == owned
    assert judged(report)["transactions"] == len(owned)
    known = next(e for e in report.expectations if e.name == "customer_id_is_known")
    assert (known.unexpected_count, known.element_count) == (len(owned), len(transactions))


@pytest.mark.attack("11.2 deleting the heaviest buyers fails customer_id_is_known forever")
def test_a_transaction_of_a_deleted_customer_is_valid(lake: Lake) -> None:
    transactions = lake.read_snapshot("transactions", "transactions").to_pylist()
    by_owner: dict[str, int] = {}
    for t in transactions:
        by_owner[t["customer_id"]] = by_owner.get(t["customer_id"], 0) + 1
    heaviest = sorted(by_owner, key=by_owner.__getitem__, reverse=True)[:3]
    owned = sum(by_owner[c] for c in heaviest)
    assert owned / len(transactions) > 0.01  # beyond the check's `mostly`: it would block
    validate_snapshot(lake, "transactions")
    sync_run(lake, "customers", "run-2", deleted=tuple(heaviest))
    report = validate_snapshot(lake, "transactions")
    assert report.passed and rejected(lake, "transactions") == {}
    known = next(e for e in report.expectations if e.name == "customer_id_is_known")
    assert known.success and known.unexpected_count == 0


def test_suite_edit_blocking_failure_and_cli_force_a_full_pass(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suites = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, suites)
    validate_snapshot(lake, "customers", suites_dir=suites)
    assert validate_snapshot(lake, "customers", suites_dir=suites).mode == "incremental"

    doc = json.loads((suites / "customer_tags.json").read_text())
    doc["expectations"][0]["kwargs"]["max_value"] = 3
    (suites / "customer_tags.json").write_text(json.dumps(doc))
    report = validate_snapshot(lake, "customers", suites_dir=suites, max_bad_share=1.0)
    assert (report.mode, report.mode_reason) == ("full", "the expectation suites changed")
    assert report.rows_carried_over == 0 and report.rejected > 0
    assert validate_snapshot(lake, "customers", suites_dir=suites, max_bad_share=1.0).mode == (
        "incremental"
    )

    # A blocking failure (a duplicated id) makes the next validation a full one.
    validate_snapshot(lake, "transactions")
    corrupt(lake, "transactions", "transactions", lambda rows: [*rows, rows[0]])
    blocked = validate_snapshot(lake, "transactions")
    assert blocked.mode == "incremental" and not blocked.passed
    assert any("transactions.id_unique" in f for f in blocked.table_failures)
    assert judged(blocked)["transactions"] == 2  # the two rows sharing the id
    corrupt(lake, "transactions", "transactions", lambda rows: rows[:-1])
    after = validate_snapshot(lake, "transactions")
    assert after.passed and after.mode == "full" and "blocking" in after.mode_reason

    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(lake.data_dir))
    runner = CliRunner()
    default = json.loads(runner.invoke(validate, ["--json"]).output)
    # customers: the default suites now; events and tickets: never validated before.
    assert {r["resource"]: r["mode"] for r in default} == {
        "customers": "full",
        "transactions": "incremental",
        "events": "full",
        "tickets": "full",
    }
    forced = json.loads(runner.invoke(validate, ["--full", "--json"]).output)
    assert {r["mode"] for r in forced} == {"full"} and len(forced) == len(RESOURCES)
    assert all(r["rows_carried_over"] == 0 for r in forced)


def test_a_mostly_given_as_a_suite_parameter_is_its_value(lake: Lake, tmp_path: Path) -> None:
    """`mostly` as a `$PARAMETER` (its value in the suite's `meta.parameters`): the full pass
    (GX) and the incremental one (without GX) both judge by the value."""
    suites = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, suites)
    doc = json.loads((suites / "transactions.json").read_text())
    known = next(e for e in doc["expectations"] if e["meta"]["name"] == "customer_id_is_known")
    known["kwargs"]["mostly"] = {"$PARAMETER": "known_share"}
    doc["meta"].setdefault("parameters", {})["known_share"] = {"value": 0.99}
    (suites / "transactions.json").write_text(json.dumps(doc))

    def orphans(rows: Rows) -> None:
        for row in rows[:10]:
            row["customer_id"] = UNKNOWN_ID

    corrupt(lake, "transactions", "transactions", orphans)
    reports = [
        validate_snapshot(lake, "transactions", suites_dir=suites, max_bad_share=1.0)
        for _ in range(2)
    ]
    assert [r.mode for r in reports] == ["full", "incremental"]
    for report in reports:
        outcome = next(e for e in report.expectations if e.name == "customer_id_is_known")
        assert (outcome.success, outcome.unexpected_count, outcome.error) == (False, 10, None)
        assert not report.passed
        assert any(
            f.startswith("transactions.customer_id_is_known: 10 of") and "tolerated 1.00%" in f
            for f in report.table_failures
        ), report.table_failures


@pytest.mark.attack("11.20 a wrong CUSTOMER_SYNC_EXPECTATIONS_DIR turns the gate off")
def test_the_check_without_suites_fails_and_blocks(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @dg.asset(deps=[customer_snapshot, transaction_snapshot])
    def warehouse() -> None:
        """Stands in for the warehouse load."""

    monkeypatch.setenv("CUSTOMER_SYNC_EXPECTATIONS_DIR", str(tmp_path / "nowhere"))
    result = dg.materialize(
        [customer_snapshot, transaction_snapshot, warehouse, *quality_checks],
        resources={"lake": LakeResource(data_dir=str(lake.data_dir))},
        raise_on_error=False,
    )
    assert not result.success and not any(e.passed for e in result.get_asset_check_evaluations())
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "no expectation suites" in failure.step_failure_data.user_failure_data.description
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "warehouse" not in materialized


def test_a_resource_never_synced_validates_twice(lake: Lake) -> None:
    assert not lake.has_snapshot("events")
    assert validate_snapshot(lake, "events").mode == "full"
    again = validate_snapshot(lake, "events")  # no run ids judged: an empty, typed set
    assert again.mode == "incremental" and again.passed
