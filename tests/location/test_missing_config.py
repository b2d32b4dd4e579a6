"""Missing configuration in the UI: "Materialize all" fails its run with one readable line (the
problems `pipelines.preflight.problems` names), not a Dagster config stack trace."""

from __future__ import annotations

import dagster as dg

from pipelines import preflight
from pipelines.definitions import defs
from pipelines.instance import install_instance
from pipelines.registry import RESOURCES
from pipelines.resources import CONFIG_FIX


def test_materialize_all_without_vivenu_variables_fails_with_one_line(tmp_path, monkeypatch):
    for name in ("VIVENU_BASE_URL", "VIVENU_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(tmp_path))
    expected = (
        f"configuration: {'; '.join(preflight.problems(api=True, pipeline=True))} ({CONFIG_FIX})"
    )
    assert "VIVENU_BASE_URL is not set" in expected and "VIVENU_API_KEY is not set" in expected

    # What "Materialize all" launches: the implicit asset job over every asset.
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.from_config(str(install_instance(tmp_path / "dagster_home"))) as inst:
        result = job.execute_in_process(instance=inst, raise_on_error=False)
        assert not result.success
        failures = [e for e in result.all_events if e.is_step_failure]
        assert {e.step_key for e in failures} == {
            *(r.changes_asset for r in RESOURCES),
            "deleted_records",
        }
        for event in failures:
            data = event.step_failure_data
            assert data.user_failure_data is not None
            assert data.user_failure_data.description == expected
            assert data.error is not None and data.error.message.strip().endswith(expected)
            assert "\n" not in expected
        (run,) = inst.get_runs()
        assert run.status == dg.DagsterRunStatus.FAILURE
