"""Writes `data/samples/crm_changes.csv`, the demo's CRM change file.

Its rows name customers of the demo's simulated seller, `Store.seeded(20000, 42)`, picked by
customer number; the last rows are deliberately invalid so the demo shows rejects. Seeded ids embed
their creation time and the seeded history ends today, so the checked-in file is pinned to
`SAMPLE_TODAY` (the same on every machine and day) and the demo writes the same rows for its own
store. Regenerate with `python -m pipelines.push.sample`.
"""

from __future__ import annotations

import csv
import io
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.vivenu.simulator.store import Store

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "crm_changes.csv"
SAMPLE_TODAY = date(2026, 12, 1)
COLUMNS = [
    "id",
    "email",
    "company",
    "prename",
    "lastname",
    "phone",
    "notes",
    "location.city",
    "location.postal",
    "location.country",
    "primaryEmail",
    "tags.add",
    "tags.remove",
    "verified",
    "blocked",
    "meta",
    "updatedAt",
]


def rows(
    customers: int = 20000, seed: int = 42, *, store: Store | None = None
) -> list[dict[str, Any]]:
    """The sample's rows for `store`, by default the seeded store as of `SAMPLE_TODAY`."""
    if store is None:
        from pipelines.vivenu.simulator.store import Store  # dev tool: keeps the simulator optional

        store = Store.seeded(customers, seed, today=SAMPLE_TODAY)
    by_number = {d["number"]: d for d in store.customers_truth()}
    pick = [by_number[n] for n in range(101, 101 + 97 * 12, 97)]
    # A tagged customer none of the picks is: past 2000 in a store that big (the checked-in file).
    tagged = [d for d in by_number.values() if d["number"] > pick[-1]["number"] and d.get("tags")]
    tagged = next((d for d in tagged if d["number"] > 2000), tagged[0])
    out: list[dict[str, Any]] = [
        {"id": pick[0]["_id"], "company": "Nordlicht Events GmbH"},
        {
            "email": pick[1]["primaryEmail"],
            "phone": "+49 40 5550101",
            "notes": "CRM: prefers phone",
        },
        {"id": pick[2]["_id"], "location.city": "Leipzig", "location.postal": "04109"},
        {"id": pick[3]["_id"], "tags.add": "crm-vip"},
        {"id": tagged["_id"], "tags.add": "crm-vip|newsletter", "tags.remove": tagged["tags"][0]},
        {
            "email": pick[4]["primaryEmail"].upper(),  # emails match case-insensitively
            "verified": "false" if pick[4]["verified"] else "true",
        },
        {"id": pick[5]["_id"], "meta": '{"crm_id": "C-10006"}'},
        {"id": pick[6]["_id"], "prename": "Alexandra", "lastname": pick[6]["lastname"]},
        {"id": pick[7]["_id"], "blocked": "true", "notes": "CRM: chargeback 2024-11"},
        {"id": pick[8]["_id"], "primaryEmail": f"crm.{pick[8]['number']}@example.org"},
        {"id": pick[9]["_id"], "company": pick[9]["company"] or "<clear>"},  # no change: skipped
        # Deliberately invalid rows.
        {"id": "0123456789abcdef01234567", "company": "Unknown Customer AG"},
        {"id": pick[10]["_id"], "location.country": "Deutschland"},
        {"email": pick[11]["primaryEmail"], "primaryEmail": "not-an-email"},
        {"id": pick[11]["_id"], "notes": "stale export", "updatedAt": "2024-01-01T00:00:00.000Z"},
    ]
    return out


def render(sample_rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sample_rows)
    return buffer.getvalue()


if __name__ == "__main__":
    text = render(rows())
    SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    SAMPLE.write_text(text)
    sys.stdout.write(f"wrote {SAMPLE} ({text.count(chr(10)) - 1} rows)\n")
