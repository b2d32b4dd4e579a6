"""Serve the simulated vivenu API with uvicorn on 127.0.0.1, in a background thread or forever."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import uvicorn

from pipelines.vivenu.simulator.app import build_app
from pipelines.vivenu.simulator.faults import Faults
from pipelines.vivenu.simulator.store import Store
from pipelines.vivenu.simulator.webhooks import Webhooks
from pipelines.vivenu.simulator.writer import BackgroundWriter

# How long start() waits for uvicorn to listen: seconds on a loaded machine with a large store.
START_TIMEOUT_S = 60.0


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    status: int
    body: bytes
    time: float  # time.monotonic() when the request arrived


class _Recorder:
    """Outermost ASGI middleware appending a RecordedRequest per HTTP request."""

    def __init__(self, app: Any, sink: list[RecordedRequest], lock: threading.Lock) -> None:
        self.app = app
        self.sink = sink
        self.lock = lock

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        chunks: list[bytes] = []
        recorded = [False]

        def record(status: int) -> None:
            # Recorded before the answer leaves, so a client never sees a reply to an unrecorded
            # request.
            if recorded[0]:
                return
            recorded[0] = True
            rec = RecordedRequest(
                scope["method"],
                scope["path"],
                scope.get("query_string", b"").decode("latin-1"),
                status,
                b"".join(chunks),
                started,
            )
            with self.lock:
                self.sink.append(rec)

        async def recv() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def snd(message: dict) -> None:
            if message["type"] == "http.response.start":
                record(message["status"])
            await send(message)

        try:
            await self.app(scope, recv, snd)
        finally:
            record(0)


class SimulatorServer:
    """The simulator on a real socket; use as a context manager or start()/stop()."""

    def __init__(
        self,
        store: Store | None = None,
        *,
        api_key: str = "sim-key",
        faults: Faults | None = None,
        writer: BackgroundWriter | None = None,
        webhooks: Webhooks | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.store = store if store is not None else Store.seeded(300, 7)
        self.api_key = api_key
        self.faults = faults if faults is not None else Faults()
        self.writer = writer
        # Webhook subscriptions and deliveries (HTTPS-only unless `Webhooks(allow_http=True)`).
        self.webhooks = webhooks if webhooks is not None else Webhooks()
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def base_url(self) -> str:
        """The server's root URL, e.g. http://127.0.0.1:54321."""
        return f"http://{self.host}:{self.port}"

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

    def asgi_app(self) -> Any:
        """The full ASGI stack (recorder, faults, API)."""
        app = build_app(
            self.store, api_key=self.api_key, faults=self.faults, webhooks=self.webhooks
        )
        return _Recorder(app, self.requests, self._lock)

    def start(self) -> SimulatorServer:
        """Bind, serve in a daemon thread, and wait until ready."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._sock = sock
        config = uvicorn.Config(
            self.asgi_app(), log_level="critical", access_log=False, lifespan="off", loop="asyncio"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[sock])),  # type: ignore[union-attr]
            name=f"vivenu-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the simulator's server thread ended on port {self.port}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the simulator did not start within {START_TIMEOUT_S:g} s "
                    "(a machine this loaded: retry when it is quieter)"
                )
            time.sleep(0.01)
        if self.writer is not None:
            self.writer.start()
        return self

    def stop(self) -> None:
        """Stop the writer, the webhook deliveries and the server."""
        if self.writer is not None:
            self.writer.stop()
        self.webhooks.stop()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(
    host: str,
    port: int,
    store: Store,
    api_key: str,
    faults: Faults | None = None,
    writer: BackgroundWriter | None = None,
    webhooks: Webhooks | None = None,
) -> None:
    """Serve in the foreground until interrupted (Ctrl-C)."""
    webhooks = webhooks if webhooks is not None else Webhooks()
    app = build_app(store, api_key=api_key, faults=faults, webhooks=webhooks)
    if writer is not None:
        writer.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        if writer is not None:
            writer.stop()
        webhooks.stop()
