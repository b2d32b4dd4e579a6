"""The webhook receiver over real HTTP: signed deliveries stored once, durably and scrubbed;
forged, oversized, malformed and hostile ones refused with nothing stored."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from pipelines.webhooks.inbox import Inbox
from tests.adversarial.disk import resize
from tests.webhooks.conftest import SECRET, Receiver, envelope, serve, sign


def _stored(receiver: Receiver) -> list[Path]:
    return [p for p in receiver.files() if p.suffix == ".json"]


def test_a_signed_envelope_is_stored_once_and_a_redelivery_is_answered_2xx(receiver):
    before = receiver.client.get("/health").json()["since_start"]
    body = envelope("customer.updated")
    started = time.monotonic()
    first = receiver.post(body)
    elapsed = time.monotonic() - started
    assert first.status_code == 200, first.text
    assert first.json() == {"stored": True, "duplicate": False, "resource": "customers"}
    assert elapsed < 1.0  # vivenu gives up after 10 s
    path = receiver.data_dir / "webhooks" / "inbox" / "customers" / f"{body['id']}.json"
    assert _stored(receiver) == [path]
    saved = orjson.loads(path.read_bytes())
    assert saved["envelope"] == body and saved["resource"] == "customers"
    assert saved["received_at"].endswith("Z")

    again = receiver.post(body)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert _stored(receiver) == [path]

    health = receiver.client.get("/health")
    assert health.status_code == 200
    assert health.json()["inbox"]["customers"] == 1
    after = health.json()["since_start"]
    assert {k: after[k] - before.get(k, 0) for k in after} == {
        "received": 2,
        "stored": 1,
        "duplicates": 1,
    }


def test_an_applied_envelope_redelivered_is_still_a_duplicate(receiver):
    body = envelope("ticket.created", {"ticket": {"_id": "t" * 24}})
    assert receiver.post(body).json()["stored"] is True
    inbox = receiver.data_dir / "webhooks" / "inbox" / "tickets" / f"{body['id']}.json"
    done = receiver.data_dir / "webhooks" / "done" / "tickets" / f"{body['id']}.json"
    done.parent.mkdir(parents=True)
    inbox.rename(done)  # what applying an envelope does
    assert receiver.post(body).json()["duplicate"] is True
    assert _stored(receiver) == [done]
    assert receiver.client.get("/health").json()["done"]["tickets"] == 1


def test_a_type_without_a_resource_is_answered_2xx_and_not_stored(receiver):
    answer = receiver.post(envelope("checkout.completed", {"checkout": {}}))
    assert answer.status_code == 200
    assert answer.json()["stored"] is False
    assert _stored(receiver) == []


@pytest.mark.attack("forged webhook signature: 401, nothing stored")
@pytest.mark.parametrize(
    "forge",
    ["missing", "empty", "other key", "other body", "uppercase", "truncated", "not ascii"],
)
def test_a_missing_or_wrong_signature_is_refused_and_nothing_stored(receiver, forge):
    body = orjson.dumps(envelope())
    signature = {
        "missing": None,
        "empty": "",
        "other key": sign(body, b"not-the-key"),
        "other body": sign(body + b" "),
        "uppercase": sign(body).upper(),  # vivenu sends lowercase hex
        "truncated": sign(body)[:32],
        "not ascii": "é" * 64,
    }[forge]
    headers = {}
    if forge == "not ascii":
        headers, signature = {"x-vivenu-signature": signature.encode("latin-1")}, None
    answer = receiver.post(body, signature=signature, headers=headers)
    assert answer.status_code == 401, answer.text
    assert _stored(receiver) == []


@pytest.mark.attack("oversized webhook body: 413, never buffered whole")
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_over_the_limit_is_refused(receiver, framing):
    big = envelope(data={"customer": {"_id": "c" * 24, "notes": "x" * (1024 * 1024 + 100_000)}})
    raw = orjson.dumps(big)
    if framing == "content-length":
        answer = receiver.post(raw)
    else:
        # No Content-Length: the limit holds while the body streams in, signed or not.
        def chunks():
            for i in range(0, len(raw), 64 * 1024):
                yield raw[i : i + 64 * 1024]

        answer = receiver.post(chunks(), signature=sign(raw))
    assert answer.status_code == 413, answer.text
    assert _stored(receiver) == []


def test_a_body_at_the_limit_is_accepted(tmp_path):
    body = envelope()
    raw = orjson.dumps(body)
    for receiver in serve(tmp_path, max_body=len(raw)):
        assert receiver.post(raw).status_code == 200
    for receiver in serve(tmp_path / "smaller", max_body=len(raw) - 1):
        assert receiver.post(raw).status_code == 413


@pytest.mark.attack("hostile webhook envelope id: 400, nothing written outside the inbox")
@pytest.mark.parametrize(
    "envelope_id",
    [
        "../../x",
        "../inbox/customers/y",
        "/etc/passwd",
        "a/b",
        ".hidden",
        "x.json",
        "",
        "é",
        "x" * 101,
        "x" * 5000,
        "a\x00b",
        123,
        None,
        ["a"],
    ],
    ids=lambda v: repr(v)[:20],
)
def test_a_hostile_envelope_id_is_refused_and_nothing_written(receiver, tmp_path, envelope_id):
    answer = receiver.post(envelope(id=envelope_id))
    assert answer.status_code == 400, answer.text
    assert "id" in answer.json()["error"]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.attack("malformed webhook body: 400 with a reason, nothing stored")
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"type": "customer.updated", "data": {}}', "no id"),
        (b'{"id": "abc", "data": {}}', "no type"),
        (b'{"id": "abc", "type": "customer.updated"}', "no data"),
        (b'{"id": "abc", "type": "customer.updated", "data": []}', "data is a JSON list"),
        (b'{"id": "abc", "type": "../x", "data": {}}', "type"),
    ],
)
def test_a_malformed_signed_body_is_refused_with_a_reason(receiver, raw, reason):
    answer = receiver.post(raw)
    assert answer.status_code == 400
    assert reason in answer.json()["error"]
    assert _stored(receiver) == []


SECRETS = {
    "verification": "VERIFY-tok-0d9f8e7c",
    "reset": "RESET-tok-1a2b3c4d",
    "tx": "TXSECRET-5e6f7a8b",
    "ticket": "TKSECRET-9c0d1e2f",
    "barcode": "BARCODE-3a4b5c6d7e",
    "nested": "NESTED-BARCODE-8f9a",
    "account string": "ACCOUNT-STRING-7b6a",
}


def _deliveries() -> list[dict]:
    customer = {
        "_id": "c" * 24,
        "primaryEmail": "ada@example.com",
        "_account": {
            "loginType": "password",
            "verificationToken": SECRETS["verification"],
            "passwordResetToken": SECRETS["reset"],
        },
        "extraFields": {"ticketBarcode": SECRETS["nested"]},
    }

    def ticket(n: int) -> dict:
        return {"_id": f"{n:024d}", "secret": SECRETS["ticket"], "barcode": SECRETS["barcode"]}

    transaction = {"_id": "a" * 24, "secret": SECRETS["tx"], "realPrice": 12.5}
    # An `_account` that is not an object: the declaration says it holds secrets, so it goes.
    odd = {"_id": "d" * 24, "_account": f"verificationToken={SECRETS['account string']}"}
    return [
        envelope("customer.created", {"customer": customer}),
        envelope("customer.updated", {"customer": odd}),
        envelope("transaction.complete", {"transaction": transaction, "tickets": [ticket(1)]}),
        envelope("transaction.partiallyCanceled", {"transaction": transaction}),
        envelope("ticket.updated", {"ticket": ticket(2)}),
    ]


@pytest.mark.attack("webhook payload secrets: never on disk")
def test_secrets_are_scrubbed_before_anything_touches_disk(receiver):
    for body in _deliveries():
        answer = receiver.post(body)
        assert answer.status_code == 200 and answer.json()["stored"], answer.text
    files = receiver.files()
    assert len(files) == 5
    needles = [v.encode() for v in SECRETS.values()] + [SECRET]
    for path in files:
        content = path.read_bytes()
        assert not [n for n in needles if n in content], path
    # What is not a secret is kept: applying needs the records whole.
    customers = {
        c["_id"]: c
        for p in files
        if p.parent.name == "customers"
        for c in [orjson.loads(p.read_bytes())["envelope"]["data"]["customer"]]
    }
    assert customers["d" * 24]["_account"] == "[dropped: not an object]"
    customer = customers["c" * 24]
    assert customer["_account"] == {"loginType": "password"}
    assert customer["primaryEmail"] == "ada@example.com"
    by_folder = {p.parent.name for p in files}
    assert by_folder == {"customers", "transactions", "tickets"}


@pytest.mark.attack("disk full while storing a webhook: 5xx, no partial file")
def test_a_full_disk_answers_5xx_leaves_no_partial_file_and_the_retry_is_stored(small_disk):
    resize(small_disk, "1m")
    data_dir = small_disk / "data"
    data_dir.mkdir()
    body = envelope(data={"customer": {"_id": "c" * 24, "notes": "n" * 200_000}})
    for receiver in serve(data_dir):
        # Make the folders, then fill the disk up to a few KiB.
        assert receiver.post(envelope()).status_code == 200
        filler = small_disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        answer = receiver.post(body)
        assert answer.status_code == 503, answer.text
        inbox = data_dir / "webhooks" / "inbox" / "customers"
        assert len(os.listdir(inbox)) == 1  # the first envelope; no temp file, no partial one
        assert receiver.client.get("/health").json()["since_start"]["store_failed"] == 1

        filler.unlink()  # vivenu delivers again later: then it is stored
        assert receiver.post(body).json()["stored"] is True
        saved = orjson.loads((inbox / f"{body['id']}.json").read_bytes())
        assert saved["envelope"] == body


@pytest.mark.attack("concurrent redeliveries of one webhook: stored once")
def test_concurrent_deliveries_of_one_envelope_store_one_file(receiver):
    raw = orjson.dumps(envelope("transaction.complete", {"transaction": {"_id": "a" * 24}}))
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: receiver.post(raw).json(), range(16)))
    assert sum(a["stored"] for a in answers) == 1
    assert all(a["resource"] == "transactions" for a in answers)
    assert len(_stored(receiver)) == 1


@pytest.mark.attack("webhook nested too deep to keep: 400, nothing stored")
def test_an_envelope_nested_too_deep_to_keep_is_refused(receiver):
    deep: dict = {}
    for _ in range(400):
        deep = {"a": deep}
    body = envelope(data={"customer": {"_id": "c" * 24, "meta": deep}})
    answer = receiver.post(json.dumps(body).encode())  # deeper than orjson writes
    assert answer.status_code == 400, answer.text
    assert _stored(receiver) == []


@pytest.mark.attack("webhook body trickled in (slowloris): 408, nothing stored")
def test_a_body_trickled_in_is_cut_off(tmp_path):
    raw = orjson.dumps(envelope())

    def trickle():
        yield raw[:10]
        time.sleep(0.6)
        yield raw[10:]

    for receiver in serve(tmp_path, body_timeout=0.3):
        answer = receiver.post(trickle(), signature=sign(raw))
        assert answer.status_code == 408, answer.text
        assert _stored(receiver) == []


def test_prepare_deletes_the_temp_files_of_killed_receivers_only(tmp_path):
    inbox = Inbox(tmp_path / "webhooks")
    folder = tmp_path / "webhooks" / "inbox" / "customers"
    folder.mkdir(parents=True)
    gone = subprocess.Popen(["true"])  # its pid is free once it is reaped
    gone.wait()
    killed = folder / f".abc.json.{gone.pid}.x1.tmp"
    writing = folder / f".def.json.{os.getpid()}.x2.tmp"
    for path in (killed, writing):
        path.write_bytes(b"{")
    inbox.prepare()
    assert not killed.exists() and writing.exists()


@pytest.mark.attack("webhook sender leaving mid-body: nothing stored, receiver unharmed")
def test_a_sender_leaving_mid_body_stores_nothing_and_the_receiver_serves_on(receiver):
    host, port = receiver.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(
            b"POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            b"x-vivenu-signature: 00\r\n\r\n" + b'{"id": "abc"'
        )
    deadline = time.monotonic() + 5
    while receiver.client.get("/health").json()["since_start"].get("disconnected", 0) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert _stored(receiver) == []
    assert receiver.post(envelope()).json()["stored"] is True
