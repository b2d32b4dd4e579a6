"""The HTML quality report: the offending rows' failing values, the suites' Markdown rendered."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from pipelines.quality import validate_snapshot
from pipelines.sync.lake import Lake
from tests.quality.test_gate import UNKNOWN_ID, Rows, corrupt, lake, synced  # noqa: F401


class _Text(HTMLParser):
    """The page's visible text, and the text of every <code> element."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.code: list[str] = []
        self._in_code = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._in_code += tag == "code"

    def handle_endtag(self, tag: str) -> None:
        self._in_code -= tag == "code"

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_code:
            self.code.append(data)


def test_report_shows_the_failing_values_and_renders_markdown(lake: Lake) -> None:  # noqa: F811
    def unknown_customer(rows: Rows) -> None:
        rows[0]["customer_id"] = UNKNOWN_ID
        rows[1]["real_price"] = -5

    corrupt(lake, "transactions", "transactions", unknown_customer)
    report = validate_snapshot(lake, "transactions")
    failing = {e.name: e for e in report.failing}
    # The sample names the unknown customer, not only the derived flag's False.
    (sample,) = failing["customer_id_is_known"].samples
    assert sample["customer_id"] == UNKNOWN_ID and "customer_id_is_known" not in sample
    assert [row["real_price"] for row in failing["real_price_non_negative"].samples] == [-5.0]

    assert report.report_path is not None
    page = report.report_path.read_text()
    parsed = _Text()
    parsed.feed(page)
    text = "".join(parsed.text)
    assert "`" not in text  # every Markdown code span was rendered, none shown literally
    assert "real_price >= 0" in parsed.code and "customer_id" in parsed.code
    row = re.search(
        r"<tr><td><span class=\"bad\">fail</span></td><td><code>"
        r"transactions\.customer_id_is_known</code>.*?</tr></table></td></tr>",
        page,
    )
    assert row is not None and UNKNOWN_ID in row.group(0)
