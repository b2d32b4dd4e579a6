"""The client's retry policy, error mapping and secrecy, against httpx.MockTransport."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import httpx
import orjson
import pytest

from pipelines.vivenu.client import (
    ClientSettings,
    Resource,
    VivenuClient,
    parse_retry_after,
    updated_at_filter,
)
from pipelines.vivenu.errors import (
    VivenuAuthError,
    VivenuBadRequest,
    VivenuConfigError,
    VivenuNotFound,
    VivenuProtocolError,
    VivenuUnavailable,
)

KEY = "key-0123456789-very-secret"


def _client(handler, sleeps: list[float], **overrides) -> VivenuClient:
    settings = ClientSettings(
        base_url="https://vivenu.test", api_key=KEY, max_rps=1000, **overrides
    )

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return VivenuClient(settings, transport=httpx.MockTransport(handler), sleep=fake_sleep)


def _page(docs=(), total=0) -> httpx.Response:
    return httpx.Response(200, content=orjson.dumps({"docs": list(docs), "total": total}))


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize(
    ("header", "expect_server_wait"),
    [({"Retry-After": "7"}, True), ({"Retry-After": "0"}, False), ({}, False)],
)
def test_429_retry_after_is_honoured_and_zero_or_absent_backs_off(header, expect_server_wait):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 4:
            return httpx.Response(429, headers=header)
        return _page([{"_id": "a"}], 1)

    sleeps: list[float] = []

    async def go():
        async with _client(handler, sleeps) as client:
            page = await client.list_page(Resource.CUSTOMERS)
            return page, client.stats

    page, stats = run(go())
    assert page.total == 1 and len(calls) == 4
    assert stats.retries == 3 and stats.statuses[429] == 3
    if expect_server_wait:
        assert all(7 <= s <= 7.7 for s in sleeps)
    else:
        # Exponential with jitter: never a hot loop, growing.
        assert all(s >= 0.5 for s in sleeps)
        assert sleeps[2] > sleeps[0]


def test_5xx_and_transport_errors_are_retried_until_attempts_run_out():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    sleeps: list[float] = []

    async def go():
        async with _client(handler, sleeps, max_attempts=3) as client:
            await client.get(Resource.CUSTOMERS, "abc")

    with pytest.raises(VivenuUnavailable, match="after 3 attempts"):
        run(go())
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, VivenuBadRequest), (401, VivenuAuthError), (404, VivenuNotFound)],
)
def test_other_4xx_are_not_retried(status, error):
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(status, json={"statusCode": status, "message": "nope"})

    async def go():
        async with _client(handler, []) as client:
            await client.get(Resource.CUSTOMERS, "abc")

    with pytest.raises(error, match="nope"):
        run(go())
    assert len(calls) == 1


def test_key_is_sent_as_bearer_but_never_in_repr_errors_or_logs(caplog):
    seen = []

    def handler(request):
        seen.append(request.headers["Authorization"])
        return httpx.Response(401, json={"message": "API Key not found or expired"})

    async def go():
        async with _client(handler, []) as client:
            assert KEY not in repr(client) and KEY not in repr(client.settings)
            await client.get(Resource.CUSTOMERS, "abc")

    caplog.set_level(logging.DEBUG)
    with pytest.raises(VivenuAuthError) as info:
        run(go())
    assert seen == [f"Bearer {KEY}"]
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert "VIVENU_API_KEY" in str(info.value)
    assert KEY not in caplog.text


@pytest.mark.attack("a list answer that is not what vivenu documents")
def test_malformed_list_answer_is_a_protocol_error():
    async def go():
        async with _client(lambda r: httpx.Response(200, json=[1, 2]), []) as client:
            await client.list_page(Resource.TRANSACTIONS)

    with pytest.raises(VivenuProtocolError, match="expected"):
        run(go())


def test_filters_use_deep_object_names_and_vivenu_timestamps():
    from datetime import UTC, datetime

    params = updated_at_filter(gte=datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), lt=None)
    assert params == {"updatedAt[$gte]": "2025-01-02T03:04:05.678Z"}


def test_retry_after_http_date():
    from datetime import UTC, datetime

    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("Wed, 01 Jan 2025 00:00:30 GMT", now=now) == 30
    assert parse_retry_after("0") is None and parse_retry_after(None) is None


def test_settings_from_env_name_what_is_missing():
    with pytest.raises(VivenuConfigError, match="VIVENU_API_KEY"):
        ClientSettings.from_env({"VIVENU_BASE_URL": "https://vivenu.com"})
    with pytest.raises(VivenuConfigError, match="CUSTOMER_SYNC_MAX_RPS"):
        ClientSettings.from_env(
            {"VIVENU_BASE_URL": "https://x", "VIVENU_API_KEY": "k", "CUSTOMER_SYNC_MAX_RPS": "fast"}
        )


def test_rate_cap_holds_in_every_window_and_concurrency_is_bounded():
    sent: list[float] = []
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        sent.append(time.monotonic())
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return _page([], 0)

    settings = ClientSettings(
        base_url="https://vivenu.test", api_key=KEY, max_rps=40, concurrency=3
    )

    async def go():
        async with VivenuClient(settings, transport=httpx.MockTransport(handler)) as client:
            await asyncio.gather(*(client.list_page(Resource.CUSTOMERS) for _ in range(60)))

    run(go())
    assert len(sent) == 60 and peak <= 3
    # At most 40 requests (+1 for the bucket's single token) in any one-second window.
    worst = max(sum(1 for t in sent if start <= t < start + 1.0) for start in sent)
    assert worst <= 41


@pytest.mark.attack("11.1 a proxy's HTML 404 taken as vivenu's proof of deletion")
def test_a_404_without_vivenus_json_body_is_not_not_found():
    def handler(request):
        return httpx.Response(404, text="<html><h1>404 Not Found</h1>nginx</html>")

    async def go():
        async with _client(handler, []) as client:
            await client.get(Resource.CUSTOMERS, "abc")

    with pytest.raises(VivenuProtocolError, match="without vivenu's JSON error body"):
        run(go())


def test_the_api_clock_is_read_from_the_date_header():
    def handler(request):
        return httpx.Response(
            200, json={"docs": [], "total": 0}, headers={"Date": "Wed, 02 Dec 2026 07:00:00 GMT"}
        )

    async def go():
        async with _client(handler, []) as client:
            await client.list_page(Resource.CUSTOMERS, top=1)
            return client.stats.server_date

    assert run(go()) == datetime(2026, 12, 2, 7, 0, tzinfo=UTC)


@pytest.mark.attack("11.9 the API key echoed back by vivenu (401, 5xx, text bodies, headers)")
def test_an_echoed_key_is_redacted_from_errors_records_and_http_logs(caplog):
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY).encode()

    def handler(request):
        if request.url.path.endswith("/rich"):
            body = b'{"docs":[{"_id":"a","note":"%s","raw":"Bearer %s"}],"total":1}'
            return httpx.Response(200, content=body % (escaped, KEY.encode()))
        if request.url.path.endswith("/text"):
            return httpx.Response(418, text=f"teapot saw {KEY}")
        return httpx.Response(
            401,
            content=b'{"statusCode":401,"message":"key %s refused"}' % escaped,
            headers={"X-Echo": KEY},
            extensions={"reason_phrase": KEY.encode()},
        )

    async def go():
        async with _client(handler, []) as client:
            page = await client.list_page(Resource.CUSTOMERS)
            errors = []
            for path in ("/api/customers/abc", "/api/text"):
                try:
                    await client.request("GET", path)
                except Exception as exc:
                    errors.append(exc)
            return page, errors

    caplog.set_level(logging.DEBUG)
    page, (auth, teapot) = run(go())
    assert page.docs == [{"_id": "a", "note": "[redacted]", "raw": "Bearer [redacted]"}]
    assert isinstance(auth, VivenuAuthError) and "key [redacted] refused" in str(auth)
    assert "teapot saw [redacted]" in str(teapot)
    assert "HTTP Request" in caplog.text and KEY not in caplog.text


def test_a_refused_connection_after_vivenu_answered_is_an_outage_and_gets_every_retry():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return _page([], 0)
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    sleeps: list[float] = []

    async def go():
        async with _client(handler, sleeps, max_attempts=5) as client:
            await client.list_page(Resource.CUSTOMERS)
            await client.list_page(Resource.CUSTOMERS)

    with pytest.raises(VivenuUnavailable, match="after 5 attempts") as info:
        run(go())
    assert len(calls) == 1 + 5 and "VIVENU_BASE_URL" not in str(info.value)


def test_clients_share_one_verifying_tls_context_per_ca_setting(monkeypatch):
    import ssl

    import certifi

    from pipelines.vivenu.client import tls_context

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    first = tls_context()
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    assert tls_context() is first
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())  # another CA setting: its own context
    assert tls_context() is not first
    settings = ClientSettings(base_url="https://vivenu.test", api_key=KEY)
    clients = [VivenuClient(settings) for _ in range(2)]
    assert all(c._http._transport._pool._ssl_context is tls_context() for c in clients)
