"""The gate's memory of a resource (`_state.json`, `rejected.parquet`) kept in the lake's bucket,
so a run in a fresh container validates only what changed instead of judging every row again
with GX, and its load and `quarantine list` see the records the gate rejects. With a local lake
both files stay under the data dir and these functions do nothing.

The two objects are uploaded one after the other. The state carries the SHA-256 of the rejects
it goes with (`push` seals it), so a pair from two runs, or an upload cut between the two, is
never taken for one: `fetch` then drops the state and the next validation is a full one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pipelines.quality.incremental as incremental
import pipelines.quality.rejects as rejects
from pipelines.sync.lake import Lake
from pipelines.sync.state import atomic_write_bytes
from pipelines.warehouse import remote

SEAL = "rejects_sha256"


def _name(resource: str, path: Path) -> str:
    return f"quality/{resource}/{path.name}"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes() if path.exists() else b"").hexdigest()


def _seal(state: Path) -> str | None:
    try:
        return json.loads(state.read_text()).get(SEAL)
    except (OSError, ValueError, AttributeError):
        return None


def sealed(lake: Lake, resource: str) -> bool:
    """Whether this disk holds a state and the rejects it was pushed with (its own gate's)."""
    state = incremental.state_path(lake, resource)
    return state.exists() and _seal(state) == _digest(rejects.rejected_path(lake, resource))


def download(lake: Lake, resource: str, folder: Path) -> dict[Path, str]:
    """The bucket's gate files of `resource`, downloaded to `folder/<resource>/` under their
    local names (this disk's own are left as they are), each with its URL."""
    found = {}
    for path in (incremental.state_path(lake, resource), rejects.rejected_path(lake, resource)):
        copy = folder / resource / path.name
        if remote.fetch(_name(resource, path), copy, lake=lake.root) is not None:
            found[copy] = str(remote.location(_name(resource, path), lake.root))
    return found


def fetch(lake: Lake, resource: str) -> None:
    """Replace this disk's gate files of `resource` with the bucket's. Without a state there
    (or one sealed with other rejects) the local state goes: the next validation is full. The
    local rejects stay when the bucket has none (written by this disk before the upgrade)."""
    if not lake.remote:
        return
    state = incremental.state_path(lake, resource)
    rejected = rejects.rejected_path(lake, resource)
    state.unlink(missing_ok=True)  # a fetch cut half-way must not pair it with new rejects
    remote.fetch(_name(resource, rejected), rejected, lake=lake.root)
    if remote.fetch(_name(resource, state), state, lake=lake.root) is None:
        return
    if _seal(state) != _digest(rejected):
        state.unlink()


def push(lake: Lake, resource: str) -> None:
    """Upload this disk's gate files of `resource`: the rejects, then the state sealed with
    their digest (the bytes uploaded, read once). Without a local state, the bucket's goes:
    it would not be this disk's rejects' (and may hold ids an erasure removed here)."""
    if not lake.remote:
        return
    state = incremental.state_path(lake, resource)
    path = rejects.rejected_path(lake, resource)
    body = path.read_bytes() if path.exists() else None
    if body is not None:
        remote.replace(_name(resource, path), body, lake=lake.root)
    if not state.exists():
        remote.remove(_name(resource, state), lake=lake.root)
        return
    doc = json.loads(state.read_text())
    doc[SEAL] = hashlib.sha256(body or b"").hexdigest()
    atomic_write_bytes(state, json.dumps(doc, indent=1).encode())
    remote.replace(_name(resource, state), state.read_bytes(), lake=lake.root)
