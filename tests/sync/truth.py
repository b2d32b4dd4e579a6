"""Helpers that run the engine against a live simulator and compare the lake with its truth."""

from __future__ import annotations

import asyncio
import importlib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from pipelines.sync.engine import SyncOptions, SyncResult, reconcile_resource, sync_resource
from pipelines.sync.lake import Lake
from pipelines.sync.normalize import updated_at_ms
from pipelines.sync.windows import WindowPolicy
from pipelines.vivenu.client import ClientSettings, Resource, ResourceSpec, VivenuClient
from pipelines.vivenu.simulator.server import SimulatorServer


def client_for(sim: SimulatorServer, *, via: str | None = None, **overrides: Any) -> VivenuClient:
    """A fast client for `sim`, or for a proxy in front of it at base URL `via`."""
    settings = {"max_rps": 2000, "concurrency": 4, "backoff_initial_s": 0.02, **overrides}
    return VivenuClient(
        ClientSettings(base_url=via or sim.base_url, api_key=sim.api_key, **settings)
    )


def sync(
    sim: SimulatorServer,
    data_dir: Path,
    *,
    full: bool = False,
    reconcile: bool = False,
    via: str | None = None,
    resources: tuple[ResourceSpec, ...] = (Resource.CUSTOMERS, Resource.TRANSACTIONS),
    policy: WindowPolicy | None = None,
    **client_overrides: Any,
) -> dict[str, SyncResult]:
    """One sync of `resources` (customers and transactions unless told), optionally a reconcile,
    then compaction (through the proxy at `via` when given)."""
    lake = Lake(data_dir)
    options = SyncOptions(full=full, safety_lag=timedelta(0), policy=policy or WindowPolicy())

    async def go() -> dict[str, SyncResult]:
        async with client_for(sim, via=via, **client_overrides) as client:
            results = {r.name: await sync_resource(client, lake, r, options) for r in resources}
            if reconcile:
                for resource in resources:
                    lake.compact(resource.name)
                    await reconcile_resource(client, lake, resource, options)
            return results

    results = asyncio.run(go())
    for resource in results:
        lake.compact(resource)
    return results


def _snapshot(data_dir: Path, resource: str) -> dict[str, dict[str, Any]]:
    columns = ["id", "updated_at", *COMPARED[resource]]
    rows = Lake(data_dir).read_snapshot(resource, resource, columns).to_pylist()
    return {row["id"]: row for row in rows}


def _ms(row: dict[str, Any]) -> int:
    return int(row["updated_at"].timestamp() * 1000)


def _customer_view(doc: dict[str, Any]) -> tuple:
    return (updated_at_ms(doc), doc.get("primaryEmail"), list(doc.get("tags") or []))


def _customer_row(row: dict[str, Any]) -> tuple:
    return (_ms(row), row["primary_email"], row["tags"])


def _transaction_view(doc: dict[str, Any]) -> tuple:
    price = doc.get("realPrice")
    amount = None if price is None else Decimal(repr(price)).quantize(Decimal("0.0001"))
    return (updated_at_ms(doc), doc.get("customerId"), amount, doc.get("currency"))


def _transaction_row(row: dict[str, Any]) -> tuple:
    return (_ms(row), row["customer_id"], row["real_price"], row["currency"])


def _event_view(doc: dict[str, Any]) -> tuple:
    return (updated_at_ms(doc), doc.get("name"), doc.get("maxAmount"), doc.get("start"))


def _event_row(row: dict[str, Any]) -> tuple:
    start = row["start_at"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return (_ms(row), row["name"], row["capacity"], start)


def _ticket_view(doc: dict[str, Any]) -> tuple:
    price = doc.get("realPrice")
    amount = None if price is None else Decimal(repr(price)).quantize(Decimal("0.0001"))
    keys = ("transactionId", "eventId", "customerId", "status", "firstname")
    return (updated_at_ms(doc), *(doc.get(k) for k in keys), amount)


def _ticket_row(row: dict[str, Any]) -> tuple:
    keys = ("transaction_id", "event_id", "customer_id", "status", "firstname", "real_price")
    return (_ms(row), *(row[k] for k in keys))


# The snapshot columns each row view reads besides id and updated_at.
COMPARED = {
    "customers": ["primary_email", "tags"],
    "transactions": ["customer_id", "real_price", "currency"],
    "events": ["name", "capacity", "start_at"],
    "tickets": ["transaction_id", "event_id", "customer_id", "status", "firstname", "real_price"],
}

# Per resource: a record of the simulator's truth and a snapshot row, as comparable tuples
# (their updatedAt first).
VIEWS = {
    "customers": (_customer_view, _customer_row),
    "transactions": (_transaction_view, _transaction_row),
    "events": (_event_view, _event_row),
    "tickets": (_ticket_view, _ticket_row),
}


def mismatches(
    sim: SimulatorServer,
    data_dir: Path,
    *,
    upto_ms: int | None = None,
    resources: tuple[str, ...] = ("customers", "transactions"),
) -> dict:
    """Differences between the snapshots of `resources` and the simulator's truth.

    With `upto_ms`, only records whose current updatedAt is below it are required (a record
    changed after a run's frozen upper bound is the next run's business); records beyond it
    may be present in an older version.
    """
    found = {}
    for resource in resources:
        view, row_view = VIEWS[resource]
        expected = sim.store.truth_views(resource, view)
        snap = _snapshot(data_dir, resource)
        required = {i: v for i, v in expected.items() if upto_ms is None or v[0] < upto_ms}
        missing = sorted(set(required) - set(snap))
        differ = sorted(i for i in required if i in snap and row_view(snap[i]) != required[i])
        # Exact mode: nothing extra. Bounded mode: extras are only ids deleted after the bound.
        extra = sorted(set(snap) - set(expected)) if upto_ms is None else []
        if missing or differ or extra:
            found[resource] = {
                "missing": missing[:5], "n_missing": len(missing),
                "differ": differ[:5], "n_differ": len(differ),
                "extra": extra[:5], "n_extra": len(extra),
            }  # fmt: skip
    return found


def cli_in_process(sim: SimulatorServer, data_dir: Path, *args: str) -> Result:
    """`customer-sync ARGS` in this process (a subprocess spends most of its time importing)."""
    import pipelines.definitions
    from pipelines.cli import main

    env = {
        "VIVENU_BASE_URL": sim.base_url,
        "VIVENU_API_KEY": sim.api_key,
        "CUSTOMER_SYNC_DATA_DIR": str(data_dir),
        "CUSTOMER_SYNC_MAX_RPS": "1000",
    }
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            # The code location wires its resources from the environment when imported.
            importlib.reload(pipelines.definitions)
            return CliRunner().invoke(main, list(args))
    finally:
        importlib.reload(pipelines.definitions)
