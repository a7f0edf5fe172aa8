"""The batch stores exactly what ``nbgrader autograde`` (graded by the engine) stores, and Ctrl-C.

Twin courses get the same submissions, one graded by ``nbgrader autograde``, the other by
``autograder autograde``: the gradebooks (scores, manual-grading flags, comments, timestamps,
late penalties) and the autograded folders must be the same, byte for byte.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from autograder.corpus import cases
from tests.batch_helpers import (
    ASSIGNMENT,
    AUTOGRADE,
    answered,
    assert_gradebook_matches_results,
    autograde,
    hand_in,
    sqlite_url,
    stored,
)
from tests.course_helpers import make_course, run

WRONG = cases("linreg_scratch").WRONG

pytestmark = pytest.mark.slow

LATE_CONFIG = '\nc.LateSubmissionPlugin.penalty_method = "zero"\n'


def twin_courses(folder):
    courses = []
    for name in ("nbgrader", "batch"):
        course = make_course(folder / name, [ASSIGNMENT])
        with open(course / "nbgrader_config.py", "a") as f:
            f.write(LATE_CONFIG)
        run(["generate_assignment", ASSIGNMENT, "--force"], course)
        run(["db", "assignment", "add", ASSIGNMENT, "--duedate=2026-01-15 12:00:00 UTC"], course)
        hand_in(course, "ada", answered())
        (course / "submitted" / "ada" / ASSIGNMENT / "timestamp.txt").write_text("2026-01-14 09:30:00 UTC")
        hand_in(course, "ben", answered({c.name: c for c in WRONG}["sgd never clears the gradients"].cells))
        (course / "submitted" / "ben" / ASSIGNMENT / "timestamp.txt").write_text("2026-01-16 08:00:00 UTC")
        (course / "submitted" / "ben" / ASSIGNMENT / "notes.txt").write_text("a file of the student's own")
        hand_in(course, "cyd", answered({"sgd": "def sgd(params, lr, batch_size)\n    pass\n"}))
        courses.append(course)
    return courses


def tree(folder):
    return {str(p.relative_to(folder)): (p.read_bytes(), oct(p.stat().st_mode)) for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_batch_stores_what_nbgrader_autograde_stores(tmp_path):
    by_nbgrader, by_batch = twin_courses(tmp_path)
    run(["autograde", ASSIGNMENT], by_nbgrader)
    proc = autograde(by_batch)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    expected, got = stored(sqlite_url(by_nbgrader)), stored(sqlite_url(by_batch))
    assert got == expected
    assert got["ben"]["late_penalty"] > 0 and got["ada"]["late_penalty"] is None  # late: penalty "zero"
    assert tree(by_batch / "autograded") == tree(by_nbgrader / "autograded")


def test_ctrl_c_keeps_the_gradebook_consistent_and_the_next_run_finishes(tmp_path):
    course = make_course(tmp_path, [ASSIGNMENT])
    run(["generate_assignment", ASSIGNMENT, "--force"], course)
    students = [f"s{i}" for i in range(6)]
    for student in students:
        hand_in(course, student, answered())
    proc = subprocess.Popen([*AUTOGRADE, "--jobs", "1"], cwd=course, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    reports = course / "reports" / ASSIGNMENT / "students"
    deadline = time.monotonic() + 600
    while not list(reports.glob("*/results.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole process group
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, out + err[-3000:]
    assert "interrupted" in out
    done = sorted(p.parent.name for p in reports.glob("*/results.json"))
    assert 1 <= len(done) < len(students)
    gradebook = stored(sqlite_url(course))
    assert sorted(gradebook) == done  # every stored submission complete, nothing half-written
    assert_gradebook_matches_results(gradebook, course, done)

    proc = autograde(course)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert f"graded {len(students) - len(done)}, already graded {len(done)}" in proc.stdout
    assert_gradebook_matches_results(stored(sqlite_url(course)), course, students)
    assert not any(p.name.startswith(".") for p in (course / "autograded").rglob("*"))  # no leftovers
    shutil.rmtree(course)
