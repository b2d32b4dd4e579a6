"""Settings shared by the CLI and the Dagster code location, read from the environment.

`problems` checks every variable a command needs before the command does any work, so a bad
value is named at once (exit 3), never found after a whole sync.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pipelines.vivenu.client import ClientSettings
from pipelines.vivenu.errors import VivenuConfigError

DEFAULT_DATA_DIR = "data"
DEFAULT_MAX_BAD_SHARE = 0.01
DEFAULT_WAREHOUSE_LOCK_WAIT_S = 30.0
API_VARIABLES = (
    "VIVENU_BASE_URL",
    "VIVENU_API_KEY",
    "CUSTOMER_SYNC_MAX_RPS",
    "CUSTOMER_SYNC_CONCURRENCY",
)
# Valid stand-ins for the other API variables while one of them is checked on its own:
# ClientSettings stops at the first problem, and every problem is to be reported at once.
_VALID_API_ENV = {"VIVENU_BASE_URL": "https://vivenu.com", "VIVENU_API_KEY": "stand-in"}


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """CUSTOMER_SYNC_DATA_DIR, default ./data: where the lake, the warehouse and exports live."""
    env = os.environ if env is None else env
    return Path(env.get("CUSTOMER_SYNC_DATA_DIR") or DEFAULT_DATA_DIR)


def warehouse_lock_wait(env: Mapping[str, str] | None = None) -> float:
    """CUSTOMER_SYNC_WAREHOUSE_LOCK_WAIT, default 30: seconds a load waits for a warehouse file
    another process holds."""
    env = os.environ if env is None else env
    raw = env.get("CUSTOMER_SYNC_WAREHOUSE_LOCK_WAIT")
    if not raw:
        return DEFAULT_WAREHOUSE_LOCK_WAIT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise SettingsError(
            f"CUSTOMER_SYNC_WAREHOUSE_LOCK_WAIT={raw!r}: not a number of seconds >= 0"
        )
    return seconds


def max_bad_share(env: Mapping[str, str] | None = None) -> float:
    """CUSTOMER_SYNC_MAX_BAD_SHARE, default 0.01: more bad records than this share fails the
    quality gate."""
    env = os.environ if env is None else env
    raw = env.get("CUSTOMER_SYNC_MAX_BAD_SHARE")
    if not raw:
        return DEFAULT_MAX_BAD_SHARE
    try:
        share = float(raw)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise SettingsError(f"CUSTOMER_SYNC_MAX_BAD_SHARE={raw!r}: not a share between 0 and 1")
    return share


def problems(
    *, api: bool = False, pipeline: bool = False, env: Mapping[str, str] | None = None
) -> list[str]:
    """Every bad or missing variable a command needs, one line each; empty when all is well.

    Args:
        api: the command talks to vivenu (`API_VARIABLES`).
        pipeline: the command runs the sync or reconcile job, so its quality gate
            (CUSTOMER_SYNC_MAX_BAD_SHARE, the suites of CUSTOMER_SYNC_EXPECTATIONS_DIR), its
            warehouse load (CUSTOMER_SYNC_WAREHOUSE_LOCK_WAIT) and its segment exports
            (CUSTOMER_SYNC_SEGMENTS, or `<data dir>/segments.json`).
        env: the environment (default os.environ).
    """
    env = os.environ if env is None else env
    found = []
    data = data_dir(env)
    if data.exists() and not data.is_dir():
        found.append(f"CUSTOMER_SYNC_DATA_DIR={str(data)!r}: not a directory")
    if api:
        found += _api_problems(env)
    if pipeline:
        # Imported here, not at the top: the warehouse modules import this one.
        from pipelines.quality.suites import SuiteError, require_suites
        from pipelines.warehouse.segments import SegmentError, configured_segments

        for read in (max_bad_share, warehouse_lock_wait):
            try:
                read(env)
            except SettingsError as exc:
                found.append(str(exc))
        try:
            require_suites(env)
        except SuiteError as exc:
            found.append(str(exc))
        try:
            configured_segments(data, env)
        except SegmentError as exc:
            found.append(str(exc))
    return found


def _api_problems(env: Mapping[str, str]) -> list[str]:
    found = []
    for name in API_VARIABLES:
        try:
            ClientSettings.from_env({**_VALID_API_ENV, name: env.get(name, "")})
        except VivenuConfigError as exc:
            found.append(str(exc))
    if not found:
        # Each variable is fine on its own; this catches a rule that spans several.
        try:
            ClientSettings.from_env(env)
        except VivenuConfigError as exc:
            found.append(str(exc))
    return found
