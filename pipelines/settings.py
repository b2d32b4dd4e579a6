"""Settings shared by the CLI and the Dagster code location, read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_DIR = "data"
DEFAULT_MAX_BAD_SHARE = 0.01


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


def data_dir() -> Path:
    """CUSTOMER_SYNC_DATA_DIR, default ./data: where the lake, the warehouse and exports live."""
    return Path(os.environ.get("CUSTOMER_SYNC_DATA_DIR") or DEFAULT_DATA_DIR)


def max_bad_share() -> float:
    """CUSTOMER_SYNC_MAX_BAD_SHARE, default 0.01: more bad records than this share fails the
    quality gate."""
    raw = os.environ.get("CUSTOMER_SYNC_MAX_BAD_SHARE")
    if not raw:
        return DEFAULT_MAX_BAD_SHARE
    try:
        share = float(raw)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise SettingsError(f"CUSTOMER_SYNC_MAX_BAD_SHARE={raw!r} is not a share between 0 and 1")
    return share
