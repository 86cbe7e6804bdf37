"""tests/durations.py: docs/testing.md's timing table, from a run's JUnit XML."""

from __future__ import annotations

import importlib.util

from helpers import PROJECT_DIR

SPEC = importlib.util.spec_from_file_location("durations", PROJECT_DIR / "tests" / "durations.py")
durations = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(durations)

XML = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0"
failures="1" skipped="0" tests="3" time="120.5" timestamp="2026-12-04T03:00:00.000000">
<testcase classname="tests.python.test_a" name="test_slow" time="100.0" />
<testcase classname="tests.python.test_a" name="test_fast" time="2.5"><failure message="x"/>
</testcase>
<testcase classname="tests.python.test_b" name="test_one" time="10.0"><system-out>hi</system-out>
</testcase></testsuite></testsuites>"""


def test_the_table_sums_each_module_and_names_its_slowest_test(tmp_path) -> None:
    results = tmp_path / "results.xml"
    results.write_text(XML)
    lines = durations.table(results).splitlines()
    assert (
        lines[0]
        == "Run of 2026-12-04 03:00: 3 tests (1 failure, 2 passed), pytest 120 s wall-clock."
    )
    assert lines[4] == "| test_a | 2 | 102 | `test_slow` (100) |"
    assert lines[5] == "| test_b | 1 | 10 | `test_one` (10) |"
    assert lines[6] == "| **all** | 3 | 112 | |"


def test_the_doc_keeps_its_markers_once() -> None:
    doc = (PROJECT_DIR / "docs" / "testing.md").read_text()
    assert doc.count(durations.START) == 1 and doc.count(durations.END) == 1
