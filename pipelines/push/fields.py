"""The CRM change-file vocabulary: which columns exist, what each may hold, how it is compared.

A change file row names one customer (`id`, or `email` for a lookup by primary email) and any of
the writable fields of vivenu's `PUT /api/customers/{id}` body (`PUT_Customers_UpdateCustomer`).
Each field a row sets becomes one or more *atoms*: the smallest unit that is diffed against the
warehouse, checked for conflicts against the live record and, when sent, rebuilt into a whole
top-level field (PUT replaces every top-level field it carries wholesale).

    scalar        company, name, prename, lastname, phone, primaryEmail, notes, verified, blocked
    location      location.street|line2|postal|city|state|country (one atom per sub-field)
    tags          `tags` sets the whole list; `tags.add` / `tags.remove` one atom per tag
    object keys   extraFields / meta: a JSON object merged key by key (null removes a key)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from pipelines.registry import LOCATION_KEYS

SCALARS = (
    "company",
    "name",
    "prename",
    "lastname",
    "phone",
    "primaryEmail",
    "notes",
    "verified",
    "blocked",
)
BOOLEANS = frozenset({"verified", "blocked"})
OBJECTS = ("extraFields", "meta")
# The document marks these non-nullable: a row cannot clear them.
NOT_NULLABLE = frozenset({"name", "primaryEmail", "verified", "blocked", "tags", "meta"})

# Column name in a file -> canonical field; warehouse (snake_case) spellings are accepted too.
COLUMNS: dict[str, str] = {
    **{name: name for name in SCALARS},
    "primary_email": "primaryEmail",
    **{f"location.{k}": f"location.{k}" for k in LOCATION_KEYS},
    **{f"location_{k}": f"location.{k}" for k in LOCATION_KEYS},
    "tags": "tags",
    "tags.add": "tags.add",
    "tags_add": "tags.add",
    "tags.remove": "tags.remove",
    "tags_remove": "tags.remove",
    "extraFields": "extraFields",
    "extra_fields": "extraFields",
    "meta": "meta",
}
IDENTIFIERS = ("id", "email")
# Computed by vivenu; a file that carries one of them is trying to write what it cannot.
READ_ONLY = frozenset(
    {
        "_id",
        "createdAt",
        "updatedAt",
        "sellerId",
        "number",
        "transactions",
        "created_at",
        "updated_at",
        "seller_id",
        "transaction_ids",
    }
)

TAG_SEPARATOR = "|"
# The one way to clear a field, in every format. `NULL`/`null` are refused instead (parse.py).
CLEAR = "<clear>"
NULL_TOKENS = frozenset({"null", "NULL"})
# Deliberately simple (vivenu documents only `format: email`): one @, a dot in the domain.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# ISO 3166-1 alpha-2, officially assigned codes.
COUNTRIES = frozenset(
    [
        "AD",
        "AE",
        "AF",
        "AG",
        "AI",
        "AL",
        "AM",
        "AO",
        "AQ",
        "AR",
        "AS",
        "AT",
        "AU",
        "AW",
        "AX",
        "AZ",
        "BA",
        "BB",
        "BD",
        "BE",
        "BF",
        "BG",
        "BH",
        "BI",
        "BJ",
        "BL",
        "BM",
        "BN",
        "BO",
        "BQ",
        "BR",
        "BS",
        "BT",
        "BV",
        "BW",
        "BY",
        "BZ",
        "CA",
        "CC",
        "CD",
        "CF",
        "CG",
        "CH",
        "CI",
        "CK",
        "CL",
        "CM",
        "CN",
        "CO",
        "CR",
        "CU",
        "CV",
        "CW",
        "CX",
        "CY",
        "CZ",
        "DE",
        "DJ",
        "DK",
        "DM",
        "DO",
        "DZ",
        "EC",
        "EE",
        "EG",
        "EH",
        "ER",
        "ES",
        "ET",
        "FI",
        "FJ",
        "FK",
        "FM",
        "FO",
        "FR",
        "GA",
        "GB",
        "GD",
        "GE",
        "GF",
        "GG",
        "GH",
        "GI",
        "GL",
        "GM",
        "GN",
        "GP",
        "GQ",
        "GR",
        "GS",
        "GT",
        "GU",
        "GW",
        "GY",
        "HK",
        "HM",
        "HN",
        "HR",
        "HT",
        "HU",
        "ID",
        "IE",
        "IL",
        "IM",
        "IN",
        "IO",
        "IQ",
        "IR",
        "IS",
        "IT",
        "JE",
        "JM",
        "JO",
        "JP",
        "KE",
        "KG",
        "KH",
        "KI",
        "KM",
        "KN",
        "KP",
        "KR",
        "KW",
        "KY",
        "KZ",
        "LA",
        "LB",
        "LC",
        "LI",
        "LK",
        "LR",
        "LS",
        "LT",
        "LU",
        "LV",
        "LY",
        "MA",
        "MC",
        "MD",
        "ME",
        "MF",
        "MG",
        "MH",
        "MK",
        "ML",
        "MM",
        "MN",
        "MO",
        "MP",
        "MQ",
        "MR",
        "MS",
        "MT",
        "MU",
        "MV",
        "MW",
        "MX",
        "MY",
        "MZ",
        "NA",
        "NC",
        "NE",
        "NF",
        "NG",
        "NI",
        "NL",
        "NO",
        "NP",
        "NR",
        "NU",
        "NZ",
        "OM",
        "PA",
        "PE",
        "PF",
        "PG",
        "PH",
        "PK",
        "PL",
        "PM",
        "PN",
        "PR",
        "PS",
        "PT",
        "PW",
        "PY",
        "QA",
        "RE",
        "RO",
        "RS",
        "RU",
        "RW",
        "SA",
        "SB",
        "SC",
        "SD",
        "SE",
        "SG",
        "SH",
        "SI",
        "SJ",
        "SK",
        "SL",
        "SM",
        "SN",
        "SO",
        "SR",
        "SS",
        "ST",
        "SV",
        "SX",
        "SY",
        "SZ",
        "TC",
        "TD",
        "TF",
        "TG",
        "TH",
        "TJ",
        "TK",
        "TL",
        "TM",
        "TN",
        "TO",
        "TR",
        "TT",
        "TV",
        "TW",
        "TZ",
        "UA",
        "UG",
        "UM",
        "US",
        "UY",
        "UZ",
        "VA",
        "VC",
        "VE",
        "VG",
        "VI",
        "VN",
        "VU",
        "WF",
        "WS",
        "YE",
        "YT",
        "ZA",
        "ZM",
        "ZW",
    ]
)


class RowError(ValueError):
    """A row that cannot be pushed; the message is the reject reason."""


# ------------------------------------------------------------------ value coercion


def _string(field: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowError(f"{field} must be text, got {type(value).__name__}")
    return str(value).strip()


def _boolean(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise RowError(f"{field} must be true or false, got {value!r}")


def _tag_list(field: str, value: Any) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise RowError(f"{field} is not a valid JSON array") from None
        else:
            value = text.split(TAG_SEPARATOR)
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise RowError(f"{field} must be a list of tags (a|b|c or a JSON array)")
    tags: list[str] = []
    for tag in (t.strip() for t in value):
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def _object(field: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise RowError(f"{field} is not valid JSON") from None
    if not isinstance(value, dict):
        raise RowError(f"{field} must be a JSON object")
    return value


def valid_email(value: str) -> bool:
    """Whether `value` looks like an email address vivenu accepts."""
    return bool(EMAIL_RE.match(value))


def cleared(value: Any) -> Any:
    """None (clear the field) for the cell `<clear>`, any letter case; else the value itself."""
    return None if isinstance(value, str) and value.lower() == CLEAR else value


def coerce(field: str, value: Any) -> Any:
    """The typed value of canonical `field`; None means "clear it". Raises RowError."""
    if value is None:
        if field in NOT_NULLABLE or field in ("tags.add", "tags.remove"):
            raise RowError(f"{field} cannot be cleared (vivenu requires a value)")
        return None
    if field in BOOLEANS:
        return _boolean(field, value)
    if field in ("tags", "tags.add", "tags.remove"):
        return _tag_list(field, value)
    if field in OBJECTS:
        return _object(field, value)
    text = _string(field, value)
    if field == "primaryEmail" and not valid_email(text):
        raise RowError(f"invalid email {text!r} in primaryEmail")
    if field == "location.country":
        text = text.upper()
        if text not in COUNTRIES:
            raise RowError(f"invalid country {value!r} (expected an ISO-3166-1 alpha-2 code)")
    if not text and field in NOT_NULLABLE:
        raise RowError(f"{field} cannot be empty")
    return text


# ------------------------------------------------------------------ customer views and atoms


def view(doc: dict[str, Any]) -> dict[str, Any]:
    """The writable fields of an API customer record, missing values as None."""
    location = doc.get("location") or {}
    return {
        **{name: doc.get(name) for name in SCALARS},
        "location": {k: location.get(k) for k in LOCATION_KEYS},
        "tags": list(doc.get("tags") or []),
        "extraFields": doc.get("extraFields"),
        "meta": doc.get("meta") or {},
    }


def warehouse_view(row: dict[str, Any]) -> dict[str, Any]:
    """The same view of a warehouse `customers` row (snake_case columns, JSON strings)."""
    return {
        "company": row["company"],
        "name": row["name"],
        "prename": row["prename"],
        "lastname": row["lastname"],
        "phone": row["phone"],
        "primaryEmail": row["primary_email"],
        "notes": row["notes"],
        "verified": row["verified"],
        "blocked": row["blocked"],
        "location": {k: row[f"location_{k}"] for k in LOCATION_KEYS},
        "tags": list(row["tags"] or []),
        "extraFields": None if row["extra_fields"] is None else orjson.loads(row["extra_fields"]),
        "meta": orjson.loads(row["meta"]) if row["meta"] else {},
    }


@dataclass(frozen=True)
class Atom:
    """One comparable unit of a change: its current value in a view, and the value wanted."""

    kind: str  # scalar | location | tags | tag_add | tag_remove | object_key | object_null
    field: str  # the top-level PUT field it belongs to
    key: str | None
    value: Any

    @property
    def label(self) -> str:
        if self.kind == "location":
            return f"location.{self.key}"
        if self.kind in ("tag_add", "tag_remove"):
            return f"tags.{self.kind[4:]}:{self.key}"
        if self.kind == "object_key":
            return f"{self.field}.{self.key}"
        return self.field

    def current(self, v: dict[str, Any]) -> Any:
        """This atom's value in a customer view."""
        if self.kind == "scalar":
            return v[self.field]
        if self.kind == "location":
            return v["location"][self.key]
        if self.kind == "tags":
            return sorted(set(v["tags"]))
        if self.kind in ("tag_add", "tag_remove"):
            return self.key in v["tags"]
        if self.kind == "object_null":
            return v[self.field] is None
        return (v[self.field] or {}).get(self.key)

    def desired(self) -> Any:
        """The value `current` has once the change is applied."""
        if self.kind == "tags":
            return sorted(set(self.value))
        if self.kind == "tag_add":
            return True
        if self.kind in ("tag_remove", "object_null"):
            return self.kind == "object_null"
        return self.value

    def satisfied(self, v: dict[str, Any]) -> bool:
        return self.current(v) == self.desired()


def atoms_of(changes: dict[str, Any]) -> list[Atom]:
    """Atoms of a row's coerced changes (canonical field -> value)."""
    atoms: list[Atom] = []
    tags = changes.get("tags")
    add, remove = changes.get("tags.add") or [], changes.get("tags.remove") or []
    if tags is not None:
        # A set plus add/remove in one row folds into one set.
        tags = [t for t in [*tags, *(a for a in add if a not in tags)] if t not in remove]
        atoms.append(Atom("tags", "tags", None, tags))
    else:
        atoms += [Atom("tag_add", "tags", t, True) for t in add if t not in remove]
        atoms += [Atom("tag_remove", "tags", t, False) for t in remove]
    for field, value in changes.items():
        if field in SCALARS:
            atoms.append(Atom("scalar", field, None, value))
        elif field.startswith("location."):
            atoms.append(Atom("location", "location", field.split(".", 1)[1], value))
        elif field in OBJECTS:
            if value is None:
                atoms.append(Atom("object_null", field, None, True))
            else:
                atoms += [Atom("object_key", field, k, v) for k, v in value.items()]
    return atoms


def apply(atoms: list[Atom], base: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """The PUT body that applies `atoms` onto a live record.

    Only the top-level fields the atoms touch are sent. Nested values are rebuilt from the live
    record (`raw`, so sub-keys this project does not model survive) and sent whole, because
    vivenu replaces each top-level field it receives.
    """
    body: dict[str, Any] = {}
    for atom in atoms:
        if atom.kind == "scalar":
            body[atom.field] = atom.value
        elif atom.kind == "location":
            location = body.setdefault("location", dict(raw.get("location") or {}))
            location[atom.key] = atom.value
        elif atom.kind == "tags":
            body["tags"] = list(atom.value)
        elif atom.kind in ("tag_add", "tag_remove"):
            tags = body.setdefault("tags", list(base["tags"]))
            if atom.kind == "tag_add" and atom.key not in tags:
                tags.append(atom.key)
            elif atom.kind == "tag_remove":
                body["tags"] = [t for t in tags if t != atom.key]
        elif atom.kind == "object_null":
            body[atom.field] = None
        else:
            # An earlier removal may have emptied the dict already: keep building on it, never
            # restart from the live record (that would bring the removed keys back).
            current = body[atom.field] if atom.field in body else dict(raw.get(atom.field) or {})
            if atom.value is None:
                current.pop(atom.key, None)
            else:
                current[atom.key] = atom.value
            body[atom.field] = current
    return body
