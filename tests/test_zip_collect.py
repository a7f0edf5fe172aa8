"""From an LMS download to grades: ``nbgrader zip_collect``, then ``autograder autograde``.

The archive is what Blackboard-style LMSs hand out: one file per attempt, named
``<assignment>_<student>_attempt_<time>_<file>``. One student submitted twice, the second
time after the due date; one file was renamed on the way; an LMS text file rides along.
"""

from __future__ import annotations

import csv
import zipfile

import nbformat
import pytest

from autograder.corpus import cases, release_path
from tests.batch_helpers import (
    ASSIGNMENT,
    answered,
    assert_gradebook_matches_results,
    autograde,
    results,
    sqlite_url,
    stored,
)
from tests.course_helpers import make_course, run

WRONG = cases("linreg_scratch").WRONG

pytestmark = pytest.mark.slow

LMS_CONFIG = r'''
c.ZipCollectApp.collector_plugin = "autograder.collect.AssignmentNotebookCollector"
c.FileNameCollectorPlugin.named_regexp = r".+_(?P<student_id>\w+)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>.+)"
c.LateSubmissionPlugin.penalty_method = "zero"
'''
WRONG_CASES = {c.name: c.cells for c in WRONG}


def attempt(student: str, when: str, name: str) -> str:
    return f"{ASSIGNMENT}_{student}_attempt_{when}_{name}"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("lms"), [ASSIGNMENT])
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(LMS_CONFIG)
    run(["generate_assignment", ASSIGNMENT, "--force"], course)
    run(["db", "assignment", "add", ASSIGNMENT, "--duedate=2026-01-15 12:00:00 UTC"], course)
    files = {
        attempt("ada", "2026-01-14-09-30-00", f"{ASSIGNMENT}.ipynb"): answered(),
        attempt("ben", "2026-01-14-10-00-00", f"{ASSIGNMENT}.ipynb"): nbformat.read(release_path(ASSIGNMENT), 4),
        attempt("ben", "2026-01-16-08-00-00", f"{ASSIGNMENT}.ipynb"): answered(),  # late, and the one graded
        attempt("cyd", "2026-01-14-11-00-00", "Linreg Scratch – final (1).ipynb"):
            answered(WRONG_CASES["sgd does not divide by batch_size"]),
        attempt("dee", "2026-01-14-12-00-00", f"{ASSIGNMENT}.ipynb"): answered(WRONG_CASES["data_iter not shuffled"]),
        attempt("dee", "2026-01-14-12-00-00", "comments.txt"): "Submitted via the LMS.",
        attempt("dan", "2026-01-15-12-50-00", f"{ASSIGNMENT}.ipynb"): answered(),  # 50 minutes late
        attempt("eli", "2026-01-15-11-59-59", f"{ASSIGNMENT}.ipynb"): answered(),  # one second early
    }
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "gradebook_export.zip", "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content if isinstance(content, str) else nbformat.writes(content))
    run(["zip_collect", ASSIGNMENT], course)
    proc = autograde(course)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return course


def test_every_student_in_the_zip_is_graded(course):
    assert {p.name for p in (course / "submitted").iterdir()} == {"ada", "ben", "cyd", "dee", "dan", "eli"}
    assert results(course, "ada")["score"] == 100
    assert 0 < results(course, "dee")["score"] < 100
    assert_gradebook_matches_results(stored(sqlite_url(course)), course, ["ada", "ben", "cyd", "dee"])


def test_the_oddly_named_file_is_graded_as_the_assignment(course):
    assert (course / "submitted" / "cyd" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()
    cyd = results(course, "cyd")
    assert 0 < cyd["score"] < 100
    assert any("divide by batch_size" in t["output"] for t in cyd["tests"])


def test_the_late_resubmission_is_graded_and_penalised(course):
    assert results(course, "ben")["score"] == 100  # the second attempt, not the untouched first
    gradebook = stored(sqlite_url(course))
    assert gradebook["ben"]["timestamp"].startswith("2026-01-16 08:00")
    assert gradebook["ben"]["late_penalty"] == 100  # penalty_method "zero" in this course
    assert gradebook["ada"]["late_penalty"] is None
    export = course / "grades.csv"
    run(["export", "--to", str(export)], course)
    with open(export) as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert float(rows["ben"]["raw_score"]) == 100 and float(rows["ben"]["score"]) == 0
    assert float(rows["ada"]["score"]) == 100


def test_lateness_is_right_to_the_second(course):
    """nbgrader alone reads 2026-01-15-12-50-00 as 12:00:00, on time; the kit's collector does not."""
    assert (course / "submitted" / "dan" / ASSIGNMENT / "timestamp.txt").read_text().startswith("2026-01-15 12:50:00")
    gradebook = stored(sqlite_url(course))
    assert gradebook["dan"]["timestamp"].startswith("2026-01-15 12:50:00")
    assert gradebook["dan"]["late_penalty"] == 100  # penalty_method "zero": 50 minutes late
    assert gradebook["eli"]["timestamp"].startswith("2026-01-15 11:59:59")
    assert gradebook["eli"]["late_penalty"] is None
    export = course / "grades_late.csv"
    run(["export", "--to", str(export)], course)
    with open(export) as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert float(rows["dan"]["raw_score"]) == 100 and float(rows["dan"]["score"]) == 0
    assert float(rows["eli"]["score"]) == 100
