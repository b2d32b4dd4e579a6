"""The quality gate: Great Expectations suites from `expectations/` over the lake's snapshots.

No Dagster here, and no Great Expectations at import time (it takes seconds to import).
"""

from pipelines.quality.gate import validate_snapshot
from pipelines.quality.report import ExpectationOutcome, QualityReport

__all__ = ["ExpectationOutcome", "QualityReport", "validate_snapshot"]
