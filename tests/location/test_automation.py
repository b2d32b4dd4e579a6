"""Declarative automation: the sync's change assets on their cron, reconcile nightly, and every
asset downstream (the blocking quality gate included) eagerly, in the same evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests

from assets import analytics
from pipelines.definitions import defs
from pipelines.registry import RESOURCES

# Per resource and per analytics table, as the registry and assets.analytics declare them.
CHANGES = {r.changes_asset for r in RESOURCES}
DOWNSTREAM = {
    "unseen_deletions",
    *(r.snapshot_asset for r in RESOURCES),
    "warehouse",
    *analytics.TABLES,
    "analyst_copy",
    "segment_exports",
}
GATE = {r.quality_check for r in RESOURCES}


def _requested(result: dg.EvaluateAutomationConditionsResult) -> tuple[set[str], set[str]]:
    assets, checks = set(), set()
    for r in result.results:
        if r.true_subset.size:
            key = r.key
            if isinstance(key, dg.AssetCheckKey):
                checks.add(key.name)
            else:
                assets.add(key.to_user_string())
    return assets, checks


def _runs(result: dg.EvaluateAutomationConditionsResult) -> list[dg.RunRequest]:
    """The runs the sensor would launch for this evaluation, as the daemon groups them."""
    return list(
        build_run_requests(
            [r.true_subset for r in result.results if r.true_subset.size],
            defs.resolve_asset_graph(),
            run_tags=None,
            emit_backfills=False,
        )
    )


def test_sync_on_cron_then_everything_downstream_eagerly():
    graph = defs.resolve_asset_graph()
    with dg.instance_for_test() as instance:
        for key in graph.get_all_asset_keys():  # a pipeline that has run once before
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        start = datetime(2026, 3, 2, 10, 1, tzinfo=UTC)
        result = dg.evaluate_automation_conditions(defs, instance, evaluation_time=start)
        assert _requested(result) == (set(), set())

        # 10:15 passed: the sync's change assets (not the nightly reconcile), and with them
        # everything downstream, the blocking quality gate included: one run, like sync_job.
        tick = start + timedelta(minutes=15)
        result = dg.evaluate_automation_conditions(
            defs, instance, evaluation_time=tick, cursor=result.cursor
        )
        assert _requested(result) == (CHANGES | DOWNSTREAM, GATE)
        (run,) = _runs(result)
        assert {k.name for k in run.asset_check_keys or []} == GATE
        assert "crm_push" not in _requested(result)[0]  # only ever pushed for a dropped file

        # That run materialized them: nothing is requested again until the next tick.
        for name in sorted(CHANGES | DOWNSTREAM):
            instance.report_runless_asset_event(dg.AssetMaterialization(name))
        result = dg.evaluate_automation_conditions(
            defs, instance, evaluation_time=tick + timedelta(seconds=30), cursor=result.cursor
        )
        assert _requested(result) == (set(), set())


def test_reconcile_runs_nightly():
    with dg.instance_for_test() as instance:
        for key in defs.resolve_asset_graph().get_all_asset_keys():
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        before = datetime(2026, 3, 2, 2, 20, tzinfo=UTC)
        result = dg.evaluate_automation_conditions(defs, instance, evaluation_time=before)
        result = dg.evaluate_automation_conditions(
            defs, instance, evaluation_time=before + timedelta(minutes=11), cursor=result.cursor
        )
        # 02:30 is a tick of the sync's cron too: one run reconciles and syncs.
        assert _requested(result) == ({"deleted_records"} | CHANGES | DOWNSTREAM, GATE)
        assert len(_runs(result)) == 1


def test_automation_sensor_is_off_by_default_and_queues_like_the_jobs():
    sensor = defs.resolve_sensor_def("sync_automation")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.run_tags == {"customer-sync/writes": "lake"}
