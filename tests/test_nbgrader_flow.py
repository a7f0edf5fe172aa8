"""The whole nbgrader flow in a temporary course, graded by the engine.

generate, release, fetch, submit, collect (through an exchange folder), autograde,
feedback, export: the grades in the CSV are the engine's.
"""

import csv
import json

import nbformat
import pytest

from autograder.corpus import cases, submission, write
from tests.conftest import grade
from tests.course_helpers import make_course, run

WRONG = cases("linreg_scratch").WRONG

ASSIGNMENT = "linreg_scratch"
STUDENTS = {
    "ada": {},  # the reference answers
    "cyd": {c.name: c for c in WRONG}["sgd does not divide by batch_size"].cells,
    "fay": {"sgd": "def sgd(params, lr, batch_size)\n    pass\n"},  # a syntax error
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flow")
    course = make_course(folder, [ASSIGNMENT])
    run(["generate_assignment", ASSIGNMENT, "--force"], course)
    run(["release_assignment", ASSIGNMENT], course)
    for student, cells in STUDENTS.items():
        home = folder / "students" / student
        home.mkdir(parents=True)
        (home / "nbgrader_config.py").write_text(
            f"c = get_config()\nc.CourseDirectory.course_id = 'd2l'\nc.Exchange.root = {str(folder / 'exchange')!r}\n")
        run(["fetch_assignment", ASSIGNMENT], home)
        fetched = home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        assert fetched.exists()
        answered = submission(ASSIGNMENT, cells)
        released = nbformat.read(fetched, as_version=4)
        assert [c.source for c in released.cells if not c.metadata.get("nbgrader", {}).get("solution")] == \
               [c.source for c in answered.cells if not c.metadata.get("nbgrader", {}).get("solution")]
        write(answered, fetched)
        run(["submit", ASSIGNMENT, f"--student={student}"], home)
    run(["collect", ASSIGNMENT], course)
    run(["autograde", ASSIGNMENT], course)
    run(["generate_feedback", ASSIGNMENT], course)
    run(["export", "--to", str(course / "grades.csv")], course)
    return course


def test_every_submission_was_collected_and_autograded(course):
    for student in STUDENTS:
        assert (course / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()
        assert (course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()


def test_exported_grades_are_the_engines(course):
    with open(course / "grades.csv") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(STUDENTS)
    paths = [course / "submitted" / s / ASSIGNMENT / f"{ASSIGNMENT}.ipynb" for s in STUDENTS]
    results = grade(paths, "--course", str(course))
    for student, result in zip(STUDENTS, results, strict=True):
        assert float(rows[student]["raw_score"]) == pytest.approx(result["score"]), student
        # 100 autograded points plus 20 for the four written answers, graded by hand
        assert float(rows[student]["max_score"]) == pytest.approx(120)
    assert float(rows["ada"]["raw_score"]) == 100
    assert 0 < float(rows["cyd"]["raw_score"]) < 100
    assert float(rows["fay"]["raw_score"]) < float(rows["cyd"]["raw_score"])


def test_autograded_grade_cells_hold_the_report_and_no_stderr(course):
    nb = nbformat.read(course / "autograded" / "cyd" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    assert len(graded) == 6
    for cell in graded:
        kinds = [(o.output_type, o.get("name")) for o in cell.outputs]
        assert kinds == [("stream", "stdout"), ("execute_result", None)]
        points = float(cell.outputs[1].data["text/plain"])
        assert 0 <= points <= cell.metadata.nbgrader.points
    sgd = next(c for c in graded if c.metadata.nbgrader.grade_id == "check_sgd")
    assert "divide by batch_size" in sgd.outputs[0].text


def test_feedback_shows_hints_and_no_hidden_suite(course):
    html = (course / "feedback" / "cyd" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "divide by batch_size" in html
    assert "def test_" not in html and "student.probe" not in html


def test_syntax_error_is_reported_with_the_students_line(course):
    nb = nbformat.read(course / "autograded" / "fay" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    sgd = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "check_sgd")
    report = sgd.outputs[0].text
    assert "SyntaxError" in report and "'sgd'" in report
    assert json.loads(json.dumps(float(sgd.outputs[1].data["text/plain"]))) == 0


def test_written_answers_wait_for_manual_grading(course):
    """formgrader lists the four written answers; the code parts are already graded."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "cyd")
        manual = sorted(g.name for g in nb.grades if g.needs_manual_grade)
        auto = {g.name: g.auto_score for g in nb.grades if not g.needs_manual_grade}
    assert manual == ["exercise_a", "exercise_b", "exercise_c", "exercise_d"]
    assert auto["check_sgd"] == 12 and auto["check_linreg"] == 15
