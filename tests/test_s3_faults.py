"""deltalake on a misbehaving S3 (tests/faultproxy.py in front of moto): throttling is retried
through, an outage fails in bounded time and leaves the table at its last version, a lost
commit reply costs an extra commit but no duplicate rows."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from tests.faultproxy import FaultyLake, lose_commit_reply, outage, slow_down_every

# Test-only retry knobs (delta-rs / object_store storage options); production keeps the
# defaults (180 s). `timeout` bounds one request, `retry_timeout` all retries of it.
FAST_RETRIES = {"max_retries": "10", "retry_timeout": "30s", "backoff_config.init_backoff": "50ms"}
FEW_RETRIES = {
    "max_retries": "2",
    "retry_timeout": "3s",
    "backoff_config.init_backoff": "10ms",
    "backoff_config.max_backoff": "100ms",
    "timeout": "10s",
}


def batch(start: int) -> pa.Table:
    ids = list(range(start, start + 100))
    return pa.table({"id": ids, "email": [f"c{i}@example.org" for i in ids]})


def test_a_faithful_proxy_passes_everything(s3_faulty_lake: FaultyLake) -> None:
    uri = f"{s3_faulty_lake.url}/t"
    write_deltalake(uri, batch(0))

    # history() holds the GIL during its S3 calls: this also proves the proxy does not live
    # in this process (an in-process proxy thread hangs it).
    assert [h["operation"] for h in DeltaTable(uri).history()] == ["WRITE"]
    assert s3_faulty_lake.proxy.stats().requests > 0
    assert s3_faulty_lake.proxy.faults == 0


@pytest.mark.timeout(120)
def test_every_third_request_throttled_still_ends_exact(s3_faulty_lake: FaultyLake) -> None:
    uri = f"{s3_faulty_lake.url}/t"
    s3_faulty_lake.proxy.use(slow_down_every(3))

    for i in range(5):
        write_deltalake(uri, batch(i * 100), mode="append", storage_options=FAST_RETRIES)
    table = DeltaTable(uri, storage_options=FAST_RETRIES)
    rows = table.to_pyarrow_table()
    table.optimize.compact()
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    history = DeltaTable(uri, storage_options=FAST_RETRIES).history()

    stats = s3_faulty_lake.proxy.stats()
    assert stats.by_rule.get("slow_down_every", 0) > 0
    assert rows.sort_by("id").column("id").to_pylist() == list(range(500))
    s3_faulty_lake.proxy.use()
    after = DeltaTable(uri)
    assert after.to_pyarrow_table().sort_by("id").column("id").to_pylist() == list(range(500))
    assert [h["operation"] for h in history][:2] == ["VACUUM END", "VACUUM START"]
    assert "OPTIMIZE" in [h["operation"] for h in history]
    assert len(after.file_uris()) == 1


@pytest.mark.timeout(60)
def test_an_outage_fails_the_write_and_keeps_the_last_version(
    s3_faulty_lake: FaultyLake,
) -> None:
    uri = f"{s3_faulty_lake.url}/t"
    write_deltalake(uri, batch(0))
    s3_faulty_lake.proxy.use(outage())

    with pytest.raises(OSError, match="S3"):
        write_deltalake(uri, batch(100), mode="append", storage_options=FEW_RETRIES)

    assert s3_faulty_lake.proxy.stats().by_rule["outage"] > 0
    s3_faulty_lake.proxy.use()
    table = DeltaTable(uri)
    assert table.version() == 0
    assert table.to_pyarrow_table().sort_by("id").column("id").to_pylist() == list(range(100))


def test_a_lost_commit_reply_costs_a_commit_not_rows(s3_faulty_lake: FaultyLake) -> None:
    uri = f"{s3_faulty_lake.url}/t"
    write_deltalake(uri, batch(0))
    s3_faulty_lake.proxy.use(lose_commit_reply())

    write_deltalake(uri, batch(100), mode="append", storage_options=FAST_RETRIES)

    assert s3_faulty_lake.proxy.stats().by_rule == {"lose_commit_reply": 1}
    s3_faulty_lake.proxy.use()
    # The reply of version 1 was lost: delta-rs either commits the same files again as 2 (seen
    # on a quiet machine) or finds its own commit (seen under load); never twice the rows.
    table = DeltaTable(uri)
    assert table.version() in (1, 2)
    assert table.to_pyarrow_table().sort_by("id").column("id").to_pylist() == list(range(200))
