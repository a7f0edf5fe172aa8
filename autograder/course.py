"""The nbgrader course: finding its root, reading its configuration, running nbgrader's commands.

Every command finds the course the same way (``find_course_root``) and runs nbgrader the same
way (``nbgrader``). We call the ``nbgrader`` command rather than ``NbGraderAPI`` because the
command reads ``nbgrader_config.py`` (the API does not) and finds ``alembic`` on PATH for a new
gradebook; where nbgrader runs in-process (the batch), ``load_config`` reads the configuration
with traitlets' own loader and ``tools_on_path`` puts ``alembic`` within reach.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

CONFIG_FILE = "nbgrader_config.py"
KIT_COURSE = Path(__file__).resolve().parents[1]  # the kit's own course: its two assignments


class CourseError(Exception):
    """The course cannot be graded as set up (no config, no gradebook, no release)."""


def find_course_root(start: Path | None = None, default: Path | None = KIT_COURSE) -> Path | None:
    """The nearest folder upwards holding ``nbgrader_config.py`` and ``solutions/``, else ``default``
    (the kit's own course; None for the commands that must run in a real one)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).exists() and (folder / "solutions").is_dir():
            return folder
    return default


def load_config(root: Path) -> Config:
    if not (root / CONFIG_FILE).exists():
        raise CourseError(f"{root} has no {CONFIG_FILE}: run this in the course root (or pass --course)")
    config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    return config


def tool_environment() -> dict[str, str]:
    """This environment with its ``bin`` (nbgrader, alembic) first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    return {**os.environ, "PATH": path if bin_dir in path.split(os.pathsep) else bin_dir + os.pathsep + path}


def tools_on_path() -> None:
    """nbgrader shells out to ``alembic`` for a new gradebook: this environment's bin must be on PATH."""
    os.environ["PATH"] = tool_environment()["PATH"]


def nbgrader(args: list[str], course: Path | None = None, check: bool = True, quiet: bool = False,
             background: bool = False) -> subprocess.CompletedProcess | subprocess.Popen:
    """Run ``nbgrader ARGS`` in the course root (``background``: start it and return at once)."""
    root = course or find_course_root()
    command = [sys.executable, "-m", "nbgrader", *args]
    if background:
        return subprocess.Popen(command, cwd=root, env=tool_environment(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, cwd=root, env=tool_environment(), check=check, capture_output=quiet, text=True)


def release(assignment: str, course: Path | None = None) -> int:
    """Generate ``assignments/NAME`` (stubs, hidden tests stripped) from ``solutions/NAME``, after
    writing the hidden checks' names into the source's "Where do I stand?" cell."""
    from autograder.assignment import Assignment
    from autograder.standing import refresh

    if refresh(Assignment.load(assignment, course or find_course_root())):
        print(f"solutions/{assignment}: the hidden checks' names were updated from the suite", file=sys.stderr)
    return nbgrader(["generate_assignment", assignment, "--force"], course, check=False).returncode
