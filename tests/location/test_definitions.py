"""The code location loads, and the production path never imports the simulator or GX."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg

from pipelines.definitions import defs


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
