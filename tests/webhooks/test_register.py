"""`customer-sync webhooks register / list / remove` as a user runs them, against the simulator:
one subscription per name, the hmacKey shown once or written only to its file, and end to end
the simulator's writes arriving signed and scrubbed in the inbox of a real `webhooks serve`."""

from __future__ import annotations

import re
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.vivenu.simulator.webhooks import WebhookFaults, Webhooks
from pipelines.vivenu.simulator.writer import BackgroundWriter
from pipelines.webhooks.server import PATH
from pipelines.webhooks.subscriptions import DEFAULT_EVENTS
from tests.clirun import COMMAND, ROOT, clean_env, run_cli

KEY_RE = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    hooks = Webhooks(allow_http=True, time_scale=0.001)
    with SimulatorServer(Store.seeded(200, 4), webhooks=hooks) as server:
        yield server


def _env(server: SimulatorServer, tmp_path: Path, **more: str) -> dict[str, str]:
    return clean_env(
        VIVENU_BASE_URL=server.base_url,
        VIVENU_API_KEY=server.api_key,
        CUSTOMER_SYNC_DATA_DIR=str(tmp_path / "data"),
        **more,
    )


def _cli(server: SimulatorServer, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("webhooks", *args, env=_env(server, tmp_path))


def _subscriptions(server: SimulatorServer) -> list[dict]:
    return server.webhooks.subscriptions()


def _everything_written(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())


def test_register_twice_is_one_subscription_and_the_key_is_shown_once(sim, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = _cli(sim, tmp_path, "register", "--url", "https://hooks.example.com/webhooks")
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert KEY_RE.fullmatch(key) and first.stdout == key + "\n"  # the key, alone, on stdout
    assert (
        "created webhook customer-sync" in first.stderr and "shown only this once" in first.stderr
    )
    [hook] = _subscriptions(sim)
    assert hook["hmacKey"] == key and hook["url"] == "https://hooks.example.com/webhooks"
    assert sorted(e for e, on in hook["events"].items() if on) == sorted(DEFAULT_EVENTS)

    again = _cli(
        sim, tmp_path, "register", "--url", "https://hooks.example.com/v2",
        "--events", "customer.updated,ticket.updated", "--events", "customer.created",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""  # the key is kept and not shown again
    assert "updated webhook customer-sync" in again.stderr and "unchanged" in again.stderr
    [hook] = _subscriptions(sim)
    assert hook["hmacKey"] == key and hook["url"] == "https://hooks.example.com/v2"
    assert hook["events"] == {
        "customer.updated": True,
        "ticket.updated": True,
        "customer.created": True,
    }

    listed = _cli(sim, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        f"customer-sync ({hook['_id']}, enabled) -> https://hooks.example.com/v2: "
        "customer.created, customer.updated, ticket.updated"
    ]
    as_json = _cli(sim, tmp_path, "list", "--json")
    assert orjson.loads(as_json.stdout) == [
        {
            "id": hook["_id"],
            "name": "customer-sync",
            "url": "https://hooks.example.com/v2",
            "enabled": True,
            "events": ["customer.created", "customer.updated", "ticket.updated"],
        }
    ]
    for done in (first, again, listed, as_json):
        assert key not in done.stderr
    assert key not in listed.stdout + as_json.stdout
    assert key.encode() not in _everything_written(tmp_path)

    removed = _cli(sim, tmp_path, "remove", "--name", "customer-sync")
    assert removed.returncode == 0, removed.stderr
    assert "removed webhook customer-sync" in removed.stderr
    assert _subscriptions(sim) == []
    missing = _cli(sim, tmp_path, "remove", "--name", "customer-sync")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "Error: webhooks remove: no webhook named 'customer-sync' (customer-sync webhooks list "
        "shows them)"
    ]


def test_remove_by_id_and_register_rotate_with_a_key_file(sim, tmp_path) -> None:  # type: ignore[no-untyped-def]
    key_file = tmp_path / "hmac.key"
    made = _cli(
        sim, tmp_path, "register", "--url", "https://a.example.com/webhooks", "--name",
        "crm-hooks", "--hmac-key-file", str(key_file),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout == ""  # written to the file only
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert KEY_RE.fullmatch(key) and key not in made.stderr
    [hook] = _subscriptions(sim)
    assert hook["hmacKey"] == key and hook["name"] == "crm-hooks"

    # A new subscription never overwrites a key file, and nothing is created then.
    refused = _cli(
        sim, tmp_path, "register", "--url", "https://b.example.com/webhooks", "--name",
        "other-hooks", "--hmac-key-file", str(key_file),
    )  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        f"Error: --hmac-key-file {key_file} exists: not overwriting the key in it; pass --rotate "
        "to replace it with a new one"
    )
    assert [h["name"] for h in _subscriptions(sim)] == ["crm-hooks"]
    assert key_file.read_text().strip() == key
    assert sorted(p.name for p in tmp_path.iterdir() if "hmac" in p.name) == ["hmac.key"]

    rotated = _cli(
        sim, tmp_path, "register", "--url", "https://a.example.com/webhooks", "--name",
        "crm-hooks", "--hmac-key-file", str(key_file), "--rotate",
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    new_key = key_file.read_text().strip()
    assert KEY_RE.fullmatch(new_key) and new_key != key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    [hook] = _subscriptions(sim)
    assert hook["hmacKey"] == new_key and rotated.stdout == ""

    gone = _cli(sim, tmp_path, "remove", "--id", hook["_id"])
    assert gone.returncode == 0, gone.stderr
    assert _subscriptions(sim) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "http://hooks.example.com/webhooks"], "--url must be HTTPS"),
        (["--url", "hooks.example.com"], "is not an absolute URL"),
        (["--url", "https://h.example.com", "--name", "cs"], "--name must be 5 to 30 characters"),
        (["--url", "https://h.example.com", "--events", "order.paid"], "unknown event type"),
    ],
)
def test_register_refuses_what_cannot_work_in_one_line_before_any_request(  # type: ignore[no-untyped-def]
    sim, tmp_path, args, message
) -> None:
    sim.clear_requests()
    done = _cli(sim, tmp_path, "register", *args)
    assert done.returncode == 2
    assert message in done.stderr.strip().splitlines()[-1]
    assert sim.requests == [] and done.stdout == ""


def test_without_the_api_configuration_it_exits_3(tmp_path) -> None:  # type: ignore[no-untyped-def]
    done = run_cli("webhooks", "list", env=clean_env(CUSTOMER_SYNC_DATA_DIR=str(tmp_path)))
    assert done.returncode == 3
    assert all(line.startswith("error: VIVENU_") for line in done.stderr.strip().splitlines())


def test_vivenus_refusal_is_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A simulator as strict as vivenu: no delivery to this machine.
    with SimulatorServer(Store.seeded(20, 4)) as strict:
        done = _cli(strict, tmp_path, "register", "--url", "http://127.0.0.1:9/webhooks")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: webhooks register: POST /api/webhooks -> HTTP 400: url must be an HTTPS URL "
        "(vivenu rejected the parameters or body; the message names the field)"
    ]
    assert done.stdout == ""


class _Receiver:
    """`customer-sync webhooks serve --port 0` as its own process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*COMMAND, "webhooks", "serve", "--port", "0"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + 60
        while not (found := re.findall(r"running on (http://\S+)", log.read_text())[-1:]):
            assert self.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        self.url = found[0]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def test_end_to_end_the_writers_changes_arrive_signed_and_scrubbed_in_the_inbox(tmp_path) -> None:  # type: ignore[no-untyped-def]
    faults = WebhookFaults(duplicate_rate=0.1, bad_signature_rate=0.1, seed=8)
    hooks = Webhooks(allow_http=True, time_scale=0.001, faults=faults)
    store = Store.seeded(200, 4)
    with SimulatorServer(store, webhooks=hooks) as sim:
        key_file = tmp_path / "hmac.key"
        # The key first (the receiver needs it to start), then the receiver's real address:
        # registering again updates the one subscription and keeps its key.
        placeholder = "http://127.0.0.1:9/webhooks"
        made = _cli(
            sim, tmp_path, "register", "--url", placeholder, "--hmac-key-file", str(key_file)
        )
        assert made.returncode == 0, made.stderr
        key = key_file.read_text().strip()
        receiver = _Receiver(
            _env(sim, tmp_path, CUSTOMER_SYNC_WEBHOOK_SECRET=key), tmp_path / "receiver.log"
        )
        try:
            moved = _cli(sim, tmp_path, "register", "--url", receiver.url + PATH)
            assert moved.returncode == 0 and moved.stdout == "", moved.stderr
            writer = BackgroundWriter(store, rate=30, seed=6)
            writer.start()
            time.sleep(3)
            writer.stop()
            assert hooks.wait_idle(60)
            health = httpx.get(receiver.url + "/health", timeout=10).json()
        finally:
            receiver.stop()

    counts = hooks.counts
    assert counts["delivered"] == counts["emitted"] > 30 and not counts["gave_up"]
    assert counts["bad_signatures"] and counts["duplicated"]
    since = health["since_start"]
    # Every wrongly signed attempt refused, every duplicate recognised, the rest stored once.
    assert since.get("bad_signature", 0) == counts["bad_signatures"]
    assert since.get("duplicates", 0) == counts["duplicated"]
    assert since["stored"] == counts["delivered"]

    inbox = tmp_path / "data" / "webhooks" / "inbox"
    files = [p for p in inbox.rglob("*.json") if not p.name.startswith(".")]
    assert len(files) == counts["delivered"]
    delivered = {a.envelope_id for a in hooks.attempts if a.status == 200}
    envelopes = [orjson.loads(p.read_bytes())["envelope"] for p in files]
    assert {e["id"] for e in envelopes} == delivered
    assert {e["type"] for e in envelopes} <= set(DEFAULT_EVENTS)
    assert {p.parent.name for p in files} >= {"customers", "transactions", "tickets"}

    # The API's secrets were in the payloads; none reached the disk.
    written = _everything_written(tmp_path)
    secrets_sent = [t["secret"] for t in store.tickets_truth()] + [
        t["barcode"] for t in store.tickets_truth()
    ]
    secrets_sent += [t["secret"] for t in store.transactions_truth()]
    for c in store.customers_truth():
        for token in ("verificationToken", "passwordResetToken"):
            if (c.get("_account") or {}).get(token):
                secrets_sent.append(c["_account"][token])
    assert secrets_sent
    assert [s for s in secrets_sent if s.encode() in written] == []
    for name in (b'"secret"', b'"barcode"', b'"verificationToken"', b'"passwordResetToken"'):
        assert name not in written
    # And the key is only in its file: not in the data directory, not in any output.
    assert key.encode() not in written
    assert key not in receiver.log.read_text() + made.stderr + moved.stderr
