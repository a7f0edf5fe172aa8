"""The code's layout keeps what issue 14 set up: generic modules, no import cycle, assignment folders
that keep their contract."""

import ast
import re
from pathlib import Path

import pytest

from autograder import graders
from autograder.course import KIT_COURSE

PACKAGE = KIT_COURSE / "autograder"
# What must not know which assignments exist: the engine, the batch, results, report, nbgrader plug-in.
GENERIC = [*(PACKAGE / "engine").glob("*.py"), *(PACKAGE / "batch").glob("*.py"), PACKAGE / "results.py",
           PACKAGE / "report.py", PACKAGE / "nbgrader_plugin.py", PACKAGE / "graders.py",
           PACKAGE / "assignment.py", PACKAGE / "checks.py", *(PACKAGE / "variants").glob("*.py")]
LINEAR_REGRESSION = re.compile(r"linreg|\bsgd\b|squared_loss|synthetic_data|data_iter|true_w|batch_size|regression",
                               re.IGNORECASE)


def module_name(path: Path) -> str:
    parts = path.relative_to(KIT_COURSE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_imports(path: Path) -> set[str]:
    """The kit modules ``path`` imports when it is imported (not inside functions)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # ``from package import module`` needs the module; the package is already importing
            subs = {f"{node.module}.{a.name}" for a in node.names}
            found = {s for s in subs if (KIT_COURSE / s.replace(".", "/")).with_suffix(".py").is_file()}
            names.update(found or {node.module})
    return {n for n in names if n.startswith("autograder")}


def test_no_linear_regression_word_in_the_generic_modules():
    found = [f"{p.relative_to(KIT_COURSE)}:{i}: {line.strip()}" for p in GENERIC
             for i, line in enumerate(p.read_text().splitlines(), 1) if LINEAR_REGRESSION.search(line)]
    assert found == []


def test_the_package_has_no_import_cycle():
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    edges = {name: {m for m in module_imports(path) if m in modules and m != name} for name, path in modules.items()}
    state: dict[str, str] = {}

    def visit(name: str, chain: list[str]) -> None:
        state[name] = "open"
        for other in sorted(edges[name]):
            assert state.get(other) != "open", " -> ".join([*chain, name, other])
            if other not in state:
                visit(other, [*chain, name])
        state[name] = "done"

    for name in sorted(modules):
        if name not in state:
            visit(name, [])


@pytest.mark.parametrize("name", ["linreg_scratch", "linreg_concise"])
def test_the_kits_assignment_folders_keep_the_contract(name):
    folder = graders.find(name, KIT_COURSE)
    assert graders.contract_problems(folder) == []
    assert folder.corpus().WRONG and folder.rules() is not None and folder.hints()


def test_a_folder_that_breaks_the_contract_is_named(tmp_path):
    (tmp_path / "graders" / "half_done" / "suite").mkdir(parents=True)
    (tmp_path / "graders" / "half_done" / "__init__.py").write_text("")
    (tmp_path / "graders" / "half_done" / "probes.py").write_text("def helper(ns):\n    return 1\n")
    with pytest.raises(graders.GraderError) as err:
        graders.find("half_done", tmp_path)
    text = str(err.value)
    assert "suite/__init__.py is missing" in text and "suite/test_*.py is missing" in text
    assert "corpus.py is missing" in text and "probes.py defines no probe_NAME function" in text
    with pytest.raises(graders.GraderError, match="no assignment folder 'nowhere'"):
        graders.find("nowhere", tmp_path)


def test_a_folder_named_like_an_installed_module_is_refused(tmp_path):
    folder = tmp_path / "graders" / "numpy"
    folder.mkdir(parents=True)
    problems = graders.contract_problems(graders.GraderFolder("numpy", folder))
    assert any("also an installed module" in p for p in problems)
