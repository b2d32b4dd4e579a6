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
from pipelines.quality.suites import RECEIVED, load_suites
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
        assert all(vectorized.supports(e) for e in suite.expectations), suite.name
        framed = gate._frame(lake, suite)
        assert framed is not None, suite.name
        table, runtime, _ = framed
        read = [c for e in suite.expectations for c in gate._columns_of(e["kwargs"])]
        frame = table.select([c for c in dict.fromkeys(read) if c in table.schema.names])
        if not frame.num_columns:
            frame = table.select([suite.record_id])
        for i, name in enumerate(frame.column_names):
            frame = frame.set_column(i, name, _damage(frame.column(i), rng, now))
        if suite.table == RECEIVED:
            frame = frame.slice(1)  # one record fewer than the API reported
        parameters = suite.parameters(now, runtime)
        expected = _outcomes(gate._judge_gx(gx, suite, frame, parameters))
        got = _outcomes(gate._judge_vectorized(suite, frame, parameters))
        assert got == expected, suite.name
        assert any(not o[0] or o[2] for o in expected.values()), f"{suite.name}: nothing failed"
        compared |= {f"{suite.name}.{n}" for n in expected}
    assert len(compared) == sum(len(s.expectations) for s in load_suites())


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
