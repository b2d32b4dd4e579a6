"""The files layer on its own: change files lose rows only, reports lose the person's values."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.erase import files
from pipelines.erase.keys import ErasedSet
from pipelines.erase.people import Person

ANNA = Person(
    id="64b0c0ffee0000000000abcd",
    emails={"anna@example.org"},
    terms={"64b0c0ffee0000000000abcd", "anna@example.org", "Anna Meier", "Gartenweg 14"},
    phones={"+49 30 1234567"},
)


def test_change_files_lose_her_rows_and_keep_everyone_elses_values(tmp_path: Path) -> None:
    crm = tmp_path / "crm" / "inbox"
    crm.mkdir(parents=True)
    (crm / "changes.csv").write_text(
        "id,email,street\n"
        "64b0c0ffee0000000000abcd,,x\n"
        ",ANNA@example.org,y\n"
        "64b0c0ffee0000000000beef,bob@example.org,Gartenweg 14\n"
    )
    (crm / "changes.jsonl").write_text(
        json.dumps({"email": "anna@example.org"}) + "\n"
        + json.dumps({"id": "64b0c0ffee0000000000beef", "street": "Gartenweg 14"}) + "\n"
    )  # fmt: skip
    m = files.Matcher.of([ANNA])
    assert files.folder(tmp_path / "crm", m, dry_run=True) == {
        str(crm / "changes.csv"): 2,
        str(crm / "changes.jsonl"): 1,
    }
    assert "anna" in (crm / "changes.csv").read_text().lower()  # a dry run changes nothing

    files.folder(tmp_path / "crm", m, dry_run=False)

    # Bob shares her street: his pending change is pushed as written.
    assert (crm / "changes.csv").read_text() == (
        "id,email,street\n64b0c0ffee0000000000beef,bob@example.org,Gartenweg 14\n"
    )
    assert "anna" not in (crm / "changes.jsonl").read_text().lower()
    assert "Gartenweg 14" in (crm / "changes.jsonl").read_text()


def test_a_report_loses_her_rows_and_her_values_in_text(tmp_path: Path) -> None:
    report = tmp_path / "crm" / "processed" / "x.report.json"
    report.parent.mkdir(parents=True)
    report.write_text(
        json.dumps(
            {
                "customers": [
                    {"customer_id": "64b0c0ffee0000000000abcd", "changes": []},
                    {"customer_id": "other", "note": "called Anna Meier back"},
                ],
                "error": None,
            }
        )
    )
    files.folder(tmp_path / "crm", files.Matcher.of([ANNA]), dry_run=False)
    doc = json.loads(report.read_text())
    assert doc["customers"] == [{"customer_id": "other", "note": "called [erased] back"}]


def test_the_gates_state_forgets_her_id_as_an_unknown_reference(tmp_path: Path) -> None:
    state = tmp_path / "quality" / "transactions" / "_state.json"
    state.parent.mkdir(parents=True)
    unknown = ["64b0c0ffee0000000000abcd", "64b0c0ffee0000000000beef"]
    facts = {"customer_id_is_known": {"unknown": unknown, "keys": 3}}
    state.write_text(json.dumps({"suites": "h", "runs": {}, "references": {"transactions": facts}}))
    found = files.quality(tmp_path / "quality", [ANNA], ErasedSet(salt=None), dry_run=False)
    assert found == {str(state): 1}
    doc = json.loads(state.read_text())
    assert doc["references"]["transactions"]["customer_id_is_known"]["unknown"] == [unknown[1]]
