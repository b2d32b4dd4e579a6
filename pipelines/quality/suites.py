"""Expectation suites as data: `expectations/*.json`, GX 1.x ExpectationSuite JSON.

Besides GX's own fields, a suite's `meta` says what it validates (nothing here is in code):

    "target":     {"resource": "customers", "table": "customers", "record_id": "id"}
                  `table` is a snapshot table of the resource, or "_received" (the rows the last
                  sync run wrote, for counts); `record_id` names the column holding the id of the
                  resource's record a failing row belongs to (tags and links map to a customer).
    "parameters": {"max_updated_at": {"now_plus_seconds": 600}}   values for `$PARAMETER`s
    "references": {"customer_id_is_known": {"column": "customer_id", "resource": "customers",
                   "table": "customers", "key": "id", "known": ["current", "deleted"]}}
                  a boolean column added before validation (null where `column` is null), so
                  referential integrity is an ordinary `expect_column_values_to_be_in_set`.
                  `known` (default ["current"]) says which ids count as known: "current" the
                  table's keys, "deleted" the ids vivenu confirmed deleted (tombstones: vivenu
                  keeps a deleted customer's transactions, so they still reference it).

and each expectation's `meta` has a stable `name` and `on_failure`: "quarantine" (failing rows'
records are rejected; with `mostly`, falling below it also blocks the load) or "block" (any
failure blocks the load). Loading reads JSON only; GX is imported by `to_gx` alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from pipelines import settings
from pipelines.sync.lake import TABLES

# The source of truth is the checkout's top-level `expectations/`; the wheel ships a copy of it
# inside this package (pyproject.toml, hatch force-include), read when installed.
EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"
PACKAGED_DIR = "expectations"
EXPECTATIONS_ENV = settings.EXPECTATIONS_DIR.name
RECEIVED = "_received"
ON_FAILURE = ("quarantine", "block")
KNOWN = ("current", "deleted")
# GX 1.x substitutes a `$PARAMETER` naming one variable (its expression grammar's identifier) by
# that parameter's value as it is; any other text it evaluates as an arithmetic expression.
_PARAMETER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_$]*")
# Names GX's expression language reads as its constants e and pi, never as parameters.
_CONSTANTS = frozenset({"E", "PI"})


def substituted(kwargs: dict[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any] | None:
    """`kwargs` with every `{"$PARAMETER": name}` replaced by `parameters[name]`, as GX does
    (`great_expectations.core.suite_parameters`); None when one is not a plain name `parameters`
    holds (an expression, a constant, a missing value): only GX can say what it comes to."""
    out = dict(kwargs)
    for key, value in kwargs.items():
        if not (isinstance(value, dict) and "$PARAMETER" in value):
            continue
        name = value["$PARAMETER"]
        if (
            set(value) != {"$PARAMETER"}  # GX also reads a runtime "$PARAMETER.<name>" key
            or not isinstance(name, str)
            or not _PARAMETER_NAME.fullmatch(name)
            or name.upper() in _CONSTANTS
            or name not in parameters
        ):
            return None
        out[key] = parameters[name]
    return out


class SuiteError(ValueError):
    """A suite file that cannot be used as written."""


class NoSuites(SuiteError):
    """No suite to validate with: the gate would check nothing (a configuration error)."""


@dataclass(frozen=True)
class Suite:
    """One suite file, checked for the fields the gate relies on."""

    name: str
    path: Path
    doc: dict[str, Any]

    @property
    def resource(self) -> str:
        return self.doc["meta"]["target"]["resource"]

    @property
    def table(self) -> str:
        return self.doc["meta"]["target"]["table"]

    @property
    def record_id(self) -> str:
        return self.doc["meta"]["target"]["record_id"]

    @property
    def references(self) -> dict[str, dict[str, str]]:
        return self.doc["meta"].get("references", {})

    @property
    def expectations(self) -> list[dict[str, Any]]:
        return self.doc["expectations"]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.doc, sort_keys=True).encode()).hexdigest()[:12]

    def columns(self) -> list[str]:
        """Columns of the target table the expectations read (references resolved)."""
        cols: dict[str, None] = {}
        for exp in self.expectations:
            kwargs = exp["kwargs"]
            for key in ("column", "column_A", "column_B"):
                if isinstance(kwargs.get(key), str):
                    cols[kwargs[key]] = None
            for col in kwargs.get("column_list") or []:
                cols[col] = None
        for name, ref in self.references.items():
            cols.pop(name, None)
            cols[ref["column"]] = None
        return list(cols)

    def parameters(self, now: datetime, runtime: dict[str, Any]) -> dict[str, Any]:
        """Values for the suite's `$PARAMETER`s: `meta.parameters` rules, then runtime values."""
        values: dict[str, Any] = {}
        for name, rule in self.doc["meta"].get("parameters", {}).items():
            if "now_plus_seconds" in rule:
                values[name] = now + timedelta(seconds=rule["now_plus_seconds"])
            else:
                values[name] = rule["value"]
        return {**values, **runtime}

    def to_gx(self) -> Any:
        """The suite as a `great_expectations.ExpectationSuite` (imports GX)."""
        import great_expectations as gx

        suite = gx.ExpectationSuite(
            name=self.name,
            expectations=[dict(e) for e in self.expectations],
            meta=dict(self.doc["meta"]),
            notes=self.doc.get("notes"),
        )
        # GX logs and drops an expectation it cannot build; a typo must not disable a check.
        if len(suite.expectations) != len(self.expectations):
            loaded = {(e.meta or {}).get("name") for e in suite.expectations}
            bad = [e["meta"]["name"] for e in self.expectations if e["meta"]["name"] not in loaded]
            raise SuiteError(f"{self.path.name}: GX rejected expectation(s) {bad}")
        return suite


def _check(doc: Any, path: Path) -> None:
    where = path.name
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise SuiteError(f"{where}: not a suite (an object with a name)")
    target = doc.get("meta", {}).get("target", {})
    for key in ("resource", "table", "record_id"):
        if not isinstance(target.get(key), str):
            raise SuiteError(f"{where}: meta.target.{key} is required")
    for name, ref in (doc["meta"].get("references") or {}).items():
        known = ref.get("known", ["current"]) if isinstance(ref, dict) else None
        if not isinstance(known, list) or not known or not set(known) <= set(KNOWN):
            raise SuiteError(f"{where}: references.{name}.known must be a list out of {KNOWN}")
    names = set()
    for i, exp in enumerate(doc.get("expectations") or []):
        meta = exp.get("meta") or {}
        name = meta.get("name")
        if not isinstance(name, str) or name in names:
            raise SuiteError(f"{where}: expectation {i} needs a unique meta.name")
        names.add(name)
        if meta.get("on_failure") not in ON_FAILURE:
            raise SuiteError(f"{where}: {name}: meta.on_failure must be one of {ON_FAILURE}")


def suites_dir(env: Mapping[str, str] | None = None) -> Path:
    """CUSTOMER_SYNC_EXPECTATIONS_DIR, else the suites shipped in the installed package, else
    the source checkout's `expectations/`."""
    configured = settings.expectations_dir(env)
    if configured:
        return configured
    packaged = resources.files("pipelines.quality").joinpath(PACKAGED_DIR)
    if packaged.is_dir():
        return Path(str(packaged))
    return EXPECTATIONS_DIR


def _origin(directory: Path) -> str:
    """How the user named `directory`: by the variable when it came from there."""
    configured = settings.EXPECTATIONS_DIR.raw()
    if configured and Path(configured) == directory:
        return f"{EXPECTATIONS_ENV}={configured}"
    return str(directory)


def load_suites(directory: Path | None = None, *, resource: str | None = None) -> list[Suite]:
    """Every suite in `directory` (sorted by file name), optionally only one resource's.

    Raises NoSuites when there is none (a missing folder, or none for `resource`): a gate
    without suites would pass everything.
    """
    directory = Path(directory) if directory is not None else suites_dir()
    if not directory.is_dir():
        raise NoSuites(
            f"no expectation suites: {_origin(directory)} is not a folder; point "
            f"{EXPECTATIONS_ENV} at the folder holding the *.json suites, or unset it to use "
            "the suites shipped with customer-sync"
        )
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise SuiteError(f"bad JSON in {path}: {exc}; fix the file or restore it") from exc
        _check(doc, path)
        suite = Suite(name=doc["name"], path=path, doc=doc)
        if resource is None or suite.resource == resource:
            found.append(suite)
    if not found:
        whose = f" for {resource}" if resource else ""
        raise NoSuites(
            f"no expectation suites{whose} in {_origin(directory)}: the quality gate would "
            f"check nothing; point {EXPECTATIONS_ENV} at the folder holding the *.json suites, "
            "or unset it to use the suites shipped with customer-sync"
        )
    return found


def require_suites(env: Mapping[str, str] | None = None) -> None:
    """Fail early (SuiteError) unless every resource has a valid suite in the configured folder."""
    directory = suites_dir(env)
    for resource in TABLES:
        load_suites(directory, resource=resource)
