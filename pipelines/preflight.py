"""Every bad or missing variable a command needs, checked before the command does any work, so
a bad value is named at once (exit 3), never found after a whole sync."""

from __future__ import annotations

from collections.abc import Mapping

from pipelines import settings
from pipelines.quality.suites import SuiteError, require_suites
from pipelines.settings import SettingsError
from pipelines.vivenu.client import ClientSettings
from pipelines.vivenu.errors import VivenuConfigError
from pipelines.warehouse.segments import SegmentError, configured_segments

# Valid stand-ins for the other API variables while one of them is checked on its own:
# ClientSettings stops at the first problem, and every problem is to be reported at once.
_VALID_API_ENV = {settings.BASE_URL.name: "https://vivenu.com", settings.API_KEY.name: "stand-in"}


def problems(
    *,
    api: bool = False,
    pipeline: bool = False,
    webhooks: bool = False,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """Every bad or missing variable a command needs, one line each; empty when all is well.

    Args:
        api: the command talks to vivenu (`settings.API_VARIABLES`).
        pipeline: the command runs the sync or reconcile job, so its quality gate
            (CUSTOMER_SYNC_MAX_BAD_SHARE, the suites of CUSTOMER_SYNC_EXPECTATIONS_DIR), its
            warehouse load (CUSTOMER_SYNC_WAREHOUSE_LOCK_WAIT) and its segment exports
            (CUSTOMER_SYNC_SEGMENTS, or `<data dir>/segments.json`).
        webhooks: the command verifies webhook signatures (CUSTOMER_SYNC_WEBHOOK_SECRET).
        env: the environment (default os.environ).
    """
    env = settings.environment(env=env)
    found = []
    data = settings.data_dir(env)
    if data.exists() and not data.is_dir():
        found.append(f"{settings.DATA_DIR.name}={str(data)!r}: not a directory")
    for check in (lambda: settings.lake_url(data, env), lambda: settings.lake_retry_timeout(env)):
        try:
            check()
        except SettingsError as exc:
            found.append(str(exc))
    if api:
        found += _api_problems(env)
    if webhooks:
        try:
            settings.webhook_secret(env)
        except SettingsError as exc:
            found.append(str(exc))
    if pipeline:
        for read in (settings.max_bad_share, settings.warehouse_lock_wait):
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
    for var in settings.API_VARIABLES:
        try:
            ClientSettings.from_env({**_VALID_API_ENV, var.name: var.raw(env) or ""})
        except VivenuConfigError as exc:
            found.append(str(exc))
    if not found:
        # Each variable is fine on its own; this catches a rule that spans several.
        try:
            ClientSettings.from_env(env)
        except VivenuConfigError as exc:
            found.append(str(exc))
    return found
