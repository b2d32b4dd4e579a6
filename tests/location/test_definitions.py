"""The code location loads, and the production path never imports the simulator or GX."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg

from pipelines.definitions import defs
from pipelines.registry import RESOURCES


def test_definitions_load_with_jobs_and_assets():
    dg.Definitions.validate_loadable(defs)
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert {"sync_job", "reconcile_job"} <= jobs
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"customer_changes", "transaction_changes", "customer_snapshot"} <= keys


def test_code_location_import_stays_lean():
    probe = (
        "import sys, pipelines.definitions, pipelines.cli; "
        "print(sorted(m for m in sys.modules if m.startswith(('great_expectations', "
        "'pipelines.vivenu.simulator'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_assets_carry_owners_tags_and_the_described_lake_column_schemas():
    from pipelines.sync.lake import TABLES

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == ["team:data-engineering"], key
        assert node.tags["resource"] in {*(r.name for r in RESOURCES), "all"}, key
        assert node.tags["personal_data"] in {"yes", "no"}, key
    for asset, (resource, table) in {
        **{r.changes_asset: (r.name, r.name) for r in RESOURCES},
        **{r.snapshot_asset: (r.name, r.name) for r in RESOURCES},
    }.items():
        schema = graph.get(dg.AssetKey(asset)).metadata["dagster/column_schema"]
        arrow = TABLES[resource][table]
        assert [c.name for c in schema.columns] == arrow.names
        by_name = {c.name: c for c in schema.columns}
        assert by_name["id"].constraints.nullable is False
        assert by_name["name"].type == "string"  # every resource has one
        # The Columns tab explains each column with the warehouse table's own header comment.
        assert all(c.description for c in schema.columns), [
            c.name for c in schema.columns if not c.description
        ]
