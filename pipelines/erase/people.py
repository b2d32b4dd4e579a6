"""Who is erased: a request (ids, emails) resolved against the lake into people, each with the
records they own and the values they can be recognized by in files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from pipelines.erase.guard import PEOPLE
from pipelines.registry import RESOURCES
from pipelines.sqlfiles import read_sql
from pipelines.sync.lake import Lake
from pipelines.warehouse import loader

SQL_DIR = Path(__file__).parent / "sql"
# Customer columns read to recognize a person in files (every version's values).
CONTACT = (
    "id", "primary_email", "name", "prename", "lastname", "phone", "location_street",
    "location_postal", "location_city", "location_state", "location_country", "transaction_ids",
)  # fmt: skip
# What an ad platform's file (no id) recognizes a customer by (`segments.drop_people`).
PLATFORM = (
    "primary_email", "phone", "prename", "lastname", "location_postal", "location_city",
    "location_state", "location_country",
)  # fmt: skip
# Shorter values are not searched for in free text: they would match other people's text.
MIN_TERM = 5


class EraseRequestError(ValueError):
    """A request that names nobody, or names them in a way that cannot be read. `nameless`:
    the same without the ids or emails it names, for Dagster's run storage (which no erasure
    rewrites)."""

    def __init__(self, message: str, nameless: str | None = None) -> None:
        super().__init__(message)
        self.nameless = nameless or message


@dataclass(frozen=True)
class Request:
    """Whom to erase: customer ids and/or emails (matched case-insensitively)."""

    ids: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    @classmethod
    def from_file(cls, path: Path) -> Request:
        """One id or email per line (`#` starts a comment); an `@` makes it an email."""
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as exc:
            raise EraseRequestError(f"cannot read {path}: {exc.strerror}") from None
        items = [line.split("#", 1)[0].strip() for line in lines]
        items = [i for i in items if i]
        if not items:
            raise EraseRequestError(f"{path} names nobody: write one customer id or email a line")
        return cls(
            ids=tuple(i for i in items if "@" not in i),
            emails=tuple(i for i in items if "@" in i),
        )


@dataclass
class Person:
    """One customer to erase, and what recognizes them."""

    id: str
    emails: set[str] = field(default_factory=set)
    terms: set[str] = field(default_factory=set)
    # Records they own, per resource (their transactions; tickets go by the transactions).
    owned: dict[str, set[str]] = field(default_factory=dict)
    # Records naming them only by email (no customer link to them), per resource.
    by_email: dict[str, set[str]] = field(default_factory=dict)
    # Every version's contact fields, as the segment exports hashed them.
    contacts: list[dict[str, str | None]] = field(default_factory=list)
    phones: set[str] = field(default_factory=set)


def _scan(lake: Lake, resource: str, table: str, columns: list[str], flt: pc.Expression):
    """The rows of a table `flt` selects (files pruned by their statistics on `id`)."""
    data = lake.dataset(resource, table)
    if data is None:
        return []
    have = [c for c in columns if c in data.schema.names]
    return [data.to_table(columns=have, filter=flt)]


def _tables(resource: str) -> list[str]:
    return ["changes", f"snapshot/{resource}"]


def resolve(
    lake: Lake, request: Request, db_path: Path | None = None
) -> tuple[list[Person], list[str]]:
    """The people the request names (every version of them in the lake, or, for one the lake no
    longer holds, in the warehouse `db_path`) and what it named that neither holds."""
    ids = set(request.ids)
    emails = {e.strip().lower() for e in request.emails}
    people: dict[str, Person] = {}
    flt = pc.field("id").isin(_strings(ids))
    if emails:  # an email may have been changed since: every version is searched
        flt = flt | pc.utf8_lower(pc.field("primary_email")).isin(_strings(emails))
    named = {*ids}
    for table in _tables(PEOPLE):
        for rows in _scan(lake, PEOPLE, table, list(CONTACT), flt):
            named.update(str(i) for i in rows["id"].to_pylist())
    # Every version of everyone named, by id (an old version may hold another email).
    for table in _tables(PEOPLE):
        for rows in _scan(lake, PEOPLE, table, list(CONTACT), pc.field("id").isin(_strings(named))):
            for row in rows.to_pylist():
                _add_version(people.setdefault(row["id"], Person(row["id"])), row)
    if db_path is not None:
        _from_warehouse(db_path, people, ids - set(people), emails)
    found_emails = {e for p in people.values() for e in p.emails}
    missing = [i for i in request.ids if i not in people]
    missing += [e for e in request.emails if e.strip().lower() not in found_emails]
    _owned(lake, people)
    return sorted(people.values(), key=lambda p: p.id), missing


def _from_warehouse(db_path: Path, people: dict[str, Person], ids: set[str], emails: set[str]):
    """The people named that the lake no longer holds (an erasure stopped after the lake), as
    the warehouse's histories hold them."""
    if not Path(db_path).exists() or not (ids or emails):
        return
    con = loader.connect(db_path, read_only=True)
    try:
        params = {"ids": sorted(ids), "emails": sorted(emails)}
        cur = con.execute(read_sql(SQL_DIR, "people_in_warehouse"), params)
        names = [d[0] for d in cur.description]
        found = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        for row in found:
            _add_version(people.setdefault(row["id"], Person(row["id"])), row)
        new = sorted({r["id"] for r in found})
        for spec in RESOURCES:
            if spec.owner in (None, "id") or not new:
                continue
            query = read_sql(SQL_DIR, "owned_in_warehouse").format(
                table=spec.name, owner=spec.owner
            )
            for rid, owner, email, name, extra in con.execute(query, {"ids": new}).fetchall():
                person = people[owner]
                person.owned.setdefault(spec.name, set()).add(rid)
                _add_terms(person, {"email": email, "name": name, "api_extra": extra})
    except duckdb.CatalogException:
        return  # a warehouse without the histories (never loaded): nothing there
    finally:
        con.close()


def _strings(values: set[str]) -> pa.Array:
    return pa.array(sorted(values), pa.string())


def _add_version(person: Person, row: dict) -> None:
    contact = {c: row.get(c) for c in PLATFORM}
    if contact not in person.contacts:
        person.contacts.append(contact)
    if row.get("phone"):
        person.phones.add(str(row["phone"]).strip())
    if row.get("primary_email"):
        person.emails.add(row["primary_email"].lower())
    for column in ("primary_email", "name", "phone", "location_street"):
        value = row.get(column)
        if isinstance(value, str) and len(value.strip()) >= MIN_TERM:
            person.terms.add(value.strip())
    person.terms.add(person.id)
    person.owned.setdefault("transactions", set()).update(row.get("transaction_ids") or [])


def _owned(lake: Lake, people: dict[str, Person]) -> None:
    """Each person's records in the resources they own records of (by the owner column), and
    the values those records hold of them (a checkout's name and street)."""
    if not people:
        return
    ids = pa.array(sorted(people), pa.string())
    for spec in RESOURCES:
        if spec.owner in (None, "id"):
            continue
        columns = ["id", spec.owner, *spec.personal, "api_extra"]
        for table in _tables(spec.name):
            data = lake.dataset(spec.name, table)
            if data is None:
                continue
            have = [c for c in columns if c in data.schema.names]
            rows = data.to_table(columns=have, filter=pads.field(spec.owner).isin(ids))
            for row in rows.to_pylist():
                person = people[row[spec.owner]]
                person.owned.setdefault(spec.name, set()).add(row["id"])
                _add_terms(person, row)
            if "email" in have:
                _by_email(spec.name, data, have, people)


def _by_email(
    resource: str, data: pads.Dataset, columns: list[str], people: dict[str, Person]
) -> None:
    """Records that name a person only by email (a guest checkout, an order placed for them
    under another customer): theirs too, redacted without touching the customer link."""
    owner_of = {e: p for p in people.values() for e in p.emails}
    if not owner_of:
        return
    flt = pc.utf8_lower(pc.field("email")).isin(_strings(set(owner_of)))
    for row in data.to_table(columns=columns, filter=flt).to_pylist():
        person = owner_of[str(row["email"]).lower()]
        person.owned.setdefault(resource, set()).add(row["id"])
        person.by_email.setdefault(resource, set()).add(row["id"])


def _add_terms(person: Person, row: dict) -> None:
    if row.get("email"):
        person.emails.add(str(row["email"]).lower())
        person.terms.add(str(row["email"]))
    if isinstance(row.get("name"), str) and len(row["name"]) >= MIN_TERM:
        person.terms.add(row["name"])
    try:
        extra = json.loads(row.get("api_extra") or "{}")
    except ValueError:
        extra = {}
    for key in ("street", "phone"):
        value = extra.get(key) if isinstance(extra, dict) else None
        if isinstance(value, str) and len(value) >= MIN_TERM:
            person.terms.add(value)


def entries(people: list[Person]) -> list[tuple[str, str]]:
    """(resource, id) of everything the erased set must keep out: the people and their records."""
    # Only records that others are owned through need a hash (a ticket by its transaction).
    via = {resource for spec in RESOURCES for _, resource in spec.owned_via}
    out = [(PEOPLE, p.id) for p in people]
    for p in people:
        out += [(r, i) for r, ids in p.owned.items() for i in ids if r in via]
        out += [(r, i) for r, ids in p.by_email.items() for i in ids if r not in via]
    return out


def targets(people: list[Person]) -> dict[str, set[str]]:
    """The people's ids and records, per resource, in clear (an erasure's own scans)."""
    out: dict[str, set[str]] = {}
    for resource, record_id in entries(people):
        out.setdefault(resource, set()).add(record_id)
    return out
