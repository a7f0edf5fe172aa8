"""The hidden suite's pytest session, kept per process and run again for each submission.

What must hold: a submission graded after others in the same session gets exactly the result a
fresh session gives it (nothing of an earlier run is set up for it), and a session that fails
is never used again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.assignment import Assignment
from autograder.corpus import ROOT, cases, submission, write
from autograder.engine import runner, suite_fixtures, suite_session
from autograder.engine.student import Student

ASSIGNMENT = "linreg_scratch"


def comparable(result: dict) -> list[tuple]:
    return [(t["name"], t["score"], t.get("status"), t["output"]) for t in result["tests"]]


def grade(path: Path) -> dict:
    return runner.grade_notebook(path, ASSIGNMENT, course_root=ROOT, device="cpu", student_id="s1")


@pytest.fixture
def notebooks(tmp_path) -> list[Path]:
    """A right answer, two wrong ones (one fails inside a session-scoped probe's part), a stub, the right one again."""
    corpus = cases(ASSIGNMENT)
    chosen = [None, corpus.WRONG[0].cells, corpus.WRONG[-1].cells, {"sgd": "def sgd(params, lr, batch_size):\n"
                                                                     "    raise NotImplementedError()"}, None]
    return [write(submission(ASSIGNMENT, cells), tmp_path / f"n{i}" / f"{ASSIGNMENT}.ipynb")
            for i, cells in enumerate(chosen)]


def test_a_kept_session_grades_each_submission_as_a_fresh_one_does(notebooks):
    suite_session._kept.clear()
    in_one_session = [grade(path) for path in notebooks]
    assert len(suite_session._kept) == 1  # one session graded them all
    fresh = []
    for path in notebooks:
        suite_session._kept.clear()
        fresh.append(grade(path))
    for kept, alone in zip(in_one_session, fresh, strict=True):
        assert comparable(kept) == comparable(alone)
        assert kept["score"] == alone["score"]
    assert in_one_session[0]["score"] == in_one_session[0]["max_score"] > in_one_session[1]["score"]
    assert in_one_session[-1]["score"] == in_one_session[0]["score"]
    assert in_one_session[3]["score"] < in_one_session[0]["score"]


def test_every_fixture_is_torn_down_after_each_submission(notebooks):
    grade(notebooks[0])
    (session,) = suite_session._kept.values()
    assert not session.session._setupstate.stack  # the session-scoped student included
    assert suite_fixtures.GRADING not in session.config.stash


def test_a_session_that_fails_mid_run_reports_it_and_is_not_used_again(notebooks, monkeypatch):
    grade(notebooks[0])
    (session,) = suite_session._kept.values()

    def broken(**kwargs):
        raise RuntimeError("a fault inside pytest")

    monkeypatch.setattr(session.config.hook, "pytest_runtestloop", broken)
    result = grade(notebooks[0])
    assert result["score"] == 0
    assert any("a fault inside pytest" in e for e in result["extra_data"]["grading_errors"])
    assert not session.usable
    again = grade(notebooks[0])
    assert again["score"] == again["max_score"]
    assert suite_session._kept and session not in suite_session._kept.values()


def test_a_suite_that_does_not_collect_is_a_grading_error_not_a_score(tmp_path):
    grader = shutil.copytree(ROOT / "graders" / ASSIGNMENT, tmp_path / "graders" / ASSIGNMENT)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, tmp_path / "solutions" / ASSIGNMENT)
    (grader / "suite" / "test_broken.py").write_text("raise ImportError('this suite file is broken')\n")
    asg = Assignment.load(ASSIGNMENT, tmp_path)
    with pytest.raises(suite_session.SuiteError, match="could not collect"):
        suite_session.SuiteSession(asg, None)
    grading = runner.run_suite(Student(setup="", cells=[]), asg, "cpu")
    assert grading.exit_code == int(pytest.ExitCode.INTERNAL_ERROR) and not grading.entries
    assert any("could not be set up" in e for e in grading.errors)
    assert grading.run_problems()
