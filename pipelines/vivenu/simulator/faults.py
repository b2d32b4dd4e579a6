"""Runtime-adjustable fault injection for the simulator, as ASGI middleware.

Knobs (all mutable while serving): per-request latency, a share of 502/503 answers, a share of
429s, the Retry-After mode of every 429 ("absent" sends no header, "0", or seconds as a string),
a share of dropped connections (headers with a Content-Length, half the body, then the connection
is cut, so clients see an incomplete body), and a requests-per-second cap answered with 429.
Random draws come from one seeded RNG, so a run's fault pattern is reproducible.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

Scope = dict[str, Any]


@dataclass
class Faults:
    """Fault knobs; change attributes at any time."""

    latency_ms: float = 0.0
    error_5xx_rate: float = 0.0
    rate_429: float = 0.0
    retry_after: str | None = "1"
    drop_rate: float = 0.0
    rps_limit: float | None = None
    seed: int = 0
    rng: random.Random = field(init=False, repr=False)
    lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    recent: deque[float] = field(init=False, repr=False, default_factory=deque)
    counts: dict[str, int] = field(init=False, default_factory=dict)
    requests: int = field(init=False, default=0)  # API requests seen (admin route excluded)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def reset(self) -> None:
        """Turn every fault off (the RNG keeps its state)."""
        self.latency_ms = self.error_5xx_rate = self.rate_429 = self.drop_rate = 0.0
        self.rps_limit = None

    def decide(self) -> str | None:
        """The fault for the next request: "429", "rps", "5xx", "drop" or None."""
        with self.lock:
            now = time.monotonic()
            verdict = None
            if self.rps_limit is not None:
                while self.recent and now - self.recent[0] >= 1.0:
                    self.recent.popleft()
                if len(self.recent) >= self.rps_limit:
                    verdict = "rps"
                else:
                    self.recent.append(now)
            r = self.rng.random()
            if verdict is None:
                if r < self.rate_429:
                    verdict = "429"
                elif r < self.rate_429 + self.error_5xx_rate:
                    verdict = "5xx"
                elif r < self.rate_429 + self.error_5xx_rate + self.drop_rate:
                    verdict = "drop"
            if verdict:
                self.counts[verdict] = self.counts.get(verdict, 0) + 1
            return verdict

    def retry_after_header(self) -> list[tuple[bytes, bytes]]:
        """The Retry-After header of a 429 per the configured mode."""
        if self.retry_after is None or self.retry_after == "absent":
            return []
        return [(b"retry-after", self.retry_after.encode())]


def _error(status: int, error: str, message: str) -> bytes:
    return orjson.dumps({"statusCode": status, "error": error, "message": message})


class FaultsMiddleware:
    """ASGI middleware applying a `Faults` to every HTTP request."""

    def __init__(self, app: Any, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Delay, fail, throttle or cut the request, or pass it on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        f = self.faults
        if scope["path"].startswith("/_simulator/"):
            await self.app(scope, receive, send)
            return
        f.requests += 1
        if f.latency_ms > 0:
            await asyncio.sleep(f.latency_ms / 1000)
        verdict = f.decide()
        if verdict in ("429", "rps"):
            body = _error(429, "Too Many Requests", "Rate limit exceeded, retry later")
            await _send(send, 429, body, f.retry_after_header())
        elif verdict == "5xx":
            status = f.rng.choice((502, 503))
            reason = "Bad Gateway" if status == 502 else "Service Unavailable"
            await _send(send, status, _error(status, reason, "upstream temporarily unavailable"))
        elif verdict == "drop":
            headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send(
                {"type": "http.response.body", "body": b'{"docs":[{"_id":"', "more_body": True}
            )
            # Returning without finishing the body makes uvicorn close the connection mid-body.
            return
        else:
            await self.app(scope, receive, send)


async def _send(send: Any, status: int, body: bytes, extra: list | None = None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})
