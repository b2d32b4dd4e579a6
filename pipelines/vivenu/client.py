"""Typed async client for the vivenu REST API (no Dagster imports).

One `VivenuClient` per run: it holds the connection pool, the requests-per-second cap, the
concurrency bound and the retry policy, and counts what it did in `stats`. It works unchanged
against https://vivenu.com, https://vivenu.dev and the bundled simulator.

Retries: 429, 5xx and transport errors are retried with exponential backoff and jitter; a
`Retry-After` of N > 0 seconds is honoured, while `Retry-After: 0` or no header means the same
backoff (never a hot loop). Other 4xx are raised at once (see `pipelines.vivenu.errors`).
Every attempt has a deadline for the whole answer, body included (a server dripping bytes never
trips the per-read timeout), and timeouts get fewer tries than other failures, so a stalled
server fails a request within minutes. A host that cannot be reached (connection refused, DNS,
TLS) before vivenu ever answered is a wrong VIVENU_BASE_URL, not an outage: it fails after
`connect_attempts` quick tries.

Secrecy: the API key is replaced by `REDACTED` in every answer body as it arrives (however the
server spells it; in records only when it is long enough to tell from ordinary text) and in every
transport error, so no message, exception or record built from what vivenu sends can carry it; a
logging filter does the same for httpx's and httpcore's logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import fcntl
import functools
import hashlib
import logging
import os
import random
import ssl
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

# `Resource` is re-exported: callers name a spec `Resource.CUSTOMERS`, as before the registry.
from pipelines.registry import BY_NAME, Resource, ResourceSpec  # noqa: F401
from pipelines.settings import (
    API_KEY,
    BASE_URL,
    CONCURRENCY,
    MAX_RPS,
    SettingsError,
    data_dir,
    max_requests_per_hour,
)
from pipelines.vivenu.errors import (
    VivenuAuthError,
    VivenuBadRequest,
    VivenuConfigError,
    VivenuHTTPError,
    VivenuNotFound,
    VivenuProtocolError,
    VivenuUnavailable,
    VivenuUnreachable,
)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_TIMEOUT_HINT = "vivenu answered too slowly or not at all; retry later"
MAX_TOP = 1000
# Under the data directory: the hourly budget's state, shared by its processes.
BUDGET_DIR = "budget"
REDACTED = "[redacted]"
# A key shorter than this (a test key like "k") is only redacted from messages: replacing it in
# records would corrupt ordinary text, and no real vivenu key is that short.
MIN_KEY_REDACTED_IN_RECORDS = 16
_HTTP_LOGGERS = (
    "httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
    "httpcore.socks",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    """Where and how fast to talk to vivenu.

    Args:
        base_url: scheme and host, e.g. ``https://vivenu.com``; paths start with ``/api``.
        api_key: the seller's API key, sent as a Bearer token; never printed.
        timeout_s: longest wait for connecting, and for each read or write.
        deadline_s: longest time for one attempt's whole answer, body included.
        max_rps: requests-per-second cap across all concurrent requests.
        concurrency: requests in flight at once.
        max_requests_per_hour: the hourly request budget of the API key; None: none.
        budget_dir: where the budget's state is shared by every process of one data
            directory; None: by the clients of this process only.
        max_attempts: tries per request before giving up (retryable failures only).
        timeout_attempts: tries per request when attempts time out (at most max_attempts).
        connect_attempts: tries when the host cannot be reached and vivenu never answered yet.
        backoff_initial_s: first backoff; doubles per attempt, plus up to as much jitter.
        backoff_max_s: longest backoff between attempts.
        max_retry_after_s: the longest Retry-After honoured; a longer one fails the request at
            once (waiting an hour inside a sync helps nobody).
    """

    base_url: str
    api_key: str = field(repr=False)
    timeout_s: float = 30.0
    deadline_s: float = 60.0
    max_rps: float = MAX_RPS.default
    concurrency: int = CONCURRENCY.default
    max_requests_per_hour: int | None = None
    budget_dir: Path | None = None
    max_attempts: int = 8
    timeout_attempts: int = 3
    connect_attempts: int = 2
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 300.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise VivenuConfigError(
                f"VIVENU_BASE_URL must start with http:// or https://, got {self.base_url!r}"
            )
        if urllib.parse.urlsplit(self.base_url).path.rstrip("/").lower().endswith("/api"):
            raise VivenuConfigError(
                f"VIVENU_BASE_URL={self.base_url!r} ends in /api: set only the scheme and host "
                "(e.g. https://vivenu.com); the client adds /api/... to every path itself"
            )
        if not self.api_key:
            raise VivenuConfigError("VIVENU_API_KEY is empty: set it to the seller's API key")
        if not self.max_rps > 0:
            raise VivenuConfigError(f"CUSTOMER_SYNC_MAX_RPS={self.max_rps:g}: must be > 0")
        if self.concurrency < 1:
            raise VivenuConfigError(f"CUSTOMER_SYNC_CONCURRENCY={self.concurrency}: must be >= 1")
        if self.max_requests_per_hour is not None and self.max_requests_per_hour < 1:
            raise VivenuConfigError(
                f"CUSTOMER_SYNC_MAX_REQUESTS_PER_HOUR={self.max_requests_per_hour}: must be >= 1"
            )
        if self.max_attempts < 1:
            raise VivenuConfigError(f"max_attempts={self.max_attempts}: must be >= 1")
        if self.timeout_s <= 0 or self.deadline_s <= 0:
            raise VivenuConfigError("timeout_s and deadline_s must be > 0")
        if self.timeout_attempts < 1 or self.connect_attempts < 1:
            raise VivenuConfigError("timeout_attempts and connect_attempts must be >= 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ClientSettings:
        """Settings from VIVENU_BASE_URL, VIVENU_API_KEY, CUSTOMER_SYNC_MAX_RPS,
        CUSTOMER_SYNC_CONCURRENCY and CUSTOMER_SYNC_MAX_REQUESTS_PER_HOUR (its state shared in
        CUSTOMER_SYNC_DATA_DIR's `budget/`); keyword overrides win."""
        values: dict[str, Any] = {"budget_dir": data_dir(env) / BUDGET_DIR}
        try:
            values["max_requests_per_hour"] = max_requests_per_hour(env)
        except SettingsError as exc:
            raise VivenuConfigError(str(exc)) from None
        for key, var, kind in (
            ("base_url", BASE_URL, str),
            ("api_key", API_KEY, str),
            ("max_rps", MAX_RPS, float),
            ("concurrency", CONCURRENCY, int),
        ):
            raw = var.raw(env)
            if raw:
                try:
                    values[key] = kind(raw)
                except ValueError:
                    raise VivenuConfigError(
                        f"{var.name}={raw!r} is not a valid {kind.__name__}"
                    ) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key, var in (("base_url", BASE_URL), ("api_key", API_KEY)):
            if not values.get(key):
                raise VivenuConfigError(f"{var.name} is not set")
        values["base_url"] = values["base_url"].rstrip("/")
        return cls(**values)


def least_seconds(requests: int, settings: ClientSettings, *, used: float = 0.0) -> float:
    """The least time the client's rate caps allow `requests` requests (answers take none): one
    every 1/max_rps s; with an hourly budget of which `used` requests are spent already, what is
    left of it at that pace, then one every 3600/budget s."""
    if requests <= 0:
        return 0.0
    seconds = (requests - 1) / settings.max_rps
    budget = settings.max_requests_per_hour
    if budget is not None and used + requests > budget:
        seconds = max(seconds, (used + requests - budget) * 3600 / budget)
    return seconds


class HourlyBudget:
    """The hourly request budget of one API key: a leaky bucket of `per_hour` that drains over
    an hour and starts empty. Shared by every client of this process (a Dagster run makes a
    client per step, each in its own event loop, where an aiolimiter `AsyncLimiter` cannot
    follow), and with a state file (`ClientSettings.budget_dir`) by every process of one data
    directory: the budget is the key's, not a step's or a process's."""

    _shared: dict[tuple[str, str, int, Path | None], HourlyBudget] = {}
    _shared_lock = threading.Lock()

    def __init__(self, per_hour: int, state: Path | None = None) -> None:
        self.per_hour = per_hour
        self.state = state
        self.level = 0.0  # requests in the bucket, reserved ones included (no state file)
        self._last = time.time()
        self._lock = threading.Lock()

    @classmethod
    def of(
        cls, base_url: str, api_key: str, per_hour: int, budget_dir: Path | None = None
    ) -> HourlyBudget:
        """The budget of `api_key` at `base_url` (a new one when `per_hour` changes), kept in
        `budget_dir` when given."""
        state = None
        if budget_dir is not None:
            # The file is named by a digest: the key itself is never written.
            digest = hashlib.sha256(f"{base_url}\n{api_key}".encode()).hexdigest()[:24]
            state = budget_dir / f"{digest}.json"
        with cls._shared_lock:
            return cls._shared.setdefault(
                (base_url, api_key, per_hour, state), cls(per_hour, state)
            )

    def reserve(self) -> float:
        """Take a request from the budget: the seconds to wait before sending it (0 while the
        bucket has room). Reserved at once, so concurrent requests (of any process sharing the
        state file) queue one behind another; a request cancelled while it waits keeps its
        place spent (the budget errs on the safe side)."""
        with self._lock, self._bucket() as bucket:
            level = bucket[0]
            bucket[0] = level + 1
            return max(0.0, (level + 1 - self.per_hour) * 3600 / self.per_hour)

    def used(self) -> float:
        """Requests in the bucket now: sent (or reserved) within about the last hour."""
        with self._lock, self._bucket() as bucket:
            return bucket[0]

    @contextlib.contextmanager
    def _bucket(self) -> Iterator[list[float]]:
        """The bucket's level, drained to now, as a one-item list the block may change; with a
        state file, read and written back under an exclusive lock of its own file."""
        if self.state is None:
            now = time.time()
            bucket = [self._drained(self.level, self._last, now)]
            yield bucket
            self.level, self._last = bucket[0], now
            return
        self.state.parent.mkdir(parents=True, exist_ok=True)
        with open(self.state.with_suffix(".lock"), "a") as lock:
            # flock is released by the kernel when its holder dies (kill -9 included).
            fcntl.flock(lock, fcntl.LOCK_EX)
            level, last = self._read_state()
            now = time.time()
            bucket = [self._drained(level, last, now)]
            yield bucket
            self._write_state(bucket[0], now)

    def _drained(self, level: float, last: float, now: float) -> float:
        # A clock stepped back drains nothing (the safe side).
        return max(0.0, level - max(0.0, now - last) * self.per_hour / 3600)

    def _read_state(self) -> tuple[float, float]:
        assert self.state is not None
        try:
            found = orjson.loads(self.state.read_bytes())
            return float(found["level"]), float(found["at"])
        except FileNotFoundError:
            return 0.0, time.time()
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            # Written by rename, so never half-written; unreadable all the same (edited by
            # hand?): counted as a full bucket, which drains within the hour.
            return float(self.per_hour), time.time()

    def _write_state(self, level: float, now: float) -> None:
        assert self.state is not None
        part = self.state.with_suffix(f".{os.getpid()}.part")
        part.write_bytes(orjson.dumps({"level": level, "at": now}))
        os.replace(part, self.state)  # whole or not at all, whenever the writer dies


@dataclass
class ClientStats:
    """What the client did: requests sent, retries, answers by status, time spent backing off."""

    requests: int = 0
    retries: int = 0
    backoff_s: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    started: float = field(default_factory=time.monotonic)
    # The API's own clock (its latest `Date` header): run bounds are checked against it, so a
    # host clock running fast cannot move a high-water mark past changes not yet fetched.
    server_date: datetime | None = None

    def requests_per_second(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.requests / elapsed if elapsed > 0 else 0.0


@dataclass(frozen=True)
class Webhook:
    """A webhook subscription as vivenu lists it, without its `hmacKey` (never kept here)."""

    id: str
    name: str
    url: str
    enabled: bool
    events: tuple[str, ...]  # the event types it is subscribed to, sorted

    @classmethod
    def from_api(cls, doc: Mapping[str, Any]) -> Webhook:
        """The subscription in one of vivenu's webhook documents."""
        events = doc.get("events") or {}
        return cls(
            id=str(doc["_id"]),
            name=str(doc.get("name", "")),
            url=str(doc.get("url", "")),
            # The document leaves `enabled` optional; vivenu's default is on.
            enabled=doc.get("enabled", True) is not False,
            events=tuple(sorted(k for k, v in events.items() if v is True)),
        )


def _webhook_body(
    *, name: str, url: str, events: tuple[str, ...] | list[str], hmac_key: str, enabled: bool
) -> dict[str, Any]:
    return {
        "name": name,
        "url": url,
        "enabled": enabled,
        "events": dict.fromkeys(events, True),
        "hmacKey": hmac_key,
    }


@dataclass(frozen=True)
class Page:
    """One list response: the page's records and the count of every match."""

    docs: list[dict[str, Any]]
    total: int


class _Failure(Enum):
    """What kind of retryable failure an attempt met; timeouts and unreachable hosts get fewer
    tries than rate limiting and server errors."""

    ANSWER = "answer"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"


class _Retryable(Exception):
    def __init__(
        self,
        description: str,
        retry_after_s: float | None = None,
        kind: _Failure = _Failure.ANSWER,
    ) -> None:
        super().__init__(description)
        self.retry_after_s = retry_after_s
        self.kind = kind


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/0."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return seconds if seconds > 0 else None


def updated_at_filter(field: str = "updatedAt", **ops: datetime | str | None) -> dict[str, str]:
    """deepObject query params for `field`, e.g. ``updated_at_filter(gte=a, lt=b)``."""
    params = {}
    for op, value in ops.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            value = format_timestamp(value)
        params[f"{field}[${op}]"] = value
    return params


def format_timestamp(value: datetime) -> str:
    """vivenu's timestamp format: ISO-8601 UTC with milliseconds and Z."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


class _KeyRedactor(logging.Filter):
    """Replaces the API key in text, in answer bodies and in log records."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self._key_json = orjson.dumps(key)[1:-1]  # the key as it appears in a JSON string
        self._in_records = len(key) >= MIN_KEY_REDACTED_IN_RECORDS

    def text(self, value: str) -> str:
        return value.replace(self.key, REDACTED)

    def body(self, content: bytes, *, records: bool) -> bytes:
        """`content` without the key; `records` marks a success body (records, not a message)."""
        if records and not self._in_records:
            return content
        if b"\\u" in content or b"\\/" in content:
            # A JSON escape can spell the key: compare in orjson's canonical form, which writes
            # every printable character as itself.
            with contextlib.suppress(orjson.JSONDecodeError):
                content = orjson.dumps(orjson.loads(content))
        return content.replace(self._key_json, REDACTED.encode())

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.key in message:
            record.msg, record.args = self.text(message), None
        return True


@functools.cache
def _tls(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    del cert_file, cert_dir  # the cache key: httpx reads them from the environment itself
    return httpx.create_ssl_context()


def tls_context() -> ssl.SSLContext:
    """httpx's own verifying context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), built once per
    CA setting and shared: each client building its own reads the CA bundle again, about 50 ms,
    several times a run."""
    return _tls(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


class VivenuClient:
    """Async vivenu API client with a rate cap, bounded concurrency and retries.

    Use as ``async with VivenuClient(settings) as client: ...``. ``transport`` is injectable
    (``httpx.MockTransport`` in unit tests).
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.stats = ClientStats()
        self._sleep = sleep
        self._redactor = _KeyRedactor(settings.api_key)
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).addFilter(self._redactor)
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            headers={
                "Authorization": f"Bearer {settings.api_key}",
                "Accept": "application/json",
                "User-Agent": "customer-sync/0.1",
            },
            timeout=settings.timeout_s,
            transport=transport,
            verify=tls_context(),
            limits=httpx.Limits(max_connections=settings.concurrency),
        )
        # A bucket of one drained at max_rps holds the cap in every window, with no initial burst.
        self._limiter = AsyncLimiter(1, 1.0 / settings.max_rps)
        self._hourly = (
            HourlyBudget.of(
                settings.base_url,
                settings.api_key,
                settings.max_requests_per_hour,
                settings.budget_dir,
            )
            if settings.max_requests_per_hour
            else None
        )
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._exponential = wait_exponential_jitter(
            multiplier=settings.backoff_initial_s,
            max=settings.backoff_max_s,
            jitter=settings.backoff_initial_s,
        )

    def __repr__(self) -> str:
        return f"VivenuClient(base_url={self.settings.base_url!r})"

    def budget_used(self) -> float | None:
        """Requests of the key's hourly budget spent within about the last hour, by every
        process sharing its state; None without a budget."""
        return None if self._hourly is None else self._hourly.used()

    def eta_seconds(self, requests: int) -> float:
        """About how long `requests` more take: under the caps and what is left of the hourly
        budget, and at least at the pace this client has kept so far."""
        used = self.budget_used() or 0.0
        least = least_seconds(requests, self.settings, used=used)
        pace = self.stats.requests_per_second()
        return max(least, requests / pace) if pace > 0 else least

    async def __aenter__(self) -> VivenuClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).removeFilter(self._redactor)

    # -- typed operations ---------------------------------------------------------------

    async def list_page(
        self,
        resource: ResourceSpec,
        *,
        top: int = MAX_TOP,
        skip: int = 0,
        params: Mapping[str, str] | None = None,
    ) -> Page:
        """One page of a collection; ``params`` are filters such as ``updated_at_filter(...)``."""
        if not 1 <= top <= MAX_TOP:
            raise ValueError(f"top must be within 1..{MAX_TOP}, got {top}")
        query = {**dict(resource.filters), **(params or {}), "top": str(top), "skip": str(skip)}
        body = await self.request("GET", resource.list_path, params=query)
        key = resource.list_key
        if (
            not isinstance(body, dict)
            or not isinstance(body.get(key), list)
            or not isinstance(body.get("total"), int)
        ):
            raise VivenuProtocolError(
                f"GET {resource.list_path}: expected {{{key}: [...], total: int}}, "
                f"got {type(body).__name__} with keys {sorted(body)[:5] if isinstance(body, dict) else '-'}"
            )
        return Page(docs=body[key], total=body["total"])

    async def get(self, resource: ResourceSpec, record_id: str) -> dict[str, Any]:
        """One record by id; raises VivenuNotFound when it does not exist."""
        return await self.request("GET", resource.item_path(record_id))

    async def update_customer(
        self,
        customer_id: str,
        changes: Mapping[str, Any] | Callable[[], Awaitable[Mapping[str, Any]]],
    ) -> dict[str, Any]:
        """PUT a top-level partial update; each field sent replaces the stored value wholesale.

        `changes` may be an async callable, awaited before every attempt (retries included): a
        retried write is then rebuilt from fresh state instead of replaying a stale body.
        """

        async def body() -> dict[str, Any]:
            return dict(await changes() if callable(changes) else changes)

        # Customers are the one resource the CRM push writes.
        return await self.request("PUT", BY_NAME["customers"].item_path(customer_id), json=body)

    # -- webhook subscriptions ------------------------------------------------------------
    #
    # vivenu answers every subscription with its `hmacKey`: these methods read it only where
    # the caller needs it back (`webhook_key`) and return `Webhook`s without it.

    async def _webhook_docs(self) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = []
        while True:
            body = await self.request(
                "GET", "/api/webhooks", params={"top": str(MAX_TOP), "skip": str(len(docs))}
            )
            if not isinstance(body, dict) or not isinstance(body.get("docs"), list):
                raise VivenuProtocolError("GET /api/webhooks: expected {docs: [...], total: int}")
            docs += body["docs"]
            if not body["docs"] or len(docs) >= int(body.get("total") or 0):
                return docs

    async def list_webhooks(self) -> list[Webhook]:
        """Every webhook subscription of the seller (all pages)."""
        return [Webhook.from_api(doc) for doc in await self._webhook_docs()]

    async def webhook_key(self, webhook_id: str) -> str | None:
        """The `hmacKey` of one subscription (None when it has none); VivenuNotFound when gone.
        The caller holds a secret: it must never print or log it."""
        for doc in await self._webhook_docs():
            if doc.get("_id") == webhook_id:
                key = doc.get("hmacKey")
                return key if isinstance(key, str) and key else None
        raise VivenuNotFound(
            status=404, method="GET", path="/api/webhooks", message=f"no webhook {webhook_id}"
        )

    async def create_webhook(
        self,
        *,
        name: str,
        url: str,
        events: tuple[str, ...] | list[str],
        hmac_key: str,
        enabled: bool = True,
    ) -> Webhook:
        """POST a new subscription signing with `hmac_key`."""
        body = _webhook_body(name=name, url=url, events=events, hmac_key=hmac_key, enabled=enabled)
        return Webhook.from_api(await self.request("POST", "/api/webhooks", json=body))

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        name: str,
        url: str,
        events: tuple[str, ...] | list[str],
        hmac_key: str,
        enabled: bool = True,
    ) -> Webhook:
        """PUT every field of a subscription (the key included: vivenu's document does not
        say whether a field left out is kept)."""
        body = _webhook_body(name=name, url=url, events=events, hmac_key=hmac_key, enabled=enabled)
        path = f"/api/webhook/{urllib.parse.quote(webhook_id, safe='')}"
        return Webhook.from_api(await self.request("PUT", path, json=body))

    async def delete_webhook(self, webhook_id: str) -> Webhook:
        """DELETE a subscription; VivenuNotFound when there is none with that id."""
        path = f"/api/webhook/{urllib.parse.quote(webhook_id, safe='')}"
        return Webhook.from_api(await self.request("DELETE", path))

    # -- transport ------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        """Send one request with the rate cap, concurrency bound and retry policy applied.

        `json` may be an async callable returning the body, awaited before every attempt.
        """
        body = cast("Callable[[], Awaitable[Any]]", json) if callable(json) else None
        failures: Counter[_Failure] = Counter()
        limits = {
            _Failure.ANSWER: self.settings.max_attempts,
            _Failure.TIMEOUT: self.settings.timeout_attempts,
            _Failure.UNREACHABLE: self.settings.connect_attempts,
        }

        def stop(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retryable):
                failures[exc.kind] += 1
                if failures[exc.kind] >= limits[exc.kind]:
                    return True
            return stop_after_attempt(self.settings.max_attempts)(state)

        retrying = AsyncRetrying(
            stop=stop,
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    payload = await body() if body else json
                    return await self._send_once(method, path, params=params, json=payload)
        except _Retryable as exc:
            attempts = sum(failures.values())
            if exc.kind is _Failure.UNREACHABLE:
                raise VivenuUnreachable(
                    method=method,
                    path=path,
                    attempts=attempts,
                    last=str(exc),
                    base_url=self.settings.base_url,
                ) from None
            raise VivenuUnavailable(
                method=method,
                path=path,
                attempts=attempts,
                last=str(exc),
                hint=_TIMEOUT_HINT if exc.kind is _Failure.TIMEOUT else None,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(
        self, method: str, path: str, *, params: Mapping[str, str] | None, json: Any
    ) -> Any:
        content = orjson.dumps(json) if json is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else None
        async with self._slots:
            if self._hourly is not None and (wait := self._hourly.reserve()):
                await self._sleep(wait)
            await self._limiter.acquire()
            self.stats.requests += 1
            try:
                async with asyncio.timeout(self.settings.deadline_s):
                    response = await self._http.request(
                        method, path, params=params, content=content, headers=headers
                    )
            except TimeoutError:
                self.stats.transport_errors += 1
                raise _Retryable(
                    f"no complete answer within the {self.settings.deadline_s:g} s deadline",
                    kind=_Failure.TIMEOUT,
                ) from None
            except httpx.TransportError as exc:
                self.stats.transport_errors += 1
                raise _Retryable(
                    self._redactor.text(f"{type(exc).__name__}: {exc}"), kind=self._kind(exc)
                ) from None
        self.stats.statuses[response.status_code] += 1
        self._note_server_date(response.headers.get("Date"))
        if response.status_code in RETRYABLE_STATUS:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None and retry_after > self.settings.max_retry_after_s:
                raise VivenuUnavailable(
                    method=method,
                    path=path,
                    attempts=1,
                    last=f"HTTP {response.status_code} with Retry-After {retry_after:.0f}s",
                )
            raise _Retryable(f"HTTP {response.status_code}", retry_after_s=retry_after)
        answer = self._redactor.body(response.content, records=response.is_success)
        if response.is_success:
            try:
                return orjson.loads(answer)
            except orjson.JSONDecodeError:
                raise VivenuProtocolError(
                    f"{method} {path} -> HTTP {response.status_code} with a body that is not JSON"
                ) from None
        raise _http_error(response.status_code, method, path, answer)

    def _kind(self, exc: httpx.TransportError) -> _Failure:
        if isinstance(exc, httpx.TimeoutException):
            return _Failure.TIMEOUT
        if isinstance(exc, httpx.ConnectError) and not self.stats.statuses:
            # Refused, unresolvable or failing TLS before vivenu ever answered: the address is
            # wrong, and retrying for minutes would only hide it. Once vivenu has answered, a
            # refused connection is a restart or an outage and gets the full retries.
            return _Failure.UNREACHABLE
        return _Failure.ANSWER

    def _note_server_date(self, value: str | None) -> None:
        if not value:
            return
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return
        if when.tzinfo is not None:
            self.stats.server_date = when.astimezone(UTC)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after_s:
            # Honour the server's wish, spread a little so waiting clients don't return together.
            return exc.retry_after_s * (1 + 0.1 * random.random())
        return self._exponential(state)

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        if state.next_action is not None:
            self.stats.backoff_s += state.next_action.sleep


def _http_error(
    status: int, method: str, path: str, content: bytes
) -> VivenuHTTPError | VivenuProtocolError:
    try:
        body = orjson.loads(content)
        from_api = isinstance(body, dict) and ("message" in body or "statusCode" in body)
        message = str(body.get("message", "")) if isinstance(body, dict) else ""
    except orjson.JSONDecodeError:
        from_api = False
        message = content[:200].decode("utf-8", "replace")
    kind: type[VivenuHTTPError] = VivenuHTTPError
    if status in (401, 403):
        kind = VivenuAuthError
    elif status == 404:
        if not from_api:
            # A 404 is proof of a deletion only when vivenu itself says so (its JSON error
            # body); a proxy's or load balancer's page says nothing about the record.
            return VivenuProtocolError(
                f"{method} {path} -> HTTP 404 without vivenu's JSON error body: not an answer "
                "from the vivenu API (a proxy in between, or VIVENU_BASE_URL points elsewhere)"
            )
        kind = VivenuNotFound
    elif status in (400, 422):
        kind = VivenuBadRequest
    return kind(status=status, method=method, path=path, message=message)
