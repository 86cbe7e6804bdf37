"""`make setup` takes exactly the Pythons the locked requirements install on."""

from __future__ import annotations

import os
import re
import sys

import pytest
from helpers import PROJECT_DIR, run

FAKE_PYTHON = """\
import sys
sys.version_info = {version!r}
sys.version = "{dotted} (a stand-in)"
exec(sys.argv[2])
"""


@pytest.mark.parametrize(
    ("version", "accepted"),
    [((3, 10, 14), False), ((3, 11, 7), True), ((3, 12, 1), True), ((3, 13, 0), False)],
)
def test_setup_takes_only_the_pythons_the_locks_were_resolved_for(
    tmp_path, version, accepted
) -> None:
    fake = tmp_path / "python"
    dotted = ".".join(map(str, version))
    fake.write_text(f"#!{sys.executable}\n" + FAKE_PYTHON.format(version=version, dotted=dotted))
    fake.chmod(0o755)
    argv = ["make", "--no-print-directory", "prerequisites", f"PYTHON={fake}"]
    result = run(argv, dict(os.environ))
    assert (result.returncode == 0) is accepted, result.stdout + result.stderr
    if not accepted:
        assert f"need Python 3.11 or 3.12 as {fake}" in result.stderr
        assert f"found {dotted}" in result.stderr


def test_the_locks_are_resolved_for_the_oldest_python_setup_takes() -> None:
    makefile = (PROJECT_DIR / "Makefile").read_text()
    pyproject = (PROJECT_DIR / "pyproject.toml").read_text()
    locked_for = set(re.findall(r"--python-version (3\.\d+)", makefile))
    assert locked_for == {"3.11"}
    assert 'requires-python = ">=3.11,<3.13"' in pyproject
