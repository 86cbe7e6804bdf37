"""Where the suite's time goes: docs/testing.md's table, from a run's JUnit XML.

`make test` writes `$LAKEHOUSE_STATE_DIR/test-results.xml`; `make test-durations` (this script)
rewrites the table between the markers in docs/testing.md from it: per module, its tests and
their seconds (setup and teardown included, both workers' time added up), and its slowest test.

    python tests/durations.py [results.xml] [--check]

`--check` prints the table instead of writing it.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from lakehouse import settings
from lakehouse.settings import PROJECT_DIR

DOC = PROJECT_DIR / "docs" / "testing.md"
START, END = "<!-- durations:start -->", "<!-- durations:end -->"


def table(results: Path) -> str:
    """The markdown table of the run in `results`, slowest module first."""
    root = ET.parse(results).getroot()
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    slowest: dict[str, tuple[float, str]] = {}
    outcomes: dict[str, int] = defaultdict(int)
    for case in root.iter("testcase"):
        module = case.get("classname", "").split(".")[-1] or "?"
        took = float(case.get("time", "0"))
        seconds[module] += took
        counts[module] += 1
        slowest[module] = max(slowest.get(module, (0.0, "")), (took, case.get("name", "")))
        tags = {child.tag for child in case}
        outcome = next((t for t in ("error", "failure", "skipped") if t in tags), "passed")
        outcomes[outcome] += 1
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    if not suites or not counts:
        raise SystemExit(f"{results}: no test cases")
    wall = max(float(s.get("time", "0")) for s in suites)
    stamp = suites[0].get("timestamp", "?")[:16].replace("T", " ")
    lines = [
        f"Run of {stamp}: {sum(counts.values())} tests ("
        + ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))
        + f"), pytest {wall:,.0f} s wall-clock.",
        "",
        "| module | tests | seconds | slowest test (seconds) |",
        "| --- | ---: | ---: | --- |",
    ]
    for module in sorted(seconds, key=seconds.get, reverse=True):
        took, name = slowest[module]
        lines.append(
            f"| {module} | {counts[module]} | {seconds[module]:,.0f} | `{name}` ({took:,.0f}) |"
        )
    lines.append(f"| **all** | {sum(counts.values())} | {sum(seconds.values()):,.0f} | |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    state = settings.load().state_dir
    results = Path(paths[0]) if paths else state / "test-results.xml"
    if not results.exists():
        print(f"no {results}: run `make test` first", file=sys.stderr)
        return 2
    new = table(results)
    if check:
        print(new)
        return 0
    doc = DOC.read_text()
    if START not in doc or END not in doc:
        print(f"{DOC}: no {START} ... {END} markers", file=sys.stderr)
        return 2
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{new}\n{END}{tail}")
    print(f"wrote the table of {results} into {DOC.relative_to(PROJECT_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
