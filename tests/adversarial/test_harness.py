"""The harness itself: the hostile API forwards, rules answer or rewrite, the small disk fills."""

from __future__ import annotations

import errno

import httpx
import orjson
import pytest
from starlette.responses import Response

from tests.adversarial.hostile import as_response

AUTH = {"Authorization": "Bearer sim-key"}


def test_forwards_unchanged_without_rules(hostile, simulator):
    direct = httpx.get(f"{simulator.base_url}/api/customers/rich?top=3", headers=AUTH).json()
    proxied = httpx.get(f"{hostile.base_url}/api/customers/rich?top=3", headers=AUTH).json()
    assert proxied == direct and proxied["total"] == 300


def test_rules_answer_or_rewrite(hostile):
    async def html_404(request, body, forward):
        return Response("<html>Not Found</html>", 404) if "/rich" not in request.url.path else None

    async def lying_total(request, body, forward):
        upstream = await forward()
        data = orjson.loads(upstream.content)
        data["total"] += 5
        return as_response(upstream, content=orjson.dumps(data))

    hostile.rules += [html_404, lying_total]
    assert httpx.get(f"{hostile.base_url}/api/customers/x", headers=AUTH).text.startswith("<html>")
    page = httpx.get(f"{hostile.base_url}/api/customers/rich?top=1", headers=AUTH).json()
    assert page["total"] == 305
    assert hostile.hits["/api/customers/rich"] == 1


def test_small_disk_fills(small_disk):
    with pytest.raises(OSError) as info, (small_disk / "big").open("wb") as f:
        for _ in range(10):
            f.write(b"\0" * (1 << 20))
            f.flush()
    assert info.value.errno == errno.ENOSPC
