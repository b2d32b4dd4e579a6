"""Dagster resources: thin, configurable handles on the engine's building blocks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines import preflight, settings
from pipelines.sync.lake import Lake
from pipelines.vivenu.client import ClientSettings, VivenuClient
from pipelines.warehouse.resource import WarehouseResource

CONFIG_FIX = (
    "fix: set or correct these variables where `make ui`/`dg dev` (and the daemon) were started, "
    "then restart it; `make ui` without VIVENU_BASE_URL serves the simulator"
)


def config_failure(problems: list[str]) -> dg.Failure:
    """The run failure for missing or invalid configuration: one line, every problem named."""
    # A Failure, not an exception: the UI shows its description as the error's headline.
    return dg.Failure(description=f"configuration: {'; '.join(problems)} ({CONFIG_FIX})")


def require_config(
    *, api: bool = False, pipeline: bool = False, env: dict[str, str] | None = None
) -> None:
    """Fail the step with `config_failure` if a variable the step needs is missing or bad
    (`preflight.problems`), before it does any work."""
    found = preflight.problems(api=api, pipeline=pipeline, env=env)
    if found:
        raise config_failure(found)


class VivenuResource(dg.ConfigurableResource):
    """The vivenu API: VIVENU_BASE_URL and VIVENU_API_KEY, as `dg.EnvVar`s resolved when a run
    starts (`default_resources`; a missing one fails that run with one line, never the code
    location); the key is never part of run config, shown or logged."""

    base_url: str | None = None
    api_key: str | None = None
    max_rps: float | None = None
    concurrency: int | None = None

    def client(self, *, pipeline: bool = False) -> VivenuClient:
        """A new client (one per run: it owns the rate cap and the connection pool).

        Raises `config_failure` naming every bad variable of the API (and, with `pipeline`, of
        the sync's quality gate, warehouse load and segment exports) before any request.
        """
        env = settings.environment(
            {settings.BASE_URL: self.base_url, settings.API_KEY: self.api_key}
        )
        require_config(api=True, pipeline=pipeline, env=env)
        return VivenuClient(
            ClientSettings.from_env(env, max_rps=self.max_rps, concurrency=self.concurrency)
        )


class LakeResource(dg.ConfigurableResource):
    """The lake's Delta tables (CUSTOMER_SYNC_LAKE_URL, default under the data directory)."""

    data_dir: str

    def lake(self) -> Lake:
        return Lake(Path(self.data_dir))


def _env_var(var: settings.Variable) -> dg.EnvVar | None:
    """`var` as a `dg.EnvVar` (resolved when a run starts; the UI shows the variable's name,
    never its value) if it is set, else None: for an unset EnvVar Dagster fails the run with its
    own config stack trace before any step, where the resource names every problem in one line
    (`require_config`) or uses the declared default."""
    return dg.EnvVar(var.name) if var.raw() else None


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources wired from VIVENU_BASE_URL, VIVENU_API_KEY and CUSTOMER_SYNC_DATA_DIR."""
    data_dir = settings.data_dir()
    return {
        "vivenu": VivenuResource(
            base_url=_env_var(settings.BASE_URL), api_key=_env_var(settings.API_KEY)
        ),
        # Both from one reading of CUSTOMER_SYNC_DATA_DIR (not an EnvVar for one of them), so
        # the lake and the warehouse can never be resolved into different directories.
        "lake": LakeResource(data_dir=str(data_dir)),
        "warehouse": WarehouseResource(db_path=str(data_dir / "warehouse.duckdb")),
    }
