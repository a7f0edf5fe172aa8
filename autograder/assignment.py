"""An assignment of the course: its nbgrader source, problem parameters and assignment folder.

The parameters live in ``solutions/<name>/assignment.json`` so that a variant is a new
folder with new numbers, and the suites read them instead of carrying literals. Its
``"grader"`` names the assignment folder that grades it (``graders/<grader>/``, see
``autograder.graders``): a variant's is its base's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder import graders
from autograder.course import find_course_root
from autograder.graders import GraderFolder

# ``autograder.notebook`` (nbformat, about 0.1 s) is imported in the methods that read the notebook:
# ``autograder autograde`` loads the assignment to start the fork server, before anything heavy.
PACKAGE_DIR = Path(__file__).resolve().parent
SETUP_GRADE_ID = "setup"


class AssignmentError(Exception):
    """The course has no such assignment, or its files are inconsistent."""


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
        from autograder.notebook import cell_by_grade_id, read_source_notebook

        cell = cell_by_grade_id(read_source_notebook(self.source_notebook), SETUP_GRADE_ID)
        if cell is None:
            raise AssignmentError(f"{self.source_notebook} has no cell with grade_id 'setup'")
        return cell.source

    def parts(self) -> list[str]:
        """The graded parts, in the order the notebook presents them."""
        from autograder.notebook import grade_cell_part, read_source_notebook

        return [part for cell in read_source_notebook(self.source_notebook).cells
                if (part := grade_cell_part(cell)) and cell.get("metadata", {}).get("nbgrader", {}).get("grade")]

    def solution_cells(self) -> list[tuple[str, str]]:
        from autograder.notebook import answer_cells, read_source_notebook

        return [(c.grade_id, c.source) for c in answer_cells(read_source_notebook(self.source_notebook))]

    def digest(self) -> str:
        """Changes when what decides a grade changes (a stored grade is redone then): the assignment
        folder's suite, probes and hints, the kit's helpers they use and its engine, the parameters
        and the source notebook."""
        h = hashlib.sha256()
        kit = [PACKAGE_DIR / "checks.py", PACKAGE_DIR / "probes.py", PACKAGE_DIR / "results.py",
               *sorted((PACKAGE_DIR / "engine").glob("*.py"))]
        files = [*self.grader.grading_files(), *kit, self.source_notebook,
                 self.source_notebook.parent / "assignment.json"]
        for path in files:
            if path.exists():
                h.update(str(path.relative_to(path.parents[1])).encode() + b"\0" + path.read_bytes())
        return h.hexdigest()


def list_assignments(course_root: Path) -> list[str]:
    solutions = course_root / "solutions"
    if not solutions.is_dir():
        return []
    return sorted(p.parent.name for p in solutions.glob("*/assignment.json"))
