"""The test S3 server (tests/s3.py) speaks the protocol the lake needs: deltalake reaches it
from the environment alone, conditional PUT holds, and the secret scan reads inside files."""

from __future__ import annotations

import random
import string
from io import BytesIO

import obstore
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from obstore.exceptions import AlreadyExistsError
from obstore.store import from_url

from tests.s3 import S3Lake


def test_deltalake_round_trip_from_the_environment_alone(s3_lake: S3Lake) -> None:
    table = pa.table({"id": [1, 2, 3], "email": ["a@x.org", "b@x.org", None]})
    uri = f"{s3_lake.url}/t"

    write_deltalake(uri, table)
    write_deltalake(uri, table, mode="append")

    assert DeltaTable(uri).version() == 1
    assert DeltaTable(uri).to_pyarrow_table().sort_by("id") == pa.concat_tables(
        [table, table]
    ).sort_by("id")
    keys = s3_lake.listing()
    assert "lake/t/_delta_log/00000000000000000000.json" in keys
    assert "lake/t/_delta_log/00000000000000000001.json" in keys
    assert sum(k.endswith(".parquet") for k in keys) == 2
    assert {key for key, _ in s3_lake.objects()} == set(keys)


def test_each_test_gets_its_own_empty_bucket(s3_lake: S3Lake) -> None:
    assert s3_lake.url == f"s3://{s3_lake.bucket}/lake"
    assert s3_lake.listing() == []


def test_strings_reads_inside_compressed_parquet_pages(s3_lake: S3Lake) -> None:
    planted = "planted-needle-4711"
    rng = random.Random(13)
    words = ["".join(rng.choices(string.ascii_lowercase, k=12)) for _ in range(2000)]
    words[1234] = f"note {planted} end"
    table = pa.table(
        {
            "note": words,
            "tags": [[w[:3], w[3:6]] for w in words],
            "address": [{"street": w, "zip": i} for i, w in enumerate(words)],
        }
    )
    buffer = BytesIO()
    # No statistics: a min/max in the footer would hold cells in clear text.
    pq.write_table(table, buffer, compression="zstd", use_dictionary=False, write_statistics=False)
    s3_lake.client.put_object(Bucket=s3_lake.bucket, Key="lake/x.parquet", Body=buffer.getvalue())
    s3_lake.client.put_object(
        Bucket=s3_lake.bucket,
        Key="lake/t/_delta_log/00000000000000000000.json",
        Body=b'{"commitInfo":{"note":"escaped-\\u0073ecret"}}\n',
    )

    [(_, parquet), (_, log)] = sorted(s3_lake.objects(), key=lambda o: o[0].endswith(".json"))
    assert planted.encode() not in parquet
    assert b"escaped-secret" not in log
    found = s3_lake.strings()
    assert any(planted in s for s in found)
    assert any("escaped-secret" in s for s in found)
    assert any(words[7][3:6] == s for s in found)  # a list element, not just a column's text
    assert s3_lake.holding(planted) == ["lake/x.parquet"]
    assert s3_lake.holding("never-written") == []


def test_conditional_put_refuses_a_second_create(s3_lake: S3Lake) -> None:
    store = from_url(s3_lake.url)

    first = obstore.put(store, "w/file", b"one", mode="create")
    with pytest.raises(AlreadyExistsError):
        obstore.put(store, "w/file", b"two", mode="create")

    assert first["e_tag"]
    assert bytes(obstore.get(store, "w/file").bytes()) == b"one"
