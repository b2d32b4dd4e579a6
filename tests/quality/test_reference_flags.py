"""An incremental validation looks up only the references that may have changed their verdict."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines.quality import incremental
from pipelines.quality.incremental import known, reference_flags


def _flags_by_lookup(values: list[str | None], keys: list[str]) -> list[bool | None]:
    return known(pa.chunked_array([values], pa.string()), pa.chunked_array([keys])).to_pylist()


def test_incremental_flags_equal_a_full_lookup_while_keys_grow() -> None:
    rng = random.Random(7)
    universe = [f"c{i:03}" for i in range(200)]
    keys = rng.sample(universe, 60)
    values: list[str | None] = [rng.choice([*universe, None]) for _ in range(500)]
    flags, remembered = reference_flags(pa.chunked_array([values]), pa.chunked_array([keys]))
    assert flags.to_pylist() == _flags_by_lookup(values, keys)
    for _ in range(30):
        # Keys only join (synced or tombstoned records); some rows change their reference.
        keys += rng.sample([u for u in universe if u not in keys], rng.randint(0, 5))
        changed = set(rng.sample(range(len(values)), rng.randint(0, 20)))
        for i in changed:
            values[i] = rng.choice([*universe, None])
        new_rows = pa.array([i in changed for i in range(len(values))])
        flags, remembered = reference_flags(
            pa.chunked_array([values]),
            pa.chunked_array([keys]),
            new_rows=new_rows,
            previous=remembered,
        )
        assert flags.to_pylist() == _flags_by_lookup(values, keys)
        unknown = {v for v, k in zip(values, flags.to_pylist(), strict=True) if k is False}
        assert (remembered["unknown"], remembered["keys"]) == (sorted(unknown), len(keys))


def test_fewer_keys_than_last_time_looks_everything_up_again() -> None:
    values = pa.chunked_array([["a", "b", "c"]])
    _, remembered = reference_flags(values, pa.chunked_array([["a", "b", "c"]]))
    # "b" vanished without a tombstone (a damaged snapshot): no row changed, yet one is unknown.
    flags, after = reference_flags(
        values,
        pa.chunked_array([["a", "c"]]),
        new_rows=pa.array([False, False, False]),
        previous=remembered,
    )
    assert flags.to_pylist() == [True, False, True]
    assert (after["unknown"], after["keys"]) == (["b"], 2)


def test_only_the_new_rows_and_the_unknown_values_are_looked_up() -> None:
    # An unchanged row's value is not looked up again: a key can only have joined since.
    values = pa.chunked_array([["a", "x", "b"]])
    flags, _ = reference_flags(
        values,
        pa.chunked_array([["a", "b", "y"]]),
        new_rows=pa.array([False, False, True]),
        previous={"unknown": [], "keys": 3, "looked_up_at": datetime.now(UTC).isoformat()},
    )
    assert flags.to_pylist() == [True, True, True]
    assert not pc.all(known(values, pa.chunked_array([["a", "b", "y"]]))).as_py()


def test_a_lost_id_hidden_by_a_new_one_is_caught_by_the_daily_full_lookup() -> None:
    values = pa.chunked_array([["a", "b"]])
    start = datetime(2026, 12, 1, tzinfo=UTC)
    _, remembered = reference_flags(values, pa.chunked_array([["a", "b"]]), now=start)
    # "b" gone without a tombstone while "c" arrived: the count is the same.
    swapped = pa.chunked_array([["a", "c"]])
    unchanged = pa.array([False, False])
    soon, _ = reference_flags(
        values, swapped, new_rows=unchanged, previous=remembered, now=start + timedelta(hours=1)
    )
    assert soon.to_pylist() == [True, True]
    later, facts = reference_flags(
        values, swapped, new_rows=unchanged, previous=remembered, now=start + timedelta(days=2)
    )
    assert later.to_pylist() == [True, False]
    assert facts["unknown"] == ["b"]


def test_values_of_another_type_are_looked_up_whole() -> None:
    values = pa.chunked_array([[1, 2, None]])
    keys = pa.chunked_array([["1"]])
    _, remembered = reference_flags(values, keys)
    flags, _ = reference_flags(
        values, keys, new_rows=pa.array([True, False, False]), previous=remembered
    )
    assert flags.to_pylist() == known(values, keys).to_pylist() == [True, False, None]


def test_more_unknown_values_than_it_remembers_means_a_whole_lookup_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(incremental, "MAX_UNKNOWN", 1)
    values = pa.chunked_array([["x", "y", "a"]])
    _, remembered = reference_flags(values, pa.chunked_array([["a"]]))
    assert remembered["unknown"] is None
    flags, _ = reference_flags(
        values, pa.chunked_array([["a"]]), new_rows=pa.array([False] * 3), previous=remembered
    )
    assert flags.to_pylist() == [False, False, True]
