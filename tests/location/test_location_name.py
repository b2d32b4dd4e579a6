"""One code location name everywhere: state set by a `dagster` CLI command is the state the UI
(`dg dev`, i.e. `make ui`) shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorStatus
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import PyProjectFileTarget, WorkspaceFileTarget
from dagster_dg_cli.cli.utils import create_temp_workspace_file
from dagster_dg_core.context import DgContext

from pipelines.instance import install_instance

ROOT = Path(__file__).resolve().parents[2]
NAME = "customer_sync"


def test_dagster_cli_and_dg_name_the_location_alike():
    origins = PyProjectFileTarget(str(ROOT / "pyproject.toml")).create_origins()
    assert [o.location_name for o in origins] == [NAME]
    assert DgContext.for_project_environment(ROOT, {}).code_location_name == NAME


def test_sensor_started_from_the_cli_is_running_in_the_ui_workspace(tmp_path):
    home = install_instance(tmp_path / "dagster_home")
    env = {**os.environ, "DAGSTER_HOME": str(home), "CUSTOMER_SYNC_DATA_DIR": str(tmp_path)}
    env.pop("VIVENU_BASE_URL", None)
    dagster = Path(sys.executable).with_name("dagster")
    # As the README says it: from the checkout, no -m/-w (the location comes from pyproject).
    subprocess.run(
        [str(dagster), "sensor", "start", "crm_inbox_sensor"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    # The workspace `dg dev` serves, built exactly as dg builds it.
    dg_context = DgContext.for_project_environment(ROOT, {})
    with (
        dg.DagsterInstance.from_config(str(home)) as instance,
        create_temp_workspace_file(dg_context) as workspace_file,
        WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[workspace_file])) as ctx,
    ):
        location = ctx.create_request_context().get_code_location(NAME)
        (repo,) = location.get_repositories().values()
        sensor = repo.get_sensor("crm_inbox_sensor")
        state = instance.get_instigator_state(sensor.get_remote_origin_id(), sensor.selector_id)
        assert state is not None and state.status == InstigatorStatus.RUNNING
