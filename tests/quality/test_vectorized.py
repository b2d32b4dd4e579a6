"""The incremental gate's own judge agrees with GX on every shipped suite, outcome by outcome.

Each suite's frame (as the gate builds it, from a real synced lake) is damaged column by column
with the values that make expectations fail or sit on their edges (nulls, junk strings, a
trailing newline, non-ASCII spaces, negative money, timestamps in the future or before their
pair, repeated keys), then judged by GX and by `pipelines.quality.vectorized`.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.quality import gate, vectorized
from pipelines.quality.suites import RECEIVED, Suite, load_suites
from pipelines.registry import RESOURCES
from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from tests.sync.truth import sync

JUNK = ["", "x", "a@b.c\n", "a b@c.de", "a\u00a0b@c.de", "ZZ", "eur", "Ä" * 300, "@@", "1"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    data_dir = tmp_path_factory.mktemp("synced")
    with SimulatorServer(Store.seeded(200, 11), api_key="sim-key") as sim:
        sync(sim, data_dir, resources=tuple(RESOURCES))
    yield Lake(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)


def _damage(column: pa.ChunkedArray, rng: random.Random, now: datetime) -> pa.Array:
    values = column.to_pylist()
    kind = column.type
    present = [v for v in values if v is not None]
    for i in range(len(values)):
        roll = rng.random()
        if roll < 0.08:
            values[i] = None
        elif roll < 0.16 and present:
            values[i] = rng.choice(present)  # a repeated key
        elif roll < 0.3:
            if pa.types.is_string(kind):
                values[i] = rng.choice(JUNK)
            elif pa.types.is_floating(kind):
                values[i] = rng.choice([-1.0, -0.01, 0.0, 1e9])
            elif pa.types.is_timestamp(kind):
                values[i] = now + timedelta(seconds=rng.choice([-(10**8), 599, 601, 86400]))
            elif pa.types.is_boolean(kind):
                values[i] = rng.choice([True, False])
            elif pa.types.is_integer(kind):
                values[i] = rng.choice([-1, 0, 10**6])
    return pa.array(values, kind)


def _outcomes(results: list[gate._Result]) -> dict[str, tuple[Any, ...]]:
    return {
        r.name: (
            r.success,
            r.element_count,
            r.unexpected_count,
            r.unexpected_index.to_pylist(),
            r.observed,
            r.error is None,
        )
        for r in results
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_the_vectorized_judge_gives_gx_verdicts_on_every_suite(lake: Lake, seed: int) -> None:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    gx = gate._Gx()
    compared = set()
    for suite in load_suites():
        framed = gate._frame(lake, suite)
        assert framed is not None, suite.name
        table, runtime, _ = framed
        parameters = suite.parameters(now, runtime)
        assert all(vectorized.supports(e, table.schema, parameters) for e in suite.expectations)
        read = [c for e in suite.expectations for c in gate._columns_of(e["kwargs"])]
        frame = table.select([c for c in dict.fromkeys(read) if c in table.schema.names])
        if not frame.num_columns:
            frame = table.select([suite.record_id])
        for i, name in enumerate(frame.column_names):
            frame = frame.set_column(i, name, _damage(frame.column(i), rng, now))
        if suite.table == RECEIVED:
            frame = frame.slice(1)  # one record fewer than the API reported
        expected = _outcomes(gate._judge_gx(gx, suite, frame, parameters))
        got = _outcomes(gate._judge_vectorized(suite, frame, parameters))
        assert got == expected, suite.name
        assert any(not o[0] or o[2] for o in expected.values()), f"{suite.name}: nothing failed"
        compared |= {f"{suite.name}.{n}" for n in expected}
    assert len(compared) == sum(len(s.expectations) for s in load_suites())


# Columns of every type the gate hands over; pandas holds `i` (integers with a null) as float64.
COLUMNS = pa.table(
    {
        "i": pa.array([1, 2, 3, None, 2], pa.int64()),
        "j": pa.array([1, 2, 3, 10**6, 2], pa.int64()),
        "s": pa.array(["1", "2", "x", None, "2.0"]),
        "b": pa.array([True, False, None, True, False]),
        "t": pa.array([0, 10**15, None, 2 * 10**15, 5], pa.timestamp("us", tz="UTC")),
        "f": pa.array([1.0, 2.5, float("nan"), None, 3.0]),
    }
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
P = {"$PARAMETER": "share"}


def _in_set(column: str, value_set: Any, **kwargs: Any) -> dict[str, Any]:
    kwargs = {"column": column, "value_set": value_set, **kwargs}
    return {"type": "expect_column_values_to_be_in_set", "kwargs": kwargs}


def _regex(column: str, regex: str) -> dict[str, Any]:
    kwargs = {"column": column, "regex": regex}
    return {"type": "expect_column_values_to_match_regex", "kwargs": kwargs}


def _between(column: str, kind: str = "values", **bounds: Any) -> dict[str, Any]:
    name = f"expect_column_{kind}_to_be_between"
    return {"type": name, "kwargs": {"column": column, **bounds}}


# Value sets, regexes and bounds of another type than their column's: GX's pandas engine
# compares them as they are (isin, `astype(str).str.contains`, `<=`).
MISMATCHED = {
    "strings_in_an_integer_column": _in_set("j", ["1", "2"]),
    "strings_in_an_integer_column_with_nulls": _in_set("i", ["1", "2"]),
    "a_fraction_in_an_integer_column": _in_set("j", [1, 2.5]),
    "a_fraction_in_an_integer_column_with_nulls": _in_set("i", [1, 2.5]),
    "a_value_no_integer_casts_to": _in_set("i", ["x"]),
    "integers_and_strings": _in_set("j", [1, "2"]),
    "integers_in_a_string_column": _in_set("s", [1, 2]),
    "a_float_in_a_string_column": _in_set("s", [2.0]),
    "an_integer_in_a_boolean_column": _in_set("b", [1]),
    "a_boolean_in_an_integer_column": _in_set("j", [True]),
    "a_string_in_a_timestamp_column": _in_set("t", ["1970-01-01T00:00:00Z"]),
    "a_regex_on_integers_with_nulls": _regex("i", "^1$"),
    "a_regex_on_integers": _regex("j", "^1$"),
    "a_regex_on_booleans": _regex("b", "^True$"),
    "a_regex_on_floats": _regex("f", r"^1\.0$"),
    "a_regex_on_timestamps": _regex("t", "^1970-01-01 00:00:00$"),
    "a_fractional_bound_on_integers": _between("j", min_value=1.5),
    "a_string_bound_on_integers": _between("j", min_value="2"),
    "a_string_bound_on_timestamps": _between("t", max_value="1970-01-01"),
    "a_naive_bound_on_utc_timestamps": _between("t", max_value=datetime(1970, 1, 2)),
    "a_fractional_length": _between("s", "value_lengths", max_value=1.5),
    "lengths_of_integers": _between("j", "value_lengths", max_value=1),
}
# What the shipped suites hold, and `mostly` as a suite parameter: judged without GX.
MATCHED = {
    "strings_in_a_string_column": _in_set("s", ["1", "x", None]),
    "a_boolean_in_a_boolean_column": _in_set("b", [True]),
    "a_regex_on_strings": _regex("s", r"^\d$"),
    # pandas runs these in RE2 (Python's `re` reads the first as a set, rejects the second).
    "a_posix_class": _regex("s", r"[[:digit:]]"),
    "a_unicode_class": _regex("s", r"\p{L}"),
    "an_integer_bound_on_integers_with_nulls": _between("i", min_value=2),
    "a_bound_no_float_holds_on_integers_with_nulls": _between("i", max_value=2**53 + 1),
    "an_integer_bound_on_floats": _between("f", max_value=2),
    "an_aware_bound_on_timestamps": _between("t", max_value=EPOCH + timedelta(days=1)),
    # Parameters that crossed: GX reports an error rather than failing every row.
    "crossed_bounds": _between("i", min_value=5, max_value=1),
    "a_mostly_parameter_met": _in_set("s", ["1", "2"], mostly=P),
    "a_value_set_parameter": _in_set("s", {"$PARAMETER": "known"}),
}


def _suite(expectations: dict[str, dict[str, Any]]) -> Suite:
    specs = [
        {**spec, "meta": {"name": name, "on_failure": "quarantine"}}
        for name, spec in expectations.items()
    ]
    return Suite(
        name="cases",
        path=Path("cases.json"),
        doc={"name": "cases", "meta": {}, "expectations": specs},
    )


def test_values_of_another_type_than_their_column_get_gx_verdicts() -> None:
    """Each expectation is judged by `vectorized` exactly as GX judges it, or left to GX."""
    parameters = {"share": 0.5, "known": ["x", "2.0"]}
    suite = _suite({**MISMATCHED, **MATCHED})
    expected = _outcomes(gate._judge_gx(gate._Gx(), suite, COLUMNS, parameters))
    got = _outcomes(gate._judge_vectorized(suite, COLUMNS, parameters))
    judged = set()
    for spec in suite.expectations:
        name = spec["meta"]["name"]
        if vectorized.supports(spec, COLUMNS.schema, parameters):
            judged.add(name)
            assert got[name] == expected[name], name
    assert set(MATCHED) <= judged


@pytest.mark.parametrize(
    ("mostly", "parameters"),
    [
        (P, {"share": 0.5}),  # 2 of 4 strings pass: met
        (P, {"share": 0.6}),  # not met
        ({"$PARAMETER": "share_$"}, {"share_$": 0.5}),  # a name of GX's grammar
        ({"$PARAMETER": "share - 0.1"}, {"share": 0.6}),  # GX evaluates an expression
        (P, {"share": "0.5"}),  # GX's model makes it a float
    ],
)
def test_a_mostly_parameter_gets_the_gx_verdict(
    mostly: dict[str, str], parameters: dict[str, Any]
) -> None:
    suite = _suite({"mostly": _in_set("s", ["1", "2"], mostly=mostly)})
    (spec,) = suite.expectations
    expected = _outcomes(gate._judge_gx(gate._Gx(), suite, COLUMNS, parameters))
    plain = all(isinstance(v, float) for v in parameters.values()) and "-" not in str(mostly)
    assert vectorized.supports(spec, COLUMNS.schema, parameters) == plain
    if plain:
        assert _outcomes(gate._judge_vectorized(suite, COLUMNS, parameters)) == expected


@pytest.mark.parametrize(
    ("name", "parameters"),
    [("missing", {"share": 0.5}), ("e", {"e": 0.5}), ("PI", {"PI": 0.5}), ("_x", {"_x": 0.5})],
)
def test_a_parameter_gx_would_not_substitute_as_it_is_is_left_to_gx(
    name: str, parameters: dict[str, Any]
) -> None:
    """No value, a name GX's expression language reads as a constant or cannot parse: GX
    raises or evaluates; either way the verdict is GX's."""
    spec = _in_set("s", ["1"], mostly={"$PARAMETER": name})
    assert not vectorized.supports(spec, COLUMNS.schema, parameters)


def test_an_incremental_validation_imports_no_gx(tmp_path: Path) -> None:
    """A second validation (nothing edited) judges without GX; the first one uses it."""
    script = """
import sys
from pipelines.quality import validate_snapshot
from pipelines.registry import RESOURCES
from pipelines.sync.lake import Lake
lake = Lake(sys.argv[1])
for r in ("customers", "transactions", "events", "tickets"):
    validate_snapshot(lake, r)
print("great_expectations" in sys.modules)
"""
    import subprocess
    import sys

    data_dir = tmp_path / "data"
    with SimulatorServer(Store.seeded(100, 3), api_key="sim-key") as sim:
        sync(sim, data_dir, resources=tuple(RESOURCES))
    run = [sys.executable, "-c", script, str(data_dir)]
    first = subprocess.run(run, capture_output=True, text=True, check=True)
    assert first.stdout.strip() == "True"
    second = subprocess.run(run, capture_output=True, text=True, check=True)
    assert second.stdout.strip() == "False"
