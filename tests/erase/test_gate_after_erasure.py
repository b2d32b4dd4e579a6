"""A validation that read the snapshot before an erasure and writes its rejects after it (the
gate takes no writer claim): the erased person's rows stay out of the rejects it writes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.erase.keys import ErasedSet
from pipelines.quality import rejects
from pipelines.quality.gate import validate_snapshot
from pipelines.sync.engine import new_run_id
from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from tests.sync.truth import sync


@pytest.mark.attack("a gate's rejects, judged before an erasure, written after it")
def test_rejects_written_after_an_erasure_leave_its_person_out(tmp_path):
    store = Store.seeded(200, 9)
    person = store.live_customer_ids()[3]
    store.update_customer(person, {"primaryEmail": "not an address"})
    with SimulatorServer(store) as sim:
        sync(sim, tmp_path)
    lake = Lake(tmp_path)
    assert validate_snapshot(lake, "customers").rejected == 1

    # The erasure has recorded the person; the snapshot this validation reads still holds them.
    erased = ErasedSet.ensure(lake.root)
    erased.record(lake.root, [("customers", person)], new_run_id(datetime.now(UTC)))
    report = validate_snapshot(lake, "customers")

    assert report.rejected == 0
    assert rejects.read(lake, "customers").num_rows == 0
    assert person.encode() not in rejects.rejected_path(lake, "customers").read_bytes()
