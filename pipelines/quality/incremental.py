"""Incremental validation: what the gate remembers, and which rows it must judge again.

An incremental sync changes a few records; validating the whole snapshot every time would make
the gate's cost follow the table size. So each snapshot suite is split in two:

- row-wise expectations (a row's verdict depends on the row alone: regex, sets, ranges, column
  pairs, lengths, not-null) and uniqueness run on the *rows to judge*: rows of runs not validated
  yet (the snapshot's `_run_id`; compaction gives a changed record, and its tag and link rows,
  the run id that brought it), every row of a currently rejected record (so a record whose
  reference arrived, or whose `updated_at` is no longer in the future, leaves quarantine), and
  candidates computed over the whole table with vectorized Arrow (rows whose key is duplicated,
  rows whose reference flag is false). Every row that can fail is among them, so GX's verdicts
  on them are the whole table's; the rows left out passed last time and still pass.
- expectations whose outcome is a proportion of the whole table (`mostly`) or a table aggregate
  run on the whole table, with only the columns they read (a reference flag is one boolean
  column: tens of milliseconds at a million rows).

`<data dir>/quality/<resource>/_state.json` remembers, per suite, the run ids it validated, and a hash
of the resource's suites: editing a suite (or a previous validation that failed a blocking
expectation, whose failing rows may have no record id to re-judge by) means a full pass.
Time-relative parameters (`now_plus_seconds`) are assumed to be upper bounds: a row that passed
keeps passing as time goes on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.quality.suites import Suite, substituted
from pipelines.sync.lake import Lake
from pipelines.sync.state import atomic_write_bytes

STATE_VERSION = 2

# How often a reference is looked up for every row even when the known ids seem only to have grown.
FULL_LOOKUP_EVERY = timedelta(days=1)
# The most unknown reference values the state remembers (more: the next lookup is whole).
MAX_UNKNOWN = 10_000

# Map expectations whose verdict for a row depends on that row (and parameters) only.
ROW_WISE = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
        "expect_column_values_to_match_regex_list",
        "expect_column_values_to_not_match_regex_list",
        "expect_column_values_to_match_like_pattern",
        "expect_column_values_to_not_match_like_pattern",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_be_between",
        "expect_column_value_lengths_to_be_between",
        "expect_column_value_lengths_to_equal",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "expect_column_pair_values_to_be_equal",
        "expect_column_pair_values_to_be_in_set",
        "expect_select_column_values_to_be_unique_within_record",
        "expect_multicolumn_sum_to_equal",
    }
)
# Map expectations over several rows: the rows sharing a duplicated key are the candidates.
UNIQUE = frozenset(
    {
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_multicolumn_values_to_be_unique",
    }
)


def judged_on_subset(expectation: dict[str, Any], parameters: Mapping[str, Any]) -> bool:
    """Whether an expectation's whole-table outcome follows from the rows that may fail
    (`parameters`: the values of the suite's `$PARAMETER`s, `mostly` may be one)."""
    kwargs = substituted(expectation["kwargs"], parameters)
    if kwargs is None:
        return False  # a parameter only GX evaluates: whatever it is, GX sees the whole table
    mostly = kwargs.get("mostly")
    if mostly is not None and not (isinstance(mostly, int | float) and mostly >= 1):
        return False  # a proportion of the whole table
    return expectation["type"] in ROW_WISE | UNIQUE


def unique_columns(expectation: dict[str, Any]) -> list[str]:
    kwargs = expectation["kwargs"]
    if isinstance(kwargs.get("column"), str):
        return [kwargs["column"]]
    return list(kwargs.get("column_list") or [])


def suites_hash(suites: list[Suite]) -> str:
    """A hash of the resource's suites as loaded (and of this module's state version)."""
    docs = sorted((s.path.name, s.doc) for s in suites)
    payload = json.dumps([STATE_VERSION, docs], sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()


@dataclass
class ValidationState:
    """What the last validation of a resource covered."""

    suites: str
    validated_at: str
    blocked: bool
    # Per snapshot suite, the `_run_id`s present in the rows it validated.
    runs: dict[str, list[str]] = field(default_factory=dict)
    # Per snapshot suite and reference flag, what `reference_flags` found (`Reference`).
    references: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    version: int = STATE_VERSION
    # The digest of the rejects this state goes with, in a bucket (`pipelines.quality.stored`).
    rejects_sha256: str | None = None


@dataclass(frozen=True)
class RememberedReference:
    """What the last validation of a suite found of one reference flag."""

    runs: list[str]  # the runs whose rows it judged
    unknown: list[str]  # the distinct values no known id matched
    keys: int  # how many known ids there were


def remembered_reference(
    lake: Lake, suites: list[Suite], suite: Suite, flag: str
) -> RememberedReference | None:
    """The last validation's findings for `suite`'s reference `flag`, if they still hold: None
    before a first validation, after one that failed a blocking expectation, or once the
    resource's suites (`suites`: all of them, or the resource's) changed since."""
    state = load_state(lake, suite.resource)
    own = [s for s in suites if s.resource == suite.resource]
    if state is None or state.blocked or state.suites != suites_hash(own):
        return None
    facts = state.references.get(suite.name, {}).get(flag)
    if facts is None or facts.get("unknown") is None:
        return None
    return RememberedReference(state.runs.get(suite.name, []), facts["unknown"], facts["keys"])


def state_path(lake: Lake, resource: str) -> Path:
    return lake.local(resource) / "_state.json"


def load_state(lake: Lake, resource: str) -> ValidationState | None:
    """The last validation's state; None before the first, or if unreadable (a full pass)."""
    path = state_path(lake, resource)
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        if raw.get("version") != STATE_VERSION:
            return None
        return ValidationState(**raw)
    except (ValueError, TypeError):
        return None


def save_state(lake: Lake, resource: str, state: ValidationState) -> None:
    atomic_write_bytes(state_path(lake, resource), json.dumps(asdict(state), indent=1).encode())


def _as_mask(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A boolean array without nulls (null counts as false)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return cast(pa.Array, pc.fill_null(values, pa.scalar(False)))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duplicated(table: pa.Table, columns: list[str]) -> pa.Array:
    """True for every row whose values in `columns` (nulls compared equal) occur more than once.

    One DuckDB aggregate over the whole table, joined back to the rows when keys repeat.
    """
    keys = ", ".join(_quoted(c) for c in columns)
    match = " AND ".join(f"t.{c} IS NOT DISTINCT FROM d.{c}" for c in map(_quoted, columns))
    con = duckdb.connect()
    try:
        con.register(
            "t", table.select(columns).append_column("_row", pa.array(np.arange(len(table))))
        )
        rows = con.sql(
            f"WITH d AS (SELECT {keys} FROM t GROUP BY {keys} HAVING count(*) > 1) "
            f"SELECT t._row FROM t SEMI JOIN d ON {match}"
        ).fetchnumpy()["_row"]
    finally:
        con.close()
    mask = np.zeros(len(table), dtype=bool)
    mask[np.asarray(rows, dtype=np.int64)] = True
    return pa.array(mask)


def known(values: pa.ChunkedArray, keys: pa.ChunkedArray) -> pa.Array:
    """Per value: true if among `keys`, false if not, null if the value is null (DuckDB anti join)."""
    con = duckdb.connect()
    try:
        con.register(
            "v", pa.Table.from_pydict({"v": values, "_row": pa.array(np.arange(len(values)))})
        )
        con.register("k", pa.Table.from_pydict({"k": keys}))
        unknown = con.sql(
            "SELECT _row FROM v ANTI JOIN k ON v.v = k.k WHERE v.v IS NOT NULL"
        ).fetchnumpy()["_row"]
    finally:
        con.close()
    flags = np.ones(len(values), dtype=bool)
    flags[np.asarray(unknown, dtype=np.int64)] = False
    return pa.array(flags, mask=np.asarray(pc.is_null(values).to_numpy(zero_copy_only=False)))


def reference_flags(
    values: pa.ChunkedArray,
    keys: pa.ChunkedArray,
    *,
    new_rows: pa.Array | None = None,
    previous: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[pa.Array, dict[str, Any]]:
    """`known(values, keys)` and what to remember of it for the next validation: the distinct
    unknown values and the number of keys.

    Known ids only ever gain members (a deleted record's id stays known through its tombstone,
    an erased one's references point at a tombstoned pseudonym), so a value known last time is
    known now. Given `previous` (what the last validation remembered) and `new_rows` (the rows it
    did not judge), only the new rows' values and the values unknown last time are looked up: the
    keys are probed into that small set instead of every value into the keys. Fewer keys than
    last time breaks the premise: every value is looked up again. So does a day since the last
    such lookup (FULL_LOOKUP_EVERY): a record gone without a tombstone (damage, an outside edit)
    while another arrived leaves the count as it was, and is caught then.
    """
    now = now or datetime.now(UTC)
    if (
        previous is None
        or previous.get("unknown") is None
        or new_rows is None
        or not pa.types.is_string(values.type)
        or len(keys) < previous.get("keys", 0)
        or now - datetime.fromisoformat(previous.get("looked_up_at", "1970-01-01T00:00:00+00:00"))
        > FULL_LOOKUP_EVERY
    ):
        flags = known(values, keys)
        unknown = pc.unique(values.filter(pc.invert(flags)).combine_chunks())
        looked_up_at = now.isoformat()
    else:
        looked_up_at = previous["looked_up_at"]
        candidates = pc.unique(
            pa.chunked_array(
                [
                    *values.filter(_as_mask(new_rows)).chunks,
                    pa.array(previous.get("unknown", []), pa.string()),
                ],
                pa.string(),
            )
            .drop_null()
            .combine_chunks()
        )
        found = pc.unique(keys.filter(pc.is_in(keys, value_set=candidates)).combine_chunks())
        missing = candidates.filter(pc.invert(pc.is_in(candidates, value_set=found)))
        hit = _as_mask(pc.is_in(values, value_set=missing))
        nulls = np.asarray(pc.is_null(values).to_numpy(zero_copy_only=False))
        flags = pa.array(~np.asarray(hit.to_numpy(zero_copy_only=False)), mask=nulls)
        # Only the values still referenced: one no row holds any more is forgotten.
        unknown = pc.unique(values.filter(hit).combine_chunks())
    # Too many to remember (a referenced resource never synced): looked up whole next time.
    remembered = (
        sorted(str(v) for v in unknown.to_pylist()) if len(unknown) <= MAX_UNKNOWN else None
    )
    return flags, {"unknown": remembered, "keys": len(keys), "looked_up_at": looked_up_at}


def rows_to_judge(
    table: pa.Table,
    suite: Suite,
    expectations: list[dict[str, Any]],
    *,
    validated_runs: set[str],
    rejected_ids: pa.Array,
) -> pa.Array:
    """The rows whose verdicts may differ from the last validation's (a boolean mask)."""
    n = len(table)
    mask = pc.invert(
        _as_mask(
            pc.is_in(
                table.column("_run_id"), value_set=pa.array(sorted(validated_runs), pa.string())
            )
        )
    )
    if len(rejected_ids):
        mask = pc.or_(mask, _as_mask(pc.is_in(table.column(suite.record_id), rejected_ids)))
    for name in suite.references:
        if name in table.schema.names:  # false: an unknown reference; null: no reference
            mask = pc.or_(mask, _as_mask(pc.invert(table.column(name))))
    for exp in expectations:
        if exp["type"] in UNIQUE and n:
            columns = unique_columns(exp)
            if columns and all(c in table.schema.names for c in columns):
                mask = pc.or_(mask, duplicated(table, columns))
    return mask
