"""The nbgrader course as the batch sees it: its configuration, folders and submissions.

nbgrader's ``NbGraderAPI`` does not read ``nbgrader_config.py``, so we load it ourselves with
traitlets' ``PyFileConfigLoader`` and ask nbgrader's own ``CourseDirectory`` for every path,
so a course that renames its folders or points ``db_url`` at PostgreSQL just works.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograder.assignment import Assignment

CONFIG_FILE = "nbgrader_config.py"


class CourseError(Exception):
    """The course cannot be batch-graded as set up (no config, no gradebook, no release)."""


def load_config(root: Path) -> Config:
    if not (root / CONFIG_FILE).exists():
        raise CourseError(f"{root} has no {CONFIG_FILE}: run this in the course root (or pass --course)")
    config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    return config


def tools_on_path() -> None:
    """nbgrader shells out to ``alembic`` for a new gradebook: this environment's bin must be on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


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


def grader_digest(assignment: Assignment) -> str:
    """Changes when what decides a grade changes: the assignment folder's suite, probes and hints,
    the kit's helpers they use and its engine, the parameters, the source."""
    from autograder.assignment import PACKAGE_DIR

    h = hashlib.sha256()
    kit = [PACKAGE_DIR / "checks.py", PACKAGE_DIR / "probes.py", PACKAGE_DIR / "results.py",
           *sorted((PACKAGE_DIR / "engine").glob("*.py"))]
    files = [*assignment.grader.grading_files(), *kit,
             assignment.source_notebook, assignment.source_notebook.parent / "assignment.json"]
    for path in files:
        if path.exists():
            h.update(str(path.relative_to(path.parents[1])).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()
