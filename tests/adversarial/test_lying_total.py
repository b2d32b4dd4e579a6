"""A list `total` that disagrees with the pages: told apart from churn at once, and named."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
import pytest

from pipelines.sync.engine import SyncFailed, SyncOptions, sync_resource
from pipelines.sync.lake import Lake
from pipelines.vivenu.client import ClientSettings, Resource, VivenuClient
from tests.adversarial.hostile import as_response


@pytest.mark.attack("11.16 a lying list total")
@pytest.mark.parametrize("lie", [5, -5])
def test_a_total_that_paging_contradicts_fails_fast_saying_what_was_seen(tmp_path, hostile, lie):
    async def lying_total(request, body, forward):
        if request.url.path != "/api/customers/rich":
            return None
        upstream = await forward()
        data = orjson.loads(upstream.content)
        data["total"] += lie
        return as_response(upstream, content=orjson.dumps(data))

    hostile.rules.append(lying_total)
    settings = ClientSettings(base_url=hostile.base_url, api_key="sim-key", max_rps=1000)

    async def go() -> None:
        async with VivenuClient(settings) as client:
            options = SyncOptions(safety_lag=timedelta(0))
            # Blamed on churn, this took minutes of splitting and re-reading.
            await asyncio.wait_for(
                sync_resource(client, Lake(tmp_path), Resource.CUSTOMERS, options), timeout=30
            )

    with pytest.raises(SyncFailed) as failed:
        asyncio.run(go())
    message = str(failed.value)
    assert f"announced total {300 + lie}" in message and "300 distinct records" in message
    assert "customers window [1970-01-01" in message and "churn" in message
    assert "\n" not in message
    assert hostile.hits["/api/customers/rich"] <= 4
