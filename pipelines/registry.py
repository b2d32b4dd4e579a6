"""The vivenu resources the pipeline syncs, each declared once (no Dagster imports).

A `ResourceSpec` says everything resource-specific: where vivenu lists it and under which key,
its id and `updatedAt` fields, its fields (API field -> column, how it is normalized and so its
Arrow type), the link tables unnested from its lists, the secrets dropped at extraction, its
quality suites and the names of its Dagster assets and check. The client, engine, lake, quality
gate, warehouse loader, assets, jobs and CLI iterate `RESOURCES` and name no resource; SQL that
only one resource needs lives in .sql files named after its tables.

Adding a field is one `Field` line: the lake's Arrow schema, the set of modeled fields (the rest
go to `api_extra`), the columnar fast path and the row-by-row path all come from it. Adding a
resource is one `ResourceSpec` (plus its expectation suites and, for a link table, its SQL).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from enum import Enum
from types import SimpleNamespace

import pyarrow as pa

from pipelines.sync.schemas import DELETIONS, JSON, LINEAGE, MONEY, QUARANTINE, TIMESTAMP
from pipelines.vivenu.errors import VivenuInvalidId
from pipelines.vivenu.ids import ID_RULE, is_vivenu_id


class Kind(Enum):
    """How an API value becomes a column: `pipelines.sync.normalize` (row by row) and
    `pipelines.sync.columnar` (whole batches) each implement a kind once, for every field of it."""

    ID = "id"  # the record's key: a non-empty string
    TEXT = "text"
    WHOLE = "whole"  # a whole number (JSON may spell it as a float)
    NUMBER = "number"
    MONEY = "money"  # decimal(18, 4): the shortest decimal the float stands for
    BOOL = "bool"
    TEXT_LIST = "text_list"  # a list of strings; absent or null is []
    JSON = "json"  # any value, kept as JSON with nested secrets dropped
    TIMESTAMP = "timestamp"  # an ISO-8601 string with a zone
    COUNT = "count"  # the length of a list (the tickets of a transaction)
    PRESENT = "present"  # whether the object is there (a customer's `_account`)
    UNMODELED = "unmodeled"  # every top-level field no `Field` declares, as one JSON object

    @property
    def arrow_type(self) -> pa.DataType:
        """The column's type in the lake (and so in the warehouse)."""
        return _ARROW_TYPES[self]


_ARROW_TYPES = {
    Kind.ID: pa.string(),
    Kind.TEXT: pa.string(),
    Kind.WHOLE: pa.int64(),
    Kind.NUMBER: pa.float64(),
    Kind.MONEY: MONEY,
    Kind.BOOL: pa.bool_(),
    Kind.TEXT_LIST: pa.list_(pa.string()),
    Kind.JSON: JSON,
    Kind.TIMESTAMP: TIMESTAMP,
    Kind.COUNT: pa.int32(),
    Kind.PRESENT: pa.bool_(),
    Kind.UNMODELED: JSON,
}


@dataclass(frozen=True)
class Field:
    """One column and the API field it comes from.

    Args:
        api: the field in the API record; `parent.key` for a key of a nested object, which is
            flattened into its own column.
        column: the column in the lake and the warehouse.
        kind: how it is normalized (and so its Arrow type).
        required: a record without it is malformed (quarantined); the column is NOT NULL.
    """

    api: str
    column: str
    kind: Kind = Kind.TEXT
    required: bool = False

    @property
    def top(self) -> str:
        """The top-level API field holding the value."""
        return self.api.split(".", 1)[0]

    @property
    def key(self) -> str | None:
        """The key inside the nested object `top`, or None for a top-level field."""
        return self.api.split(".", 1)[1] if "." in self.api else None

    @property
    def arrow(self) -> pa.Field:
        nullable = not (self.required or self.kind is Kind.PRESENT)
        return pa.field(self.column, self.kind.arrow_type, nullable=nullable)


# Where the fields vivenu sends and we do not model go (segments, externalId, ...).
UNMODELED = Field("", "api_extra", Kind.UNMODELED)


@dataclass(frozen=True)
class Link:
    """A table with one row per distinct (record, element) of a list column of the record's
    current version, e.g. a customer's tags. Compaction and the warehouse build it with
    `sql/<table>.sql` (in `pipelines/sync` and `pipelines/warehouse`)."""

    table: str
    source: str  # the TEXT_LIST column unnested
    value: str  # the element's column
    key: str  # the column holding the record's id
    label: str  # what a row is, in prose ("tags")

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(self.key, pa.string(), nullable=False),
                pa.field(self.value, pa.string(), nullable=False),
                pa.field("updated_at", TIMESTAMP, nullable=False),
                *LINEAGE,
            ]
        )


@dataclass(frozen=True, eq=False)
class ResourceSpec:
    """One vivenu collection, from its list endpoint to its warehouse table.

    Args:
        name: the lake folder, the warehouse table and the name in the CLI (`--resource`).
        singular: names the Dagster assets (`<singular>_changes`, `<singular>_snapshot`) and
            the quality check (`<singular>_quality`).
        list_path: the list endpoint (offset-paged with `top`/`skip`, filtered by `updatedAt`).
        item_path: the record's endpoint, `{id}` standing for its id.
        list_key: the key of the list answer holding the page's records (next to `total`).
        filters: query parameters sent with every list request.
        id_field / updated_field: the API's record id and last-change timestamp.
        fields: the columns, in table order.
        links: tables unnested from list columns.
        secrets: fields dropped before anything is kept: `key` at the top level (any key that
            `pipelines.sync.redact.is_secret_key` matches goes too) or `object.key` inside a
            nested object, which is then scrubbed the same way.
        suites: the expectation suites (`expectations/<suite>.json`) that gate it.
        owner: the column naming the person (a customer) a record belongs to: `id` for the
            customers themselves (erased by deleting their rows), `customer_id` for records
            that keep their money and dates but lose the link (`pipelines.erase`).
        owned_via: (column, resource): a record of a record the person owns is theirs too
            (a companion ticket of their transaction names no customer).
        personal: the columns emptied when the owner is erased (`api_extra` goes too: what
            vivenu sends unmodeled cannot be told apart).
        webhook_record: whether vivenu's webhooks carry the record as its endpoint serves it
            (then a sync skips the versions they brought) or in another shape (the sync's
            version replaces theirs).
    """

    name: str
    singular: str
    list_path: str
    item_path_template: str
    fields: tuple[Field, ...]
    list_key: str = "docs"
    filters: tuple[tuple[str, str], ...] = ()
    id_field: str = "_id"
    updated_field: str = "updatedAt"
    links: tuple[Link, ...] = ()
    secrets: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    owner: str | None = None
    owned_via: tuple[tuple[str, str], ...] = ()
    personal: tuple[str, ...] = ()
    webhook_record: bool = True
    # Derived below, once.
    modeled: frozenset[str] = field(init=False)
    schema: pa.Schema = field(init=False)

    def __post_init__(self) -> None:
        modeled = frozenset(f.top for f in self.fields if f.kind is not Kind.UNMODELED)
        object.__setattr__(self, "modeled", modeled)
        object.__setattr__(self, "schema", pa.schema([f.arrow for f in self.fields] + LINEAGE))
        columns = [f.column for f in self.fields]
        if len(set(columns)) != len(columns):
            raise ValueError(f"{self.name}: a column is declared twice")
        # The lake's merge SQL and the warehouse key every resource table by these two.
        key = Field(self.id_field, "id", Kind.ID, required=True)
        updated = Field(self.updated_field, "updated_at", Kind.TIMESTAMP, required=True)
        if key not in self.fields or updated not in self.fields:
            raise ValueError(f"{self.name}: declare {key} and {updated}")
        for column in (*self.personal, *(c for c, _ in self.owned_via), self.owner or "id"):
            if column not in columns:
                raise ValueError(f"{self.name}: personal or owner column {column} is not declared")
        for link in self.links:
            if self.field_for(link.source).kind is not Kind.TEXT_LIST:
                raise ValueError(f"{self.name}: link {link.table} needs a TEXT_LIST column")

    def item_path(self, record_id: str) -> str:
        """The record's path; an id that cannot be a vivenu id is refused, before any request."""
        if not isinstance(record_id, str) or not is_vivenu_id(record_id):
            raise VivenuInvalidId(
                f"{record_id!r} is not a vivenu id ({ID_RULE}): refused before any request"
            )
        return self.item_path_template.format(id=urllib.parse.quote(record_id, safe=""))

    def field_for(self, column: str) -> Field:
        return next(f for f in self.fields if f.column == column)

    @property
    def objects(self) -> tuple[str, ...]:
        """Top-level API fields that are objects: flattened into columns, or checked present."""
        return tuple(dict.fromkeys(f.top for f in self.fields if f.key or f.kind is Kind.PRESENT))

    @property
    def secret_objects(self) -> tuple[str, ...]:
        """Nested objects holding declared secrets: scrubbed of secret keys at extraction."""
        return tuple(dict.fromkeys(s.split(".", 1)[0] for s in self.secrets if "." in s))

    @property
    def tables(self) -> dict[str, pa.Schema]:
        """The lake tables a run writes: the resource's own (keyed by `id`) first."""
        return {
            self.name: self.schema,
            **{link.table: link.schema for link in self.links},
            "quarantine": QUARANTINE,
            "deletions": DELETIONS,
        }

    @property
    def changes_asset(self) -> str:
        return f"{self.singular}_changes"

    @property
    def snapshot_asset(self) -> str:
        return f"{self.singular}_snapshot"

    @property
    def quality_check(self) -> str:
        return f"{self.singular}_quality"


# vivenu's customer `location` object, flattened into `location_<key>` columns.
LOCATION_KEYS = ("street", "line2", "postal", "city", "state", "country")

CUSTOMERS = ResourceSpec(
    name="customers",
    singular="customer",
    list_path="/api/customers/rich",
    item_path_template="/api/customers/{id}",
    fields=(
        Field("_id", "id", Kind.ID, required=True),
        Field("sellerId", "seller_id"),
        Field("number", "number", Kind.WHOLE),
        Field("primaryEmail", "primary_email"),
        Field("company", "company"),
        Field("name", "name"),
        Field("prename", "prename"),
        Field("lastname", "lastname"),
        Field("phone", "phone"),
        Field("notes", "notes"),
        *(Field(f"location.{k}", f"location_{k}") for k in LOCATION_KEYS),
        Field("tags", "tags", Kind.TEXT_LIST),
        Field("blocked", "blocked", Kind.BOOL),
        Field("verified", "verified", Kind.BOOL),
        Field("extraFields", "extra_fields", Kind.JSON),
        Field("meta", "meta", Kind.JSON),
        Field("_account", "has_account", Kind.PRESENT),
        Field("_account.loginType", "account_login_type"),
        Field("transactions", "transaction_ids", Kind.TEXT_LIST),
        UNMODELED,
        Field("createdAt", "created_at", Kind.TIMESTAMP),
        Field("updatedAt", "updated_at", Kind.TIMESTAMP, required=True),
    ),
    links=(
        Link("customer_tags", source="tags", value="tag", key="customer_id", label="tags"),
        Link(
            "customer_transactions",
            source="transaction_ids",
            value="transaction_id",
            key="customer_id",
            label="transaction links",
        ),
    ),
    secrets=("_account.verificationToken", "_account.passwordResetToken"),
    suites=("customers", "customer_tags", "customer_transactions", "customers_received"),
    owner="id",
)

TRANSACTIONS = ResourceSpec(
    name="transactions",
    singular="transaction",
    list_path="/api/transactions",
    item_path_template="/api/transactions/{id}",
    fields=(
        Field("_id", "id", Kind.ID, required=True),
        Field("customerId", "customer_id"),
        Field("eventId", "event_id"),
        Field("sellerId", "seller_id"),
        Field("status", "status"),
        Field("paymentStatus", "payment_status"),
        Field("paymentMethod", "payment_method"),
        Field("origin", "origin"),
        Field("realPrice", "real_price", Kind.MONEY),
        Field("regularPrice", "regular_price", Kind.MONEY),
        Field("currency", "currency"),
        Field("taxRate", "tax_rate", Kind.NUMBER),
        Field("tickets", "ticket_count", Kind.COUNT),
        Field("email", "email"),
        Field("name", "name"),
        Field("prename", "prename"),
        Field("lastname", "lastname"),
        Field("company", "company"),
        Field("city", "city"),
        Field("country", "country"),
        Field("cancellationReason", "cancellation_reason"),
        UNMODELED,
        Field("createdAt", "created_at", Kind.TIMESTAMP),
        Field("updatedAt", "updated_at", Kind.TIMESTAMP, required=True),
    ),
    secrets=("secret",),
    suites=("transactions", "transactions_received"),
    owner="customer_id",
    personal=("email", "name", "prename", "lastname", "company", "city", "country"),
    # webhook.transaction.* carry a WebhookTransactionResource, not the list's transaction.
    webhook_record=False,
)

# vivenu's events (EventResource): its `GET /api/events` answers `{rows, total}`.
EVENTS = ResourceSpec(
    name="events",
    singular="event",
    list_path="/api/events",
    item_path_template="/api/events/{id}",
    list_key="rows",
    fields=(
        Field("_id", "id", Kind.ID, required=True),
        Field("sellerId", "seller_id"),
        Field("name", "name"),
        Field("eventType", "event_type"),
        Field("rootId", "root_id"),
        Field("start", "start_at", Kind.TIMESTAMP),
        Field("end", "end_at", Kind.TIMESTAMP),
        Field("sellStart", "sell_start_at", Kind.TIMESTAMP),
        Field("sellEnd", "sell_end_at", Kind.TIMESTAMP),
        Field("timezone", "timezone"),
        Field("locationName", "location_name"),
        Field("locationStreet", "location_street"),
        Field("locationPostal", "location_postal"),
        Field("locationCity", "location_city"),
        Field("locationCountry", "location_country"),
        # The document's capacity: "Maximum amount of tickets of the event".
        Field("maxAmount", "capacity", Kind.WHOLE),
        Field("maxAmountPerOrder", "max_amount_per_order", Kind.WHOLE),
        Field("tickets", "ticket_types", Kind.JSON),
        Field("categories", "categories", Kind.JSON),
        Field("tags", "tags", Kind.TEXT_LIST),
        UNMODELED,
        Field("createdAt", "created_at", Kind.TIMESTAMP),
        Field("updatedAt", "updated_at", Kind.TIMESTAMP, required=True),
    ),
    suites=("events", "events_received"),
)

# vivenu's tickets (TicketResource), one per admission: `GET /api/tickets` answers `{rows, total}`.
TICKETS = ResourceSpec(
    name="tickets",
    singular="ticket",
    list_path="/api/tickets",
    item_path_template="/api/tickets/{id}",
    list_key="rows",
    fields=(
        Field("_id", "id", Kind.ID, required=True),
        Field("sellerId", "seller_id"),
        Field("transactionId", "transaction_id"),
        Field("eventId", "event_id"),
        Field("customerId", "customer_id"),
        Field("ticketTypeId", "ticket_type_id"),
        Field("ticketName", "ticket_name"),
        Field("categoryRef", "category_ref"),
        Field("categoryName", "category_name"),
        Field("status", "status"),
        Field("type", "type"),
        Field("origin", "origin"),
        Field("deliveryType", "delivery_type"),
        Field("realPrice", "real_price", Kind.MONEY),
        Field("regularPrice", "regular_price", Kind.MONEY),
        Field("currency", "currency"),
        Field("completed", "completed", Kind.BOOL),
        Field("personalized", "personalized", Kind.BOOL),
        Field("name", "name"),
        Field("firstname", "firstname"),
        Field("lastname", "lastname"),
        Field("email", "email"),
        Field("company", "company"),
        Field("city", "city"),
        Field("country", "country"),
        UNMODELED,
        Field("createdAt", "created_at", Kind.TIMESTAMP),
        Field("updatedAt", "updated_at", Kind.TIMESTAMP, required=True),
    ),
    # Either lets its bearer in at the door (the barcode is what the scanner reads).
    secrets=("secret", "barcode"),
    suites=("tickets", "tickets_received"),
    owner="customer_id",
    owned_via=(("transaction_id", "transactions"),),
    personal=("name", "firstname", "lastname", "email", "company", "city", "country"),
)

# Synced in this order. A record is listed only below its run's frozen upper bound, and each
# resource's run starts after the one before it: a resource synced before the ones it refers to
# (tickets name a transaction, an event, a customer; transactions a customer and an event)
# finds every record it names already there when those are read, created before it was.
# Customers and transactions refer to each other; customers come first, as they always did.
RESOURCES: tuple[ResourceSpec, ...] = (CUSTOMERS, TICKETS, TRANSACTIONS, EVENTS)
BY_NAME: dict[str, ResourceSpec] = {spec.name: spec for spec in RESOURCES}
# The specs by upper-case name (`Resource.CUSTOMERS`), as the client's former enum spelled them.
Resource = SimpleNamespace(**{spec.name.upper(): spec for spec in RESOURCES})


def names() -> list[str]:
    """Every resource's name, in sync order."""
    return [spec.name for spec in RESOURCES]


def spec(name: str) -> ResourceSpec:
    """The resource called `name`; ValueError naming the known ones otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"unknown resource {name!r}: expected one of {', '.join(BY_NAME)}"
        ) from None
