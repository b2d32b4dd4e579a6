"""deploy/values.yaml, checked offline: against the Helm chart's own schema, and the instance config
it renders against dagster's and dagster-k8s's own config schemas.

`render_instance` mirrors the chart's templates (`helm/dagster/templates/helpers/instance/`:
`_run-launcher.tpl`, `_run-coordinator.tpl`, `_postgresql.tpl`, and `additionalInstanceConfig`
appended as it is) for the keys these values use, and refuses any other key of the sections it
renders: the chart would ignore it silently.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import (
    dagster_instance_config_schema,
    validate_concurrency_config,
)
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._serdes.config_class import class_from_code_pointer
from dagster_k8s import K8sRunLauncher

from pipelines.jobs import WRITES
from pipelines.settings import VARIABLES

DEPLOY = Path(__file__).parents[2] / "deploy"
VALUES: dict[str, Any] = yaml.safe_load((DEPLOY / "values.yaml").read_text())
# The chart's own schema is not committed (it is the Dagster repository's file): `helm pull
# dagster/dagster --version 1.13.27 --untar` and copy `dagster/values.schema.json` here to run
# the schema checks; the checks against Dagster's own config schemas always run.
SCHEMA_FILE = DEPLOY / "values.schema.json"
needs_schema = pytest.mark.skipif(
    not SCHEMA_FILE.exists(),
    reason=f"{SCHEMA_FILE} absent: helm pull dagster/dagster --version 1.13.27 --untar, copy it",
)


def _strict(node: Any) -> Any:
    """The chart's schema as this test applies it to an override file: without `required` (the
    chart's own values.yaml supplies the rest when Helm merges), without the remote Kubernetes
    `$ref`s (no network here: those objects stay opaque), and with every object that lists its
    properties closed to others, so a misspelt key fails where Helm would drop it."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _strict(v)
        for k, v in node.items()
        if k != "required" and not (k == "$ref" and str(v).startswith("https://"))
    }
    if out.get("properties") and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def schema_errors(values: dict[str, Any]) -> list[str]:
    """Where `values` break the chart's schema, one line each."""
    validator = jsonschema.Draft7Validator(_strict(json.loads(SCHEMA_FILE.read_text())))
    errors = []
    for error in validator.iter_errors(values):
        # An `anyOf` (an object or null) says only "not valid under any": name the inner cause.
        inner = [c.message for c in error.context or [] if "is not of type 'null'" not in c.message]
        errors.append(f"{'/'.join(map(str, error.absolute_path))}: {inner or error.message}")
    return errors


def _only(section: dict[str, Any], known: set[str], where: str) -> dict[str, Any]:
    unknown = sorted(set(section) - known)
    if unknown:
        raise KeyError(f"{where}: {unknown} not read by the chart's templates")
    return section


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _run_launcher(values: dict[str, Any]) -> dict[str, Any]:
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    # The keys the chart renders as they are, camelCase to snake_case (_run-launcher.tpl).
    passthrough = {"failPodOnRunFailure", "resources", "securityContext", "labels"}
    listed = {"envConfigMaps", "envSecrets", "envVars", "volumeMounts", "volumes"}
    _only(k8s, {"imagePullPolicy", "loadInclusterConfig", *listed, *passthrough}, "k8sRunLauncher")
    config: dict[str, Any] = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": "customer-sync",  # {{ .Release.Namespace }}
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": "customer-sync-dagster",
        "dagster_home": {"env": "DAGSTER_HOME"},
        "instance_config_map": {"env": "DAGSTER_K8S_INSTANCE_CONFIG_MAP"},
        "postgres_password_secret": {"env": "DAGSTER_K8S_PG_PASSWORD_SECRET"},
        "env_config_maps": [
            {"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"},
            *(c["name"] for c in k8s["envConfigMaps"]),
        ],
    }
    if k8s["envSecrets"]:
        config["env_secrets"] = [s["name"] for s in k8s["envSecrets"]]
    for key in ("envVars", "volumeMounts", "volumes"):
        if k8s[key]:
            config[_snake(key)] = k8s[key]
    config.update({_snake(k): k8s[k] for k in passthrough if k in k8s})
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def _run_coordinator(values: dict[str, Any]) -> dict[str, Any]:
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator"
    queued = _only(
        coordinator["config"]["queuedRunCoordinator"] or {},
        {"maxConcurrentRuns", "tagConcurrencyLimits", "dequeueIntervalSeconds"},
        "queuedRunCoordinator",
    )
    rendered = {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}
    config = {_snake(k): v for k, v in queued.items() if v}
    return {**rendered, "config": config} if config else rendered


def _postgres_storage(values: dict[str, Any]) -> dict[str, Any]:
    pg = values["postgresql"]
    db = {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},  # from the Secret, never in values
        "hostname": pg["postgresqlHost"],
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg["postgresqlParams"],
    }
    return {
        f"{kind}_storage": {
            "module": f"dagster_postgres.{module}",
            "class": cls,
            "config": {"postgres_db": db},
        }
        for kind, module, cls in (
            ("run", "run_storage", "PostgresRunStorage"),
            ("event_log", "event_log", "PostgresEventLogStorage"),
            ("schedule", "schedule_storage", "PostgresScheduleStorage"),
        )
    }


def render_instance(values: dict[str, Any]) -> dict[str, Any]:
    """The instance dagster.yaml the chart writes into its ConfigMap, for these values."""
    return {
        "run_launcher": _run_launcher(values),
        "run_coordinator": _run_coordinator(values),
        **_postgres_storage(values),
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
        # Appended to the ConfigMap's dagster.yaml as it is.
        **copy.deepcopy(values.get("additionalInstanceConfig") or {}),
    }


def instance_errors(instance: dict[str, Any]) -> list[str]:
    """What dagster says of this instance config: its own schema, the concurrency checks it
    runs when loading dagster.yaml, and each configured class's own config schema."""
    errors: list[str] = []
    result = validate_config(dagster_instance_config_schema(), instance)
    errors += [e.message for e in result.errors or []]
    try:
        validate_concurrency_config(instance)
    except DagsterInvalidConfigError as exc:
        errors.append(str(exc))
    for key, cls in (("run_launcher", K8sRunLauncher), ("run_coordinator", QueuedRunCoordinator)):
        section = instance[key]
        assert class_from_code_pointer(section["module"], section["class"]) is cls
        result = validate_config(cls.config_type(), section.get("config", {}))
        errors += [f"{key}: {e.message}" for e in result.errors or []]
    return errors


@needs_schema
def test_the_values_fit_the_charts_schema():
    assert schema_errors(VALUES) == []


def test_the_instance_config_they_render_is_valid_for_dagster():
    assert instance_errors(render_instance(VALUES)) == []


def test_runs_queue_one_writer_at_a_time_with_the_duckdb_pool_limited():
    instance = render_instance(VALUES)
    assert "config" not in instance["run_coordinator"]  # the limits are in `concurrency`
    concurrency = instance["concurrency"]
    ((tag_key, tag_value),) = WRITES.items()
    assert concurrency["runs"]["tag_concurrency_limits"] == [{"key": tag_key, "limit": 1}]
    assert tag_value  # every sync and reconcile run carries it (pipelines/jobs.py)
    assert concurrency["runs"]["max_concurrent_runs"] >= 1
    assert concurrency["pools"] == {"default_limit": 1}


def test_run_pods_get_the_lake_on_s3_and_secrets_only_from_a_secret():
    k8s = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    env = dict(v.split("=", 1) for v in k8s["envVars"])
    assert env["CUSTOMER_SYNC_LAKE_URL"].startswith("s3://")
    assert "VIVENU_BASE_URL" in env
    declared = {v.name for v in VARIABLES}
    assert set(env) <= declared, set(env) - declared
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    assert {e["name"] for e in deployment["env"]} <= declared
    assert k8s["envSecrets"] == deployment["envSecrets"] == [{"name": "customer-sync"}]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "pipelines.definitions"]
    text = (DEPLOY / "values.yaml").read_text()
    for secret in ("VIVENU_API_KEY=", "AWS_SECRET_ACCESS_KEY=", "postgresqlPassword"):
        assert secret not in text


def _mutated(path: str, new_key: str | None = None, value: Any = None) -> dict[str, Any]:
    """VALUES with the key at dotted `path` renamed to `new_key`, or set to `value`."""
    values = copy.deepcopy(VALUES)
    *parents, last = path.split(".")
    node = values
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if new_key is not None:
        node[new_key] = node.pop(last)
    else:
        node[last] = value
    return values


@pytest.mark.parametrize(
    ("path", "new_key", "value"),
    [
        ("runLauncher.config.k8sRunLauncher.envSecrets", "envSecret", None),
        ("runLauncher.config.k8sRunLauncher.loadInclusterConfig", None, "yes"),
        ("dagster-user-deployments.deployments.0.dagsterApiGrpcArgs", "dagsterApiGrpcArg", None),
        ("dagsterDaemon.runCoordinator.type", None, "QueuedRunCordinator"),
        ("postgresql.service.port", None, "5432"),
    ],
)
@needs_schema
def test_a_misspelt_key_or_a_wrong_value_fails_the_schema(path, new_key, value):
    assert schema_errors(_mutated(path, new_key, value))


@pytest.mark.parametrize(
    ("path", "new_key"),
    [
        ("additionalInstanceConfig.concurrency.runs.max_concurrent_runs", "max_concurent_runs"),
        ("additionalInstanceConfig.concurrency.pools.default_limit", "defaultLimit"),
    ],
)
def test_a_misspelt_instance_key_fails_dagsters_schema(path, new_key):
    # additionalInstanceConfig is an open object to the chart: dagster's schema is the check.
    if SCHEMA_FILE.exists():
        assert schema_errors(_mutated(path, new_key)) == []
    assert instance_errors(render_instance(_mutated(path, new_key)))


def test_a_key_the_templates_do_not_read_is_refused():
    values = _mutated("runLauncher.config.k8sRunLauncher.envVars", "envVariables")
    with pytest.raises(KeyError, match="not read by the chart"):
        render_instance(values)


def test_dagster_refuses_what_the_schema_lets_through():
    # Valid for the chart's schema, but dagster-k8s's own schema knows no such policy casing,
    # and a negative pool limit is refused by the instance's concurrency check.
    instance = render_instance(VALUES)
    instance["run_launcher"]["config"]["image_pull_policy"] = 3
    instance["concurrency"]["pools"]["default_limit"] = -1
    errors = instance_errors(instance)
    assert any("image_pull_policy" in e for e in errors), errors
    assert any("default_limit" in e for e in errors), errors


def test_run_limits_in_both_places_are_refused():
    values = _mutated(
        "dagsterDaemon.runCoordinator.config.queuedRunCoordinator", None, {"maxConcurrentRuns": 2}
    )
    if SCHEMA_FILE.exists():
        assert schema_errors(values) == []
    assert any("incompatible" in e for e in instance_errors(render_instance(values)))
