"""The webhook receiver: an ASGI app that stores signed vivenu deliveries in the inbox.

`POST /webhooks`, in this order, each refusal storing nothing:
1. the body is read as it streams, and refused with 413 once past `max_body` bytes (never
   buffered whole), or with 408 when it takes longer than `body_timeout` to arrive;
2. `x-vivenu-signature` must be the lowercase hex HMAC-SHA256 of the raw body with the key,
   compared in constant time (401 otherwise);
3. it must be a JSON envelope with a safe `id`, a `type` and a `data` object (400 and why);
4. it is scrubbed and written durably (`pipelines.webhooks.inbox`) before the 200; an id seen
   before answers 200 without writing; a failed write (a full disk) answers 503, so vivenu
   delivers it again later.

A type no resource is declared for (`checkout.completed`, ...) is answered 200 and not stored:
the sync has nowhere to apply it, and vivenu would only deliver it again. Nothing in the request
path talks to the network; `GET /health` counts the inbox and the deliveries since the start.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections import Counter
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipelines.webhooks.inbox import BadEnvelope, Inbox, parse

log = logging.getLogger("customer_sync.webhooks")

MAX_BODY = 1024 * 1024  # 1 MiB; a transaction with a few hundred tickets stays well under it
# vivenu sends a body at once; a sender trickling one in only holds a connection.
BODY_TIMEOUT = 5.0
SIGNATURE_HEADER = b"x-vivenu-signature"
PATH = "/webhooks"


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _signature(request: Request) -> bytes | None:
    # The raw header bytes: no decoding step for a hostile value to break.
    return next((v for k, v in request.headers.raw if k.lower() == SIGNATURE_HEADER), None)


def build_app(
    secret: bytes, inbox: Inbox, *, max_body: int = MAX_BODY, body_timeout: float = BODY_TIMEOUT
) -> Starlette:
    """The receiver's ASGI app, verifying with the HMAC key `secret`, storing into `inbox`."""
    tally: Counter[str] = Counter()

    def refuse(status: int, outcome: str, reason: str, request: Request) -> JSONResponse:
        tally[outcome] += 1
        client = request.client.host if request.client else "?"
        log.warning("refused a delivery from %s: %s (%d)", client, reason, status)
        return JSONResponse({"error": reason}, status_code=status)

    async def receive(request: Request) -> JSONResponse:
        tally["received"] += 1
        try:
            async with asyncio.timeout(body_timeout):
                body = await _read_body(request, max_body)
        except _TooLarge:
            return refuse(413, "too_large", f"body over {max_body} bytes", request)
        except TimeoutError:
            return refuse(408, "too_slow", f"body not sent within {body_timeout:g} s", request)
        except ClientDisconnect:  # gone before its body was whole: nobody reads an answer
            return refuse(400, "disconnected", "the sender left mid-body", request)
        given = _signature(request)
        if given is None:
            return refuse(401, "unsigned", "no x-vivenu-signature header", request)
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(expected, given):
            return refuse(401, "bad_signature", "x-vivenu-signature does not match", request)
        try:
            envelope = parse(orjson.loads(body))
        except orjson.JSONDecodeError:
            return refuse(400, "malformed", "the body is not JSON", request)
        except BadEnvelope as exc:
            return refuse(400, "malformed", str(exc), request)
        if envelope.resource is None:
            tally["ignored"] += 1
            return JSONResponse({"stored": False, "reason": f"{envelope.type} is not synced"})
        try:
            # Blocking file I/O and fsyncs: off the event loop, so /health and other
            # deliveries are answered meanwhile.
            stored = await run_in_threadpool(inbox.store, envelope)
        except BadEnvelope as exc:
            return refuse(400, "malformed", str(exc), request)
        except OSError as exc:
            tally["store_failed"] += 1
            log.error("could not store envelope %s: %s", envelope.id, exc)
            return JSONResponse({"error": "could not store the delivery; retry"}, status_code=503)
        tally["stored" if stored else "duplicates"] += 1
        if stored:
            log.info("stored %s %s in %s", envelope.type, envelope.id, envelope.resource.name)
        return JSONResponse(
            {"stored": stored, "duplicate": not stored, "resource": envelope.resource.name}
        )

    async def health(_request: Request) -> JSONResponse:
        counts: dict[str, Any] = await run_in_threadpool(inbox.counts)
        return JSONResponse({"status": "ok", **counts, "since_start": dict(tally)})

    return Starlette(
        routes=[Route(PATH, receive, methods=["POST"]), Route("/health", health, methods=["GET"])]
    )
