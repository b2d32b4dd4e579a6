"""A hostile or misaddressed API at the transport level: slow-loris bodies, stalled servers,
wrong base URLs, ids that would rewrite the URL path. Real HTTP on 127.0.0.1 throughout."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from pipelines.vivenu.client import ClientSettings, Resource, VivenuClient
from pipelines.vivenu.errors import (
    VivenuConfigError,
    VivenuInvalidId,
    VivenuUnavailable,
    VivenuUnreachable,
)
from tests.adversarial.hostile import Forward
from tests.clirun import clean_env, run_cli


def _client(base_url: str, **settings: float) -> VivenuClient:
    return VivenuClient(
        ClientSettings(
            base_url=base_url, api_key="sim-key", max_rps=1000, backoff_initial_s=0.05, **settings
        )
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(*args: str, base_url: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = clean_env(
        VIVENU_BASE_URL=base_url, VIVENU_API_KEY="k", CUSTOMER_SYNC_DATA_DIR=str(data_dir)
    )
    return run_cli(*args, env=env, timeout=120)


@pytest.mark.attack("11.15 a slow-loris API drips a page's body (no overall deadline)")
def test_a_dripping_body_hits_the_per_request_deadline(hostile):
    async def drip(request: Request, body: bytes, forward: Forward) -> Response | None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"docs": ['
            for _ in range(60):  # 12 s in all, each read well within the per-read timeout
                await asyncio.sleep(0.2)
                yield b" "
            yield b'], "total": 0}'

        return StreamingResponse(chunks(), media_type="application/json")

    hostile.rules.append(drip)

    async def go() -> VivenuClient:
        async with _client(hostile.base_url, timeout_s=1, deadline_s=1.5) as client:
            with pytest.raises(VivenuUnavailable, match=r"1\.5 s deadline") as info:
                await client.list_page(Resource.CUSTOMERS)
            assert "too slowly" in str(info.value) and "rate limiting" not in str(info.value)
            return client

    client = asyncio.run(go())
    assert client.stats.requests == 3  # timeout_attempts, not max_attempts
    assert hostile.hits["/api/customers/rich"] == 3


@pytest.mark.attack("11.15 a completely stalled API (retried as long as a 5xx)")
def test_a_stalled_server_gets_few_tries(hostile):
    async def stall(request: Request, body: bytes, forward: Forward) -> Response | None:
        await asyncio.sleep(60)
        return None

    hostile.rules.append(stall)

    async def go() -> VivenuClient:
        async with _client(hostile.base_url, timeout_s=0.3, timeout_attempts=2) as client:
            with pytest.raises(VivenuUnavailable, match="ReadTimeout"):
                await client.get(Resource.CUSTOMERS, "abc")
            return client

    assert asyncio.run(go()).stats.requests == 2


@pytest.mark.attack(
    "11.16 a wrong base URL (connection refused) retried for minutes, blamed on rate limits"
)
def test_a_refused_connection_fails_fast_naming_the_base_url(tmp_path):
    base_url = f"http://127.0.0.1:{_closed_port()}"

    async def go() -> VivenuClient:
        async with _client(base_url) as client:
            with pytest.raises(VivenuUnreachable, match="VIVENU_BASE_URL") as info:
                await client.list_page(Resource.CUSTOMERS)
            assert "rate limiting" not in str(info.value) and base_url in str(info.value)
            return client

    assert asyncio.run(go()).stats.requests == 2  # connect_attempts
    done = _cli("sync", "--quiet", base_url=base_url, data_dir=tmp_path)
    assert done.returncode == 1
    assert "VIVENU_BASE_URL" in done.stderr and "rate limiting" not in done.stderr


@pytest.mark.attack("11.16 a wrong base URL (TLS to a plain-HTTP port) retried for minutes")
def test_a_tls_failure_fails_fast_naming_the_base_url(hostile):
    async def go() -> VivenuClient:
        async with _client(f"https://127.0.0.1:{hostile.port}") as client:
            with pytest.raises(VivenuUnreachable, match="VIVENU_BASE_URL"):
                await client.list_page(Resource.CUSTOMERS)
            return client

    assert asyncio.run(go()).stats.requests == 2


@pytest.mark.attack("11.16 a base URL ending in /api (paths become /api/api/...)")
@pytest.mark.parametrize("suffix", ["/api", "/api/", "/API"])
def test_a_base_url_ending_in_api_is_a_config_error(hostile, suffix, tmp_path):
    with pytest.raises(VivenuConfigError, match=r"VIVENU_BASE_URL=.* ends in /api"):
        ClientSettings(base_url=hostile.base_url + suffix, api_key="k")
    with pytest.raises(VivenuConfigError, match="ends in /api"):
        ClientSettings.from_env(
            {"VIVENU_BASE_URL": hostile.base_url + suffix, "VIVENU_API_KEY": "k"}
        )
    if suffix == "/api":
        done = _cli("sync", "--quiet", base_url=hostile.base_url + suffix, data_dir=tmp_path)
        assert done.returncode == 3 and "ends in /api" in done.stderr
    assert not hostile.hits


@pytest.mark.attack("11.19 ids that rewrite the URL path (../transactions/x, a b?c=1#f)")
@pytest.mark.parametrize(
    "bad_id", ["../transactions/x", "a b?c=1#f", "x/../../y", "%2e%2e", "", "abc\n", "é"]
)
def test_ids_that_are_not_vivenu_ids_are_refused_before_any_request(hostile, simulator, bad_id):
    valid = simulator.store.live_customer_ids()[0]

    async def go() -> None:
        async with _client(hostile.base_url) as client:
            with pytest.raises(VivenuInvalidId, match="is not a vivenu id"):
                await client.get(Resource.CUSTOMERS, bad_id)
            with pytest.raises(VivenuInvalidId):
                await client.update_customer(bad_id, {"company": "x"})
            with pytest.raises(ValueError):  # a ValueError to callers that know no better
                await client.get(Resource.TRANSACTIONS, bad_id)
            assert not hostile.hits and client.stats.requests == 0
            assert (await client.get(Resource.CUSTOMERS, valid))["_id"] == valid

    asyncio.run(go())
    assert hostile.hits == {f"/api/customers/{valid}": 1}
