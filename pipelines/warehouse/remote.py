"""The DuckDB files (warehouse.duckdb, analytics.duckdb) kept in the lake's bucket, so a run in a
fresh container starts from the last published warehouse and one writer at a time wins (and,
uploaded whatever the bucket holds, the quality gate's files: `pipelines.quality.stored`).

With an `s3://` lake (`Lake.root`, from CUSTOMER_SYNC_LAKE_URL) a file named `name` lives at
`<lake url>/_warehouse/<name>`. A run `fetch`es it at its start, keeping the ETag, and
`publish`es it at its end with a conditional PUT: `If-None-Match: *` for the first upload,
`If-Match: <etag>` after that. When another run published in between, the PUT fails and this
run's load is not published (`WarehouseConflict`): the remote file is never overwritten with a
warehouse that misses the other run's load. With a local lake the file stays under the data dir
and every function here is a no-op.

Endpoint, region and credentials come from the standard AWS_* variables, read by obstore itself
(AWS_ENDPOINT_URL, AWS_ALLOW_HTTP, AWS_ACCESS_KEY_ID, ...), as delta-rs reads them for the lake.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

import obstore
from obstore.exceptions import AlreadyExistsError, BaseError, PreconditionError
from obstore.store import S3Store

from pipelines import settings
from pipelines.sync.state import temp_file

if TYPE_CHECKING:
    from obstore import GetResult, PutMode
    from obstore.store import ClientConfig

log = logging.getLogger(__name__)

FOLDER = "_warehouse"
# User metadata naming the publish that wrote an object: when a PUT's reply is lost and its
# retry meets the object it wrote itself (412), this tells that apart from another run's.
_PUBLISH_ID = "customer-sync-publish"
# The whole request (body included) must end within obstore's `timeout` (30 s by default),
# which a large file on a slow link would miss: allow 1 MiB/s plus a minute, and catch a
# stalled transfer with the per-read timeout instead.
_BASE_TIMEOUT_S = 60
_READ_TIMEOUT = "30s"
_STATUS = re.compile(r"\b([1-5]\d\d [A-Z][A-Za-z ]+?)(?::|$)")
_S3_CODE = re.compile(r"<Code>([A-Za-z0-9.]+)</Code>")


class WarehouseRemoteError(Exception):
    """The warehouse file in the bucket could not be read or written; the message is one line."""


class WarehouseConflict(WarehouseRemoteError):
    """Another run published the warehouse file after this run fetched it."""


def location(name: str, lake: str | None = None) -> str | None:
    """The URL of warehouse file `name` in the lake's bucket (`lake` default
    CUSTOMER_SYNC_LAKE_URL's); None when the lake is on local disk."""
    lake = settings.lake_url(settings.data_dir()) if lake is None else lake
    if not lake.startswith("s3://"):
        return None
    return f"{lake.rstrip('/')}/{FOLDER}/{name}"


def _store(url: str, size: int) -> tuple[S3Store, str]:
    folder, _, name = url.rpartition("/")
    timeout = _BASE_TIMEOUT_S + size // 2**20
    # Options set as AWS_* variables win over ours (passing any drops obstore's own reading).
    options = {
        "timeout": f"{timeout}s",
        "read_timeout": _READ_TIMEOUT,
        **settings.s3_client_options(),
    }
    try:
        store = S3Store.from_url(folder, client_options=cast("ClientConfig", options))
    except (BaseError, ValueError) as exc:
        raise _failed("reach", url, exc) from None
    return store, name


def _reason(exc: BaseException) -> str:
    """The cause of an obstore error in a few words: the HTTP status and S3's error code.
    obstore's own text runs over many lines and carries the response body."""
    text = str(exc)
    if "builder error" in text:
        # reqwest refuses a plain-http endpoint before sending anything.
        return "an http:// endpoint needs AWS_ALLOW_HTTP=true"
    parts = [m.group(1) for m in (_STATUS.search(text), _S3_CODE.search(text)) if m]
    return " ".join(parts) or type(exc).__name__


def _failed(action: str, url: str, exc: BaseException) -> WarehouseRemoteError:
    return WarehouseRemoteError(
        f"could not {action} {url} ({_reason(exc)}): check AWS_ENDPOINT_URL, the AWS "
        "credentials and that the bucket exists, then run again"
    )


def fetch(
    name: str, local: Path, *, lake: str | None = None, have: str | None = None
) -> str | None:
    """Download warehouse file `name` to `local` (atomically, replacing it and any DuckDB WAL
    beside it) and return its ETag; None when it is not in the bucket yet (`local` is then left
    as it is) or the lake is local. When the bucket's ETag is `have` (the version `local`
    already is), nothing is downloaded."""
    url = location(name, lake)
    if url is None:
        return None
    store, key = _store(url, 0)
    try:
        head = obstore.head(store, key)
        if have is not None and head["e_tag"] == have:
            log.info("%s unchanged since this disk fetched it (ETag %s)", url, have)
            return have
        size = head["size"]
        store, key = _store(url, size)
        result = obstore.get(store, key)
    except FileNotFoundError:
        # A HEAD answers 404 for a missing bucket too: a typo in the URL must not pass for a
        # first run (which would fail only at the end, at `publish`).
        _check_bucket(store, url)
        log.info("%s is not in the bucket yet", url)
        return None
    except (BaseError, OSError) as exc:
        raise _failed("fetch", url, exc) from None
    etag = result.meta["e_tag"]
    if not etag:
        raise WarehouseRemoteError(
            f"{url} came without an ETag: the S3 store must support conditional writes "
            "(ETags and If-Match); use AWS S3, MinIO, R2 or Ceph"
        )
    local.parent.mkdir(parents=True, exist_ok=True)
    # pid-tagged: the next fetch or write of `local` deletes what a killed one left (a copy of
    # the warehouse, people included, that no layer of an erasure reads).
    fd, tmp = temp_file(local)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in _chunks(result, url):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        # A WAL left by a crashed run belongs to the old file: DuckDB would replay it onto
        # the fetched one.
        _wal(local).unlink(missing_ok=True)
        os.replace(tmp, local)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(local.parent)
    log.info("fetched %s (%d bytes, ETag %s)", url, size, etag)
    return etag


def publish(name: str, local: Path, etag: str | None, *, lake: str | None = None) -> str | None:
    """Upload `local` as warehouse file `name`, only if the bucket still holds the version
    fetched (`etag`; None: only if it holds none), and return the new ETag; None when the lake
    is local. `WarehouseConflict` when another run published first."""
    url = location(name, lake)
    if url is None:
        return None
    if _wal(local).exists():
        raise WarehouseRemoteError(
            f"{local} has un-checkpointed changes in {_wal(local).name}: close its DuckDB "
            "connection before publishing it"
        )
    size = local.stat().st_size
    mode: PutMode = "create" if etag is None else {"e_tag": etag}
    publish_id = uuid.uuid4().hex
    # A conditional PUT is one request (obstore does no multipart upload with a mode): the file
    # is read whole, which S3 allows up to 5 GB.
    store, key = _store(url, size)
    try:
        new = obstore.put(store, key, local, mode=mode, attributes={_PUBLISH_ID: publish_id})[
            "e_tag"
        ]
    except (PreconditionError, AlreadyExistsError) as exc:
        new = _written_by(store, key, publish_id)
        if new is None:
            raise _conflict(url, exc) from None
        log.info("%s: the reply to this run's upload was lost; the upload had landed", url)
    except (BaseError, OSError) as exc:
        raise _failed("publish", url, exc) from None
    if not new:
        raise WarehouseRemoteError(
            f"{url} was stored but the S3 store returned no ETag: it must support conditional "
            "writes (ETags and If-Match); use AWS S3, MinIO, R2 or Ceph"
        )
    log.info("published %s (%d bytes, ETag %s)", url, size, new)
    return new


def replace(name: str, local: Path | bytes, *, lake: str | None = None) -> None:
    """Upload `local` (a file, or its bytes) as file `name` whatever the bucket holds: the
    analyst copy, derived from the warehouse file its publisher has just won with `publish`.
    A no-op for a local lake."""
    url = location(name, lake)
    if url is None:
        return
    store, key = _store(url, len(local) if isinstance(local, bytes) else local.stat().st_size)
    try:
        obstore.put(store, key, local, mode="overwrite")
    except (BaseError, OSError) as exc:
        raise _failed("publish", url, exc) from None


def remove(name: str, *, lake: str | None = None) -> None:
    """Delete file `name` from the bucket (absent is fine). A no-op for a local lake."""
    url = location(name, lake)
    if url is None:
        return
    store, key = _store(url, 0)
    try:
        obstore.delete(store, key)
    except FileNotFoundError:
        return
    except (BaseError, OSError) as exc:
        raise _failed("delete", url, exc) from None


def _chunks(result: GetResult, url: str) -> Iterator[bytes]:
    """The body in chunks of 8 MiB or more, a transfer error as one line (a local disk error
    stays the OSError it is)."""
    stream = iter(result.stream(min_chunk_size=8 * 2**20))
    while True:
        try:
            chunk = next(stream)
        except StopIteration:
            return
        except (BaseError, OSError) as exc:
            raise _failed("fetch", url, exc) from None
        yield chunk


def _check_bucket(store: S3Store, url: str) -> None:
    try:
        next(iter(obstore.list(store, chunk_size=1)), None)
    except (BaseError, OSError) as exc:
        raise _failed("fetch", url, exc) from None


def _written_by(store: S3Store, key: str, publish_id: str) -> str | None:
    """The object's ETag when the publish `publish_id` wrote it, else None."""
    try:
        current = obstore.get(store, key, options={"head": True})
    except (BaseError, OSError):
        return None
    if current.attributes.get(_PUBLISH_ID) != publish_id:
        return None
    return current.meta["e_tag"]


def _conflict(url: str, exc: BaseException) -> WarehouseConflict:
    if isinstance(exc, AlreadyExistsError):
        return WarehouseConflict(
            f"another run published {url} first (it was absent when this run fetched it); "
            "this run's load is not published: run it again"
        )
    return WarehouseConflict(
        f"another run updated {url} since this run fetched it (ETag changed); this run's load "
        "is not published: run it again"
    )


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
