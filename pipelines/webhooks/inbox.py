"""The webhook inbox: one file per delivered envelope, scrubbed, durable, deduplicated by its id.

Layout under `<data dir>/webhooks/`:

- `inbox/<resource>/<envelope id>.json`: received, not yet applied. `<resource>` is the
  registry's name of the envelope's `type` prefix (`customer.updated` -> `customers`).
- `done/<resource>/<envelope id>.json`: where applying moves an envelope once its change is in
  the lake, so a redelivery after that is still a duplicate (vivenu retries for about 2 hours).

A file is `{"envelope": <the envelope, secrets dropped>, "received_at": <ISO-8601 UTC>,
"resource": <name>}` as JSON with sorted keys, written through a temp file, fsync, rename and
fsync of the folder: it is there whole or not at all, and it is there before the 2xx.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from pipelines.registry import RESOURCES, ResourceSpec
from pipelines.sync.normalize import scrub
from pipelines.sync.redact import to_json
from pipelines.sync.state import atomic_write_bytes, pid_alive

INBOX = "inbox"
DONE = "done"
# vivenu's ids are 36 characters; the id is a file name an attacker chooses, so only letters,
# digits, `-` and `_` (no dot, no slash, nothing hidden), and not longer than a name can be.
ENVELOPE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
EVENT_TYPE = re.compile(r"[A-Za-z]+(\.[A-Za-z]+)+")
# The envelope `type` prefix names the resource by its singular (`ticket.created`).
BY_SINGULAR: dict[str, ResourceSpec] = {spec.singular: spec for spec in RESOURCES}
BY_PLURAL: dict[str, ResourceSpec] = {spec.name: spec for spec in RESOURCES}


class BadEnvelope(ValueError):
    """A delivery that is not a vivenu envelope; the message says why (answered with 400)."""


@dataclass(frozen=True)
class Envelope:
    """A checked envelope: its id (a safe file name), its type and the resource it is about
    (None for a type the sync has no resource for)."""

    id: str
    type: str
    resource: ResourceSpec | None
    body: dict[str, Any]


def parse(document: Any) -> Envelope:
    """The envelope in a parsed JSON body; BadEnvelope naming the first thing wrong with it."""
    if not isinstance(document, dict):
        raise BadEnvelope(f"the body is a JSON {type(document).__name__}, not an object")
    missing = [key for key in ("id", "type", "data") if key not in document]
    if missing:
        raise BadEnvelope(f"not a vivenu envelope: no {', '.join(missing)}")
    envelope_id, event_type, data = document["id"], document["type"], document["data"]
    if not isinstance(envelope_id, str) or not ENVELOPE_ID.fullmatch(envelope_id):
        raise BadEnvelope("id is not 1-100 letters, digits, '-' or '_'")
    if not isinstance(event_type, str) or not EVENT_TYPE.fullmatch(event_type):
        raise BadEnvelope("type is not a vivenu event type like customer.updated")
    if not isinstance(data, dict):
        raise BadEnvelope(f"data is a JSON {type(data).__name__}, not an object")
    resource = BY_SINGULAR.get(event_type.split(".", 1)[0])
    return Envelope(envelope_id, event_type, resource, document)


def scrubbed(envelope: Envelope) -> dict[str, Any]:
    """The envelope without secrets: each record in `data` (`data.customer`, `data.transaction`,
    `data.tickets[]`, ...) scrubbed by its resource's declaration, as extraction does; `to_json`
    then drops every secret-named key left at any depth. In place (a freshly parsed body)."""
    data = envelope.body["data"]
    for key, value in data.items():
        if key in BY_SINGULAR:
            scrub(BY_SINGULAR[key], value)
        elif key in BY_PLURAL and isinstance(value, list):
            for item in value:
                scrub(BY_PLURAL[key], item)
    return envelope.body


class Inbox:
    """The webhook folders under `root` (`<data dir>/webhooks`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # The receiver stores from a thread pool: one check-then-write at a time, so two
        # concurrent deliveries of one id still make one file.
        self._lock = threading.Lock()

    def prepare(self) -> None:
        """Create the inbox's folders (OSError when the data directory cannot hold them) and
        delete the temp files of receivers killed before their rename, whose envelopes vivenu
        delivers again (they were never answered 2xx)."""
        for spec in RESOURCES:
            folder = self.root / INBOX / spec.name
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob(".*.tmp"):
                # `.<id>.json.<pid>.<random>.tmp`: an id has no dot.
                pid = stale.name.split(".")[3:4]
                if pid and pid[0].isdigit() and not pid_alive(int(pid[0])):
                    stale.unlink(missing_ok=True)

    def path(self, resource: ResourceSpec, envelope_id: str, folder: str = INBOX) -> Path:
        return self.root / folder / resource.name / f"{envelope_id}.json"

    def seen(self, envelope_id: str) -> bool:
        """Whether an envelope with this id is in the inbox or applied, under any resource."""
        return any(
            self.path(spec, envelope_id, folder).exists()
            for folder in (INBOX, DONE)
            for spec in RESOURCES
        )

    def store(self, envelope: Envelope, *, now: datetime | None = None) -> bool:
        """Write the scrubbed envelope durably; False (nothing written) when its id was seen.
        OSError (a full disk, ...) leaves no file behind; BadEnvelope when it cannot be
        written as JSON."""
        assert envelope.resource is not None
        received = (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
        record = {
            "envelope": scrubbed(envelope),
            "received_at": received,
            "resource": envelope.resource.name,
        }
        try:
            data = to_json(record).encode()
        except orjson.JSONEncodeError as exc:  # nested deeper than orjson writes (~250 levels)
            raise BadEnvelope(f"cannot be kept: {exc}") from None
        with self._lock:
            if self.seen(envelope.id):
                return False
            atomic_write_bytes(self.path(envelope.resource, envelope.id), data)
        return True

    def counts(self) -> dict[str, dict[str, int]]:
        """Envelopes per resource, waiting (`inbox`) and applied (`done`)."""
        return {
            folder: {spec.name: self._count(self.root / folder / spec.name) for spec in RESOURCES}
            for folder in (INBOX, DONE)
        }

    @staticmethod
    def _count(folder: Path) -> int:
        try:
            with os.scandir(folder) as entries:
                # Temp files start with a dot (`pipelines.sync.state.temp_file`).
                return sum(
                    1 for e in entries if e.name.endswith(".json") and not e.name.startswith(".")
                )
        except FileNotFoundError:
            return 0
