"""The submissions of an assignment, as nbgrader's collect or zip_collect left them.

Paths come from nbgrader's own ``CourseDirectory`` (with the course's configuration, see
``autograder.course.load_config``), so a course that renames its folders just works.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Submission:
    """One student's folder in ``submitted/``, as nbgrader's collect or zip_collect left it."""

    student: str
    folder: Path
    timestamp: datetime | None

    def digest(self) -> str:
        """Changes when any file of the submission changes (notebooks, timestamp, extra files)."""
        h = hashlib.sha256()
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
            h.update(str(path.relative_to(self.folder)).encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
        return h.hexdigest()


def find_submissions(coursedir, assignment: str, pattern: str = "*") -> list[Submission]:
    """Student folders holding this assignment, sorted; ``pattern`` is a glob on student ids."""
    base = Path(coursedir.format_path(coursedir.submitted_directory, ".", ".")).resolve()
    excluded = {s for s in coursedir.student_id_exclude.split(",") if s}
    found = []
    if not base.is_dir():
        return found
    for student_dir in sorted(base.iterdir()):
        folder = student_dir / assignment
        student = student_dir.name
        if not folder.is_dir() or student in excluded or not fnmatch.fnmatchcase(student, pattern):
            continue
        found.append(Submission(student, folder, coursedir.get_existing_timestamp(str(folder))))
    return found


def missing_notebook(path: Path) -> str:
    """One message for a notebook that is not where nbgrader expects it: what was found instead."""
    found = sorted(p.name for p in path.parent.glob("*.ipynb")) if path.parent.is_dir() else []
    if not found:
        return f"{path.name} was not handed in: expected {path.name}, found no notebook in the submission"
    return (f"{path.name} was not handed in: expected {path.name}, found {', '.join(found)} (not graded: "
            f"rename it to {path.name} in submitted/ and grade again, or collect with "
            "autograder.collect.AssignmentNotebookCollector)")


def extra_notebooks(folder: Path, notebooks: tuple[str, ...] | list[str]) -> str | None:
    """Notebooks beside the expected ones: only the expected ones were graded; a human checks which
    one the student meant (``hw1 (1).ipynb`` may be the later version)."""
    expected = {f"{name}.ipynb" for name in notebooks}
    extra = sorted(p.name for p in folder.glob("*.ipynb") if p.name not in expected)
    present = sorted(name for name in expected if (folder / name).exists())
    if not extra or not present:
        return None  # a missing notebook has its own message
    return (f"expected {', '.join(present)}, also found {', '.join(extra)}: graded {', '.join(present)} only; "
            "check which notebook the student meant")
