"""The incremental gate's judge: the suites' expectation types, evaluated on Arrow without GX.

Importing Great Expectations costs about 4 s of CPU per process, more than everything else an
incremental run of a few thousand changed records does; the full validation (first, after a
suite was edited, `validate --full`) keeps GX as the judge. For the expectation types below this
module reproduces GX 1.x's pandas engine exactly (`tests/quality/test_vectorized.py` runs both on
every shipped suite over rows built to fail each expectation and compares every outcome):

- map expectations skip null values (`not_null` aside) and succeed vacuously on no rows; `mostly`
  is the share of non-null values (of all rows for `not_null`) that pass;
- `match_regex` is Python's `re.search` on the value (GX: `Series.str.contains`);
- `between` compares with `<=` (`<` when strict); `value_lengths` counts code points;
- pair expectations drop the rows `ignore_row_if` names and compare the rest (`>`, `>=` with
  `or_equal`); a null left in a pair compares false;
- `unique` flags every occurrence of a repeated value (pandas' `duplicated(keep=False)`);
  compound keys drop the rows whose values are all null and compare nulls as equal.

A suite holding any other type is judged by GX (`supports`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.quality.incremental import duplicated


@dataclass(frozen=True)
class Verdict:
    """One expectation's outcome, in the terms GX reports it."""

    success: bool
    element_count: int
    unexpected_count: int
    # Row positions of the unexpected values, in row order.
    unexpected_index: pa.Array
    observed: Any = None


def _between(values: pa.Array, kwargs: dict[str, Any], parameters: dict[str, Any]) -> pa.Array:
    low, high = (_value(kwargs.get(k), parameters) for k in ("min_value", "max_value"))
    if low is None and high is None:
        raise ValueError("min_value and max_value cannot both be None")
    ok = pa.array(np.ones(len(values), dtype=bool))
    if low is not None:
        low_cmp = pc.less if kwargs.get("strict_min") else pc.less_equal
        ok = pc.and_(ok, low_cmp(pa.scalar(low, values.type), values))
    if high is not None:
        high_cmp = pc.less if kwargs.get("strict_max") else pc.less_equal
        ok = pc.and_(ok, high_cmp(values, pa.scalar(high, values.type)))
    return ok


def _value(value: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return parameters[value["$PARAMETER"]]
    return value


def _regex(values: pa.Array, pattern: str) -> pa.Array:
    search = re.compile(pattern).search
    return pa.array([search(str(v)) is not None for v in values.to_pylist()], pa.bool_())


def _in_set(values: pa.Array, value_set: list[Any]) -> pa.Array:
    return pc.is_in(values, value_set=pa.array(value_set).cast(values.type))


# Column map expectations: (whether nulls are judged, the test of a non-null value).
_COLUMN_MAP = {
    "expect_column_values_to_be_in_set": lambda v, kw, p: _in_set(v, _value(kw["value_set"], p)),
    "expect_column_values_to_match_regex": lambda v, kw, p: _regex(v, _value(kw["regex"], p)),
    "expect_column_values_to_be_between": _between,
    "expect_column_value_lengths_to_be_between": lambda v, kw, p: _between(
        pc.utf8_length(v), kw, p
    ),
}
SUPPORTED = frozenset(
    {
        *_COLUMN_MAP,
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "expect_table_row_count_to_equal",
    }
)
# kwargs whose effect this module reproduces; any other (row_condition, ...) goes to GX.
_KWARGS = frozenset(
    {
        "column",
        "column_A",
        "column_B",
        "column_list",
        "value_set",
        "regex",
        "min_value",
        "max_value",
        "strict_min",
        "strict_max",
        "mostly",
        "or_equal",
        "ignore_row_if",
        "value",
    }
)
_IGNORE = {"either_value_is_missing", "both_values_are_missing", "neither"}
# GX 1.x's default for the pair expectations' `ignore_row_if`.
_PAIR_DEFAULT = "both_values_are_missing"


def supports(expectation: dict[str, Any]) -> bool:
    """Whether this module judges `expectation` as GX would."""
    kwargs = expectation["kwargs"]
    return (
        expectation["type"] in SUPPORTED
        and set(kwargs) <= _KWARGS
        and kwargs.get("ignore_row_if", _PAIR_DEFAULT) in _IGNORE
        and not (
            expectation["type"] == "expect_compound_columns_to_be_unique"
            and "ignore_row_if" in kwargs
        )
    )


def _mostly(considered: int, unexpected: int, mostly: float | None) -> bool:
    if considered == 0:
        return True  # vacuously
    return (considered - unexpected) / considered >= (1.0 if mostly is None else mostly)


def _positions(mask: np.ndarray) -> pa.Array:
    return pa.array(np.flatnonzero(mask), pa.int64())


def _missing(values: pa.Array) -> pa.Array:
    """Null, or NaN: pandas' `isnull`, which GX's engine skips and counts by."""
    return pc.is_null(values, nan_is_null=True)


def _bools(values: pa.Array) -> np.ndarray:
    filled = cast(pa.Array, pc.fill_null(values, pa.scalar(False)))
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


def evaluate(expectation: dict[str, Any], table: pa.Table, parameters: dict[str, Any]) -> Verdict:
    """Judge one supported expectation over `table`; raises what GX would report as an error
    (a missing column, a bad bound) as an exception."""
    kind, kwargs = expectation["type"], expectation["kwargs"]
    n = len(table)
    mostly = kwargs.get("mostly")
    if kind == "expect_table_row_count_to_equal":
        value = _value(kwargs["value"], parameters)
        return Verdict(n == value, n, 0, pa.array([], pa.int64()), observed=n)
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a = table.column(kwargs["column_A"]).combine_chunks()
        b = table.column(kwargs["column_B"]).combine_chunks()
        missing_a, missing_b = (_bools(_missing(c)) for c in (a, b))
        ignore = kwargs.get("ignore_row_if", _PAIR_DEFAULT)
        dropped = {
            "either_value_is_missing": missing_a | missing_b,
            "both_values_are_missing": missing_a & missing_b,
            "neither": np.zeros(n, dtype=bool),
        }[ignore]
        compare = pc.greater_equal if kwargs.get("or_equal") else pc.greater
        bad = ~_bools(compare(a, b)) & ~dropped
        considered = int((~dropped).sum())
        return Verdict(
            _mostly(considered, int(bad.sum()), mostly), n, int(bad.sum()), _positions(bad)
        )
    if kind == "expect_compound_columns_to_be_unique":
        columns = list(kwargs["column_list"])
        all_null = np.ones(n, dtype=bool)
        for c in columns:
            all_null &= _bools(_missing(table.column(c).combine_chunks()))
        bad = _bools(duplicated(table.filter(pa.array(~all_null)), columns)) if n else all_null
        full = np.zeros(n, dtype=bool)
        full[np.flatnonzero(~all_null)] = bad
        considered = int((~all_null).sum())
        return Verdict(
            _mostly(considered, int(full.sum()), mostly), n, int(full.sum()), _positions(full)
        )
    values = table.column(kwargs["column"]).combine_chunks()
    nulls = _bools(_missing(values))
    if kind == "expect_column_values_to_not_be_null":
        return Verdict(_mostly(n, int(nulls.sum()), mostly), n, int(nulls.sum()), _positions(nulls))
    if kind == "expect_column_values_to_be_unique":
        present = table.select([kwargs["column"]]).filter(pa.array(~nulls))
        repeated = _bools(duplicated(present, [kwargs["column"]])) if len(present) else None
        bad = np.zeros(n, dtype=bool)
        if repeated is not None:
            bad[np.flatnonzero(~nulls)] = repeated
    else:
        passed = _COLUMN_MAP[kind](values.filter(pa.array(~nulls)), kwargs, parameters)
        bad = np.zeros(n, dtype=bool)
        bad[np.flatnonzero(~nulls)] = ~_bools(passed)
    considered = n - int(nulls.sum())
    return Verdict(_mostly(considered, int(bad.sum()), mostly), n, int(bad.sum()), _positions(bad))
