"""The demo's story adds up, on a real run of it: what it says vivenu's truth differs from the
lake by (ours plus the background writer's) is what its syncs and its reconcile then find."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from pipelines import demo
from pipelines.registry import RESOURCES
from pipelines.vivenu.simulator.server import SimulatorServer

NAMES = [r.name for r in RESOURCES]


def _row(lines: list[str], label: str) -> list[str]:
    """The cells of the first table row `label` in `lines` (one per resource)."""
    for line in lines:
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0] == label:
            return cells[1:]
    raise AssertionError(f"no row {label!r} in {lines}")


def _after(text: str, heading: str) -> list[str]:
    return text[text.index(heading) :].splitlines()


def _told(cell: str) -> tuple[int, int]:
    """`510 = 20 + 490` -> (510, 20), checking the sum; `145` -> (145, 0)."""
    numbers = [int(n.replace(",", "")) for n in re.findall(r"[\d,]+", cell)]
    if len(numbers) == 3:
        total, ours, theirs = numbers
        assert total == ours + theirs, cell
        return total, ours
    assert len(numbers) == 1, cell
    return numbers[0], 0


@pytest.mark.slow
def test_the_demos_numbers_add_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The smallest demo (1,200 customers) with its background writer. Slow (~40 s): five real
    Dagster runs."""
    # demo.run sets these for its jobs; monkeypatch puts the originals back afterwards.
    for name in ("VIVENU_BASE_URL", "VIVENU_API_KEY", "CUSTOMER_SYNC_DATA_DIR",
                 "CUSTOMER_SYNC_MAX_RPS", "DAGSTER_HOME"):  # fmt: skip
        monkeypatch.setenv(name, "")
    printed = io.StringIO()
    monkeypatch.setattr(demo, "out", Console(file=printed, width=250, color_system=None))
    store, writer = demo.seller(customers=demo.MIN_CUSTOMERS)
    with SimulatorServer(store, writer=writer) as sim:
        story = demo.run(sim, writer, tmp_path / "demo")
    text = printed.getvalue()

    # The writer wrote while the first sync ran, and the demo says what it did.
    assert sum(story["writer"].values()) > 0
    assert f"the background writer made {sum(story['writer'].values()):,} writes" in text

    # What the demo printed before the incremental sync is what it returned, and each split
    # (ours + the writer's) adds up; ours are the changes and deletions it says it made.
    before = story["before_incremental"]
    lines = _after(text, "So vivenu now differs from the lake by")
    for kind in demo.DRIFT_KINDS:
        assert [_told(c) for c in _row(lines, kind)] == [before[r][kind] for r in NAMES]
    said = re.search(r"We changed ([\d,]+) customers \(1%\) and deleted (\d+) in vivenu", text)
    assert said, text
    assert before["customers"]["changed"][1] == int(said[1].replace(",", "")) > 0
    assert before["customers"]["deleted"][1] == int(said[2]) > 0
    # Whatever else was deleted, the writer deleted (nobody else writes).
    deleted = before["customers"]["deleted"]
    assert deleted[0] - deleted[1] <= story["writer"].get("delete_customer", 0)

    # The incremental sync's printed new / changed are the drift's totals, per resource.
    found = _row(_after(text, "2. Incremental sync"), "new / changed")
    assert found == [f"{before[r]['new'][0]:,} / {before[r]['changed'][0]:,}" for r in NAMES]
    assert story["incremental"] == {
        r: (before[r]["new"][0], before[r]["changed"][0]) for r in NAMES
    }
    # The reconcile confirmed exactly the deletions.
    assert story["reconcile"] == {r: (before[r]["deleted"][0],) for r in NAMES}
    confirmed = re.search(r"of those (\d+) confirmed deleted by a 404", text)
    assert confirmed and int(confirmed[1]) == deleted[0]

    # After the push, the last sync finds the pushed edits and nothing else.
    after_push = story["before_last"]
    assert story["last"] == {
        r: (after_push[r]["new"][0], after_push[r]["changed"][0]) for r in NAMES
    }
    applied = re.search(r"to vivenu: (\d+) applied", text)
    assert applied and after_push["customers"]["changed"][0] == int(applied[1]) > 0
    found = _row(_after(text, "5. Sync again"), "new / changed")
    assert found[0] == f"0 / {int(applied[1]):,}"

    assert text.count(": as expected") == 3 and "EXPECTED" not in text
    assert all(story["exact"].values()) and "DIFFERENT" not in text
