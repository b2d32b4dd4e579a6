"""The Dagster instance of a data directory: `<data dir>/dagster_home`.

One instance per data directory, as there is one lake lock per data directory: `make ui`, the
demo and every `dagster`/`dg` command given the same DAGSTER_HOME see the same runs, asset
history and schedule/sensor state.
"""

from __future__ import annotations

import shutil
from pathlib import Path

DAGSTER_HOME = "dagster_home"
# Run queue and DuckDB pool settings (see the file's comments).
INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")


def install_instance(home: Path) -> Path:
    """Create `home` with this project's dagster.yaml; returns its absolute path (Dagster
    requires DAGSTER_HOME to be absolute)."""
    home = home.absolute()
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INSTANCE_CONFIG, home / "dagster.yaml")
    return home
