"""A hostile vivenu: a real HTTP server on 127.0.0.1 in front of the simulator, whose
misbehaviour is switched per test.

Every request is forwarded to the upstream simulator unless a rule answers it first. A rule is
`(request, body, forward) -> Response | None`: it may answer on its own (an HTML 404, a stall),
or call `await forward()` for the simulator's own answer and return a changed copy (a lying
`total`, a duplicated record, a skewed `Date`, the API key echoed back). Rules run in order;
the first that returns a response wins. Requests are counted per path for assertions.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from types import TracebackType

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Forward = Callable[[], Awaitable[httpx.Response]]
Rule = Callable[[Request, bytes, Forward], Awaitable[Response | None]]

_HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


def as_response(upstream: httpx.Response, *, content: bytes | None = None) -> Response:
    """A starlette Response replaying `upstream` (optionally with another body)."""
    headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
    return Response(
        content=upstream.content if content is None else content,
        status_code=upstream.status_code,
        headers=headers,
    )


class HostileAPI:
    """Proxy to `upstream` with switchable rules; a context manager like SimulatorServer."""

    def __init__(self, upstream: str, *, host: str = "127.0.0.1") -> None:
        self.upstream = upstream.rstrip("/")
        self.host = host
        self.port = 0
        self.rules: list[Rule] = []
        self.hits: Counter[str] = Counter()
        self._client: httpx.AsyncClient | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        self.hits[request.url.path] += 1

        async def forward() -> httpx.Response:
            if self._client is None:
                self._client = httpx.AsyncClient(base_url=self.upstream, timeout=60)
            headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
            return await self._client.request(
                request.method,
                request.url.path,
                params=request.url.query.encode("latin-1") or None,
                content=body or None,
                headers=headers,
            )

        for rule in list(self.rules):
            answer = await rule(request, body, forward)
            if answer is not None:
                return answer
        return as_response(await forward())

    def start(self) -> HostileAPI:
        app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._handle,
                    methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
                )
            ]
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="critical", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the hostile API did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            # A rule may be stalling a request on purpose: don't wait for it to end.
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> HostileAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
