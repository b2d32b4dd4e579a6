"""A static, self-contained HTML report of a validation (plus the same as JSON).

Not GX's Data Docs: they need a file-backed GX context and site builders (a folder of pages per
run, kept outside the lake), and they know nothing of what the gate decided beyond GX's
verdicts (quarantine vs block, incremental carry-over, the bad-share limit). This one file
shows what a reviewer needs: every expectation with its description (the suites' Markdown,
rendered), its counts, the offending rows with their failing values, and the gate's decision.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path

from pipelines.quality.report import QualityReport
from pipelines.sync.state import atomic_write_bytes

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}.ok{color:#176f2c}.bad{color:#b00020}
code{font-size:90%}
"""


_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def inline_markdown(text: str) -> str:
    """The inline Markdown the suites' descriptions use (`code`, **bold**) as escaped HTML."""
    html = escape(text)
    html = _CODE.sub(r"<code>\1</code>", html)
    return _BOLD.sub(r"<b>\1</b>", html)


def _samples(rows: list[dict]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render(report: QualityReport) -> str:
    verdict = "passed" if report.passed else "FAILED: the warehouse load is blocked"
    failures = "".join(f"<li>{inline_markdown(f)}</li>" for f in report.table_failures)
    rows = []
    for e in report.expectations:
        status = '<span class="ok">ok</span>' if not e.failed else '<span class="bad">fail</span>'
        rows.append(
            f"<tr><td>{status}</td><td><code>{escape(e.qualified_name)}</code><br>"
            f"{inline_markdown(e.description)}</td><td><code>{escape(e.type)}</code></td>"
            f"<td>{escape(e.on_failure)}</td><td>{e.unexpected_count:,} / {e.element_count:,}</td>"
            f"<td>{e.judged:,}</td>"
            f"<td>{escape(str(e.observed if e.observed is not None else ''))}"
            f"{escape(e.error or '')}</td><td>{_samples(e.samples)}</td></tr>"
        )
    suites = "".join(
        f"<tr><td><code>{escape(s.suite)}</code></td><td><code>{escape(s.table)}</code></td>"
        f"<td>{s.rows:,}</td><td>{s.judged:,}</td><td>{s.carried_over:,}</td>"
        f"<td>{s.seconds:.2f} s</td></tr>"
        for s in report.suites
    )
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>customer-sync quality: {escape(report.resource)}</title><style>{_STYLE}</style></head><body>
<h1>Quality gate: {escape(report.resource)}</h1>
<p class="{"ok" if report.passed else "bad"}"><b>{escape(verdict)}</b></p>
<p>Validated {escape(report.validated_at.isoformat())} in {report.seconds:.2f} s:
{report.rows:,} records, {report.rejected:,} rejected ({report.bad_share:.3%};
allowed {report.max_bad_share:.2%}). Rejects: <code>{escape(str(report.rejected_path))}</code></p>
<p>{escape(report.mode.capitalize())} validation ({escape(report.mode_reason)}): row-level
expectations re-judged {report.rows_revalidated:,} rows; {report.rows_carried_over:,} unchanged rows
kept their previous, passing verdict.</p>
{f"<h2>Table-level failures</h2><ul>{failures}</ul>" if failures else ""}
<h2>Suites</h2>
<table><tr><th>suite</th><th>table</th><th>rows</th><th>re-judged</th><th>carried over</th>
<th>time</th></tr>{suites}</table>
<h2>Expectations</h2>
<table><tr><th></th><th>expectation</th><th>type</th><th>on failure</th>
<th>unexpected / rows</th><th>rows judged</th><th>observed</th><th>sample bad rows</th></tr>{"".join(rows)}</table>
</body></html>
"""


def write_report(report: QualityReport, directory: Path) -> None:
    """Write `<resource>.html` and `<resource>.json` into `directory`; set the report's paths."""
    html_path = directory / f"{report.resource}.html"
    json_path = directory / f"{report.resource}.json"
    report.report_path, report.json_path = html_path, json_path
    atomic_write_bytes(html_path, render(report).encode())
    atomic_write_bytes(json_path, json.dumps(report.as_dict(), default=str, indent=2).encode())
