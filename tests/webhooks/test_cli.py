"""`customer-sync webhooks serve` as an operator runs it: a config error in one line, and a real
receiver process that a kill -9 mid-flood leaves with nothing lost, nothing doubled."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest

from pipelines.webhooks.server import PATH
from tests.clirun import COMMAND, ROOT, clean_env, run_cli
from tests.webhooks.conftest import SECRET, envelope, sign

_env = clean_env


def test_serve_without_a_secret_names_it_in_one_line_and_exits_3(tmp_path):
    done = run_cli(
        "webhooks", "serve", "--port", "0", env=_env(CUSTOMER_SYNC_DATA_DIR=str(tmp_path / "data"))
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: CUSTOMER_SYNC_WEBHOOK_SECRET is not set: set it to the vivenu webhook's hmacKey"
    ]
    assert not (tmp_path / "data").exists()


class _Process:
    def __init__(self, data_dir: Path, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*COMMAND, "webhooks", "serve", "--port", "0"],
                cwd=ROOT,
                env=_env(
                    CUSTOMER_SYNC_DATA_DIR=str(data_dir),
                    CUSTOMER_SYNC_WEBHOOK_SECRET=SECRET.decode(),
                ),
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + 60
        while not (found := re.findall(r"running on (http://\S+)", log.read_text())[-1:]):
            assert self.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        self.url = found[0]


def _post(client: httpx.Client, url: str, raw: bytes) -> int | None:
    try:
        answer = client.post(
            url + PATH, content=raw, headers={"x-vivenu-signature": sign(raw)}, timeout=10
        )
    except httpx.TransportError:
        return None  # killed before it answered
    return answer.status_code


@pytest.mark.attack("kill -9 of the webhook receiver mid-flood: nothing lost, nothing doubled")
def test_a_kill_9_mid_flood_loses_nothing_answered_and_redelivery_stores_nothing_twice(tmp_path):
    data_dir = tmp_path / "data"
    bodies = [
        orjson.dumps(envelope(data={"customer": {"_id": f"{i:024d}", "email": "ada@example.com"}}))
        for i in range(150)
    ]
    ids = [orjson.loads(b)["id"] for b in bodies]
    receiver = _Process(data_dir, tmp_path / "receiver.log")
    answers: dict[int, int | None] = {}
    latencies: list[float] = []
    with httpx.Client() as client, ThreadPoolExecutor(8) as pool:

        def deliver(i: int) -> None:
            started = time.monotonic()
            answers[i] = _post(client, receiver.url, bodies[i])
            if answers[i] == 200:
                latencies.append(time.monotonic() - started)

        futures = [pool.submit(deliver, i) for i in range(len(bodies))]
        while len(latencies) < 50:  # a third through: kill it while requests are in flight
            time.sleep(0.005)
        receiver.proc.send_signal(signal.SIGKILL)
        receiver.proc.wait()
        for f in futures:
            f.result()
    inbox = data_dir / "webhooks" / "inbox" / "customers"
    files = {p.stem: p for p in inbox.iterdir() if not p.name.startswith(".")}
    acknowledged = {ids[i] for i, status in answers.items() if status == 200}
    assert 50 <= len(acknowledged) < len(bodies)
    assert acknowledged <= files.keys()  # every 2xx was on disk before it was sent
    for path in files.values():  # whole files only
        assert orjson.loads(path.read_bytes())["envelope"]["id"] == path.stem
    latencies.sort()
    print(f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")

    # vivenu delivers again whatever was not answered (and, at least once, some that were).
    restarted = _Process(data_dir, tmp_path / "restarted.log")
    try:
        with httpx.Client() as client:
            again = [_post(client, restarted.url, raw) for raw in bodies]
            health = client.get(restarted.url + "/health").json()
    finally:
        restarted.proc.terminate()
        restarted.proc.wait(timeout=10)
    assert again == [200] * len(bodies)
    assert health["inbox"]["customers"] == len(bodies)
    assert health["since_start"]["duplicates"] == len(files)
    # One file per envelope, and no temp file of the killed receiver left over.
    assert sorted(p.name for p in inbox.iterdir()) == sorted(f"{i}.json" for i in ids)
    # The log names methods, paths and statuses: never the key, a signature or a body.
    text = receiver.log.read_text() + restarted.log.read_text()
    assert SECRET.decode() not in text and sign(bodies[0]) not in text
    assert "ada@example.com" not in text


def test_the_receiver_imports_no_dagster():
    # It starts in about a second and answers in milliseconds; Dagster would cost both.
    code = "import sys, pipelines.webhooks.cli; print(any(m == 'dagster' for m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_serve_on_a_data_dir_it_cannot_write_says_so_in_one_line_at_the_start(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    done = run_cli(
        "webhooks",
        "serve",
        "--port",
        "0",
        env=_env(
            CUSTOMER_SYNC_DATA_DIR=str(tmp_path / "file" / "data"),
            CUSTOMER_SYNC_WEBHOOK_SECRET=SECRET.decode(),
        ),
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"Error: cannot create the webhook inbox in {tmp_path}/file/data/webhooks: Not a directory"
    ]
