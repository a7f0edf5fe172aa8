"""Shared helpers: build submissions from the reference solution and grade them via the CLI.

Grading goes through the real ``autograder`` command, in one process per batch of
notebooks, exactly as a TA would run it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
AUTOGRADER = [sys.executable, "-m", "autograder.cli"]


def solution_path(assignment: str) -> Path:
    return ROOT / "solutions" / assignment / f"{assignment}.ipynb"


def release_path(assignment: str) -> Path:
    return ROOT / "assignments" / assignment / f"{assignment}.ipynb"


def solved_cells(assignment: str) -> dict[str, str]:
    """The reference answers as a student would type them: the solution without its markers."""
    nb = nbformat.read(solution_path(assignment), as_version=4)
    answers = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            lines = [ln for ln in cell.source.splitlines()
                     if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
            answers[meta["grade_id"]] = "\n".join(lines)
    return answers


def submission(assignment: str, cells: dict[str, str] | None = None):
    """The released notebook, answered with the reference except for ``cells``."""
    cells = {**solved_cells(assignment), **(cells or {})}
    nb = nbformat.read(release_path(assignment), as_version=4)
    replaced = set()
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in cells:
            cell.source = cells[grade_id].strip("\n")
            replaced.add(grade_id)
    assert replaced == set(cells), f"no answer cells named {set(cells) - replaced}"
    return nb


def write(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def grade(paths: list[Path], *args: str, fmt: str = "json") -> list[dict]:
    """Grade notebooks with the CLI; returns one result per notebook."""
    proc = subprocess.run([*AUTOGRADER, "grade", *map(str, paths), "--format", fmt, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    return out if isinstance(out, list) else [out]


def parts(result: dict) -> dict[str, float]:
    scores: dict[str, float] = {}
    for test in result["tests"]:
        part = test["tags"][0]
        scores[part] = scores.get(part, 0.0) + test["score"]
    return scores


def part_max(result: dict) -> dict[str, float]:
    scores: dict[str, float] = {}
    for test in result["tests"]:
        scores[test["tags"][0]] = scores.get(test["tags"][0], 0.0) + test["max_score"]
    return scores


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
