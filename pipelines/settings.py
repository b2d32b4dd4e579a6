"""The project's configuration: every environment variable it reads, declared once here (name,
default, meaning), and the one place they are read.

Other modules ask this one (`data_dir()`, `BASE_URL.raw()`, ...) for them, never
`os.environ`; the Dagster resources are wired with `dagster.EnvVar` from these declarations
(`pipelines.resources`). `pipelines.preflight` checks every variable a command needs before it
does any work. A leaf module: it imports nothing of the project, so anything may import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


@dataclass(frozen=True)
class Variable(Generic[T]):
    """One configuration variable: its name, the value used when it is unset, what it means."""

    name: str
    default: T
    doc: str

    def raw(self, env: Mapping[str, str] | None = None) -> str | None:
        """Its text in `env` (default os.environ); None when unset or empty."""
        return (os.environ if env is None else env).get(self.name) or None


BASE_URL: Variable[None] = Variable(
    "VIVENU_BASE_URL",
    None,
    "The vivenu API's scheme and host (https://vivenu.com, https://vivenu.dev or a simulator's "
    "URL); the client adds /api/... itself. Required by every command that talks to vivenu.",
)
API_KEY: Variable[None] = Variable(
    "VIVENU_API_KEY",
    None,
    "The seller's API key, sent as `Authorization: Bearer ...`; never logged or written.",
)
MAX_RPS = Variable(
    "CUSTOMER_SYNC_MAX_RPS", 10.0, "Requests per second the client sends at most (> 0)."
)
CONCURRENCY = Variable("CUSTOMER_SYNC_CONCURRENCY", 4, "Requests in flight at most (>= 1).")
MAX_REQUESTS_PER_HOUR: Variable[None] = Variable(
    "CUSTOMER_SYNC_MAX_REQUESTS_PER_HOUR",
    None,
    "Requests per hour the client sends at most (a whole number > 0), besides the per-second "
    "cap; unset: no hourly budget. vivenu's support quotes about 1,000 per hour per key.",
)
DATA_DIR = Variable(
    "CUSTOMER_SYNC_DATA_DIR", Path("data"), "Where the lake, the warehouse and exports live."
)
LAKE_URL: Variable[None] = Variable(
    "CUSTOMER_SYNC_LAKE_URL",
    None,
    "Where the lake's Delta tables live: a local folder, or `s3://bucket/prefix` on any S3 "
    "store (credentials and endpoint from the standard AWS_* variables, `AWS_ENDPOINT_URL` for "
    "MinIO, R2 or Ceph); unset: `<data dir>/lake`.",
)
LAKE_RETRY_TIMEOUT: Variable[None] = Variable(
    "CUSTOMER_SYNC_LAKE_RETRY_TIMEOUT",
    None,
    "Seconds a request to the lake's object store is retried (throttling, 5xx, timeouts) "
    "before the run fails, a whole number > 0; unset: delta-rs's default (180).",
)
WAREHOUSE_LOCK_WAIT = Variable(
    "CUSTOMER_SYNC_WAREHOUSE_LOCK_WAIT",
    30.0,
    "Seconds a load waits for a warehouse file another process holds (>= 0).",
)
MAX_BAD_SHARE = Variable(
    "CUSTOMER_SYNC_MAX_BAD_SHARE",
    0.01,
    "More bad records than this share of a snapshot (0..1) fails the quality gate.",
)
EXPECTATIONS_DIR: Variable[None] = Variable(
    "CUSTOMER_SYNC_EXPECTATIONS_DIR",
    None,
    "The folder of the quality suites (*.json); unset: the suites the package ships.",
)
SEGMENTS: Variable[None] = Variable(
    "CUSTOMER_SYNC_SEGMENTS",
    None,
    "The audiences re-exported after each sync, e.g. `vip;newsletter+vip;rock,jazz`; unset: "
    "`<data dir>/segments.json`, if there is one.",
)
WEBHOOK_SECRET: Variable[None] = Variable(
    "CUSTOMER_SYNC_WEBHOOK_SECRET",
    None,
    "The vivenu webhook's `hmacKey`: `webhooks serve` accepts a delivery only when its "
    "`x-vivenu-signature` is the HMAC-SHA256 of its body with this key; never logged or written.",
)
ERASE_DELETED_AFTER: Variable[None] = Variable(
    "CUSTOMER_SYNC_ERASE_DELETED_AFTER",
    None,
    "Days (a whole number >= 0) after a reconcile confirmed a customer deleted in vivenu (its "
    "404) that `customer-sync erase --deleted` and `erase_job` with `deleted: true` erase them "
    "from every layer; unset: never (off).",
)
HISTORY_RETENTION: Variable[None] = Variable(
    "CUSTOMER_SYNC_HISTORY_RETENTION",
    None,
    "Days (a whole number >= 1) the lake and the warehouse's *_history tables keep record "
    "versions that a newer one replaced; `customer-sync lake compact-history` (or "
    "`compact_history_job`) drops the older ones (the current versions stay); unset: every "
    "version is kept.",
)

VARIABLES: tuple[Variable, ...] = (
    BASE_URL,
    API_KEY,
    MAX_RPS,
    CONCURRENCY,
    MAX_REQUESTS_PER_HOUR,
    DATA_DIR,
    LAKE_URL,
    LAKE_RETRY_TIMEOUT,
    WAREHOUSE_LOCK_WAIT,
    MAX_BAD_SHARE,
    EXPECTATIONS_DIR,
    SEGMENTS,
    WEBHOOK_SECRET,
    ERASE_DELETED_AFTER,
    HISTORY_RETENTION,
)
# The variables of the vivenu client (`ClientSettings.from_env`).
API_VARIABLES = (BASE_URL, API_KEY, MAX_RPS, CONCURRENCY, MAX_REQUESTS_PER_HOUR)


def environment(
    overrides: Mapping[Variable, str | None] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A copy of `env` (default os.environ) with the non-empty `overrides` set on it."""
    given = {var.name: value for var, value in (overrides or {}).items() if value}
    return {**(os.environ if env is None else env), **given}


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """CUSTOMER_SYNC_DATA_DIR, default ./data: where the lake, the warehouse and exports live."""
    raw = DATA_DIR.raw(env)
    return Path(raw) if raw else DATA_DIR.default


def lake_url(data_dir: Path, env: Mapping[str, str] | None = None) -> str:
    """CUSTOMER_SYNC_LAKE_URL as delta-rs takes it: `s3://bucket/prefix`, or an absolute local
    folder; unset: `<data_dir>/lake`."""
    raw = (LAKE_URL.raw(env) or "").strip().rstrip("/")
    if not raw:
        return str((data_dir / "lake").absolute())
    scheme, sep, rest = raw.partition("://")
    if not sep:
        return str(Path(raw).absolute())
    if scheme == "file":
        return str(Path(rest).absolute())
    if scheme not in ("s3", "s3a") or not rest.split("/")[0]:
        raise SettingsError(f"{LAKE_URL.name}={raw!r}: not a folder or an s3://bucket/prefix URL")
    return f"s3://{rest}"


def lake_retry_timeout(env: Mapping[str, str] | None = None) -> int | None:
    """CUSTOMER_SYNC_LAKE_RETRY_TIMEOUT in seconds, or None when unset (delta-rs's default)."""
    raw = LAKE_RETRY_TIMEOUT.raw(env)
    if not raw:
        return None
    try:
        seconds = int(raw.strip())
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise SettingsError(f"{LAKE_RETRY_TIMEOUT.name}={raw!r}: not a whole number of seconds > 0")
    return seconds


# The HTTP client options object_store reads as AWS_<KEY> (its `ClientConfigKey`s). obstore
# drops all of them once a caller passes `client_options`, so a caller that sets one passes
# these along (`s3_client_options`).
_S3_CLIENT_KEYS = (
    "allow_http",
    "allow_invalid_certificates",
    "connect_timeout",
    "default_content_type",
    "http1_only",
    "http2_keep_alive_interval",
    "http2_keep_alive_timeout",
    "http2_keep_alive_while_idle",
    "http2_only",
    "pool_idle_timeout",
    "pool_max_idle_per_host",
    "proxy_ca_certificate",
    "proxy_excludes",
    "proxy_url",
    "read_timeout",
    "timeout",
    "user_agent",
)


def s3_client_options(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The S3 client options set in `env` (default os.environ) as standard AWS_* variables,
    e.g. AWS_ALLOW_HTTP=true -> {"allow_http": "true"}; {} when none is set."""
    env = os.environ if env is None else env
    found = {key: env.get(f"AWS_{key.upper()}", "").strip() for key in _S3_CLIENT_KEYS}
    return {key: value for key, value in found.items() if value}


def warehouse_lock_wait(env: Mapping[str, str] | None = None) -> float:
    """CUSTOMER_SYNC_WAREHOUSE_LOCK_WAIT, default 30: seconds a load waits for a warehouse file
    another process holds."""
    raw = WAREHOUSE_LOCK_WAIT.raw(env)
    if not raw:
        return WAREHOUSE_LOCK_WAIT.default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise SettingsError(f"{WAREHOUSE_LOCK_WAIT.name}={raw!r}: not a number of seconds >= 0")
    return seconds


def _whole(
    variable: Variable[Any], env: Mapping[str, str] | None, least: int, what: str
) -> int | None:
    """A whole-number variable of at least `least`, or None when unset; SettingsError naming
    `what` it must be otherwise."""
    raw = variable.raw(env)
    if not raw:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        value = least - 1
    if value < least:
        raise SettingsError(f"{variable.name}={raw!r}: not a whole number of {what}")
    return value


def erase_deleted_after(env: Mapping[str, str] | None = None) -> timedelta | None:
    """CUSTOMER_SYNC_ERASE_DELETED_AFTER as a period, None when unset (off)."""
    days = _whole(ERASE_DELETED_AFTER, env, 0, "days >= 0")
    return None if days is None else timedelta(days=days)


def history_retention(env: Mapping[str, str] | None = None) -> timedelta | None:
    """CUSTOMER_SYNC_HISTORY_RETENTION as a period, None when unset (keep every version)."""
    days = _whole(HISTORY_RETENTION, env, 1, "days >= 1")
    return None if days is None else timedelta(days=days)


def max_requests_per_hour(env: Mapping[str, str] | None = None) -> int | None:
    """CUSTOMER_SYNC_MAX_REQUESTS_PER_HOUR, or None when unset (no hourly budget)."""
    return _whole(MAX_REQUESTS_PER_HOUR, env, 1, "requests > 0")


def max_bad_share(env: Mapping[str, str] | None = None) -> float:
    """CUSTOMER_SYNC_MAX_BAD_SHARE, default 0.01: more bad records than this share fails the
    quality gate."""
    raw = MAX_BAD_SHARE.raw(env)
    if not raw:
        return MAX_BAD_SHARE.default
    try:
        share = float(raw)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise SettingsError(f"{MAX_BAD_SHARE.name}={raw!r}: not a share between 0 and 1")
    return share


def expectations_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """CUSTOMER_SYNC_EXPECTATIONS_DIR, or None when unset (the shipped suites)."""
    raw = EXPECTATIONS_DIR.raw(env)
    return Path(raw) if raw else None


def segments_spec(env: Mapping[str, str] | None = None) -> str:
    """CUSTOMER_SYNC_SEGMENTS as written (stripped), "" when unset."""
    return (SEGMENTS.raw(env) or "").strip()


def webhook_secret(env: Mapping[str, str] | None = None) -> bytes:
    """CUSTOMER_SYNC_WEBHOOK_SECRET as the HMAC key's bytes; SettingsError when unset (an
    unsigned receiver would store whatever anyone posts)."""
    raw = WEBHOOK_SECRET.raw(env)
    if not raw:
        raise SettingsError(
            f"{WEBHOOK_SECRET.name} is not set: set it to the vivenu webhook's hmacKey"
        )
    return raw.encode()
