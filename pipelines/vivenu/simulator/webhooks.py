"""vivenu's webhooks, simulated: the subscriptions (`GET/POST /api/webhooks`,
`PUT/DELETE /api/webhook/{id}`, routes in app.py) and the signed deliveries of every write of the
store (the API's and the background writer's) to each subscription of that event type.

Delivery as vivenu documents and integrators observe it: a POST of the envelope
`{id, type, mode, sellerId, webhookId, data}` with `x-vivenu-signature` = lowercase hex
HMAC-SHA256 of the raw body with the subscription's `hmacKey`; at least once; a 10 s response
timeout; anything but a 2xx (or no answer in time) is retried, 7 attempts in all over about two
hours (`RETRY_DELAYS_S`, multiplied by `time_scale` so tests run the whole schedule in seconds).
Every attempt of a delivery carries the same body, so the same envelope `id`.

Deliveries leave from one asyncio loop in a daemon thread (httpx), so a slow or dead receiver
never holds up the API's answers or the writer: a write only queues its envelopes.

Fault knobs (`WebhookFaults`, mutable at any time): a share of deliveries dropped (never sent), a
share duplicated (sent once more after the receiver took it), a share held back by
`reorder_delay_s` so later ones overtake it, a delay before every first attempt, and a share of
attempts signed with the wrong key (the receiver must refuse them; vivenu-style retries then
deliver a correct one). Every random draw of a delivery comes from its own RNG seeded by
(`seed`, the delivery's number), so a run's faults do not depend on how the deliveries' tasks
interleave.

`allow_http` (off by default, as vivenu): accept `http://` and loopback or internal hosts as
webhook URLs. vivenu takes public HTTPS URLs only; a test's receiver listens on
http://127.0.0.1, so only the simulator may be told to deliver there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import random
import secrets
import socket
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

# Waits after attempts 1..6 (7 attempts: 0, 1, 6, 16, 36, 66 and 116 minutes in).
RETRY_DELAYS_S = (60.0, 300.0, 600.0, 1200.0, 1800.0, 3000.0)
MAX_ATTEMPTS = len(RETRY_DELAYS_S) + 1
RESPONSE_TIMEOUT_S = 10.0
CONNECTIONS = 16  # deliveries in flight at once
SIGNATURE_HEADER = "x-vivenu-signature"
# What the simulator emits; a subscription may name any type of the document.
EMITTED = (
    "customer.created",
    "customer.updated",
    "transaction.complete",
    "transaction.canceled",
    "transaction.partiallyCanceled",
    "ticket.created",
    "ticket.updated",
    "event.updated",
)
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home", ".test", ".invalid")


class InvalidUrl(ValueError):
    """A webhook URL vivenu would refuse; the message says why (answered with 400)."""


def check_url(url: str, *, allow_http: bool) -> None:
    """Raise InvalidUrl unless vivenu would deliver to `url` (public HTTPS), or, with
    `allow_http`, unless it is an http(s) URL at all."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidUrl(f"url must be an absolute HTTPS URL, got {url!r}")
    if allow_http:
        return
    if parts.scheme != "https":
        raise InvalidUrl("url must be an HTTPS URL")
    host = parts.hostname.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        internal = not ip.is_global
    else:
        internal = "." not in host or host == "localhost" or host.endswith(_INTERNAL_SUFFIXES)
    if internal:
        raise InvalidUrl(f"url must point to a public host, not {host!r}")


@dataclass
class WebhookFaults:
    """Delivery fault knobs; change attributes at any time."""

    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    reorder_delay_s: float = 2.0
    delay_s: float = 0.0
    bad_signature_rate: float = 0.0
    seed: int = 0


@dataclass
class Attempt:
    """One POST of a delivery as it happened (`status` None: timeout or transport error)."""

    number: int  # the delivery's place in the order the writes queued them
    envelope_id: str
    type: str
    webhook_id: str
    attempt: int
    status: int | None
    good_signature: bool
    duplicate: bool
    queued: float  # time.monotonic() when the write queued the delivery
    time: float  # time.monotonic() when it was sent


@dataclass
class _Delivery:
    number: int
    webhook_id: str
    envelope_id: str
    type: str
    body: bytes
    rng: random.Random
    emitted: float


@dataclass
class Webhooks:
    """The seller's webhook subscriptions and their deliveries (see the module docstring)."""

    allow_http: bool = False
    time_scale: float = 1.0
    timeout_s: float = RESPONSE_TIMEOUT_S
    faults: WebhookFaults = field(default_factory=WebhookFaults)
    mode: str = "dev"
    counts: Counter[str] = field(init=False, default_factory=Counter)
    attempts: list[Attempt] = field(init=False, default_factory=list)
    _hooks: dict[str, dict[str, Any]] = field(init=False, default_factory=dict)
    _lock: threading.Condition = field(init=False, default_factory=threading.Condition)
    _queue: deque[_Delivery] = field(init=False, default_factory=deque)
    _open: int = field(init=False, default=0)  # queued or in flight
    _numbered: int = field(init=False, default=0)
    _loop: asyncio.AbstractEventLoop | None = field(init=False, default=None)
    _wake: asyncio.Event | None = field(init=False, default=None)
    _thread: threading.Thread | None = field(init=False, default=None)
    _stopping: bool = field(init=False, default=False)
    _slots: asyncio.Semaphore = field(init=False, default_factory=lambda: asyncio.Semaphore(1))

    # ---------------------------------------------------------------- subscriptions

    def subscriptions(self) -> list[dict[str, Any]]:
        """Every subscription, oldest first (copies; `hmacKey` included, as vivenu answers)."""
        with self._lock:
            return [dict(h) for h in self._hooks.values()]

    def create(self, webhook_id: str, body: dict[str, Any], created_by: str) -> dict[str, Any]:
        """A new subscription from a validated request body (InvalidUrl for a refused URL)."""
        check_url(body["url"], allow_http=self.allow_http)
        hook: dict[str, Any] = {
            "_id": webhook_id,
            "name": body["name"],
            "enabled": body.get("enabled", True),
            "url": body["url"],
            "events": dict(body.get("events") or {}),
            # vivenu's document leaves hmacKey optional; the simulator then picks one.
            "hmacKey": body.get("hmacKey") or secrets.token_hex(32),
            "createdBy": {"type": "API_KEY", "id": created_by},
        }
        with self._lock:
            self._hooks[webhook_id] = hook
        self.start()
        return dict(hook)

    def update(self, webhook_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the fields sent (KeyError for an unknown id, InvalidUrl for a refused URL)."""
        if "url" in body:
            check_url(body["url"], allow_http=self.allow_http)
        with self._lock:
            hook = self._hooks[webhook_id]
            hook.update({k: v for k, v in body.items() if k in _WRITABLE and v is not None})
            if "events" in body:
                hook["events"] = dict(body["events"] or {})
            return dict(hook)

    def delete(self, webhook_id: str) -> dict[str, Any]:
        """Remove a subscription (KeyError for an unknown id); its pending retries stop."""
        with self._lock:
            return self._hooks.pop(webhook_id)

    # ---------------------------------------------------------------- deliveries

    def emit(self, event_type: str, seller_id: str, data: dict[str, Any]) -> None:
        """Queue the envelope of one write for every enabled subscription of its type.

        Called by the store under its lock, so it only serializes and queues; with no
        subscription it costs a dictionary look-up."""
        if not self._hooks:
            return
        now = time.monotonic()
        with self._lock:
            targets = [
                h["_id"]
                for h in self._hooks.values()
                if h.get("enabled", True) and (h.get("events") or {}).get(event_type) is True
            ]
            if not targets:
                return
            payload = orjson.dumps(data)
            for webhook_id in targets:
                self._numbered += 1
                rng = random.Random(f"{self.faults.seed}:{self._numbered}")
                envelope_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                # The payload spliced in as bytes: one serialization of the record per write.
                head = orjson.dumps(
                    {
                        "id": envelope_id,
                        "type": event_type,
                        "mode": self.mode,
                        "sellerId": seller_id,
                        "webhookId": webhook_id,
                    }
                )
                body = head[:-1] + b',"data":' + payload + b"}"
                self._queue.append(
                    _Delivery(self._numbered, webhook_id, envelope_id, event_type, body, rng, now)
                )
                self._open += 1
                self.counts["emitted"] += 1
            loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (stopping)
                loop.call_soon_threadsafe(wake.set)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every queued delivery is delivered, dropped or given up; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._open:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.05))
            return True

    def start(self) -> None:
        """Start the delivery thread (idempotent; creating a subscription starts it)."""
        with self._lock:
            if self._thread is not None:
                return
            self._stopping = False
            ready = threading.Event()
            self._thread = threading.Thread(
                target=lambda: asyncio.run(self._main(ready)), name="vivenu-webhooks", daemon=True
            )
            self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        """Stop delivering; what is queued or waiting for a retry is abandoned."""
        with self._lock:
            thread, loop, wake = self._thread, self._loop, self._wake
            self._stopping = True
        if thread is None:
            return
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)
        thread.join(timeout=10)
        with self._lock:
            self._thread = self._loop = self._wake = None
            self._open = 0
            self._queue.clear()
            self._lock.notify_all()

    async def _main(self, ready: threading.Event) -> None:
        wake = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()
        with self._lock:
            self._loop, self._wake = asyncio.get_running_loop(), wake
        ready.set()
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        # Waiting here, not in httpx's pool: its wait queue costs O(waiters) per request.
        self._slots = asyncio.Semaphore(CONNECTIONS)
        # Headers and body leave in two writes: without TCP_NODELAY each delivery waits out the
        # receiver's delayed ACK (40 ms on Linux).
        transport = httpx.AsyncHTTPTransport(
            limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        )
        # trust_env off: a proxy from the environment must not carry deliveries for 127.0.0.1.
        async with httpx.AsyncClient(
            timeout=self.timeout_s, transport=transport, trust_env=False, follow_redirects=False
        ) as http:
            while True:
                await wake.wait()
                wake.clear()
                with self._lock:
                    if self._stopping:
                        break
                    batch = list(self._queue)
                    self._queue.clear()
                for delivery in batch:
                    task = asyncio.create_task(self._deliver(http, delivery))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _deliver(self, http: httpx.AsyncClient, d: _Delivery) -> None:
        try:
            await self._attempts(http, d)
        finally:
            with self._lock:
                self._open -= 1
                self._lock.notify_all()

    async def _attempts(self, http: httpx.AsyncClient, d: _Delivery) -> None:
        f, rng = self.faults, d.rng
        # Every draw up front, in a fixed order: the same delivery number, the same faults.
        dropped = rng.random() < f.drop_rate
        duplicated = rng.random() < f.duplicate_rate
        held = rng.random() < f.reorder_rate
        bad = [rng.random() < f.bad_signature_rate for _ in range(MAX_ATTEMPTS)]
        if dropped:
            self._count("dropped")
            return
        wait = f.delay_s + (f.reorder_delay_s if held else 0.0)
        if held:
            self._count("reordered")
        if wait > 0:
            await asyncio.sleep(wait)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            status = await self._post(http, d, attempt, bad_signature=bad[attempt - 1])
            if status == "gone":
                self._count("abandoned")
                return
            if isinstance(status, int) and 200 <= status < 300:
                self._count("delivered")
                if duplicated:
                    self._count("duplicated")
                    await self._post(http, d, attempt + 1, bad_signature=False, duplicate=True)
                return
            if attempt < MAX_ATTEMPTS:
                self._count("retried")
                await asyncio.sleep(RETRY_DELAYS_S[attempt - 1] * self.time_scale)
        self._count("gave_up")

    async def _post(
        self,
        http: httpx.AsyncClient,
        d: _Delivery,
        attempt: int,
        *,
        bad_signature: bool,
        duplicate: bool = False,
    ) -> int | str | None:
        with self._lock:
            hook = self._hooks.get(d.webhook_id)
            if hook is None or not hook.get("enabled", True):
                return "gone"
            url, key = hook["url"], str(hook["hmacKey"]).encode()
        if bad_signature:
            key = b"not-" + key
            self._count("bad_signatures")
        signature = hmac.new(key, d.body, hashlib.sha256).hexdigest()
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: signature,
            "user-agent": "vivenu-webhooks (customer-sync simulator)",
        }
        sent = time.monotonic()
        status: int | None
        try:
            async with self._slots:
                response = await http.post(url, content=d.body, headers=headers)
            status = response.status_code
        except httpx.HTTPError:  # timeouts and refused connections are failed attempts
            status = None
        self._count("attempts")
        record = Attempt(
            d.number,
            d.envelope_id,
            d.type,
            d.webhook_id,
            attempt,
            status,
            not bad_signature,
            duplicate,
            d.emitted,
            sent,
        )
        with self._lock:
            self.attempts.append(record)
        return status

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1


_WRITABLE = frozenset({"name", "enabled", "url", "hmacKey"})
