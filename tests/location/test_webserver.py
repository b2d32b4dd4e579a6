"""The UI path, proven: `make ui` serves the code location and launches a real sync_job run."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from tests.sync.truth import mismatches

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_ui_serves_the_location_and_records_runs_in_the_data_dir(tmp_path):
    """`customer-sync ui` (what `make ui` runs) with VIVENU_BASE_URL set: dg dev on the code
    location `customer_sync`, its instance under the data directory; a sync_job launched through
    GraphQL succeeds. Slow (~60 s): dg dev starts a webserver, a daemon and a code server."""
    data_dir = tmp_path / "data"
    port = _free_port()
    with SimulatorServer(Store.seeded(800, 3)) as sim:
        env = {
            **os.environ,
            "VIVENU_BASE_URL": sim.base_url,
            "VIVENU_API_KEY": sim.api_key,
            "CUSTOMER_SYNC_DATA_DIR": str(data_dir),
            "CUSTOMER_SYNC_MAX_RPS": "1000",
        }
        env.pop("DAGSTER_HOME", None)
        cli = Path(sys.executable).with_name("customer-sync")
        # Its own session, so the webserver, daemon and code server dg starts end with it.
        proc = subprocess.Popen(
            [str(cli), "ui", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).is_success:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, "customer-sync ui exited"
                assert time.monotonic() < deadline, "webserver did not come up"
                time.sleep(0.5)
            client = DagsterGraphQLClient("127.0.0.1", port_number=port)
            run_id = None
            while run_id is None:  # the code server may still be loading
                try:
                    run_id = client.submit_job_execution(
                        "sync_job", repository_location_name="customer_sync"
                    )
                except DagsterGraphQLClientError:
                    assert time.monotonic() < deadline, "location customer_sync did not load"
                    time.sleep(1)
            status = None
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                status = client.get_run_status(run_id).value
                if status in ("SUCCESS", "FAILURE", "CANCELED"):
                    break
                time.sleep(1)
            assert status == "SUCCESS"
        finally:
            proc.terminate()  # customer-sync ui passes it on to dg and waits for it
            try:
                proc.wait(timeout=60)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # whatever of its session is left
        assert mismatches(sim, data_dir) == {}
    assert (data_dir / "warehouse.duckdb").exists()
    with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
        assert instance.get_run_by_id(run_id) is not None


def test_ui_without_dg_says_how_to_get_it_before_any_work(tmp_path, monkeypatch):
    """`make demo` installs the runtime only: `customer-sync ui` in that environment names the
    fix at once, before the first start's demo would run for a minute."""
    from click.testing import CliRunner

    from pipelines import ui

    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))  # no dg beside it
    monkeypatch.delenv("VIVENU_BASE_URL", raising=False)
    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(ui.ui, [])
    assert result.exit_code == 1
    assert f"{tmp_path / 'bin' / 'dg'} is not installed; `make ui` installs it" in result.output
    assert not (tmp_path / "data").exists()  # no demo ran
