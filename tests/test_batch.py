"""``autograder autograde``: a class graded in parallel into nbgrader's gradebook.

One batch of seven submissions, with a crashing one, an unreadable one and a damaged one in
the middle, is graded once through the command a TA runs; the tests then read what it left.
"""

from __future__ import annotations

import csv
import shutil

import nbformat
import pytest

from autograder.corpus import cases
from tests.batch_helpers import (
    ASSIGNMENT,
    answered,
    assert_gradebook_matches_results,
    autograde,
    hand_in,
    results,
    sqlite_url,
    stored,
    with_outputs,
)
from tests.course_helpers import make_course, run

WRONG = cases("linreg_scratch").WRONG

pytestmark = pytest.mark.slow

WRONG_SGD = {c.name: c for c in WRONG}["sgd does not divide by batch_size"].cells
WRONG_ITER = {c.name: c for c in WRONG}["data_iter drops the last batch"].cells
CRASH = {"sgd": "import os\n\ndef sgd(params, lr, batch_size):\n    os._exit(3)\n"}


def damaged_metadata() -> nbformat.NotebookNode:
    """A grade cell whose nbgrader metadata lost its points: nbgrader cannot check this notebook."""
    nb = answered()
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "check_sgd")
    del cell.metadata.nbgrader["points"]
    return nb


def without_grade_cell() -> nbformat.NotebookNode:
    """The student deleted the training check: nbgrader asks a human for that grade."""
    nb = answered()
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "check_training"]
    return nb


STUDENTS = {
    "ada": with_outputs(),
    "ben": answered(WRONG_SGD),
    "cyd": answered(CRASH),  # kills the process running their code
    "dee": '{"cells": [',  # not a notebook any more
    "eve": damaged_metadata(),
    "fay": answered(WRONG_ITER),
    "gus": without_grade_cell(),
    "hal": answered(),  # and a second copy beside it, "linreg_scratch (1).ipynb"
    "ivy": answered(),  # under another name only, "Linreg final.ipynb"
}
ODD_NAMES = {"hal": f"{ASSIGNMENT} (1).ipynb", "ivy": "Linreg final.ipynb"}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    course = make_course(folder, [ASSIGNMENT])
    run(["generate_assignment", ASSIGNMENT, "--force"], course)
    for student, nb in STUDENTS.items():
        path = hand_in(course, student, nb)
        if student in ODD_NAMES:
            shutil.copy(path, path.with_name(ODD_NAMES[student]))
    (course / "submitted" / "ivy" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").unlink()
    proc = autograde(course, "--jobs", "2")
    return course, proc


def test_every_submission_is_graded_and_the_exit_status_asks_for_a_human(batch):
    course, proc = batch
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert "graded 9" in proc.stdout and "needs a human: 5 of 9" in proc.stdout
    flagged = proc.stdout.split("needs a human (", 1)[1]
    assert {line.split(":")[0].strip() for line in flagged.splitlines()[1:]} == {"dee", "eve", "gus", "hal", "ivy"}
    assert "worth a look" in proc.stdout and "cyd" in proc.stdout.split("worth a look", 1)[1]  # os._exit
    for student in STUDENTS:
        assert results(course, student)["max_score"] == 100


def test_gradebook_matches_results_json_for_every_student(batch):
    course, _ = batch
    gradebook = stored(sqlite_url(course))
    assert set(gradebook) == set(STUDENTS)
    assert_gradebook_matches_results(gradebook, course, [s for s in STUDENTS if s != "gus"])
    assert results(course, "ada")["score"] == 100
    assert 0 < results(course, "ben")["score"] < 100


def test_written_answers_wait_for_formgrader_and_code_is_graded(batch):
    course, _ = batch
    grades = stored(sqlite_url(course))["ada"]["grades"]
    assert sorted(n for n, (_, manual) in grades.items() if manual) == [f"exercise_{x}" for x in "abcd"]
    assert all(score is None for n, (score, _) in grades.items() if n.startswith("exercise"))


def test_a_crashing_submission_loses_only_what_crashed(batch):
    course, _ = batch
    parts = {}
    for test in results(course, "cyd")["tests"]:
        parts[test["tags"][0]] = parts.get(test["tags"][0], 0) + test["score"]
    assert parts["sgd"] == 0
    assert parts["synthetic_data"] == 15 and parts["linreg"] == 15 and parts["squared_loss"] == 15
    assert (course / "autograded" / "cyd" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()


def test_broken_submissions_get_a_zero_and_a_reason(batch):
    course, proc = batch
    dee = results(course, "dee")
    assert dee["score"] == 0 and "not valid JSON" in dee["output"]
    assert "nbgrader could not read" in results(course, "eve")["extra_data"]["batch"]["problem"]
    assert "check_training" in results(course, "gus")["extra_data"]["batch"]["problem"]
    assert not (course / "autograded" / "dee").exists()  # as nbgrader: nothing to show in formgrader
    gradebook = stored(sqlite_url(course))
    assert all(score == 0 and not manual for score, manual in gradebook["dee"]["grades"].values())
    assert gradebook["gus"]["grades"]["check_training"] == (None, True)  # formgrader asks for it
    report = (course / "reports" / ASSIGNMENT / "report.html").read_text()
    for student in ("dee", "eve", "gus", "hal", "ivy"):
        assert f">{student}</a></td><td><code>" in report
    assert report.count("</a></td><td><code>") == 5  # the same count as the CLI's and the exit status


def test_odd_folders_get_one_message_naming_what_was_found(batch):
    course, _ = batch
    hal = results(course, "hal")
    assert hal["score"] == 100  # the right notebook was graded
    assert hal["extra_data"]["batch"]["problem"] == (
        f"expected {ASSIGNMENT}.ipynb, also found {ASSIGNMENT} (1).ipynb: graded {ASSIGNMENT}.ipynb only; "
        "check which notebook the student meant")
    ivy = results(course, "ivy")
    assert ivy["score"] == 0
    problem = ivy["extra_data"]["batch"]["problem"]
    assert problem.startswith(f"{ASSIGNMENT}.ipynb was not handed in: expected {ASSIGNMENT}.ipynb, "
                              "found Linreg final.ipynb")
    page = (course / "reports" / ASSIGNMENT / "students" / "ivy" / "feedback.html").read_text()
    assert page.count("Linreg final.ipynb") == 1 and page.count("cannot read") == 0
    report = (course / "reports" / ASSIGNMENT / "report.html").read_text()
    assert report.count("Linreg final.ipynb") == 1


def test_formgrader_gets_the_students_plot_and_the_rubric(batch):
    course, _ = batch
    nb = nbformat.read(course / "autograded" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    index = ids.index("exercise_d")
    plot_cell = next(c for c in reversed(nb.cells[:index]) if c.cell_type == "code")
    kinds = [(o.output_type, sorted(o.get("data", {}))) for o in plot_cell.outputs]
    assert kinds == [("stream", []), ("stream", []), ("display_data", ["image/png"]), ("stream", [])]
    assert "the student's own output" in plot_cell.outputs[0].text and plot_cell.execution_count == 41
    assert "<script>" not in nbformat.writes(nb)  # HTML from the submission is never kept
    check = nb.cells[ids.index("check_sgd")]
    assert [o.output_type for o in check.outputs] == ["stream", "execute_result"]  # the engine's, not the 20.0
    assert "sgd: 20/20" in check.outputs[0].text
    rubric = nb.cells[index + 1]
    assert rubric.cell_type == "markdown" and rubric.source.startswith("**Rubric for `exercise_d`**")
    assert "A plot with one loss curve per learning rate" in rubric.source
    assert results(course, "ada")["score"] == 100
    release = (course / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    assert "Rubric" not in release and "one loss curve per learning rate" not in release


def test_class_report_lists_common_failures_and_charts(batch):
    course, _ = batch
    reports = course / "reports" / ASSIGNMENT
    with open(reports / "grades.csv") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(STUDENTS)
    assert rows["ada"]["autograded (out of 100)"] == "100.0" and rows["ada"]["needs_human"] == "no"
    assert rows["dee"]["needs_human"] == "yes" and "JSON" in rows["dee"]["reason"]
    assert float(rows["ben"]["sgd (out of 20)"]) < 20
    for png in ("scores.png", "pass_rates.png"):
        assert (reports / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (reports / "report.html").read_text()
    assert "Failures by cause" in report and "divide by batch_size" in report


def test_feedback_page_has_hints_and_no_hidden_suite(batch):
    course, _ = batch
    page = (course / "reports" / ASSIGNMENT / "students" / "ben" / "feedback.html").read_text()
    assert "divide by batch_size" in page and "FAIL" in page
    assert "def test_" not in page and "student.probe" not in page
    dee = (course / "reports" / ASSIGNMENT / "students" / "dee" / "feedback.html").read_text()
    assert "not valid JSON" in dee


def test_nbgrader_export_and_feedback_show_the_engines_grades(batch):
    course, _ = batch
    export = course / "export.csv"
    run(["export", "--to", str(export)], course)
    with open(export) as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    for student in ("ada", "ben", "cyd", "dee", "fay"):
        assert float(rows[student]["raw_score"]) == pytest.approx(results(course, student)["score"]), student
        assert float(rows[student]["max_score"]) == 120  # + 20 for the written answers
    run(["generate_feedback", ASSIGNMENT], course)
    html = (course / "feedback" / "ben" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "divide by batch_size" in html


def test_second_run_skips_what_is_stored_and_regrades_what_changed(batch, tmp_path):
    course = shutil.copytree(batch[0], tmp_path / "course")  # leave the module's course as it was
    proc = autograde(course)
    assert "graded 0, already graded 9" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert proc.returncode == 1  # the broken ones still need a human
    hand_in(course, "ben", answered())  # ben hands in a fixed notebook
    hand_in(course, "dee", answered())  # and dee a readable one
    proc = autograde(course)
    assert "graded 2, already graded 7" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert results(course, "ben")["score"] == 100 and results(course, "dee")["score"] == 100
    assert_gradebook_matches_results(stored(sqlite_url(course)), course, ["ben", "dee"])
    proc = autograde(course, "--force", "--student", "a*")
    assert "graded 1, already graded 0" in proc.stdout, proc.stdout
    with open(course / "reports" / ASSIGNMENT / "grades.csv") as f:  # still the whole class
        assert {row["student_id"] for row in csv.DictReader(f)} == set(STUDENTS)
    assert "needs a human: 4 of 9" in proc.stdout  # eve, gus, hal and ivy, as before


def test_a_reset_gradebook_is_filled_again(batch, tmp_path):
    course = shutil.copytree(batch[0], tmp_path / "course")
    (course / "gradebook.db").unlink()
    run(["generate_assignment", ASSIGNMENT, "--force"], course)
    proc = autograde(course, "--student", "[ab]*")
    assert "graded 2" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert_gradebook_matches_results(stored(sqlite_url(course)), course, ["ada", "ben"])


def test_cannot_start_without_a_released_assignment(tmp_path):
    course = make_course(tmp_path, [ASSIGNMENT])
    hand_in(course, "ada", answered())
    proc = autograde(course)
    assert proc.returncode == 2
    assert "generate" in proc.stderr
