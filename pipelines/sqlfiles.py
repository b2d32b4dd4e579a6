"""SQL lives in `.sql` files next to the code that runs it; this reads them, once per process."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def read_sql(folder: Path, name: str) -> str:
    """The text of `<folder>/<name>.sql`."""
    return (folder / f"{name}.sql").read_text()
