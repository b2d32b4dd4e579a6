"""Markdown tables for Dagster metadata (rendered in the UI and by the demo)."""

from __future__ import annotations

from typing import Any

MAX_CELL = 120


def cell(value: Any) -> str:
    """One table cell: empty for None, pipes escaped, on one line, at most MAX_CELL characters."""
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")[:MAX_CELL]
