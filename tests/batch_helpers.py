"""Running ``autograder autograde`` in a throw-away course, and reading back what it stored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from autograder.corpus import submission, write

ASSIGNMENT = "linreg_scratch"
AUTOGRADE = [sys.executable, "-m", "autograder.cli", "autograde", ASSIGNMENT, "--no-progress"]


def autograde(course: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*AUTOGRADE, *args], cwd=course, capture_output=True, text=True, timeout=timeout)


def hand_in(course: Path, student: str, nb_or_text) -> Path:
    """A submission in nbgrader's submitted/ layout: a notebook, or raw text for a broken file."""
    path = course / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    if isinstance(nb_or_text, str):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(nb_or_text)
        return path
    return write(nb_or_text, path)


def answered(cells: dict[str, str] | None = None) -> nbformat.NotebookNode:
    return submission(ASSIGNMENT, cells)


def results(course: Path, student: str) -> dict:
    return json.loads((course / "reports" / ASSIGNMENT / "students" / student / "results.json").read_text())


def stored(db_url: str, course_id: str = "d2l") -> dict[str, dict]:
    """Per student: what nbgrader's gradebook holds for the submission."""
    out = {}
    with Gradebook(db_url, course_id) as gb:
        for sub in gb.find_assignment(ASSIGNMENT).submissions:
            nb = sub.notebooks[0]
            out[sub.student.id] = {
                "timestamp": str(sub.timestamp), "late_penalty": nb.late_submission_penalty,
                "grades": {g.name: (g.auto_score, g.needs_manual_grade) for g in nb.grades},
                "comments": {c.name: c.auto_comment for c in nb.comments},
            }
    return out


def sqlite_url(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


def assert_gradebook_matches_results(gradebook: dict[str, dict], course: Path, students: list[str]) -> None:
    """Each code grade cell ``check_<part>`` holds that part's points from results.json."""
    for student in students:
        result = results(course, student)
        parts: dict[str, float] = {}
        for test in result["tests"]:
            parts[test["tags"][0]] = parts.get(test["tags"][0], 0.0) + test["score"]
        grades = gradebook[student]["grades"]
        code = {name.removeprefix("check_"): score for name, (score, _) in grades.items() if name.startswith("check_")}
        assert code == parts, student
        assert sum(code.values()) == result["score"], student


def png_of_a_plot() -> str:
    """A real PNG (a line plot), base64, as Jupyter stores one in a notebook."""
    import base64
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    fig.subplots().plot([1, 2, 3], [3, 1, 2])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def with_outputs() -> nbformat.NotebookNode:
    """The right code, the student's own written answers, saved with outputs: a plot under
    exercise (d), HTML with a script, and a forged score in a grade cell, which must not survive."""
    nb = answered()
    for cell in nb.cells:  # the student's own words, not the source's rubric that answered() fills in
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id.startswith("exercise_"):
            cell.source = f"My answer to ({grade_id[-1]}): the loss falls slowly, then fast, then blows up."
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "exercise_d")
    plot_cell = next(c for c in reversed(nb.cells[:index]) if c.cell_type == "code")
    plot_cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="lr 0.03: loss 5e-05\n"),
                         nbformat.v4.new_output("display_data", data={"image/png": png_of_a_plot(),
                                                                      "text/plain": "<Figure>"}),
                         nbformat.v4.new_output("display_data", data={"text/html": "<script>alert(1)</script>"})]
    plot_cell.execution_count = 41
    check = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "check_sgd")
    check.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "20.0"}, execution_count=1)]
    return nb
