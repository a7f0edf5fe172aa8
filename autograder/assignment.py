"""An assignment of the course: its nbgrader source, problem parameters and assignment folder.

The parameters live in ``solutions/<name>/assignment.json`` so that a variant is a new
folder with new numbers, and the suites read them instead of carrying literals. Its
``"grader"`` names the assignment folder that grades it (``graders/<grader>/``, see
``autograder.graders``): a variant's is its base's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder import graders
from autograder.graders import GraderFolder
from autograder.notebook import answer_cells, cell_by_grade_id, grade_cell_part, read_notebook

PACKAGE_DIR = Path(__file__).resolve().parent
SETUP_GRADE_ID = "setup"


class AssignmentError(Exception):
    """The course has no such assignment, or its files are inconsistent."""


def find_course_root(start: Path | None = None) -> Path:
    """The nearest folder upwards holding ``nbgrader_config.py``, else the kit's own course."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").exists() and (folder / "solutions").is_dir():
            return folder
    return PACKAGE_DIR.parent


@dataclass(frozen=True)
class Assignment:
    name: str
    course_root: Path
    grader: GraderFolder
    params: dict[str, Any]

    @classmethod
    def load(cls, name: str, course_root: Path | None = None) -> Assignment:
        root = course_root or find_course_root()
        config = root / "solutions" / name / "assignment.json"
        if not config.exists():
            known = ", ".join(list_assignments(root)) or "none"
            raise AssignmentError(f"no assignment {name!r} in {root} (known: {known})")
        data = json.loads(config.read_text())
        try:
            grader = graders.find(data.get("grader", name), root)
        except graders.GraderError as exc:
            raise AssignmentError(f"assignment {name!r}: {exc}") from None
        return cls(name=name, course_root=root, grader=grader, params=data.get("params", {}))

    @property
    def source_notebook(self) -> Path:
        return self.course_root / "solutions" / self.name / f"{self.name}.ipynb"

    @property
    def suite_dir(self) -> Path:
        return self.grader.suite_dir

    def setup_code(self) -> str:
        """The locked set-up cell, taken from the instructor's source, never from a submission."""
        cell = cell_by_grade_id(read_notebook(self.source_notebook), SETUP_GRADE_ID)
        if cell is None:
            raise AssignmentError(f"{self.source_notebook} has no cell with grade_id 'setup'")
        return cell.source

    def parts(self) -> list[str]:
        """The graded parts, in the order the notebook presents them."""
        return [part for cell in read_notebook(self.source_notebook).cells
                if (part := grade_cell_part(cell)) and cell.get("metadata", {}).get("nbgrader", {}).get("grade")]

    def solution_cells(self) -> list[tuple[str, str]]:
        return [(c.grade_id, c.source) for c in answer_cells(read_notebook(self.source_notebook))]


def list_assignments(course_root: Path) -> list[str]:
    solutions = course_root / "solutions"
    if not solutions.is_dir():
        return []
    return sorted(p.parent.name for p in solutions.glob("*/assignment.json"))
