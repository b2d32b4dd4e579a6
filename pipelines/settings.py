"""Settings shared by the CLI and the Dagster code location, read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_DIR = "data"


def data_dir() -> Path:
    """CUSTOMER_SYNC_DATA_DIR, default ./data: where the lake, the warehouse and exports live."""
    return Path(os.environ.get("CUSTOMER_SYNC_DATA_DIR") or DEFAULT_DATA_DIR)
