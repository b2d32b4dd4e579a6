"""The demo's sample CRM file is what `python -m pipelines.push.sample` generates."""

from __future__ import annotations

from pipelines.push import sample
from pipelines.push.parse import parse


def test_sample_file_is_current_and_has_valid_and_invalid_rows() -> None:
    assert sample.SAMPLE.read_text() == sample.render(sample.rows())
    rows, rejects = parse(sample.SAMPLE)
    assert len(rows) == 12 and len(rejects) == 3  # the unknown id is found against the warehouse
