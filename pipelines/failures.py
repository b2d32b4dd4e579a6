"""One line for a failure: its root cause and the fix, found in the whole exception chain.

A run's failure reaches the CLI wrapped (Dagster's `DagsterExecutionStepExecutionError`, our
`SyncFailed`, ...); the useful part is usually the innermost exception: a full disk, a read-only
directory, a DuckDB file another process holds, a corrupt JSON file. `explain` walks the chain,
given as Dagster's `SerializableErrorInfo` or built from a live exception with `error_info`
(no Dagster import here), and names that cause with what to do about it.
"""

from __future__ import annotations

import errno
import re
import shutil
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

DATA_DIR_HINT = "point CUSTOMER_SYNC_DATA_DIR at a writable directory"


class ErrorInfo(Protocol):
    """What Dagster's SerializableErrorInfo holds: `message` is `module.Class: text`."""

    @property
    def message(self) -> str: ...
    @property
    def stack(self) -> Sequence[str]: ...
    @property
    def cls_name(self) -> str | None: ...
    @property
    def cause(self) -> ErrorInfo | None: ...
    @property
    def context(self) -> ErrorInfo | None: ...


@dataclass(frozen=True)
class _Info:
    message: str
    stack: Sequence[str]
    cls_name: str | None
    cause: _Info | None
    context: _Info | None


def error_info(exc: BaseException) -> ErrorInfo:
    """The chain of a live exception, in the shape Dagster records for a failed step."""
    return _from_traceback(traceback.TracebackException.from_exception(exc))


def _from_traceback(tb: traceback.TracebackException) -> _Info:
    return _Info(
        message="".join(tb.format_exception_only()),
        stack=tb.stack.format(),
        cls_name=tb.exc_type.__name__ if tb.exc_type is not None else None,
        cause=_from_traceback(tb.__cause__) if tb.__cause__ else None,
        context=(
            _from_traceback(tb.__context__)
            if tb.__context__ and not tb.__suppress_context__
            else None
        ),
    )


def _chain(info: ErrorInfo) -> Iterator[ErrorInfo]:
    """Outermost first; an explicit cause before the exception it interrupted."""
    todo = [info]
    while todo:
        link = todo.pop(0)
        yield link
        todo[:0] = [x for x in (link.cause, link.context) if x is not None]


def _split(link: ErrorInfo) -> tuple[str, str]:
    """(`module.Class`, text) of a link's message, on one line."""
    first, _, rest = link.message.strip().partition(": ")
    if not rest or " " in first:
        return link.cls_name or "", " ".join(link.message.split())
    return first, " ".join(rest.split())


# Python's `[Errno 28]`, and Rust's `(os error 28)` in delta-rs and object_store messages.
_ERRNO = re.compile(r"\[Errno (\d+)\]|\(os error (\d+)\)", re.IGNORECASE)
_QUOTED_PATH = re.compile(r"""['"](/[^'"]*)['"]""")
_DUCKDB_LOCK = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)": Conflicting lock is held in '
    r"(?P<program>\S+) \(PID (?P<pid>\d+)\)"
)
# Errors of I/O libraries that carry the OS's words but not its errno (an HTTP 403 saying
# "Permission denied" is not about a file). DuckDB reports a commit whose WAL write failed as a
# TransactionException.
_IO_ERRORS = frozenset(
    {"OSError", "PermissionError", "IOException", "ArrowIOError", "TransactionException"}
)
_ERRNO_BY_TEXT = {
    "No space left on device": errno.ENOSPC,
    "Read-only file system": errno.EROFS,
    "Permission denied": errno.EACCES,
}


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _free_space(path: Path) -> str:
    for candidate in (path, *path.parents):
        try:
            usage = shutil.disk_usage(candidate)
        except OSError:
            continue
        return f"{_size(usage.free)} free of {_size(usage.total)}"
    return "free space unknown"


def _os_cause(cls_name: str | None, text: str, data_dir: Path) -> str | None:
    match = _ERRNO.search(text)
    code = int(match.group(1) or match.group(2)) if match else None
    if code is None and cls_name in _IO_ERRORS:
        code = next((c for t, c in _ERRNO_BY_TEXT.items() if t in text), None)
    quoted = _QUOTED_PATH.search(text)
    path = Path(quoted.group(1)) if quoted else data_dir
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"disk full at {path} ({_free_space(path)}): free space there or point "
            "CUSTOMER_SYNC_DATA_DIR at a larger disk, then rerun"
        )
    if code == errno.EROFS:
        return f"read-only file system at {path}: remount it read-write or {DATA_DIR_HINT}"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied at {path}: grant this user write access or {DATA_DIR_HINT}"
    return None


def _duckdb_lock(text: str) -> str | None:
    match = _DUCKDB_LOCK.search(text)
    if match is None:
        return None
    file = match["file"]
    return (
        f"{file} is open in another process (pid {match['pid']}, {match['program']}): close "
        "that connection and rerun; analysts should query analytics.duckdb, the analyst copy, "
        "which never blocks a sync"
    )


def _root_cause(link: ErrorInfo, data_dir: Path) -> str | None:
    _, text = _split(link)
    return _duckdb_lock(text) or _os_cause(link.cls_name, text, data_dir)


def _where(stack: Sequence[str]) -> str:
    """The innermost frame in this project's code, e.g. `pipelines/sync/state.py:127`."""
    frames = [re.search(r'File "([^"]+)", line (\d+)', frame) for frame in stack]
    found = [(m[1], m[2]) for m in frames if m]
    for file, line in reversed(found):
        ours = re.search(r"/((?:pipelines|assets)/.+)$", file)
        if ours:
            return f"{ours[1]}:{line}"
    return f"{found[-1][0]}:{found[-1][1]}" if found else "unknown code"


def explain(info: ErrorInfo, *, data_dir: Path, description: str | None = None) -> str:
    """One line: the root cause found in `info`'s chain and what to do about it.

    In order: a disk, permission or DuckDB-lock cause anywhere in the chain; else `description`
    (a `dagster.Failure`'s, written for people); else the outermost message of our own code's
    exceptions; else a JSON decode error with where it was read; else the innermost exception.
    """
    links = list(_chain(info))
    # Innermost first: the exception nearest the failing call names the exact path.
    for link in reversed(links):
        found = _root_cause(link, data_dir)
        if found:
            return found
    if description:
        return " ".join(description.split())
    for link in links:
        name, text = _split(link)
        if name.startswith(("pipelines.", "assets.")):
            return text
    for link in links:
        if link.cls_name == "JSONDecodeError":
            return (
                f"bad JSON read by {_where(link.stack)}: {_split(link)[1]}; repair or restore "
                "the file it reads"
            )
    innermost = links[-1]
    for link in links:
        if link.cause is None and link.context is None:
            innermost = link
            break
    name, text = _split(innermost)
    return f"{name.rsplit('.', 1)[-1]}: {text}" if name else text


def explain_exception(exc: BaseException, *, data_dir: Path) -> str | None:
    """`explain` for a live exception, if its chain holds a cause we recognize (disk,
    permissions, DuckDB lock, bad JSON); None for anything else (let it surface as it is)."""
    info = error_info(exc)
    links = list(_chain(info))
    if any(_root_cause(link, data_dir) for link in links) or any(
        link.cls_name == "JSONDecodeError" for link in links
    ):
        return explain(info, data_dir=data_dir)
    return None
