"""The simulated vivenu HTTP API: every operation of vivenu's OpenAPI document (openapi.json here)
and its events and tickets operations (openapi-more.json here; see README.md beside this module).

Behaviour follows the document, plus the observed facts in /work/shared/vivenu/README.md:
Bearer API key auth (401 `API Key not found or expired`), 400 for unknown query parameters and
invalid parameters/bodies (validated against the document's own schemas, which this module loads),
`GET /api/customers` is 404, `{docs, total}` list bodies (`{rows, total}` for events and tickets),
deepObject `name[$op]` filters. Query parameters, their enums, formats and `required` flags are
read from the documents (so `top` and `skip` are required on `GET /api/events` only).

Choices where the document is silent:
- A malformed id (not 24-hex) is simply an id that does not exist: 404 (the document types ids
  as free strings). `DELETE /api/customers/{id}` answers an unknown id 404 as GET does, though the
  document lists no 404 for DELETE.
- An operator the document does not list (`updatedAt[$after]`) is 400 where the document closes
  the operator object (`additionalProperties: false`: events' `start`, `end`, `createdAt`,
  `updatedAt`) and ignored where it leaves it open (customers, transactions, tickets).
- Every request body is required where the document says so; `null` is accepted for the nullable
  account body, an empty body never.
- Request-body fields the schema does not know are ignored (no schema here sets
  `additionalProperties: false`); read-only fields are never taken from a body.
- `POST /api/customers` with `upsert: false` and a taken email, and a PUT that moves a customer onto
  another customer's email, are 400 (the document has no 409).
- `POST /api/customers/login` with wrong credentials is 400 (the document lists only 200/400).
  Every customer account's password is `data.SIMULATED_PASSWORD`.
- Error bodies carry `statusCode` as an integer, as the real service sends it (the document's
  unused `HttpError` schema says string; no error response references it).
- The /me endpoints take the customer JWT from login; the API key there is 401.
- Webhooks (`/api/webhooks`, `/api/webhook/{id}`; deliveries in webhooks.py): a URL that is not
  public HTTPS is 400 (unless the simulator was started with `allow_http`); an unknown id is 404
  on PUT as on DELETE (the document lists 404 for DELETE only); PUT replaces the fields sent and
  keeps the others (`events` as a whole); an `hmacKey` left out is generated; `enabled` defaults
  to true; the list answers `hmacKey` as the document's schema has it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pipelines.vivenu.simulator import data
from pipelines.vivenu.simulator.faults import Faults, FaultsMiddleware
from pipelines.vivenu.simulator.store import (
    Conflict,
    CustomerQuery,
    ListQuery,
    NotFound,
    Store,
    TransactionQuery,
)
from pipelines.vivenu.simulator.webhooks import InvalidUrl, Webhooks

_log = logging.getLogger(__name__)
SPEC: dict = json.loads((Path(__file__).parent / "openapi.json").read_text())
# More of the same published document: events, tickets, webhooks.
SPEC_MORE: dict = json.loads((Path(__file__).parent / "openapi-more.json").read_text())
# One namespace: the two documents share the names they both have (CustomerResource).
_SCHEMAS: dict = {**SPEC_MORE["components"]["schemas"], **SPEC["components"]["schemas"]}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_DEEP_RE = re.compile(r"^([A-Za-z]+)\[(.*)\]$", re.DOTALL)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
_INT_RE = re.compile(r"^[0-9]+$")

# Comma-separated list parameters that may also be repeated (`tags=a&tags=b` is `tags=a,b`).
REPEATABLE = {"tags", "status", "paymentStatus", "event", "deliveryType", "type", "childEvents"}


def _list_params(path: str) -> dict[str, dict]:
    """The query parameters of a GET list operation, by name, from vivenu's document."""
    for spec in (SPEC, SPEC_MORE):
        if path in spec["paths"]:
            return {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
    raise KeyError(path)


CUSTOMER_PARAMS = _list_params("/api/customers/rich")
TRANSACTION_PARAMS = _list_params("/api/transactions")
EVENT_PARAMS = _list_params("/api/events")
TICKET_PARAMS = _list_params("/api/tickets")
WEBHOOK_PARAMS = _list_params("/api/webhooks")


class ApiError(Exception):
    """An HTTP error answered with vivenu's `{statusCode, error, message}` body."""

    REASONS = {
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        405: "Method Not Allowed",
        500: "Internal Server Error",
    }

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> Response:
        """The error as a response."""
        body = {"statusCode": self.status, "error": self.REASONS.get(self.status, "Error")}
        body["message"] = self.message
        return Response(orjson.dumps(body), self.status, self.headers, "application/json")


def json_response(content: bytes | Any) -> Response:
    """A 200 JSON response from bytes or an object."""
    body = content if isinstance(content, bytes) else orjson.dumps(content)
    return Response(body, 200, media_type="application/json")


# ------------------------------------------------------------------ schema validation


_IS_KIND: dict[str | None, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    None: lambda v: True,
}


def validate(value: Any, schema: dict, path: str) -> None:
    """Raise ApiError(400) naming the first place where value violates the document's schema."""
    if "$ref" in schema:
        schema = _SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    if value is None:
        if schema.get("nullable"):
            return
        raise ApiError(400, f"{path} must not be null")
    if "oneOf" in schema:
        errors = []
        for option in schema["oneOf"]:
            try:
                validate(value, option, path)
            except ApiError as e:
                errors.append(e.message)
                continue
            return
        raise ApiError(400, f"{path} matches none of the allowed shapes ({'; '.join(errors)})")
    kind = schema.get("type")
    if not _IS_KIND[kind](value):
        raise ApiError(400, f"{path} must be of type {kind}")
    if "enum" in schema and value not in schema["enum"]:
        raise ApiError(400, f"{path} must be one of {', '.join(map(str, schema['enum']))}")
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "email" and not _EMAIL_RE.match(value):
            raise ApiError(400, f"{path} must be a valid email")
        if fmt == "date-time":
            parse_datetime(value, path)
        if fmt == "uri" and not _is_uri(value):
            raise ApiError(400, f"{path} must be an absolute URI")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ApiError(400, f"{path} must be at most {schema['maxLength']} characters")
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise ApiError(400, f"{path} must be at least {schema['minLength']} characters")
    if kind in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            raise ApiError(400, f"{path} must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ApiError(400, f"{path} must be <= {schema['maximum']}")
    if kind == "array":
        for i, item in enumerate(value):
            validate(item, schema.get("items", {}), f"{path}[{i}]")
    if kind == "object":
        for name in schema.get("required", []):
            if name not in value:
                raise ApiError(400, f"{path}.{name} is required")
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                validate(value[name], sub, f"{path}.{name}")


def _is_uri(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return bool(parts.scheme) and bool(parts.netloc or parts.path)


def parse_datetime(text: str, what: str) -> datetime:
    """An RFC 3339 / ISO-8601 timestamp (naive means UTC), or ApiError(400)."""
    try:
        dt = datetime.fromisoformat(text.upper())
    except ValueError:
        raise ApiError(400, f"{what} must be an ISO-8601 date-time, got {text!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def to_us(dt: datetime) -> int:
    """Epoch microseconds."""
    return (dt - _EPOCH) // _US


async def read_body(request: Request, schema_name: str) -> dict:
    """The JSON body validated against a request schema, reduced to the schema's properties.

    Every body this API takes is required; a schema marked nullable accepts a JSON `null` (read
    as `{}`), never an empty body.
    """
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "request body is required (send JSON, e.g. {})")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "request body is not valid JSON") from None
    schema = _SCHEMAS[schema_name]
    validate(body, schema, "body")
    if body is None:
        return {}
    try:
        orjson.dumps(body)
    except orjson.JSONEncodeError:
        raise ApiError(400, "request body contains invalid unicode (lone surrogates)") from None
    return _known(body, schema)


def _known(value: Any, schema: dict) -> Any:
    """Drop object keys the schema does not declare (free-form objects are kept as they are)."""
    if "$ref" in schema:
        schema = _SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    if isinstance(value, dict) and schema.get("properties"):
        props = schema["properties"]
        return {k: _known(v, props[k]) for k, v in value.items() if k in props}
    if isinstance(value, list) and "items" in schema:
        return [_known(v, schema["items"]) for v in value]
    return value


# ------------------------------------------------------------------ query parsing


def parse_query(
    request: Request, spec_params: dict[str, dict]
) -> tuple[dict[str, str], dict[str, list[tuple[str, Any]]]]:
    """Plain params and `name[$op]` filters of the query, checked against the operation's
    parameters in vivenu's document: 400 on unknown or repeated parameters, on a missing required
    one, on a value outside its enum or format. An operator the document does not list is 400
    where the document closes the object (`additionalProperties: false`) and ignored where it
    leaves it open."""
    params: dict[str, str] = {}
    ops: dict[str, list[tuple[str, Any]]] = {}
    try:
        pairs = parse_qsl(request.url.query, keep_blank_values=True, strict_parsing=False)
    except ValueError:
        raise ApiError(400, "malformed query string") from None
    for key, value in pairs:
        m = _DEEP_RE.match(key)
        spec = spec_params.get(m.group(1)) if m else None
        if m and spec is not None and spec.get("style") == "deepObject":
            name, op = m.groups()
            prop = spec["schema"].get("properties", {}).get(op)
            if prop is None:
                if spec["schema"].get("additionalProperties") is False:
                    allowed = ", ".join(spec["schema"].get("properties", {}))
                    raise ApiError(400, f"unknown {name} operator {op!r} (allowed: {allowed})")
                continue
            ops.setdefault(name, []).append((op, _scalar(value, prop, f"{name}[{op}]")))
        elif key in spec_params and spec_params[key].get("style") != "deepObject":
            if key in params:
                if key not in REPEATABLE:
                    raise ApiError(400, f"query parameter {key!r} must not be repeated")
                params[key] += "," + value
            else:
                params[key] = value
        elif key in spec_params:
            raise ApiError(400, f"query parameter {key!r} takes operators: {key}[$gte]=...")
        else:
            raise ApiError(400, f"unknown query parameter {key!r}")
    for name, spec in spec_params.items():
        if spec.get("required") and name not in params and name not in ops:
            raise ApiError(400, f"query parameter {name!r} is required")
        enum = spec["schema"].get("enum")
        if name in params and enum and params[name] not in enum:
            raise ApiError(400, f"{name} must be one of {', '.join(enum)}, got {params[name]!r}")
        if name in params and spec["schema"].get("format") == "date-time":
            parse_datetime(params[name], name)
    return params, ops


def _scalar(value: str, schema: dict, what: str) -> Any:
    """An operator's value: epoch µs for a date-time, a float for a number."""
    if schema.get("format") == "date-time":
        return to_us(parse_datetime(value, what))
    if schema.get("type") in ("number", "integer"):
        try:
            return float(value)
        except ValueError:
            raise ApiError(400, f"{what} must be a number, got {value!r}") from None
    return value


def paging(params: dict[str, str]) -> tuple[int, int]:
    """`top` (1..1000, default 25) and `skip` (>= 0, default 0)."""
    top, skip = 25, 0
    if "top" in params:
        if not _INT_RE.match(params["top"]) or not 1 <= int(params["top"]) <= 1000:
            raise ApiError(400, f"top must be an integer between 1 and 1000, got {params['top']!r}")
        top = int(params["top"])
    if "skip" in params:
        if not _INT_RE.match(params["skip"]):
            raise ApiError(400, f"skip must be a non-negative integer, got {params['skip']!r}")
        skip = int(params["skip"])
    return top, skip


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [v for v in value.split(",") if v]


# ------------------------------------------------------------------ the app


class _Tokens:
    """HS256 JWTs for customers (signed with a key derived from the API key)."""

    def __init__(self, api_key: str) -> None:
        self.key = hashlib.sha256(b"customer-jwt:" + api_key.encode()).digest()

    @staticmethod
    def _b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def issue(self, customer_id: str, seller_id: str) -> str:
        """A signed token for the customer."""
        header = self._b64(b'{"alg":"HS256","typ":"JWT"}')
        payload = self._b64(
            orjson.dumps({"sub": customer_id, "sellerId": seller_id, "iat": int(time.time())})
        )
        sig = hmac.new(self.key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{self._b64(sig)}"

    def verify(self, token: str) -> str | None:
        """The customer id of a valid token, else None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        sig = hmac.new(self.key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(self._b64(sig), parts[2]):
            return None
        payload = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return payload.get("sub")


def build_app(
    store: Store,
    *,
    api_key: str,
    faults: Faults | None = None,
    webhooks: Webhooks | None = None,
) -> Starlette:
    """The simulated vivenu API over `store`, guarded by `api_key`, with optional fault injection
    and the webhook subscriptions of `webhooks` (a new, HTTPS-only one when None)."""
    tokens = _Tokens(api_key)
    if webhooks is None:
        webhooks = Webhooks()
    store.listeners.append(webhooks.emit)
    key_id = hashlib.sha256(b"api-key:" + api_key.encode()).hexdigest()[:24]

    def bearer(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def require_key(request: Request) -> None:
        if bearer(request) != api_key:
            raise ApiError(401, "API Key not found or expired")

    def require_customer(request: Request) -> dict:
        token = bearer(request)
        cid = tokens.verify(token) if token else None
        if cid is None:
            raise ApiError(401, "a valid customer token is required")
        try:
            return store.get_customer(cid)
        except NotFound:
            raise ApiError(401, "the customer of this token no longer exists") from None

    def no_query(request: Request, allowed: set[str] = frozenset()) -> dict:  # type: ignore[assignment]
        params, _ = parse_query(request, {name: {"schema": {}} for name in allowed})
        return params

    async def create_customer(request: Request) -> Response:
        require_key(request)
        no_query(request)
        body = await read_body(request, "POST_Customers_CreateCustomer")
        try:
            doc, _ = store.create_customer(body, upsert=body.get("upsert", True))
        except Conflict as e:
            raise ApiError(400, str(e)) from None
        return json_response(doc)

    async def list_customers(request: Request) -> Response:
        require_key(request)
        params, ops = parse_query(request, CUSTOMER_PARAMS)
        top, skip = paging(params)
        query = CustomerQuery(
            name=params.get("name"),
            email=params.get("email"),
            company=params.get("company"),
            tags=_csv(params.get("tags")),
            updated=ops.get("updatedAt", []),
            top=top,
            skip=skip,
        )
        return json_response(store.list_customers(query))

    async def customer_tags(request: Request) -> Response:
        require_key(request)
        no_query(request)
        return json_response(store.tags())

    def get_one(
        noun: str, blob: Callable[[str], bytes | Any]
    ) -> Callable[[Request], Awaitable[Response]]:
        """A bodiless request on one record by id (its GET, an erase-data): vivenu's JSON 404
        for an unknown id."""

        async def get(request: Request) -> Response:
            require_key(request)
            no_query(request)
            try:
                return json_response(blob(request.path_params["id"]))
            except NotFound:
                raise ApiError(404, f"{noun} {request.path_params['id']} not found") from None

        return get

    get_customer = get_one("customer", store.customer_blob)

    async def update_customer(request: Request) -> Response:
        require_key(request)
        no_query(request)
        body = await read_body(request, "PUT_Customers_UpdateCustomer")
        try:
            return json_response(store.update_customer(request.path_params["id"], body))
        except NotFound:
            raise ApiError(404, f"customer {request.path_params['id']} not found") from None
        except Conflict as e:
            raise ApiError(400, str(e)) from None

    async def delete_customer(request: Request) -> Response:
        require_key(request)
        no_query(request)
        try:
            return json_response(store.delete_customer(request.path_params["id"]))
        except NotFound:
            # As GET answers an unknown id (the document lists no 404 for DELETE, but no other
            # status says "no such customer" either).
            raise ApiError(404, f"customer {request.path_params['id']} not found") from None

    erase_customer_data = get_one("customer", store.erase_customer_data)

    async def create_account(request: Request) -> Response:
        require_key(request)
        no_query(request)
        await read_body(request, "POST_Customers_CreateAccountForCustomer")
        try:
            return json_response(store.create_account(request.path_params["id"]))
        except NotFound:
            raise ApiError(404, f"customer {request.path_params['id']} not found") from None

    async def login(request: Request) -> Response:
        no_query(request)
        body = await read_body(request, "POST_Customers_LoginCustomer")
        customer = store.find_customer_by_email(body["email"])
        if (
            customer is None
            or body["sellerId"] != store.seller_id
            or not customer.get("_account")
            or body["password"] != data.SIMULATED_PASSWORD
        ):
            raise ApiError(400, "invalid email, password or sellerId")
        return json_response({"token": tokens.issue(customer["_id"], store.seller_id)})

    async def me(request: Request) -> Response:
        customer = require_customer(request)
        no_query(request)
        return json_response(customer)

    async def me_transactions(request: Request) -> Response:
        customer = require_customer(request)
        params = no_query(request, {"locale", "subscriptionId", "checkoutId"})
        items, event_ids = [], []
        for tid in customer.get("transactions", []):
            try:
                t = store.get_transaction(tid)
            except NotFound:
                continue
            if "subscriptionId" in params and t.get("subscriptionId") != params["subscriptionId"]:
                continue
            if "checkoutId" in params and t.get("checkoutId") != params["checkoutId"]:
                continue
            item = {k: t[k] for k in _ME_TXN_FIELDS if k in t}
            item["tid"] = t["_id"]
            items.append(item)
            if t["eventId"] not in event_ids:
                event_ids.append(t["eventId"])
        return json_response(
            {"transactions": items, "events": [_event(store, e) for e in event_ids]}
        )

    async def me_shops(request: Request) -> Response:
        require_customer(request)
        params = no_query(request, {"eventId", "locale"})
        if "eventId" not in params:
            raise ApiError(400, "query parameter 'eventId' is required")
        shops = []
        if params["eventId"] in store.events.slot_of:
            shop_id = hashlib.sha256(params["eventId"].encode()).hexdigest()[:24]
            shops.append({"_id": shop_id, "name": "Presale"})
        return json_response({"shops": shops})

    async def list_transactions(request: Request) -> Response:
        require_key(request)
        params, ops = parse_query(request, TRANSACTION_PARAMS)
        top, skip = paging(params)
        bounds = {
            k: to_us(parse_datetime(params[k], k)) if k in params else None
            for k in ("start", "end")
        }
        query = TransactionQuery(
            id=params.get("id"),
            name=params.get("name"),
            email=params.get("email"),
            coupon=params.get("coupon"),
            start_us=bounds["start"],
            end_us=bounds["end"],
            status=_csv(params.get("status")),
            payment_status=_csv(params.get("paymentStatus")),
            pos_payment_methods=params.get("posPaymentMethods"),
            event=_csv(params.get("event")),
            customer=params.get("customer"),
            subscription_id=params.get("subscriptionId"),
            psp=params.get("psp"),
            updated=ops.get("updatedAt", []),
            top=top,
            skip=skip,
        )
        return json_response(store.list_transactions(query))

    get_transaction = get_one("transaction", store.transaction_blob)

    def list_query(request: Request, spec_params: dict[str, dict]) -> ListQuery:
        params, ops = parse_query(request, spec_params)
        top, skip = paging(params)
        for bound, op in (("start", "$gte"), ("end", "$lte")):
            # Tickets' plain `start`/`end` bound createdAt (events' are operator objects).
            if bound in params and spec_params[bound].get("style") != "deepObject":
                ops.setdefault("createdAt", []).append(
                    (op, to_us(parse_datetime(params[bound], bound)))
                )
        return ListQuery(params=params, ops=ops, top=top, skip=skip)

    async def list_events(request: Request) -> Response:
        require_key(request)
        return json_response(store.list_events(list_query(request, EVENT_PARAMS)))

    get_event = get_one("event", store.event_blob)

    async def list_tickets(request: Request) -> Response:
        require_key(request)
        return json_response(store.list_tickets(list_query(request, TICKET_PARAMS)))

    get_ticket = get_one("ticket", store.ticket_blob)

    def created(content: Any) -> Response:
        return Response(orjson.dumps(content), 201, media_type="application/json")

    async def list_webhooks(request: Request) -> Response:
        require_key(request)
        params, _ = parse_query(request, WEBHOOK_PARAMS)
        top, skip = paging(params)
        hooks = webhooks.subscriptions()
        return json_response({"docs": hooks[skip : skip + top], "total": len(hooks)})

    async def create_webhook(request: Request) -> Response:
        require_key(request)
        no_query(request)
        body = await read_body(request, "POST_Webhooks_CreateANewWebhook")
        try:
            return created(webhooks.create(store.new_id(), body, key_id))
        except InvalidUrl as e:
            raise ApiError(400, str(e)) from None

    async def update_webhook(request: Request) -> Response:
        require_key(request)
        no_query(request)
        body = await read_body(request, "PUT_Webhooks_UpdateAWebhook")
        try:
            return created(webhooks.update(request.path_params["id"], body))
        except KeyError:
            raise ApiError(404, f"webhook {request.path_params['id']} not found") from None
        except InvalidUrl as e:
            raise ApiError(400, str(e)) from None

    async def delete_webhook(request: Request) -> Response:
        require_key(request)
        no_query(request)
        try:
            return json_response(webhooks.delete(request.path_params["id"]))
        except KeyError:
            raise ApiError(404, f"webhook {request.path_params['id']} not found") from None

    async def customers_root(request: Request) -> Response:
        # vivenu answers GET /api/customers (without /rich) with 404.
        raise ApiError(404, "Cannot GET /api/customers")

    table: list[tuple[str, dict[str, Callable[[Request], Awaitable[Response]]]]] = [
        ("/api/customers", {"POST": create_customer, "GET": customers_root}),
        ("/api/customers/rich", {"GET": list_customers}),
        ("/api/customers/tags", {"GET": customer_tags}),
        ("/api/customers/login", {"POST": login}),
        ("/api/customers/me", {"GET": me}),
        ("/api/customers/me/transactions", {"GET": me_transactions}),
        ("/api/customers/me/shops", {"GET": me_shops}),
        (
            "/api/customers/{id}",
            {"GET": get_customer, "PUT": update_customer, "DELETE": delete_customer},
        ),
        ("/api/customers/{id}/account", {"POST": create_account}),
        ("/api/customers/{id}/erase-data", {"POST": erase_customer_data}),
        ("/api/transactions", {"GET": list_transactions}),
        ("/api/transactions/{id}", {"GET": get_transaction}),
        ("/api/events", {"GET": list_events}),
        ("/api/events/{id}", {"GET": get_event}),
        ("/api/tickets", {"GET": list_tickets}),
        ("/api/tickets/{id}", {"GET": get_ticket}),
        ("/api/webhooks", {"GET": list_webhooks, "POST": create_webhook}),
        ("/api/webhook/{id}", {"PUT": update_webhook, "DELETE": delete_webhook}),
    ]
    routes = [_route(path, handlers) for path, handlers in table]

    async def not_found(request: Request, exc: Exception) -> Response:
        return ApiError(404, f"Cannot {request.method} {request.url.path}").response()

    if faults is not None:
        routes.append(_admin_route(faults))
    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.state.store = store
    app.state.tokens = tokens
    app.state.webhooks = webhooks
    if faults is not None:
        app.add_middleware(FaultsMiddleware, faults=faults)
    return app


_TUNABLE = {"latency_ms": float, "error_5xx_rate": float, "rate_429": float, "drop_rate": float}


def _admin_route(faults: Faults) -> Route:
    """`GET/PUT /_simulator/faults`: read or change the fault knobs of a running simulator.

    Not part of vivenu's API (outside `/api`, so outside the OpenAPI-checked paths): the
    benchmarks use it to inject latency without reseeding 1M customers. The fault middleware
    skips it, so it is never delayed or failed. The answer also counts the API requests served
    (`requests`, every answer) and the faults injected by kind (`faults`: "rps" for a 429 of
    `rps_limit`, "429", "5xx", "drop").
    """

    async def endpoint(request: Request) -> Response:
        if request.method == "PUT":
            body = orjson.loads(await request.body() or b"{}")
            unknown = set(body) - {*_TUNABLE, "rps_limit"}
            if unknown:
                return ApiError(400, f"unknown fault knobs: {sorted(unknown)}").response()
            for key, kind in _TUNABLE.items():
                if key in body:
                    setattr(faults, key, kind(body[key]))
            if "rps_limit" in body:
                faults.rps_limit = None if body["rps_limit"] is None else float(body["rps_limit"])
        state = {key: getattr(faults, key) for key in (*_TUNABLE, "rps_limit")}
        return Response(
            orjson.dumps({**state, "requests": faults.requests, "faults": dict(faults.counts)}),
            media_type="application/json",
        )

    return Route("/_simulator/faults", endpoint, methods=["GET", "PUT"])


def _route(path: str, handlers: dict[str, Callable[[Request], Awaitable[Response]]]) -> Route:
    """One path: dispatch by method, 405 with Allow for the others, ApiError as a JSON error."""
    allow = ", ".join(m for m in handlers if not (path == "/api/customers" and m == "GET"))

    async def endpoint(request: Request) -> Response:
        handler = handlers.get(request.method)
        try:
            if handler is None:
                raise ApiError(405, f"{request.method} is not allowed on {path}", {"Allow": allow})
            return await handler(request)
        except ApiError as e:
            return e.response()
        except Exception:
            # A simulator bug: say so loudly (the real service would answer an opaque 500).
            _log.exception("simulator error on %s %s", request.method, request.url.path)
            return ApiError(500, "internal simulator error").response()

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]
    return Route(path, endpoint, methods=methods)


_ME_TXN_FIELDS = (
    "secret", "tickets", "realPrice", "currency", "email", "status", "company", "name", "prename",
    "lastname", "street", "line2", "postal", "city", "state", "country", "createdAt", "eventId",
    "paymentStatus", "outerCharge", "paymentMethod", "preferredLanguage", "extraFields",
)  # fmt: skip


def _event(store: Store, event_id: str) -> dict:
    """The PublicEventResource part of a stored event."""
    try:
        doc = store.get_event(event_id)
    except NotFound:
        return {"_id": event_id, "sellerId": store.seller_id, "name": "Event"}
    keys = ("_id", "sellerId", "name", "start", "end", "eventType", "locationName", "locationCity")
    return {k: doc[k] for k in keys if k in doc}
