"""Sync state (high-water marks and checkpoints), and durable writes of local files.

The state travels in the lake's commits (`pipelines.sync.lake`); the local files (reports,
exports, push logs) are replaced atomically: temp file, fsync, rename, fsync of the folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

RUN_HISTORY = 50


class LakeCorrupt(Exception):
    """A lake table or the sync state it carries cannot be used as it is."""


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_gone(name: str, prefix: str) -> bool:
    """Whether `name`, `<prefix><pid>.<anything>`, was made by a process that is gone."""
    pid = name.removeprefix(prefix).split(".")[0]
    return name.startswith(prefix) and pid.isdigit() and not pid_alive(int(pid))


def temp_file(path: Path) -> tuple[int, str]:
    """A new temp file beside `path`, named `.<name>.<pid>.<random>.tmp`, after deleting those of
    earlier writers that were killed (their process is gone) before they could rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp*"):
        if owner_gone(stale.name, f".{path.name}."):
            stale.unlink(missing_ok=True)
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")


@contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Write `path` through a temp file, fsync and rename: readers (and a kill -9) see the old
    file or the new one, never a mix."""
    fd, tmp = temp_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically (see `atomic_write`)."""
    with atomic_write(path) as f:
        f.write(data)


@dataclass
class RunInProgress:
    """A run that has started and not yet committed its high-water mark."""

    run_id: str
    lower_ms: int
    upper_ms: int
    full: bool
    done: list[list[int]] = field(default_factory=list)
    # Checkpoint commits that added rows.
    parts: int = 0
    records: int = 0
    quarantined: int = 0
    # Top-level API fields met that the declaration does not model (kept in `api_extra`).
    unmodeled: list[str] = field(default_factory=list)

    def remaining(self) -> list[tuple[int, int]]:
        """[lower, upper) minus the checkpointed windows, as sorted half-open ranges."""
        gaps = []
        cursor = self.lower_ms
        for lo, hi in sorted(self.done):
            if lo > cursor:
                gaps.append((cursor, lo))
            cursor = max(cursor, hi)
        if cursor < self.upper_ms:
            gaps.append((cursor, self.upper_ms))
        return gaps


@dataclass
class ResourceState:
    """Everything the sync remembers about one resource: stored as the metadata of each commit
    to the resource's `changes` table (`pipelines.sync.lake`), so it moves with the data."""

    resource: str
    high_water_mark_ms: int | None = None
    in_progress: RunInProgress | None = None
    # Committed runs whose changes are not yet merged into the snapshot.
    pending_compaction: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    # Every undeclared API field a committed run met: a field not in it yet is reported as new.
    unmodeled_fields: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        self.runs = self.runs[-RUN_HISTORY:]
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, resource: str, where: str) -> ResourceState:
        """The state stored as `text`; LakeCorrupt (naming `where` and the fix) if unusable."""
        try:
            state = _typed(json.loads(text), cls, "state")
            if state.resource != resource:
                raise ValueError(f"it holds the state of {state.resource!r}")
        except ValueError as exc:
            raise LakeCorrupt(
                f"the sync state in {where} is unreadable ({exc}): run `customer-sync sync "
                f"--full --resource {resource}` (the data stays)"
            ) from None
        return state


def _typed(value: Any, hint: Any, where: str) -> Any:
    """`value` (parsed JSON) as `hint` (the dataclasses above and their field types), or
    ValueError naming the first field of the wrong type."""
    if hint is Any:
        return value
    options = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in options:
            return None
        (hint,) = [o for o in options if o is not type(None)]
        return _typed(value, hint, where)
    origin = typing.get_origin(hint) or hint
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ValueError(f"{where} is {type(value).__name__}, not an object")
        hints = typing.get_type_hints(hint)
        unknown = sorted(set(value) - set(hints))
        if unknown:
            raise ValueError(f"{where} has unknown field {unknown[0]!r}")
        try:
            return hint(**{k: _typed(v, hints[k], f"{where}.{k}") for k, v in value.items()})
        except TypeError as exc:  # a required field missing
            raise ValueError(f"{where}: {exc}") from None
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where} is {type(value).__name__}, not a list")
        return [_typed(v, options[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where} is {type(value).__name__}, not an object")
        return {k: _typed(v, options[1], f"{where}.{k}") for k, v in value.items()}
    # bool is an int to Python, never to this file.
    if not isinstance(value, origin) or (origin is int and isinstance(value, bool)):
        raise ValueError(f"{where} is {type(value).__name__}, not {origin.__name__}")
    return value


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write `table` to the local file `path` via a temporary file, fsync and rename."""
    with atomic_write(path) as f:
        pq.write_table(table, f, compression="zstd")
