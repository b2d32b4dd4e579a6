"""Declarative audiences against a real DuckDB warehouse: each criterion on a hand-made lake whose
answers are worked out by hand below, the ad-platform layouts (headers, normalization, SHA-256
against values computed independently with coreutils' sha256sum), the empty-audience exit and the
up-front validation of segments.json."""

from __future__ import annotations

import csv
import json
from datetime import date

import dagster as dg
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from assets.analytics import build
from assets.segments import segment_exports
from pipelines.sync.lake import Lake
from pipelines.warehouse import layouts
from pipelines.warehouse.cli import segments as segments_cli
from pipelines.warehouse.loader import analyst_path, connect, load, publish
from pipelines.warehouse.resource import WarehouseResource
from pipelines.warehouse.segments import (
    RFM_SEGMENTS,
    EmptyAudience,
    Events,
    Recency,
    Rfm,
    Segment,
    SegmentConfigError,
    SegmentError,
    Spend,
    configured_segments,
    drop_deleted,
    export,
    select,
)
from tests.warehouse.lakefix import commit_run, customer, txn

AS_OF = date(2025, 6, 1)  # a 365-day window is 2024-06-02 .. 2025-06-01
RUN1, RUN2 = "20250601T000000000Z-000001", "20250601T000000000Z-000002"

# By hand (paid = COMPLETE + RECEIVED; purchases after AS_OF never count):
#   a1 EUR 300 (2025-05-20, ev1) + 250 (2025-01-10, ev2) + 1000 (2024-03-01, ev3):
#      365 days 550, lifetime 1550, 3 events (2 in 365 days), last purchase 12 days ago
#   a2 EUR 600 (2025-04-01, ev1); 200 refunded (ev4); 5000 on 2025-06-05 (after AS_OF):
#      600, 1 event, 61 days
#   a3 EUR 499.99 (2024-10-01, ev1): 499.99, 1 event, 243 days
#   a4 GBP 900 + 10 + 10 (2024-01-01 .. 2024-02-02, ev1-3): no EUR, 3 events, 485 days
#   a5 no purchase; a7 only a canceled order (not a purchase)
#   a6 blocked, EUR 3 x 900 (2025-05-01, ev1-3): never exported by default
#   a8 CHF 5000 (2025-05-01), then deleted in vivenu: its transactions stay (and its RFM row:
#      CHF champions), it never exports
# RFM (EUR, 4 buyers a1 a2 a3 a6; cume_dist quintiles):
#   recency desc a3 .25->2, a2 .5->3, a6 .75->4, a1 1->5; frequency a2 a3 .5->3, a1 a6 1->5;
#   monetary a3 .25->2, a2 .5->3, a1 .75->4, a6 1->5
#   a1 (5,5,4) champions, a6 (4,5,5) champions, a2 (3,3,3) need attention, a3 (2,3,2) at risk;
#   GBP: a4 alone scores (5,5,5): champions.
CUSTOMERS = [
    customer("a1", "2025-01-01", tags=["vip"], primary_email=" Jo.Ann.Smith@GoogleMail.com ",
             prename="  Zoë ", lastname=" Pérez ", phone="030 1234567", location_country="DE",
             location_postal="10115", location_city="Berlin", location_state=None),
    customer("a2", "2025-01-01", primary_email="Ann@Example.COM", prename="Ann",
             lastname="O'Brien-Smith", phone="+1 (650) 253-0000", location_country="US",
             location_postal="94016-1234", location_city="San Francisco", location_state="CA"),
    customer("a3", "2025-01-01", phone="12", location_country="GB", location_postal="WC2H 8LG"),
    customer("a4", "2025-01-01", phone="+44 20 7183 8750"),
    customer("a5", "2025-01-01", tags=["vip"]),
    customer("a6", "2025-01-01", tags=["vip"], blocked=True),
    customer("a7", "2025-01-01"),
    customer("a8", "2025-01-01"),
]  # fmt: skip
TRANSACTIONS = [
    txn("t1", "a1", "2025-05-20", "300", event_id="ev1"),
    txn("t2", "a1", "2025-01-10", "250", event_id="ev2"),
    txn("t3", "a1", "2024-03-01", "1000", event_id="ev3"),
    txn("t4", "a2", "2025-04-01", "600", event_id="ev1"),
    txn("t5", "a2", "2025-04-02", "200", event_id="ev4", payment_status="REFUND"),
    txn("t10", "a2", "2025-06-05", "5000", event_id="ev9"),
    txn("t6", "a3", "2024-10-01", "499.99", event_id="ev1"),
    txn("t7", "a4", "2024-01-01", "900", currency="GBP", event_id="ev1"),
    txn("t8", "a4", "2024-02-01", "10", currency="GBP", event_id="ev2"),
    txn("t9", "a4", "2024-02-02", "10", currency="GBP", event_id="ev3"),
    *(txn(f"t6{i}", "a6", "2025-05-01", "900", event_id=f"ev{i}") for i in (1, 2, 3)),
    txn("t11", "a7", "2023-01-01", "700", status="CANCELED"),
    txn("t12", "a8", "2025-05-01", "5000", currency="CHF"),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    data = tmp_path_factory.mktemp("audiences")
    commit_run(data, "customers", RUN1, customers=CUSTOMERS)
    commit_run(data, "transactions", RUN1, transactions=TRANSACTIONS)
    commit_run(data, "customers", RUN2, deletions=[{"id": "a8"}])
    db = data / "warehouse.duckdb"
    load(Lake(data), db, publish_copy=False)
    con = connect(db)
    try:
        build(con, "customer_rfm", {"as_of": AS_OF})
    finally:
        con.close()
    publish(db)
    return data


def members(data, **criteria) -> list[str]:
    rows = select(analyst_path(data / "warehouse.duckdb"), Segment(**criteria), as_of=AS_OF)
    return [r["id"] for r in rows.to_pylist()]


def test_rfm_criterion(data):
    assert members(data, rfm=Rfm(("champions",), "EUR")) == ["a1"]
    assert members(data, rfm=Rfm(("champions",))) == ["a1", "a4"]
    assert members(data, rfm=Rfm(("champions",), "EUR"), include_blocked=True) == ["a1", "a6"]
    assert members(data, rfm=Rfm(("need attention", "at risk"), "EUR")) == ["a2", "a3"]
    assert members(data, rfm=Rfm(("need attention",), "EUR")) == ["a2"]


def test_deleted_customers_are_in_no_audience(data):
    assert members(data, rfm=Rfm(("champions",), "CHF")) == []
    assert members(data, spend=Spend("CHF", min=1)) == []
    assert members(data, recency=Recency(max_days=31)) == ["a1"]  # not a8 (31 days)


def test_spend_criterion_per_currency_and_period(data):
    assert members(data, spend=Spend("EUR", min=500, days=365)) == ["a1", "a2"]
    assert members(data, spend=Spend("EUR", min=1000, days=365)) == []
    assert members(data, spend=Spend("EUR", min=1000)) == ["a1"]
    assert members(data, spend=Spend("EUR", max=500)) == ["a3"]
    assert members(data, spend=Spend("GBP", min=500)) == ["a4"]


def test_events_criterion_counts_distinct_paid_events(data):
    assert members(data, events=Events(min=3)) == ["a1", "a4"]
    assert members(data, events=Events(min=3, days=365)) == []
    assert members(data, events=Events(min=2, days=365)) == ["a1"]
    assert members(data, events=Events(max=1)) == ["a2", "a3"]


def test_recency_criterion(data):
    assert members(data, recency=Recency(min_days=180)) == ["a3", "a4"]
    assert members(data, recency=Recency(max_days=30)) == ["a1"]
    assert members(data, recency=Recency(min_days=61, max_days=243)) == ["a2", "a3"]


def test_criteria_combine_with_tags_and_days_count_from_the_rfm_day(data):
    assert members(data, tags=("vip",)) == ["a1", "a5"]
    assert members(data, tags=("vip",), spend=Spend("EUR", min=500, days=365)) == ["a1"]
    assert members(data, tags=("vip",), recency=Recency(min_days=180)) == []
    # Without as_of, days count from customer_rfm's as_of (AS_OF here), not from today.
    copy = analyst_path(data / "warehouse.duckdb")
    got = select(copy, Segment(name="x", recency=Recency(max_days=30)))
    assert got["id"].to_pylist() == ["a1"]


def test_normalization_for_the_platforms():
    assert layouts.google_email(" Jo.Ann.Smith@GoogleMail.com ") == "joannsmith@gmail.com"
    assert layouts.google_email("jo.ann@gmail.com") == "joann@gmail.com"
    assert layouts.google_email("Jo.Ann@Example.com") == "jo.ann@example.com"
    assert layouts.email(" Jo.Ann@GMAIL.com ") == "jo.ann@gmail.com"  # Meta keeps the dots
    assert layouts.email("not-an-email") is None
    assert layouts.e164("030 1234567", "DE") == "+49301234567"
    assert layouts.e164("+1 (650) 253-0000", "US") == "+16502530000"
    assert layouts.e164("+44 20 7183 8750", None) == "+442071838750"
    assert layouts.e164("12", "GB") is None and layouts.e164(None, "DE") is None
    assert layouts.google_name("  Zoë   Pérez ") == "zoë pérez"
    assert layouts.meta_name("O'Brien-Smith") == "obriensmith"
    assert layouts.meta_zip("94016-1234", "US") == "94016"
    assert layouts.meta_zip("WC2H 8LG", "GB") == "wc2h8lg"
    # SHA-256 test vector (FIPS 180-2) and values from `printf %s VALUE | sha256sum`.
    assert layouts.sha256("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert layouts.sha256("joannsmith@gmail.com") == (
        "6fede77dd63d0f4e11e3f5ed1215744a3f4eec6bff94141d62c9dddf60bef17d"
    )
    assert layouts.sha256(None) is None and layouts.sha256("") is None


def _csv(path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_google_layout(data, tmp_path):
    copy = analyst_path(data / "warehouse.duckdb")
    segment = Segment(name="big", spend=Spend("EUR", min=500, days=365), layout="google")
    path, rows = export(copy, segment, exports_dir=tmp_path, as_of=AS_OF)
    assert path.name == "big.google.hashed.csv" and rows == 2
    header, (a1, a2) = _csv(path)
    assert header == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    # Byte for byte the header of Google's template, unquoted.
    assert path.read_bytes().startswith(b"Email,Phone,First Name,Last Name,Country,Zip\n")
    assert a1 == {
        "Email": "6fede77dd63d0f4e11e3f5ed1215744a3f4eec6bff94141d62c9dddf60bef17d",
        "Phone": "74bd805bcc47f8603082430ca056311389e38b74fcdfbc32bcb5c6a9269ff3bf",  # +49301234567
        "First Name": layouts.sha256("zoë"),
        "Last Name": layouts.sha256("pérez"),
        "Country": "DE",  # Google: country and zip in clear
        "Zip": "10115",
    }
    assert a2["Email"] == "71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476"
    text = path.read_text(encoding="utf-8")
    assert "@" not in text and "Zoë" not in text and "253-0000" not in text


def test_meta_layout(data, tmp_path):
    copy = analyst_path(data / "warehouse.duckdb")
    segment = Segment(name="big", spend=Spend("EUR", min=500, days=365), layout="meta")
    path, _ = export(copy, segment, exports_dir=tmp_path, as_of=AS_OF)
    assert path.name == "big.meta.hashed.csv"
    header, (a1, a2) = _csv(path)
    assert header == ["email", "phone", "fn", "ln", "ct", "st", "zip", "country"]
    assert path.read_bytes().startswith(b"email,phone,fn,ln,ct,st,zip,country\n")
    assert a2 == {
        "email": "71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476",
        "phone": layouts.sha256("16502530000"),  # digits with country code, no +
        "fn": layouts.sha256("ann"),
        "ln": "16765783f9c8c8a3accf27f1abb877688cb5904c21a4a7afb5f125bcfcb246ba",  # obriensmith
        "ct": layouts.sha256("sanfrancisco"),
        "st": layouts.sha256("ca"),
        "zip": "ea49a862bf6e195fe92e0886ed8a89c6565137f3e90c0742d2a00952b307dd55",  # 94016
        "country": layouts.sha256("us"),
    }
    assert a1["phone"] == "2f9fbc550b12cbc0e6242384cc472bd1e4f058a8b773f189f7acb86d202655ce"
    assert a1["email"] == layouts.sha256("jo.ann.smith@googlemail.com")
    assert a1["st"] == ""  # no state: an empty cell, not the hash of nothing


def test_a_plain_export_never_replaces_a_platform_file(data, tmp_path):
    copy = analyst_path(data / "warehouse.duckdb")
    path, _ = export(copy, Segment(name="v", tags=("vip",), layout="google"), exports_dir=tmp_path)
    renamed = tmp_path / "upload.csv"
    renamed.write_bytes(path.read_bytes())
    for target in (path, renamed):
        with pytest.raises(SegmentError, match="holds hashed emails"):
            export(copy, Segment(tags=("vip",)), out=target, force=True)
    assert renamed.read_bytes() == path.read_bytes()


def test_an_empty_audience_exits_non_zero_unless_allowed(data, monkeypatch):
    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(data))
    monkeypatch.setenv("CUSTOMER_SYNC_SEGMENTS", "")
    runner = CliRunner()
    done = runner.invoke(segments_cli, ["export", "--tag", "nosuchtag"])
    assert done.exit_code == 1
    (line,) = done.output.strip().splitlines()
    assert "'nosuchtag' matches no customer" in line and "--allow-empty" in line
    assert not (data / "exports" / "nosuchtag.plain.csv").exists()
    done = runner.invoke(segments_cli, ["export", "--tag", "nosuchtag", "--allow-empty"])
    assert done.exit_code == 0, done.output
    assert (data / "exports" / "nosuchtag.plain.csv").read_text().splitlines() == [
        ",".join(f'"{c}"' for c in layouts.CONTACT_COLUMNS)
    ]
    with pytest.raises(EmptyAudience):
        export(analyst_path(data / "warehouse.duckdb"), Segment(tags=("nosuchtag",)))


def test_cli_exports_and_lists_named_audiences(data, tmp_path, monkeypatch):
    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CUSTOMER_SYNC_SEGMENTS", raising=False)
    for name in ("warehouse.duckdb", "analytics.duckdb"):
        (tmp_path / name).write_bytes((data / name).read_bytes())
    audiences = [
        {"name": "regulars", "events": {"min": 3}, "layout": "meta"},
        {"name": "lapsed", "recency": {"min_days": 180}},
    ]
    (tmp_path / "segments.json").write_text(json.dumps(audiences))
    runner = CliRunner()
    done = runner.invoke(segments_cli, ["export", "--audience", "regulars"])
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == str(tmp_path / "exports" / "regulars.meta.hashed.csv")
    assert len(_csv(tmp_path / "exports" / "regulars.meta.hashed.csv")[1]) == 2  # a1, a4
    done = runner.invoke(segments_cli, ["export", "--audience", "lapsed", "--format", "parquet"])
    assert done.exit_code == 0, done.output
    assert pq.read_table(tmp_path / "exports" / "lapsed.plain.parquet")["id"].to_pylist() == [
        "a3",
        "a4",
    ]
    listed = runner.invoke(segments_cli, ["list"])
    assert listed.exit_code == 0, listed.output
    sizes = {line.split("\t")[0]: line.split("\t")[1] for line in listed.stdout.splitlines()}
    assert sizes == {"regulars": "2", "lapsed": "2"}
    unknown = runner.invoke(segments_cli, ["export", "--audience", "nope"])
    assert unknown.exit_code == 2 and "regulars, lapsed" in unknown.output
    both = runner.invoke(segments_cli, ["export", "--audience", "lapsed", "--tag", "vip"])
    assert both.exit_code == 2


def test_asset_reports_audience_sizes_and_empty_ones(data, monkeypatch):
    monkeypatch.delenv("CUSTOMER_SYNC_SEGMENTS", raising=False)
    audiences = [
        {"name": "champions-eur", "rfm": {"segments": ["champions"], "currency": "EUR"},
         "layout": "google"},
        {"name": "gbp-spenders", "spend": {"currency": "GBP", "min": 500}, "layout": "meta"},
        {"name": "nobody", "tags": ["nosuchtag"]},
    ]  # fmt: skip
    (data / "segments.json").write_text(json.dumps(audiences))
    try:
        result = dg.materialize(
            [segment_exports],
            resources={"warehouse": WarehouseResource(db_path=str(data / "warehouse.duckdb"))},
        )
    finally:
        (data / "segments.json").unlink()
    assert result.success
    (mat,) = result.asset_materializations_for_node("segment_exports")
    assert mat.metadata["audience_sizes"].value == {
        "champions-eur": 1,
        "gbp-spenders": 1,
        "nobody": 0,
    }
    assert mat.metadata["empty_audiences"].value == ["nobody"]
    assert "| champions-eur | RFM champions in EUR | google |" in mat.metadata["exports"].value
    # The pipeline's own file of an audience that became empty is emptied, not left stale.
    assert (data / "exports" / "nobody.plain.csv").read_text().count("\n") == 1


def _config_error(tmp_path, audiences) -> str:
    (tmp_path / "segments.json").write_text(
        audiences if isinstance(audiences, str) else json.dumps(audiences)
    )
    with pytest.raises(SegmentConfigError) as caught:
        configured_segments(tmp_path, {})
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(tmp_path / "segments.json"))
    return message


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ({"name": "x", "spnd": {}}, "audience 'x': key 'spnd': unknown key; did you mean 'spend'?"),
        ({"name": "x", "spend": {"min": 500}}, "audience 'x': key 'spend.currency': missing"),
        ({"name": "x", "spend": {"currency": "eur", "min": 5}}, 'key \'spend.currency\': \'eur\' is not a currency; use an ISO-4217 code such as "EUR"'),
        ({"name": "x", "spend": {"currency": "EUR", "min": "lots"}}, "key 'spend.min': 'lots' is not an amount >= 0"),
        ({"name": "x", "spend": {"currency": "EUR"}}, "key 'spend.min': spend needs min or max"),
        ({"name": "x", "events": {"min": 5, "max": 2}}, "key 'events.min': 5 is above max 2; make min <= max"),
        ({"name": "x", "events": {"min": 2.5}}, "key 'events.min': 2.5 is not a whole number >= 0"),
        ({"name": "x", "events": {"min": 1, "days": 0}}, "key 'events.days': 0 is not a number of days >= 1"),
        ({"name": "x", "recency": {"min": 180}}, "key 'recency.min': unknown key; use {\"min_days\": 180"),
        ({"name": "x", "rfm": {"segments": ["champs"]}}, "key 'rfm.segments': 'champs' is not an RFM segment; use one of: champions, loyal"),
        ({"name": "x", "tags": ["a"], "layout": "tiktok"}, "key 'layout': 'tiktok' is not one of contacts, google, meta"),
        ({"name": "x", "tags": ["a"], "layout": "google", "format": "parquet"}, "key 'format': the google layout is uploaded as CSV"),
        ({"name": "x", "tags": ["a"], "layout": "meta", "hash_emails": True}, "key 'hash_emails': the meta layout always hashes"),
        ({"name": "x", "tags": ["a"], "allow_empty": "yes"}, "key 'allow_empty': 'yes' is not true or false"),
        ({"name": "x"}, "audience 'x': key 'tags': the audience has no criterion"),
        ({"recency": {"min_days": 1}}, "audience #1: key 'name': missing"),
        ({"tags": []}, "audience #1: key 'tags': not a non-empty list"),
    ],
)  # fmt: skip
def test_a_bad_definition_is_one_line_naming_audience_key_and_fix(tmp_path, audience, expected):
    assert expected in _config_error(tmp_path, [audience])


def test_file_level_problems_are_named(tmp_path):
    assert "not valid JSON" in _config_error(tmp_path, "[{")
    assert "key 'name' given twice" in _config_error(tmp_path, '[{"name": "a", "name": "b"}]')
    twins = [{"name": "a", "tags": ["x"]}, {"name": "a", "events": {"min": 1}}]
    assert "writes the same file as audience 'a'" in _config_error(tmp_path, twins)


def test_a_bad_segments_file_exits_3_from_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CUSTOMER_SYNC_SEGMENTS", raising=False)
    (tmp_path / "segments.json").write_text(json.dumps([{"name": "x", "spend": {"min": 1}}]))
    for args in (["export", "--audience", "x"], ["list"]):
        done = CliRunner().invoke(segments_cli, args)
        assert done.exit_code == 3
        (line,) = done.output.strip().splitlines()
        assert "audience 'x': key 'spend.currency'" in line


def test_the_shipped_sample_audiences_are_valid():
    from pipelines.demo import SAMPLE_AUDIENCES

    shipped = configured_segments(SAMPLE_AUDIENCES.parent, {})
    assert [s.label for s in shipped] == [
        "champions-eur",
        "big-spenders-eur",
        "regulars",
        "lapsed-180",
        "vip-newsletter",
    ]
    assert {s.layout for s in shipped} == {"contacts", "google", "meta"}


def test_rfm_segment_names_come_from_customer_rfm_sql():
    assert RFM_SEGMENTS == (
        "champions",
        "loyal",
        "potential loyalists",
        "new customers",
        "need attention",
        "at risk",
        "hibernating",
    )


def test_deleted_customers_leave_one_off_platform_files(tmp_path):
    commit_run(tmp_path, "customers", RUN1, customers=[
        customer("d1", "2025-01-01", tags=["t"], primary_email="Gone.Person@gmail.com"),
        customer("d2", "2025-01-01", tags=["t"], primary_email=None, phone="+49 30 1234567"),
        customer("d3", "2025-01-01", tags=["t"], primary_email="stays@example.com"),
    ])  # fmt: skip
    db = tmp_path / "warehouse.duckdb"
    load(Lake(tmp_path), db)
    exports = tmp_path / "exports"
    files = [
        export(analyst_path(db), Segment(tags=("t",), layout=layout), exports_dir=exports)[0]
        for layout in ("google", "meta")
    ]
    assert [len(_csv(f)[1]) for f in files] == [3, 3]
    commit_run(tmp_path, "customers", RUN2, deletions=[{"id": "d1"}, {"id": "d2"}])
    load(Lake(tmp_path), db)
    removed = drop_deleted(analyst_path(db), exports)
    assert removed == {files[0]: 2, files[1]: 2}
    (google,) = _csv(files[0])[1]
    assert google["Email"] == layouts.sha256("stays@example.com")
    (meta,) = _csv(files[1])[1]
    assert meta["email"] == layouts.sha256("stays@example.com")


def test_a_bad_definition_is_a_configuration_problem_of_the_pipeline(tmp_path):
    from pipelines.preflight import problems

    (tmp_path / "segments.json").write_text(json.dumps([{"name": "x", "events": {"min": -1}}]))
    found = problems(pipeline=True, env={"CUSTOMER_SYNC_DATA_DIR": str(tmp_path)})
    assert found == [
        f"{tmp_path / 'segments.json'}: audience 'x': key 'events.min': -1 is not a whole "
        "number >= 0; use a number such as 3"
    ]
