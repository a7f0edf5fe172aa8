"""Submissions the kit must grade the way a careful human would, and how to build them.

Each case replaces some answer cells of the reference solution with other code and states
the score every part must get (parts not named keep full marks). An assignment folder's
``corpus.py`` lists them (``WRONG``, ``RIGHT``); the kit's tests and the validation of new
variants both use them.
"""

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import nbformat

from autograder.course import KIT_COURSE as ROOT  # the kit's own course


@dataclass(frozen=True)
class Case:
    name: str
    cells: dict[str, str]
    expected: dict[str, float] = field(default_factory=dict)  # part -> score; others full
    hint: str = ""  # a phrase the feedback must contain


def cases(assignment: str, root: Path = ROOT) -> ModuleType:
    """The corpus of ``assignment``'s folder (its ``corpus.py``)."""
    from autograder.assignment import Assignment

    return Assignment.load(assignment, root).grader.corpus()


def solution_path(assignment: str, root: Path = ROOT) -> Path:
    return root / "solutions" / assignment / f"{assignment}.ipynb"


def release_path(assignment: str, root: Path = ROOT) -> Path:
    return root / "assignments" / assignment / f"{assignment}.ipynb"


def solved_cells(assignment: str, root: Path = ROOT) -> dict[str, str]:
    """The reference answers as a student would type them: the solution without its markers.

    Written answers (markdown cells) get the rubric's text, so nbgrader asks a human to grade them.
    """
    nb = nbformat.read(solution_path(assignment, root), as_version=4)
    answers = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            lines = [ln for ln in cell.source.splitlines()
                     if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
            answers[meta["grade_id"]] = "\n".join(lines)
    return answers


def submission(assignment: str, cells: dict[str, str] | None = None, root: Path = ROOT):
    """The released notebook, answered with the reference except for ``cells``."""
    cells = {**solved_cells(assignment, root), **(cells or {})}
    nb = nbformat.read(release_path(assignment, root), as_version=4)
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
