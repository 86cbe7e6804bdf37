"""The packages import one way: lakehouse (settings) <- ingest <- services <- dags, tests <- bench.
A cycle would make any of them impossible to lift out, or to import on its own. And a dbt var's
default is written in dbt_project.yml alone."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re

import pytest
from helpers import PROJECT_DIR

PACKAGES = ("lakehouse", "ingest", "services", "dags", "tests", "bench")
# What each package may import from the project (besides itself).
ALLOWED = {
    "lakehouse": set(),
    "ingest": {"lakehouse"},
    "services": {"lakehouse", "ingest"},
    "dags": {"lakehouse", "ingest", "services"},
    # The tests' private stack (tests/private_stack.py), which the benchmarks run on too.
    "tests": {"lakehouse", "ingest", "services", "dags"},
    "bench": {"lakehouse", "ingest", "services", "tests"},
}


def project_imports(package: str) -> dict[str, set[str]]:
    """Each module of `package` and the project packages it imports, anywhere in the module."""
    found = {}
    for path in sorted((PROJECT_DIR / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(PROJECT_DIR))] = names & set(PACKAGES)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_go_one_way(package: str) -> None:
    modules = project_imports(package)
    assert modules, f"{package}/ has no modules"
    wrong = {
        module: sorted(imported - ALLOWED[package] - {package})
        for module, imported in modules.items()
        if imported - ALLOWED[package] - {package}
    }
    assert not wrong, f"{package} imports what sits above it: {wrong}"


def test_every_project_import_resolves() -> None:
    """An import of a project module that moved fails here, even inside a function that no
    other test calls (`from services import settings` outlived its module once)."""
    broken = []
    for package in ("lakehouse", "ingest", "services", "tests", "bench"):
        for path in sorted((PROJECT_DIR / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
                    continue
                if node.module.split(".")[0] not in PACKAGES or node.module.startswith("dags"):
                    continue
                module = importlib.import_module(node.module)
                for alias in node.names:
                    submodule = (
                        importlib.util.find_spec(f"{node.module}.{alias.name}")
                        if hasattr(module, "__path__")
                        else None
                    )
                    if submodule is None and not hasattr(module, alias.name):
                        broken.append(
                            f"{path.relative_to(PROJECT_DIR)}: {node.module}.{alias.name}"
                        )
    assert not broken, broken


def test_dag_files_only_wire_tasks_and_no_module_imports_one() -> None:
    """dags/: the DAG files stay short; what they share lives in modules of one job each
    (CONTRIBUTING.md), and none of those imports a DAG file."""
    dag_files = {
        p.stem for p in (PROJECT_DIR / "dags").glob("*.py") if "with DAG(" in p.read_text()
    }
    assert dag_files == {"lakehouse_pipeline", "lakehouse_maintenance", "lakehouse_erasure"}
    for path in (PROJECT_DIR / "dags").glob("*.py"):
        lines = path.read_text().splitlines()
        if path.stem in dag_files:
            assert len(lines) <= 100, f"{path.name}: {len(lines)} lines"
        imported = set()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
        assert not imported & dag_files, f"{path.name} imports a DAG file"
        ignored = (PROJECT_DIR / "dags" / ".airflowignore").read_text().split()
        assert (path.name in ignored) is (path.stem not in dag_files), path.name


def test_no_doc_or_dag_restates_a_dbt_vars_default() -> None:
    # dbt_project.yml is where each var's default lives; the docs, the DAG params, the Makefile
    # and the benchmarks point there. The shapes a restatement took: "`var` (default 1)", a
    # table row "| `var` | 1 |", a DAG param "var": Param(1, ...), and "var (1)".
    import yaml

    defaults = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    texts = {
        str(path.relative_to(PROJECT_DIR)): path.read_text()
        for path in [PROJECT_DIR / "README.md", PROJECT_DIR / "Makefile",
                     *sorted((PROJECT_DIR / "docs").glob("*.md")),
                     *sorted((PROJECT_DIR / "dags").glob("*.py")),
                     *sorted((PROJECT_DIR / "bench").glob("*.py"))]
    }  # fmt: skip
    restated = []
    for name, value in defaults.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        shown = re.escape(str(value))
        for pattern in (
            rf"`{name}` \(default `?{shown}`?\)",
            rf"\| `{name}` \| `?{shown}`? \|",
            rf"\"{name}\": Param\(\s*{shown},",
            rf"\b{name}`? \({shown}\)",
        ):
            restated += [
                f"{where}: {name}" for where, text in texts.items() if re.search(pattern, text)
            ]
    assert not restated, restated
