"""The UI path, proven: a real dagster-webserver launches a real sync_job run through GraphQL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from dagster_graphql import DagsterGraphQLClient

from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from tests.sync.truth import mismatches

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_webserver_launches_sync_job_through_graphql(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "pipelines" / "dagster.yaml", home / "dagster.yaml")
    data_dir = tmp_path / "data"
    port = _free_port()
    with SimulatorServer(Store.seeded(800, 3)) as sim:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "VIVENU_BASE_URL": sim.base_url,
            "VIVENU_API_KEY": sim.api_key,
            "CUSTOMER_SYNC_DATA_DIR": str(data_dir),
            "CUSTOMER_SYNC_MAX_RPS": "1000",
        }
        # The webserver alone does not dequeue runs; the daemon does (as under `dagster dev`).
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", module, *args, "-m", "pipelines.definitions"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for module, args in (
                ("dagster_webserver", ["-h", "127.0.0.1", "-p", str(port)]),
                ("dagster._daemon", ["run"]),
            )
        ]
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).is_success:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "webserver did not come up"
                time.sleep(0.5)
            client = DagsterGraphQLClient("127.0.0.1", port_number=port)
            run_id = client.submit_job_execution("sync_job")
            status = None
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                status = client.get_run_status(run_id).value
                if status in ("SUCCESS", "FAILURE", "CANCELED"):
                    break
                time.sleep(1)
            assert status == "SUCCESS"
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
        assert mismatches(sim, data_dir) == {}
    assert (data_dir / "warehouse.duckdb").exists()
