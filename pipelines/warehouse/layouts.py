"""Export layouts: which columns an audience file has and how each value is normalized.

`contacts` is our own layout (ids, contact fields in clear, optionally the email hashed). `google`
and `meta` follow the ad platforms' customer-list upload templates, every identifier normalized
the way the platform normalizes before it hashes, so our hashes match theirs:

- Google Customer Match, "Format your customer data file"
  (https://support.google.com/google-ads/answer/7659867) and its CSV template
  (https://g.co/wudy8r): headers exactly `Email, Phone, First Name, Last Name, Country, Zip`;
  hashed data is SHA-256 of lower-cased values with surrounding and repeated spaces removed,
  phones in E.164 before hashing; Country (ISO-3166-1 alpha-2) and Zip stay in clear (the
  Google Ads API's OfflineUserAddressInfo: `hashed_first_name`, `hashed_last_name`, plain
  `country_code`, `postal_code`). Gmail addresses: dots before `@gmail.com`/`@googlemail.com`
  are removed before hashing (Google's enhanced-conversions normalization), and googlemail.com is
  the same mailbox as gmail.com.
- Meta customer list, "How to format a customer list"
  (https://www.facebook.com/business/help/2082575038703844) and the Marketing API's "Hashing and
  normalizing data" (https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences):
  headers `email, phone, fn, ln, ct, st, zip, country`, every one SHA-256 hashed: email trimmed
  and lower-cased; phone digits only with the country code (no `+`, no leading zeros); names
  lower-cased without punctuation (letters of any script kept, UTF-8); city and state lower-cased
  letters only; zip lower-cased without spaces (US: the first five digits); country the
  lower-cased ISO code.

An identifier we cannot normalize (an email without `@`, a phone number `phonenumbers` does not
accept as valid for the customer's country) is left empty: a hash of garbage matches nobody and
only lowers the platform's match rate.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import phonenumbers
import pyarrow as pa

LayoutName = Literal["contacts", "google", "meta"]
LAYOUTS: tuple[LayoutName, ...] = ("contacts", "google", "meta")

# The customer fields the audience query returns (audience.sql); layouts are built from them.
Row = Mapping[str, Any]

HASHED_EMAIL = "primary_email_sha256"
CONTACT_COLUMNS = (
    "id",
    "primary_email",
    "prename",
    "lastname",
    "name",
    "phone",
    "company",
    "location_country",
    "tags",
)


def sha256(value: str | None) -> str | None:
    """Lower-case hex SHA-256 of the UTF-8 text; None (an empty cell) for a missing value."""
    return hashlib.sha256(value.encode()).hexdigest() if value else None


def _text(value: object) -> str:
    return unicodedata.normalize("NFC", str(value)).strip() if value is not None else ""


def email(value: str | None) -> str | None:
    """Trimmed and lower-cased; None when it is no address."""
    text = _text(value).lower()
    return text if "@" in text.strip("@") and not re.search(r"\s", text) else None


def google_email(value: str | None) -> str | None:
    """`email`, and for Gmail the dots of the local part removed, googlemail.com -> gmail.com
    (`Jo.Ann@GoogleMail.com` and `joann@gmail.com` are one mailbox)."""
    text = email(value)
    if text is None:
        return None
    local, _, domain = text.rpartition("@")
    if domain in ("gmail.com", "googlemail.com"):
        return f"{local.replace('.', '')}@gmail.com"
    return text


@lru_cache(maxsize=65_536)
def e164(phone: str | None, country: str | None) -> str | None:
    """The number in E.164 (`+4930123456`), read in the customer's country when it has no
    country code; None when `phonenumbers` finds no valid number in it."""
    text = _text(phone)
    if not text:
        return None
    region = _text(country).upper() or None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def google_name(value: str | None) -> str | None:
    """Lower-cased, surrounding spaces removed, inner runs of spaces made one."""
    return " ".join(_text(value).lower().split()) or None


def meta_name(value: str | None) -> str | None:
    """Lower-cased, no punctuation or spaces; letters of any script (`Zoë` -> `zoë`) kept."""
    return _letters(value, keep_digits=False)


def _letters(value: object, *, keep_digits: bool) -> str | None:
    text = _text(value).lower()
    kept = "".join(
        ch
        for ch in text
        if unicodedata.category(ch).startswith("L") or (keep_digits and ch.isdigit())
    )
    return kept or None


def country(value: str | None) -> str | None:
    """ISO-3166-1 alpha-2, upper case as stored; None unless two letters."""
    text = _text(value).upper()
    return text if re.fullmatch(r"[A-Z]{2}", text) else None


def meta_zip(value: str | None, country_code: str | None) -> str | None:
    """Lower-cased without spaces or dashes; a US zip is its first five digits."""
    text = re.sub(r"[\s-]", "", _text(value).lower())
    if country_code == "US":
        five = re.match(r"\d{5}", text)
        return five.group() if five else None
    return text or None


def _google(row: Row) -> dict[str, str | None]:
    return {
        "Email": sha256(google_email(row["primary_email"])),
        "Phone": sha256(e164(row["phone"], row["location_country"])),
        "First Name": sha256(google_name(row["prename"])),
        "Last Name": sha256(google_name(row["lastname"])),
        "Country": country(row["location_country"]),
        "Zip": _text(row["location_postal"]) or None,
    }


def _meta(row: Row) -> dict[str, str | None]:
    code = country(row["location_country"])
    phone = e164(row["phone"], row["location_country"])
    return {
        "email": sha256(email(row["primary_email"])),
        "phone": sha256(phone.lstrip("+") if phone else None),
        "fn": sha256(meta_name(row["prename"])),
        "ln": sha256(meta_name(row["lastname"])),
        "ct": sha256(_letters(row["location_city"], keep_digits=False)),
        "st": sha256(_letters(row["location_state"], keep_digits=False)),
        "zip": sha256(meta_zip(row["location_postal"], code)),
        "country": sha256(code.lower() if code else None),
    }


@dataclass(frozen=True)
class Layout:
    """A file layout: its columns, whether it holds hashed identifiers, how a row is built."""

    name: LayoutName
    columns: tuple[str, ...]
    build: Callable[[Row], dict[str, str | None]] | None = None

    def table(self, rows: Sequence[Row], *, hash_emails: bool = False) -> pa.Table:
        """The file's rows from the audience query's rows (`contacts` keeps the tag list)."""
        if self.build is None:
            columns = contact_columns(hash_emails)
            out = {c: [r[c] for r in rows] for c in CONTACT_COLUMNS}
            if hash_emails:
                out[HASHED_EMAIL] = [sha256(email(e)) for e in out.pop("primary_email")]
            return pa.table(
                {c: pa.array(out[c], pa.list_(pa.string()) if c == "tags" else pa.string())
                 for c in columns}
            )  # fmt: skip
        built = [self.build(r) for r in rows]
        return pa.table({c: pa.array([b[c] for b in built], pa.string()) for c in self.columns})


def contact_columns(hash_emails: bool) -> tuple[str, ...]:
    """The `contacts` layout's header (the email column renamed when hashed, so such a file is
    never mistaken for, or merged with, plain emails)."""
    if not hash_emails:
        return CONTACT_COLUMNS
    return tuple(HASHED_EMAIL if c == "primary_email" else c for c in CONTACT_COLUMNS)


GOOGLE = Layout("google", ("Email", "Phone", "First Name", "Last Name", "Country", "Zip"), _google)
META = Layout("meta", ("email", "phone", "fn", "ln", "ct", "st", "zip", "country"), _meta)
CONTACTS = Layout("contacts", CONTACT_COLUMNS)
BY_NAME: dict[str, Layout] = {layout.name: layout for layout in (CONTACTS, GOOGLE, META)}

# Headers that identify a file of hashed identifiers whatever its name.
HASHED_HEADERS = (GOOGLE.columns, META.columns)
