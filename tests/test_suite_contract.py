"""A malformed hidden suite is a grading error, never a silent short result (issue 10).

Broken copies of the real suite: a test without points, a test without a part tag, a file that
does not import, a part whose tests add up to other points than its grade cell. ``grade`` puts
the submission under "needs a human" and ``autograde`` refuses to start, naming the test or file.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.assignment import Assignment
from autograder.corpus import ROOT, solution_path
from autograder.engine.contract import check_suite_dir, grade_cell_points
from autograder.engine.suite_session import pytest_args
from tests.course_helpers import make_course

ASSIGNMENT = "linreg_scratch"
POINTS_MARK = "@pytest.mark.points(2)\ndef test_batch_size_larger_than_data"

BREAKAGES = {
    "no points": (POINTS_MARK, "def test_batch_size_larger_than_data", "test_batch_size_larger_than_data"),
    "no part tag": ('pytestmark = pytest.mark.tags("data_iter")\n', "", "test_batch_shapes"),
    "does not import": ("import numpy as np\n", "import numpy as np\nimport no_such_module_anywhere\n",
                        "test_data_iter.py"),
    "points differ from the grade cell": ("@pytest.mark.points(2)\ndef test_batch_size_larger_than_data",
                                          "@pytest.mark.points(3)\ndef test_batch_size_larger_than_data",
                                          "part data_iter: the suite's tests are worth 21 points"),
}


def broken_suite(folder: Path, name: str, breakage: str) -> Path:
    """A copy of the scratch assignment folder, as ``folder/name``, with one thing broken in its suite."""
    shutil.copytree(ROOT / "graders" / ASSIGNMENT, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    suite = folder / name / "suite"
    old, new, _ = BREAKAGES[breakage]
    path = suite / "test_data_iter.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return suite


def test_the_real_suites_keep_the_contract():
    for name in ("linreg_scratch", "linreg_concise"):
        asg = Assignment.load(name, ROOT)
        assert check_suite_dir(asg.suite_dir, grade_cell_points(asg.source_notebook), pytest_args(asg.suite_dir)) == []


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_suite_is_named(tmp_path, breakage):
    suite = broken_suite(tmp_path, f"broken_{list(BREAKAGES).index(breakage)}", breakage)
    problems = check_suite_dir(suite, grade_cell_points(solution_path(ASSIGNMENT)), pytest_args(suite))
    assert problems and any(BREAKAGES[breakage][2] in p for p in problems), problems


# The course's own assignment folder (graders/linreg_scratch) is broken: it is found before the kit's.
PATCHED = '''
import json, sys
from pathlib import Path
if sys.argv[2] == "grade":
    from autograder.engine.runner import grade_notebook
    from autograder.report import needs_human
    result = grade_notebook(sys.argv[3], "linreg_scratch", course_root=Path(sys.argv[1]), device="cpu")
    print(json.dumps({"errors": result["extra_data"]["grading_errors"], "needs_human": needs_human(result, None),
                      "tests": len(result["tests"])}))
else:
    from autograder.course import CourseError
    from autograder.batch.run import autograde
    try:
        autograde("linreg_scratch", course_root=Path(sys.argv[1]))
    except CourseError as exc:
        print(json.dumps({"refused": str(exc)}))
'''


def run_patched(course: Path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PATCHED, str(course), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_grade_reports_a_grading_error_and_needs_a_human(tmp_path):
    """A test without points used to make it and every later test vanish from the result."""
    course = make_course(tmp_path, [ASSIGNMENT])
    broken_suite(course / "graders", ASSIGNMENT, "no points")
    out = run_patched(course, "grade", str(solution_path(ASSIGNMENT)))
    assert out["tests"] == 0 and out["needs_human"]
    assert any("test_batch_size_larger_than_data" in e and "points" in e for e in out["errors"]), out


def test_autograde_refuses_to_start(tmp_path):
    course = make_course(tmp_path, [ASSIGNMENT])
    broken_suite(course / "graders", ASSIGNMENT, "does not import")
    out = run_patched(course, "autograde")
    assert "refused" in out and "test_data_iter.py" in out["refused"] and "does not import" in out["refused"]
