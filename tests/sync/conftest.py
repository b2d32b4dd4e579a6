"""Fixtures of the sync tests: a simulator behind a proxy that shifts offsets between pages."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl

import httpx
import pytest

from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from tests.adversarial.hostile import HostileAPI

CUSTOMERS = "/api/customers/rich"


@pytest.fixture
def shifted() -> Iterator[tuple[SimulatorServer, HostileAPI, dict[int, int]]]:
    """A simulator with 6,000 customers behind a proxy that, before it forwards the k-th
    customers page past the first (offset > 0) with k in `shifts` (k -> n), updates the first
    n customers of that page's window: they leave it (the upper bound is frozen), so every
    later record moves n offsets down between one page and the next."""
    shifts: dict[int, int] = {}
    pages = [0]
    with SimulatorServer(Store.seeded(6000, 5)) as sim, HostileAPI(sim.base_url) as proxy:

        async def shift(request, body, forward):
            query = dict(parse_qsl(request.url.query))
            if request.url.path != CUSTOMERS or query.get("skip", "0") == "0":
                return None
            pages[0] += 1
            if n := shifts.pop(pages[0], 0):
                head = {**query, "top": str(n), "skip": "0"}
                headers = {"Authorization": f"Bearer {sim.api_key}"}
                async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as http:
                    docs = (await http.get(CUSTOMERS, params=head)).json()["docs"]
                for doc in docs:
                    sim.store.update_customer(doc["_id"], {"notes": "moved out of the window"})
            return None  # forwarded as it is

        proxy.rules.append(shift)
        yield sim, proxy, shifts
