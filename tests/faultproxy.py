"""A faulty S3 endpoint: a stdlib reverse proxy in front of the test S3 server (tests/s3.py)
whose misbehaviour is switched per test, like tests/adversarial/hostile.py in front of vivenu.

Every request is forwarded to moto unless a rule answers it first; rules run in order and the
first that answers wins. `slow_down_every(n)` answers every n-th request with S3's 503
SlowDown, `outage()` every request with 503, `lose_commit_reply()` lets a Delta commit's PUT
reach moto and then answers 503, as a connection lost after the write landed would.

The proxy runs in its own process, as moto does: delta-rs holds the GIL during some of its S3
calls (`DeltaTable.history()`), which would freeze a proxy thread in the test's process and
hang the call (design §9.1). Rules are sent to it as data over a control path
(`/__faultproxy__/...`; S3 bucket names cannot hold `_`), and it counts what it injected.
The child exits when its stdin closes, so it dies with pytest even after a kill -9.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.s3 import S3Lake, S3Server, new_bucket, point_at

CONTROL = "/__faultproxy__"
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}
COMMIT_PATH = r"/_delta_log/[^/]*\.json$"


@dataclass(frozen=True)
class Rule:
    """One misbehaviour, as data the proxy process builds its rule from."""

    kind: str
    n: int = 0
    times: int | None = None
    pattern: str = ""


def slow_down_every(n: int) -> Rule:
    """503 SlowDown to every n-th request (counted from this rule's start)."""
    if n < 1:
        raise ValueError("n must be >= 1")
    return Rule("slow_down_every", n=n)


def outage() -> Rule:
    """503 ServiceUnavailable to every request."""
    return Rule("outage")


def lose_commit_reply(times: int | None = 1) -> Rule:
    """A PUT of `_delta_log/*.json` reaches moto; when moto took it, the client gets 503.
    `times`: how many commits lose their reply (None: every one)."""
    return Rule("lose_commit_reply", times=times, pattern=COMMIT_PATH)


def lose_put_reply(pattern: str, times: int | None = 1) -> Rule:
    """Like `lose_commit_reply`, for a PUT whose path (`/bucket/key`) matches the regex."""
    re.compile(pattern)
    return Rule("lose_put_reply", times=times, pattern=pattern)


@dataclass(frozen=True)
class Stats:
    """What the proxy saw: S3 requests forwarded or answered, faults injected per rule kind."""

    requests: int
    faults: int
    by_rule: dict[str, int] = field(default_factory=dict)


class FaultProxy:
    """The proxy process in front of `upstream`; `use(*rules)` switches its behaviour."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> FaultProxy:
        self._proc = proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faultproxy", self.upstream],
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the fault proxy did not start (it printed {line!r})")
        self.url = f"http://127.0.0.1:{int(line)}"
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def _control(self, what: str, payload: object = None) -> dict:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}{CONTROL}/{what}", data=data, method="GET" if data is None else "PUT"
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())

    def use(self, *rules: Rule) -> None:
        """Replace the rules (none: a faithful proxy)."""
        self._control("rules", [asdict(rule) for rule in rules])

    def reset(self) -> None:
        """No rules, and the counts back to zero."""
        self._control("reset", [])

    def stats(self) -> Stats:
        """The counts since the last `reset`."""
        raw = self._control("stats")
        return Stats(requests=raw["requests"], faults=raw["faults"], by_rule=raw["by_rule"])

    @property
    def faults(self) -> int:
        """Faults injected since the last `reset`."""
        return self.stats().faults


@dataclass
class FaultyLake(S3Lake):
    """An `S3Lake` reached through the fault proxy; `client` (for scans) goes to moto directly."""

    proxy: FaultProxy = field(repr=False)


@pytest.fixture(scope="session")
def s3_fault_proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    """The fault proxy in front of the session's S3 server, one per pytest worker."""
    proxy = FaultProxy(s3_server.url).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def s3_faulty_lake(
    s3_server: S3Server, s3_fault_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultyLake]:
    """Like `s3_lake`, with AWS_ENDPOINT_URL at the fault proxy (no rules, counts at zero);
    `lake.proxy.use(...)` switches faults, `lake.proxy.stats()` counts them."""
    plain = new_bucket(s3_server, endpoint=s3_fault_proxy.url)
    lake = FaultyLake(**{**vars(plain), "proxy": s3_fault_proxy})
    s3_fault_proxy.reset()
    point_at(lake, monkeypatch)
    yield lake
    s3_fault_proxy.reset()


# --- the proxy process ----------------------------------------------------------------------


@dataclass
class _Request:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class _Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


_Forward = Callable[[], _Reply]


def _s3_error(status: int, code: str, message: str) -> _Reply:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>faultproxy</RequestId></Error>"
    ).encode()
    return _Reply(status, [("Content-Type", "application/xml")], body)


class _State:
    """The rules in force and the counts, shared by the proxy's request threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[Callable[[_Request, _Forward], _Reply | None]] = []
        self.requests = 0
        self.faults: Counter[str] = Counter()

    def fault(self, kind: str) -> None:
        with self.lock:
            self.faults[kind] += 1

    def build(self, spec: dict) -> Callable[[_Request, _Forward], _Reply | None]:
        rule = Rule(**spec)
        seen = 0
        left = rule.times
        target = re.compile(rule.pattern)

        def slow_down(request: _Request, forward: _Forward) -> _Reply | None:
            nonlocal seen
            with self.lock:
                seen += 1
                hit = seen % rule.n == 0
            if not hit:
                return None
            self.fault(rule.kind)
            return _s3_error(503, "SlowDown", "Please reduce your request rate.")

        def down(request: _Request, forward: _Forward) -> _Reply | None:
            self.fault(rule.kind)
            return _s3_error(503, "ServiceUnavailable", "Service is unable to handle request.")

        def lose(request: _Request, forward: _Forward) -> _Reply | None:
            nonlocal left
            if request.method != "PUT" or not target.search(request.path.split("?")[0]):
                return None
            with self.lock:
                if left is not None and left <= 0:
                    return None
            reply = forward()
            if not 200 <= reply.status < 300:
                return reply
            with self.lock:
                if left is not None:
                    left -= 1
            self.fault(rule.kind)
            return _s3_error(503, "ServiceUnavailable", "Service is unable to handle request.")

        kinds = {
            "slow_down_every": slow_down,
            "outage": down,
            "lose_commit_reply": lose,
            "lose_put_reply": lose,
        }
        return kinds[rule.kind]


def _serve(upstream: str) -> ThreadingHTTPServer:
    target = urlsplit(upstream)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    state = _State()
    local = threading.local()

    def send_upstream(request: _Request) -> _Reply:
        headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP]
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        if request.body or request.method in ("PUT", "POST"):
            headers.append(("Content-Length", str(len(request.body))))
        for attempt in (1, 2):
            conn: http.client.HTTPConnection | None = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(host, port, timeout=120)
            try:
                conn.putrequest(request.method, request.path, skip_host=True)
                for k, v in headers:
                    conn.putheader(k, v)
                conn.endheaders(request.body or None)
                answer = conn.getresponse()
                body = answer.read()
                return _Reply(answer.status, list(answer.getheaders()), body)
            except (http.client.HTTPException, OSError):
                # A kept-alive connection moto closed: one fresh try.
                conn.close()
                local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                parts: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(parts)
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, reply: _Reply, *, head: bool) -> None:
            self.send_response(reply.status)
            for k, v in reply.headers:
                if k.lower() in _HOP or (k.lower() == "content-length" and not head):
                    continue
                self.send_header(k, v)
            if not head:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if not head and reply.body:
                self.wfile.write(reply.body)

        def _control(self, body: bytes) -> None:
            what = self.path[len(CONTROL) + 1 :]
            if what == "rules" and self.command == "PUT":
                rules = [state.build(spec) for spec in json.loads(body)]
                with state.lock:
                    state.rules = rules
            elif what == "reset" and self.command == "PUT":
                with state.lock:
                    state.rules, state.requests = [], 0
                    state.faults.clear()
            with state.lock:
                answer = {
                    "requests": state.requests,
                    "faults": sum(state.faults.values()),
                    "by_rule": dict(state.faults),
                }
            data = json.dumps(answer).encode()
            self._send(_Reply(200, [("Content-Type", "application/json")], data), head=False)

        def _handle(self) -> None:
            body = self._body()
            if self.path.startswith(CONTROL + "/"):
                try:
                    self._control(body)
                except Exception as exc:
                    text = f"{type(exc).__name__}: {exc}".encode()
                    self._send(_Reply(500, [("Content-Type", "text/plain")], text), head=False)
                return
            request = _Request(self.command, self.path, list(self.headers.items()), body)
            with state.lock:
                state.requests += 1
                rules = list(state.rules)
            reply: _Reply | None = None
            for rule in rules:
                reply = rule(request, lambda: send_upstream(request))
                if reply is not None:
                    break
            if reply is None:
                try:
                    reply = send_upstream(request)
                except (http.client.HTTPException, OSError) as exc:
                    reply = _s3_error(502, "BadGateway", type(exc).__name__)
            self._send(reply, head=self.command == "HEAD")

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str]) -> None:
    server = _serve(argv[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
