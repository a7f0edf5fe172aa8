"""Course-level steps that nbgrader performs, run as nbgrader's own commands.

We call the ``nbgrader`` command rather than ``NbGraderAPI`` because the command reads
``nbgrader_config.py`` (the API does not) and finds ``alembic`` on PATH for a new gradebook.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from autograder.assignment import find_course_root


def nbgrader(args: list[str], course: Path | None = None, check: bool = True,
             quiet: bool = False) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course root with this environment's tools on PATH."""
    root = course or find_course_root()
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env,
                          check=check, capture_output=quiet, text=True)


def release(assignment: str, course: Path | None = None) -> int:
    """Generate ``assignments/NAME`` (stubs, hidden tests stripped) from ``solutions/NAME``, after
    writing the hidden checks' names into the source's "Where do I stand?" cell."""
    from autograder.assignment import Assignment
    from autograder.standing import refresh

    if refresh(Assignment.load(assignment, course or find_course_root())):
        print(f"solutions/{assignment}: the hidden checks' names were updated from the suite", file=sys.stderr)
    return nbgrader(["generate_assignment", assignment, "--force"], course, check=False).returncode
