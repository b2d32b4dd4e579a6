"""One declaration per field: the schema, the modeled set and both normalization paths follow it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import orjson
import pytest

from pipelines.registry import CUSTOMERS, RESOURCES, Field, Kind, ResourceSpec, spec
from pipelines.sync import columnar
from pipelines.sync.lake import TABLES
from pipelines.sync.normalize import Lineage, normalize, scrub
from pipelines.sync.redact import is_secret_key

LINEAGE = Lineage(run_id="r", synced_at=datetime(2026, 1, 1, tzinfo=UTC))


def _customer(**over: object) -> dict:
    return {
        "_id": "64f0c0ffee0000000000000a",
        "primaryEmail": "ada@example.com",
        "tags": ["vip"],
        "_account": {"loginType": "password", "verificationToken": "VT-SECRET"},
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2025-06-01T12:00:00.123Z",
        **over,
    }


def _with_field(new: Field) -> ResourceSpec:
    """CUSTOMERS with one more field, declared the way a maintainer would add it."""
    fields = list(CUSTOMERS.fields)
    fields.insert(fields.index(CUSTOMERS.field_for("api_extra")), new)
    return dataclasses.replace(CUSTOMERS, fields=tuple(fields))


@pytest.mark.parametrize("fast", [True, False])
def test_a_field_added_once_is_a_column_on_both_paths_and_leaves_api_extra(fast, monkeypatch):
    added = _with_field(Field("externalId", "external_id"))
    if not fast:
        monkeypatch.setattr(columnar, "build", _refuse)
    doc = scrub(added, _customer(externalId="crm-9", segments=["a"]))
    tables = normalize(added, [doc], LINEAGE)
    assert tables["customers"].schema == added.schema
    assert "external_id" in added.schema.names and "externalId" in added.modeled
    row = tables["customers"].to_pylist()[0]
    assert row["external_id"] == "crm-9"
    assert orjson.loads(row["api_extra"]) == {"segments": ["a"]}
    # The resource as shipped keeps the field unmodeled.
    shipped = normalize(CUSTOMERS, [scrub(CUSTOMERS, _customer(externalId="crm-9"))], LINEAGE)
    assert orjson.loads(shipped["customers"].to_pylist()[0]["api_extra"]) == {"externalId": "crm-9"}


def _refuse(*args: object, **kwargs: object) -> None:
    raise columnar.NotColumnar("forced")


def test_a_nested_field_added_once_is_read_from_its_object():
    added = _with_field(Field("_account.provider", "account_provider"))
    doc = scrub(added, _customer(_account={"loginType": "sso", "provider": "google"}))
    row = columnar.build(added, [doc], "r", LINEAGE.synced_at)["customers"].to_pylist()[0]
    assert (row["account_provider"], row["account_login_type"]) == ("google", "sso")
    assert row["api_extra"] is None


def test_a_valid_batch_takes_the_fast_path():
    docs = [scrub(CUSTOMERS, _customer(_id=f"{i:024x}")) for i in range(3)]
    tables = columnar.build(CUSTOMERS, docs, "r", LINEAGE.synced_at)
    assert tables["customers"].num_rows == 3 and tables["customer_tags"].num_rows == 3


def test_a_declared_field_of_the_wrong_type_is_quarantined_with_its_name():
    added = _with_field(Field("loyaltyPoints", "loyalty_points", Kind.WHOLE))
    tables = normalize(added, [scrub(added, _customer(loyaltyPoints="many"))], LINEAGE)
    assert tables["customers"].num_rows == 0
    assert (
        tables["quarantine"].to_pylist()[0]["reason"]
        == "loyaltyPoints 'many' is not a whole number"
    )


def test_declared_secrets_are_secret_by_name_and_dropped():
    for resource in RESOURCES:
        for secret in resource.secrets:
            assert is_secret_key(secret.rsplit(".", 1)[-1]), (resource.name, secret)
    doc = scrub(CUSTOMERS, _customer())
    assert "verificationToken" not in doc["_account"]


def test_lake_tables_and_names_come_from_the_specs():
    assert list(TABLES) == [r.name for r in RESOURCES]
    for r in RESOURCES:
        assert next(iter(TABLES[r.name])) == r.name
        assert {link.table for link in r.links} <= set(TABLES[r.name])
    assert spec("customers").changes_asset == "customer_changes"
    with pytest.raises(ValueError, match="unknown resource 'seats': expected one of"):
        spec("seats")


def test_a_spec_without_its_key_fields_is_refused():
    fields = tuple(f for f in CUSTOMERS.fields if f.column != "updated_at")
    with pytest.raises(ValueError, match="declare"):
        dataclasses.replace(CUSTOMERS, fields=fields)
