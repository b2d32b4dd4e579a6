"""A real S3 endpoint for tests: moto's server on 127.0.0.1 in its own process
(`bench.s3server`), one per pytest worker, and a fresh bucket per test (`s3_lake`) with the
environment a run reads."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.clirun import ROOT

REGION = "us-east-1"
ACCESS_KEY_ID = "testing-key-id"
# Distinct from the key id and from any word the project writes, so a secret scan that finds it
# found the secret and nothing else.
SECRET_ACCESS_KEY = "s3-test-secret-9f8e7d6c5b4a"


class S3Server:
    """moto's S3 server in a child process on 127.0.0.1, on a port the OS picks."""

    def __init__(self) -> None:
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> S3Server:
        self._proc = proc = subprocess.Popen(
            [sys.executable, "-m", "bench.s3server"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"moto's server did not start (it printed {line!r})")
        self.url = f"http://127.0.0.1:{int(line)}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"moto's server at {self.url} did not answer") from None
                time.sleep(0.05)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def client(self, endpoint: str | None = None) -> Any:
        """A boto3 S3 client for this server (or for `endpoint`, e.g. a proxy in front of it)."""
        return boto3.client(
            "s3",
            endpoint_url=endpoint or self.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )


@dataclass
class S3Lake:
    """One test's bucket: the lake URL and the environment a run needs to reach it."""

    bucket: str
    url: str
    endpoint: str
    client: Any = field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        """The variables that point a process at this lake, for `clirun.clean_env(**lake.env)`."""
        return {
            "CUSTOMER_SYNC_LAKE_URL": self.url,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    def listing(self) -> list[str]:
        """Every object key in the bucket, sorted."""
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def objects(self) -> list[tuple[str, bytes]]:
        """Every object in the bucket as (key, bytes), sorted by key."""
        return [
            (key, self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
            for key in self.listing()
        ]

    def strings(self) -> list[str]:
        """Every readable string in the bucket, for secret scans: each object's raw bytes as
        text, plus every string cell and metadata value of a Parquet object (decoded, so
        compressed pages count) and every string of a JSON one (escapes decoded)."""
        return [text for key, body in self.objects() for text in readable(key, body)]

    def holding(self, needle: str) -> list[str]:
        """The keys of the objects whose readable strings contain `needle`."""
        return [
            key for key, body in self.objects() if any(needle in s for s in readable(key, body))
        ]


def readable(key: str, body: bytes) -> list[str]:
    """The readable strings of one object (see `S3Lake.strings`)."""
    texts = [body.decode("utf-8", errors="replace")]
    if body[:4] == b"PAR1":
        texts.extend(parquet_strings(body))
    elif key.endswith((".json", ".crc", "_last_checkpoint")):
        texts.extend(json_strings(body))
    return texts


def parquet_strings(body: bytes) -> list[str]:
    """Every string and binary cell of a Parquet file (nested lists, structs and maps
    flattened) and its key-value metadata; [] when it is no readable Parquet file."""
    try:
        table = pq.read_table(BytesIO(body))
    except (pa.ArrowException, OSError):
        return []
    found = [
        value.decode("utf-8", errors="replace")
        for pair in (table.schema.metadata or {}).items()
        for value in pair
    ]
    for column in table.columns:
        for chunk in column.chunks:
            found.extend(_array_strings(chunk))
    return found


def _array_strings(array: pa.Array) -> list[str]:
    kind = array.type
    if pa.types.is_dictionary(kind):
        return _array_strings(array.dictionary)  # type: ignore[attr-defined]
    if pa.types.is_struct(kind):
        return [
            s
            for i in range(kind.num_fields)
            for s in _array_strings(array.field(i))  # type: ignore[attr-defined]
        ]
    if pa.types.is_map(kind):
        return _array_strings(array.keys) + _array_strings(array.items)  # type: ignore[attr-defined]
    if (
        pa.types.is_list(kind)
        or pa.types.is_large_list(kind)
        or pa.types.is_fixed_size_list(kind)
        or pa.types.is_list_view(kind)
        or pa.types.is_large_list_view(kind)
    ):
        return _array_strings(array.flatten())  # type: ignore[attr-defined]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return [v for v in array.to_pylist() if v is not None]
    if (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_binary_view(kind)
        or pa.types.is_fixed_size_binary(kind)
    ):
        return [v.decode("utf-8", errors="replace") for v in array.to_pylist() if v is not None]
    return []


def json_strings(body: bytes) -> list[str]:
    """Every key and string value of a JSON document or of JSON lines (a Delta log entry),
    with escapes decoded and JSON held in strings (a log entry's `stats`) parsed in turn."""
    found: list[str] = []
    text = body.decode("utf-8", errors="replace")
    for line in [text, *text.splitlines()]:
        try:
            _collect(json.loads(line), found)
        except ValueError:
            continue
    return found


def _collect(value: object, found: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            found.append(str(key))
            _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)
    elif isinstance(value, str):
        found.append(value)
        if value[:1] in ("{", "["):
            with contextlib.suppress(ValueError):
                _collect(json.loads(value), found)


def new_bucket(server: S3Server, endpoint: str | None = None) -> S3Lake:
    """A fresh bucket on `server` (names are 3-63 lowercase characters, unique per call)."""
    bucket = f"lake-{uuid.uuid4().hex[:16]}"
    client = server.client()
    client.create_bucket(Bucket=bucket)
    return S3Lake(
        bucket=bucket, url=f"s3://{bucket}/lake", endpoint=endpoint or server.url, client=client
    )


def point_at(lake: S3Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set this process's environment to reach `lake` (undone at the test's end)."""
    for name, value in lake.env.items():
        monkeypatch.setenv(name, value)
    # A stray profile or session token on the machine must not reach moto.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server in a child process, one per pytest worker."""
    server = S3Server().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_lake(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Lake:
    """A fresh bucket; CUSTOMER_SYNC_LAKE_URL=s3://<bucket>/lake and the AWS_* variables set."""
    lake = new_bucket(s3_server)
    point_at(lake, monkeypatch)
    return lake
