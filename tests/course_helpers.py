"""A throw-away nbgrader course in a temporary folder, graded by the kit's engine."""

from __future__ import annotations

import shutil
from pathlib import Path

from autograder.corpus import ROOT
from autograder.course import nbgrader

CONFIG = '''
from pathlib import Path

from autograder.nbgrader_plugin import configure

c = get_config()  # noqa: F821
configure(c, Path(__file__).resolve().parent)
c.CourseDirectory.course_id = "d2l"
c.Exchange.root = {exchange!r}
'''


def make_course(folder: Path, assignments: list[str]) -> Path:
    """A course root with the given assignments' sources and an exchange beside it."""
    course = folder / "course"
    (folder / "exchange").mkdir(parents=True)
    for name in assignments:
        shutil.copytree(ROOT / "solutions" / name, course / "solutions" / name)
    (course / "nbgrader_config.py").write_text(CONFIG.format(exchange=str(folder / "exchange")))
    return course


def run(args: list[str], cwd: Path) -> str:
    proc = nbgrader(args, cwd, check=False, quiet=True)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr
