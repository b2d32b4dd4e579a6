"""What a validation found: per expectation, per suite, and for the resource as a whole.

Its own module so that the gate (which produces a report) and the HTML page (which renders one)
both import it, and not each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.quality.suites import RECEIVED


@dataclass
class ExpectationOutcome:
    """One expectation's result: counts, and a few offending rows."""

    suite: str
    name: str
    type: str
    description: str
    on_failure: str
    success: bool
    element_count: int = 0
    unexpected_count: int = 0
    observed: Any = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    # The samples' column naming their record (the suite's record id).
    record_id: str = "id"
    error: str | None = None
    # Rows GX judged for this expectation (the rest kept their previous, passing, verdict).
    judged: int = 0

    @property
    def qualified_name(self) -> str:
        return f"{self.suite}.{self.name}"

    @property
    def failed(self) -> bool:
        return not self.success or self.unexpected_count > 0


@dataclass
class SuiteRun:
    """How much of one suite's table was judged again."""

    suite: str
    table: str
    rows: int
    judged: int
    seconds: float

    @property
    def carried_over(self) -> int:
        return self.rows - self.judged


@dataclass
class QualityReport:
    """What one validation of a resource found and decided."""

    resource: str
    rows: int
    rejected: int
    bad_share: float
    max_bad_share: float
    expectations: list[ExpectationOutcome]
    table_failures: list[str]
    passed: bool
    validated_at: datetime
    seconds: float
    rejected_path: Path
    report_path: Path | None = None
    json_path: Path | None = None
    # "full" or "incremental", and why.
    mode: str = "full"
    mode_reason: str = ""
    suites: list[SuiteRun] = field(default_factory=list)

    @property
    def failing(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if e.failed]

    @property
    def rows_revalidated(self) -> int:
        """Rows of the snapshot tables the row-level expectations judged in this validation."""
        return sum(s.judged for s in self.suites if s.table != RECEIVED)

    @property
    def rows_carried_over(self) -> int:
        """Rows of the snapshot tables that kept their previous (passing) verdict."""
        return sum(s.carried_over for s in self.suites if s.table != RECEIVED)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["failing"] = [e.qualified_name for e in self.failing]
        out["rows_revalidated"] = self.rows_revalidated
        out["rows_carried_over"] = self.rows_carried_over
        return out
