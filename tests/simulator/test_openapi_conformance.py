"""Property-based conformance of the simulator against vivenu's own OpenAPI document.

Two documents: `openapi.json` (customers, transactions) and `openapi-more.json`, of which the
events, tickets and webhooks operations are simulated. Both are used as vivenu publishes them, except that
`top`'s range 1..1000 and a non-negative `skip`, which the document states only in prose for some
operations, are made schema: schema-valid data is then API-valid data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    positive_data_acceptance,
    status_code_conformance,
    unsupported_method,
)

from pipelines.vivenu.simulator.data import SIMULATED_PASSWORD
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store

# 21 operations x 25 examples each, every answer validated against vivenu's schemas (the 68 KB
# EventResource among them): about 30 s on a shared 2-core machine.
pytestmark = pytest.mark.slow

SHARED = Path("/work/shared/vivenu")
PACKAGED = Path(__file__).parents[2] / "pipelines/vivenu/simulator"


def _document(name: str) -> dict:
    # The shared copy when present, else the same document shipped inside the simulator package.
    path = SHARED / name if (SHARED / name).exists() else PACKAGED / name
    spec = json.loads(path.read_text())
    for item in spec["paths"].values():
        for param in item.get("get", {}).get("parameters", []):
            if param["name"] == "top":
                param["schema"]["minimum"] = 1
            if param["name"] == "skip":
                param["schema"]["minimum"] = 0
    return _strip_metas(spec)  # type: ignore[return-value]


def _strip_metas(node: object) -> object:
    """Drop vivenu's `metas` annotations, which JSON Schema tools mistake for a keyword."""
    if isinstance(node, dict):
        return {k: _strip_metas(v) for k, v in node.items() if k != "metas"}
    if isinstance(node, list):
        return [_strip_metas(v) for v in node]
    return node


schema = schemathesis.openapi.from_dict(_document("openapi.json"))
schema_more = schemathesis.openapi.from_dict(_document("openapi-more.json")).include(
    path_regex=r"^/api/(events|tickets|webhooks?|customers/\{id\}/erase-data)"
)

# Where vivenu's documented answer to schema-valid data is a 400 (the document lists no 401/404/
# 409 for these): wrong credentials at login, a taken email with `upsert: false` or moved onto
# by a PUT. Each is excused only for the simulator's message saying exactly that.
_SEMANTIC_400 = {
    ("POST", "/api/customers/login"): "invalid email, password or sellerId",
    ("POST", "/api/customers"): "already exists",
    ("PUT", "/api/customers/{id}"): "already exists",
    # A URL of the schema's format `uri` that is not public HTTPS (vivenu's rule, in prose).
    ("POST", "/api/webhooks"): "url must",
    ("PUT", "/api/webhook/{id}"): "url must",
}


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[SimulatorServer, str]]:
    """One simulator for the whole run, plus a customer token for the /me endpoints."""
    store = Store.seeded(200, 11)
    with SimulatorServer(store, api_key="sim-key") as server:
        email = next(c["primaryEmail"] for c in store.customers_truth() if c.get("_account"))
        body = {"sellerId": store.seller_id, "email": email, "password": SIMULATED_PASSWORD}
        token = httpx.post(f"{server.base_url}/api/customers/login", json=body).json()["token"]
        yield server, token


def _check(case: schemathesis.Case, live: tuple) -> None:
    server, token = live
    me = case.operation.path.startswith("/api/customers/me")
    headers: dict[str, str] | None = {"Authorization": f"Bearer {token if me else server.api_key}"}
    header_info = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    if header_info is not None and header_info.mode.is_negative:
        headers = None  # the case tests a missing/garbled Authorization header: send it as is
    response = case.call(base_url=server.base_url, headers=headers)
    excluded = []
    key = (case.method.upper(), case.operation.path)
    message = response.text if response.status_code >= 400 else ""
    if response.status_code == 400 and key in _SEMANTIC_400 and _SEMANTIC_400[key] in message:
        excluded.append(positive_data_acceptance)
    if key in (("DELETE", "/api/customers/{id}"), ("PUT", "/api/webhook/{id}")) and (
        response.status_code == 404
    ):
        # The document lists no 404 for these (GET, PUT and the account POST of a customer, and
        # DELETE of a webhook list it); an unknown id answers 404 there as everywhere, the one
        # status that says "no such id".
        excluded.append(status_code_conformance)
    if case.operation.path == "/api/customers":
        # vivenu answers GET /api/customers with 404 (observed), not the 405 the check expects.
        excluded.append(unsupported_method)
    case.validate_response(response, headers=headers, excluded_checks=excluded)


# Derandomized: a clean checkout's CI run must not pass or fail by the draw. To explore, raise
# max_examples and drop derandomize locally (600 examples of GET /api/tickets found nothing).
_SETTINGS = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@schema.parametrize()
@_SETTINGS
def test_simulator_conforms_to_openapi(case: schemathesis.Case, live: tuple) -> None:
    """Every operation answers per the document for generated valid and invalid requests."""
    _check(case, live)


@schema_more.parametrize()
@_SETTINGS
def test_events_tickets_and_webhooks_conform_to_openapi_more(
    case: schemathesis.Case, live: tuple
) -> None:
    """Events, tickets and webhooks answer per `openapi-more.json` for valid and invalid
    requests."""
    _check(case, live)
