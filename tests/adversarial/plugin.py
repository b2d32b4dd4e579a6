"""The attack table: every test marked `@pytest.mark.attack("what was tried")` is an attack on
customer-sync; the session ends with a table of the attacks tried and whether each held.

An attack held when every test carrying its name passed; skipped tests are shown as skipped
(never as held).
"""

from __future__ import annotations

from collections import defaultdict

import pytest

_outcomes: dict[str, list[str]] = defaultdict(list)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "attack(name): an adversarial test; listed in the attack table at the end"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("attack")
        if marker is not None:
            # user_properties reach every report, also across pytest-xdist's workers.
            item.user_properties.append(("attack", str(marker.args[0])))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    name = dict(report.user_properties).get("attack")
    if name is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _outcomes[name].append("skipped" if report.skipped else report.outcome)


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not _outcomes:
        return
    tr = terminalreporter
    tr.section("attacks tried / held")
    width = max(len(n) for n in _outcomes)
    held = 0
    for name in sorted(_outcomes):
        results = _outcomes[name]
        if all(r == "passed" for r in results):
            verdict, held = "held", held + 1
        elif any(r == "failed" for r in results):
            verdict = "FAILED"
        else:
            verdict = "skipped"
        tr.write_line(f"{name:<{width}}  {verdict}  ({len(results)} test(s))")
    tr.write_line(f"{len(_outcomes)} attacks tried, {held} held")
