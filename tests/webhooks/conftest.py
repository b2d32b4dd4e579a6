"""The webhook receiver served on 127.0.0.1 (an ephemeral port) in a background thread, and
signed vivenu envelopes to post to it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from pipelines.webhooks.inbox import Inbox
from pipelines.webhooks.server import PATH, build_app

SECRET = b"whk-4f1c9e0b2a7d46e3b5c8a1f0e9d2c3b4"


def sign(body: bytes, key: bytes = SECRET) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def envelope(event_type: str = "customer.updated", data: Any = None, **fields: Any) -> dict:
    """A vivenu envelope as documented: `{id, type, mode, sellerId, webhookId, data}`."""
    if data is None:
        data = {"customer": {"_id": "c" * 24, "updatedAt": "2026-12-02T21:00:00.000Z"}}
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "mode": "prod",
        "sellerId": "s" * 24,
        "webhookId": "w" * 24,
        "data": data,
        **fields,
    }


@dataclass
class Receiver:
    url: str
    data_dir: Path
    inbox: Inbox
    client: httpx.Client

    def post(self, body: Any, *, signature: str | None = "sign", **kwargs: Any) -> httpx.Response:
        """POST `body` (an object is JSON-encoded) signed with SECRET unless `signature` is
        given (None: no header)."""
        raw = body if isinstance(body, bytes | Iterator) else orjson.dumps(body)
        headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
        if signature == "sign":
            assert isinstance(raw, bytes), "sign a streamed body yourself"
            signature = sign(raw)
        if signature is not None:
            headers["x-vivenu-signature"] = signature
        return self.client.post(PATH, content=raw, headers=headers, **kwargs)

    def files(self) -> list[Path]:
        """Every file under the data directory."""
        return sorted(p for p in self.data_dir.rglob("*") if p.is_file())


def serve(data_dir: Path, **kwargs: Any) -> Iterator[Receiver]:
    inbox = Inbox(data_dir / "webhooks")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        build_app(SECRET, inbox, **kwargs), log_level="critical", lifespan="off", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the receiver did not start"
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            yield Receiver(url, data_dir, inbox, client)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def _running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    # One server per module (stopping one takes uvicorn 0.2 s); each test gets its own folder.
    yield from serve(tmp_path_factory.mktemp("receiver"))


@pytest.fixture
def receiver(_running: Receiver, tmp_path: Path) -> Receiver:
    """The receiver storing under `tmp_path/data`, verifying with SECRET."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    _running.inbox.root = data_dir / "webhooks"
    return Receiver(_running.url, data_dir, _running.inbox, _running.client)
