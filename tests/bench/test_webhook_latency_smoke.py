"""The webhook latency bench runs end to end at a small size: writes are timed from the
simulator's delivery to the warehouse, and the last sync leaves the warehouse equal to the
truth. It prints the latencies; no timing is asserted."""

from __future__ import annotations

import re

from bench import webhook_latency


def test_webhook_latency_bench_times_writes_and_ends_exact(tmp_path, capsys):
    webhook_latency.main(
        ["--customers", "300", "--seconds", "6", "--every", "2", "--writer-rate", "4",
         "--work-dir", str(tmp_path / "work")]
    )  # fmt: skip
    out = capsys.readouterr().out
    timed = re.search(r"(\d+) customer writes timed", out)
    assert timed and int(timed.group(1)) > 0, out
    assert "warehouse equal to the truth after the last sync: True" in out, out
