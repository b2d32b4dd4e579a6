"""The warehouse files in the lake's bucket (pipelines/warehouse/remote.py), on the real S3
protocol (moto on 127.0.0.1): one publisher per fetched version, the loser told in one line,
the remote file never overwritten by a stale copy, nothing remote with a local lake."""

from __future__ import annotations

import logging
import subprocess
import traceback
from pathlib import Path

import duckdb
import pytest

from pipelines import settings
from pipelines.warehouse import remote
from pipelines.warehouse.remote import WarehouseConflict, WarehouseRemoteError
from tests.faultproxy import FaultyLake, lose_put_reply
from tests.s3 import SECRET_ACCESS_KEY, S3Lake

NAME = "warehouse.duckdb"


def warehouse(path: Path, *rows: str) -> Path:
    """A closed DuckDB file holding table t with `rows`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE OR REPLACE TABLE t (v VARCHAR)")
        for row in rows:
            con.execute("INSERT INTO t VALUES (?)", [row])
    return path


def rows(path: Path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [r[0] for r in con.execute("SELECT v FROM t ORDER BY v").fetchall()]


def remote_bytes(lake: S3Lake) -> bytes:
    return dict(lake.objects())[f"lake/_warehouse/{NAME}"]


def test_first_publish_creates_and_fetch_returns_it(s3_lake: S3Lake, tmp_path: Path) -> None:
    local = warehouse(tmp_path / "a" / NAME, "one")
    assert remote.location(NAME) == f"{s3_lake.url}/_warehouse/{NAME}"

    etag = remote.publish(NAME, local, None)

    assert etag
    fetched = tmp_path / "b" / NAME
    assert remote.fetch(NAME, fetched) == etag
    assert fetched.read_bytes() == local.read_bytes() == remote_bytes(s3_lake)
    assert rows(fetched) == ["one"]
    assert list(fetched.parent.iterdir()) == [fetched]  # no temp file left behind


def test_fetch_of_an_absent_file_is_none_and_leaves_local_alone(
    s3_lake: S3Lake, tmp_path: Path
) -> None:
    local = tmp_path / NAME
    assert remote.fetch(NAME, local) is None
    assert not local.exists()
    assert s3_lake.listing() == []


def test_a_stale_etag_loses_and_leaves_the_winner_in_place(s3_lake: S3Lake, tmp_path: Path) -> None:
    first = remote.publish(NAME, warehouse(tmp_path / "seed" / NAME, "seed"), None)
    run_a, run_b = tmp_path / "a" / NAME, tmp_path / "b" / NAME
    etag_a = remote.fetch(NAME, run_a)
    etag_b = remote.fetch(NAME, run_b)
    assert etag_a == etag_b == first

    warehouse(run_b, "seed", "b")
    won = remote.publish(NAME, run_b, etag_b)
    warehouse(run_a, "seed", "a")
    with pytest.raises(WarehouseConflict) as lost:
        remote.publish(NAME, run_a, etag_a)

    message = str(lost.value)
    assert "\n" not in message
    assert message == (
        f"another run updated {s3_lake.url}/_warehouse/{NAME} since this run fetched it "
        "(ETag changed); this run's load is not published: run it again"
    )
    assert remote_bytes(s3_lake) == run_b.read_bytes()
    # Run A reruns: it fetches B's warehouse and publishes on top of it.
    assert remote.fetch(NAME, run_a) == won
    warehouse(run_a, "seed", "b", "a")
    again = remote.publish(NAME, run_a, won)
    assert again and again != won
    assert remote_bytes(s3_lake) == run_a.read_bytes()
    assert rows(run_a) == ["a", "b", "seed"]


def test_a_second_first_publish_loses(s3_lake: S3Lake, tmp_path: Path) -> None:
    remote.publish(NAME, warehouse(tmp_path / "a" / NAME, "a"), None)
    with pytest.raises(WarehouseConflict, match=r"another run published .* first"):
        remote.publish(NAME, warehouse(tmp_path / "b" / NAME, "b"), None)
    fetched = tmp_path / "c" / NAME
    remote.fetch(NAME, fetched)
    assert rows(fetched) == ["a"]


def test_a_lost_upload_reply_is_not_taken_for_a_conflict(
    s3_faulty_lake: FaultyLake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    local = warehouse(tmp_path / NAME, "one")
    etag = remote.publish(NAME, local, None)
    warehouse(local, "one", "two")
    s3_faulty_lake.proxy.use(lose_put_reply("/_warehouse/"))

    with caplog.at_level(logging.INFO, logger=remote.__name__):
        new = remote.publish(NAME, local, etag)

    # The PUT landed, its reply was lost, and its retry met its own upload (412).
    assert s3_faulty_lake.proxy.stats().by_rule == {"lose_put_reply": 1}
    assert "reply to this run's upload was lost" in caplog.text
    assert new and new != etag
    assert remote_bytes(s3_faulty_lake) == local.read_bytes()


def test_fetch_replaces_the_file_and_drops_a_stale_wal_and_a_killed_download(
    s3_lake: S3Lake, tmp_path: Path
) -> None:
    remote.publish(NAME, warehouse(tmp_path / "a" / NAME, "remote"), None)
    local = warehouse(tmp_path / "b" / NAME, "local", "rows")
    wal = local.with_name(NAME + ".wal")
    wal.write_bytes(b"a crashed run's log")

    # A fetch killed mid-download left a copy of the warehouse (people included) beside it.
    gone = subprocess.Popen(["true"])
    gone.wait()
    killed = local.with_name(f".{NAME}.{gone.pid}.abc123.tmp")
    killed.write_bytes(local.read_bytes())

    remote.fetch(NAME, local)

    assert not wal.exists() and not killed.exists()
    assert rows(local) == ["remote"]
    assert sorted(p.name for p in local.parent.iterdir()) == [NAME]


def test_publish_refuses_a_file_with_an_open_connection(s3_lake: S3Lake, tmp_path: Path) -> None:
    local = tmp_path / NAME
    con = duckdb.connect(str(local))
    try:
        con.execute("CREATE TABLE t AS SELECT 'x' AS v")
        assert local.with_name(NAME + ".wal").exists()
        with pytest.raises(WarehouseRemoteError, match="close its DuckDB connection"):
            remote.publish(NAME, local, None)
    finally:
        con.close()
    assert s3_lake.listing() == []


def test_a_local_lake_has_nothing_remote(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, s3_lake: S3Lake
) -> None:
    monkeypatch.setenv("CUSTOMER_SYNC_LAKE_URL", str(tmp_path / "lake"))
    local = warehouse(tmp_path / NAME, "one")
    before = local.read_bytes()

    assert remote.location(NAME) is None
    assert remote.publish(NAME, local, None) is None
    assert remote.fetch(NAME, local) is None

    assert local.read_bytes() == before
    assert s3_lake.listing() == []


def test_a_missing_bucket_fails_at_fetch_in_one_line(
    s3_lake: S3Lake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CUSTOMER_SYNC_LAKE_URL", "s3://no-such-bucket-here/lake")
    with pytest.raises(WarehouseRemoteError) as failed:
        remote.fetch(NAME, tmp_path / NAME)
    assert "\n" not in str(failed.value)
    assert "NoSuchBucket" in str(failed.value)
    assert "s3://no-such-bucket-here/lake/_warehouse/warehouse.duckdb" in str(failed.value)


def test_the_secret_key_never_reaches_a_message_or_a_log_line(
    s3_lake: S3Lake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: list[BaseException] = []
    with caplog.at_level(logging.DEBUG):
        local = warehouse(tmp_path / NAME, "one")
        etag = remote.publish(NAME, local, None)
        remote.fetch(NAME, tmp_path / "copy" / NAME)
        for stale in (None, '"0123456789abcdef0123456789abcdef"'):
            with pytest.raises(WarehouseConflict) as conflict:
                remote.publish(NAME, local, stale)
            failures.append(conflict.value)
        monkeypatch.setenv("CUSTOMER_SYNC_LAKE_URL", "s3://no-such-bucket-here/lake")
        for attempt in (
            lambda: remote.fetch(NAME, tmp_path / NAME),
            lambda: remote.publish(NAME, local, etag),
        ):
            with pytest.raises(WarehouseRemoteError) as failed:
                attempt()
            failures.append(failed.value)

    assert len(failures) == 4
    assert "published" in caplog.text  # the log was captured at all
    for exc in failures:
        shown = "".join(traceback.format_exception(exc))
        assert SECRET_ACCESS_KEY not in shown
        assert exc.__cause__ is None
    assert SECRET_ACCESS_KEY not in caplog.text
    assert all(SECRET_ACCESS_KEY not in r.getMessage() for r in caplog.records)


def test_the_aws_client_variables_reach_the_client(
    s3_lake: S3Lake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {"AWS_ALLOW_HTTP": "true", "AWS_TIMEOUT": " 5s ", "AWS_REGION": "eu-west-1"}
    assert settings.s3_client_options(env) == {"allow_http": "true", "timeout": "5s"}
    # The fixture's endpoint is plain http: without AWS_ALLOW_HTTP the client refuses it.
    monkeypatch.setenv("AWS_ALLOW_HTTP", "false")
    with pytest.raises(WarehouseRemoteError, match=r"could not publish .*AWS_ALLOW_HTTP=true"):
        remote.publish(NAME, warehouse(tmp_path / NAME, "one"), None)
    assert s3_lake.listing() == []


def test_a_disk_holding_the_published_version_downloads_nothing(
    s3_lake: S3Lake, tmp_path: Path
) -> None:
    from pipelines.warehouse.loader import fetch_remote, push_remote

    local = warehouse(tmp_path / "run" / NAME, "one")
    copy = warehouse(tmp_path / "run" / "analytics.duckdb", "one")
    fetch_remote(s3_lake.url, local)  # the bucket holds none yet: set aside
    warehouse(local, "one")
    push_remote(s3_lake.url, local, copy)
    inode = local.stat().st_ino

    fetch_remote(s3_lake.url, local)  # the same version, unchanged on this disk
    assert local.stat().st_ino == inode

    warehouse(local, "one", "changed here, not published")  # no longer the bucket's version
    fetch_remote(s3_lake.url, local)
    assert local.stat().st_ino != inode and rows(local) == ["one"]

    other = warehouse(tmp_path / "elsewhere" / NAME, "another run's")  # a newer version
    remote.publish(NAME, other, remote.fetch(NAME, tmp_path / "elsewhere" / "x.duckdb"))
    fetch_remote(s3_lake.url, local)
    assert rows(local) == ["another run's"]
