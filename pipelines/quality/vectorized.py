"""The incremental gate's judge: the suites' expectation types, evaluated on Arrow without GX.

Importing Great Expectations costs about 4 s of CPU per process, more than everything else an
incremental run of a few thousand changed records does; the full validation (first, after a
suite was edited, `validate --full`) keeps GX as the judge. For the expectation types below this
module reproduces GX 1.x's pandas engine exactly (`tests/quality/test_vectorized.py` runs both on
every shipped suite over rows built to fail each expectation and compares every outcome):

- map expectations skip null values (`not_null` aside) and succeed vacuously on no rows; `mostly`
  is the share of non-null values (of all rows for `not_null`) that pass;
- `match_regex` is GX's own `Series.astype(str).str.contains` (pandas, RE2 or `re`);
- `between` compares with `<=` (`<` when strict); `value_lengths` counts code points;
- pair expectations drop the rows `ignore_row_if` names and compare the rest (`>`, `>=` with
  `or_equal`); a null left in a pair compares false;
- `unique` flags every occurrence of a repeated value (pandas' `duplicated(keep=False)`);
  compound keys drop the rows whose values are all null and compare nulls as equal.

A suite holding any other type is judged by GX (`supports`), and so is an expectation whose
outcome in GX's pandas engine this module would not reproduce: a value set, regex or bound of
another type than its column's (pandas compares them as they are, `"1"` never equals `1`; a
regex runs on `str()` of any value, `1.0` for an integer column with nulls), a `$PARAMETER`
that is not a plain name with a value (GX evaluates expressions), a `mostly` outside [0, 1].
Parameters are substituted as GX does (`suites.substituted`); an integer column with nulls is
compared as float64, as pandas holds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.quality.incremental import duplicated
from pipelines.quality.suites import substituted


@dataclass(frozen=True)
class Verdict:
    """One expectation's outcome, in the terms GX reports it."""

    success: bool
    element_count: int
    unexpected_count: int
    # Row positions of the unexpected values, in row order.
    unexpected_index: pa.Array
    observed: Any = None


def _bound(value: Any, kind: pa.DataType) -> pa.Scalar:
    # An integer against floats is compared as the float nearest it, as numpy does.
    return pa.scalar(float(value) if pa.types.is_floating(kind) else value, kind)


def _between(values: pa.Array, kwargs: dict[str, Any]) -> pa.Array:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is None and high is None:
        raise ValueError("min_value and max_value cannot both be None")
    if low is not None and high is not None and low > high:
        raise ValueError("min_value cannot be greater than max_value")  # GX's error too
    ok = pa.array(np.ones(len(values), dtype=bool))
    if low is not None:
        low_cmp = pc.less if kwargs.get("strict_min") else pc.less_equal
        ok = pc.and_(ok, low_cmp(_bound(low, values.type), values))
    if high is not None:
        high_cmp = pc.less if kwargs.get("strict_max") else pc.less_equal
        ok = pc.and_(ok, high_cmp(values, _bound(high, values.type)))
    return ok


def _regex(values: pa.Array, pattern: str) -> pa.Array:
    # GX's own call: pandas runs a pattern in RE2 (`[[:digit:]]`, `\p{L}`) or in Python's `re`
    # (lookarounds, `\s`), whichever it judges right, so no one engine reproduces it.
    found = values.to_pandas().astype(str).str.contains(pattern)
    return pa.array(found.to_numpy(dtype=bool), pa.bool_())


def _in_set(values: pa.Array, value_set: list[Any]) -> pa.Array:
    # `supports` admits only values of the column's own type: the cast changes none of them.
    return pc.is_in(values, value_set=pa.array(value_set, values.type))


# Column map expectations: (whether nulls are judged, the test of a non-null value).
_COLUMN_MAP = {
    "expect_column_values_to_be_in_set": lambda v, kw: _in_set(v, kw["value_set"]),
    "expect_column_values_to_match_regex": lambda v, kw: _regex(v, kw["regex"]),
    "expect_column_values_to_be_between": _between,
    "expect_column_value_lengths_to_be_between": lambda v, kw: _between(pc.utf8_length(v), kw),
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
# The columns an expectation type names (`column`, or `column_A` and `column_B`).
_COLUMNS = {
    **dict.fromkeys(_COLUMN_MAP, 1),
    "expect_column_values_to_not_be_null": 1,
    "expect_column_values_to_be_unique": 1,
    "expect_column_pair_values_a_to_be_greater_than_b": 2,
}
_IGNORE = {"either_value_is_missing", "both_values_are_missing", "neither"}
# GX 1.x's default for the pair expectations' `ignore_row_if`.
_PAIR_DEFAULT = "both_values_are_missing"


def supports(expectation: dict[str, Any], schema: pa.Schema, parameters: Mapping[str, Any]) -> bool:
    """Whether this module judges `expectation`, over columns of `schema` with `parameters`,
    as GX would."""
    kwargs = substituted(expectation["kwargs"], parameters)
    return (
        kwargs is not None
        and expectation["type"] in SUPPORTED
        and set(kwargs) <= _KWARGS
        and kwargs.get("ignore_row_if", _PAIR_DEFAULT) in _IGNORE
        and not (
            expectation["type"] == "expect_compound_columns_to_be_unique"
            and "ignore_row_if" in kwargs
        )
        and _is_share(kwargs.get("mostly", 1))
        and _typed(expectation["type"], kwargs, schema)
    )


def _is_share(mostly: Any) -> bool:
    # GX's pydantic model coerces (a string "0.9") or rejects (1.5) anything else.
    return type(mostly) in (int, float) and 0 <= mostly <= 1


def _is_text(kind: pa.DataType | None) -> bool:
    return kind is not None and (pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _is_number(kind: pa.DataType | None) -> bool:
    return kind is not None and (pa.types.is_integer(kind) or pa.types.is_floating(kind))


def _of_type(value: Any, kind: pa.DataType) -> bool:
    """Whether `value` is of the Python type `kind`'s values are, so that casting it to `kind`
    changes nothing and pandas compares them alike."""
    if pa.types.is_timestamp(kind):
        return isinstance(value, datetime) and (value.tzinfo is None) == (kind.tz is None)
    if pa.types.is_integer(kind):
        return type(value) is int and -(2**63) <= value < 2**63
    if pa.types.is_floating(kind):
        return type(value) in (int, float)
    return (_is_text(kind) and type(value) is str) or (
        pa.types.is_boolean(kind) and type(value) is bool
    )


def _typed(kind: str, kwargs: dict[str, Any], schema: pa.Schema) -> bool:
    """Whether the columns `kwargs` names have types whose GX outcome this module reproduces
    with these values; a missing column is GX's to report."""
    columns = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
    columns += list(kwargs.get("column_list") or [])
    if not all(isinstance(c, str) and schema.get_field_index(c) >= 0 for c in columns):
        return False
    types = [schema.field(c).type for c in columns]
    if len(types) != _COLUMNS.get(kind, len(types)):
        return False  # GX reports the missing or surplus column
    bounds = [kwargs.get(k) for k in ("min_value", "max_value") if kwargs.get(k) is not None]
    if kind == "expect_column_values_to_be_in_set":
        value_set = kwargs["value_set"]
        return (
            (_is_text(types[0]) or pa.types.is_boolean(types[0]))
            and isinstance(value_set, list)
            and all(v is None or _of_type(v, types[0]) for v in value_set)
        )
    if kind == "expect_column_values_to_match_regex":
        return _is_text(types[0]) and isinstance(kwargs["regex"], str)
    if kind == "expect_column_value_lengths_to_be_between":
        return _is_text(types[0]) and all(_of_type(b, pa.int64()) for b in bounds)
    if kind == "expect_column_values_to_be_between":
        return (_is_number(types[0]) or pa.types.is_timestamp(types[0])) and all(
            _of_type(b, types[0]) for b in bounds
        )
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = types
        return (_is_number(a) and _is_number(b)) or (
            pa.types.is_timestamp(a)
            and pa.types.is_timestamp(b)
            and (a.tz is None) == (b.tz is None)
        )
    if kind == "expect_table_row_count_to_equal":
        return type(kwargs["value"]) is int
    return True


def _mostly(considered: int, unexpected: int, mostly: float) -> bool:
    if considered == 0:
        return True  # vacuously
    return (considered - unexpected) / considered >= mostly


def _positions(mask: np.ndarray) -> pa.Array:
    return pa.array(np.flatnonzero(mask), pa.int64())


def _missing(values: pa.Array) -> pa.Array:
    """Null, or NaN: pandas' `isnull`, which GX's engine skips and counts by."""
    return pc.is_null(values, nan_is_null=True)


def _bools(values: pa.Array) -> np.ndarray:
    filled = cast(pa.Array, pc.fill_null(values, pa.scalar(False)))
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


def _column(table: pa.Table, name: str) -> pa.Array:
    values = table.column(name).combine_chunks()
    # pandas holds an integer column with nulls as float64, and GX compares that.
    if pa.types.is_integer(values.type) and values.null_count:
        return values.cast(pa.float64())
    return values


def evaluate(
    expectation: dict[str, Any], table: pa.Table, parameters: Mapping[str, Any]
) -> Verdict:
    """Judge one expectation `supports` over `table`; raises what GX would report as an error
    (a bad bound) as an exception."""
    kind = expectation["type"]
    kwargs = substituted(expectation["kwargs"], parameters)
    if kwargs is None:
        raise ValueError("a $PARAMETER only GX can evaluate")
    n = len(table)
    mostly = kwargs.get("mostly", 1.0)
    if kind == "expect_table_row_count_to_equal":
        value = kwargs["value"]
        return Verdict(n == value, n, 0, pa.array([], pa.int64()), observed=n)
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = _column(table, kwargs["column_A"]), _column(table, kwargs["column_B"])
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
    values = _column(table, kwargs["column"])
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
        passed = _COLUMN_MAP[kind](values.filter(pa.array(~nulls)), kwargs)
        bad = np.zeros(n, dtype=bool)
        bad[np.flatnonzero(~nulls)] = ~_bools(passed)
    considered = n - int(nulls.sum())
    return Verdict(_mostly(considered, int(bad.sum()), mostly), n, int(bad.sum()), _positions(bad))
