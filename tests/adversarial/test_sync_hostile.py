"""The sync against a hostile vivenu: answers that look complete but are not."""

from __future__ import annotations

import orjson
import pytest

from tests.adversarial.hostile import as_response
from tests.sync.truth import mismatches, sync


@pytest.mark.attack("11.5 a duplicate id inside a one-page answer hides a record")
def test_duplicate_in_a_one_page_answer_is_not_accepted(hostile, simulator, tmp_path):
    spoiled: list[str] = []

    async def duplicate_once(request, body, forward):
        if request.url.path != "/api/customers/rich" or spoiled:
            return None
        upstream = await forward()
        page = orjson.loads(upstream.content)
        docs = page["docs"]
        assert page["total"] == len(docs) > 1  # one page holds the whole window
        spoiled.append(docs[1]["_id"])
        docs[1] = docs[0]  # len(docs) == total still, one record fewer
        return as_response(upstream, content=orjson.dumps(page))

    hostile.rules.append(duplicate_once)
    sync(simulator, tmp_path, via=hostile.base_url)
    assert spoiled
    assert mismatches(simulator, tmp_path) == {}
