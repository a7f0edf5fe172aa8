"""The student's outputs and the rubrics put in front of the TA (no grading: fast)."""

from __future__ import annotations

import base64

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from autograder.corpus import release_path, solution_path
from autograder.hand_grading import (
    MAX_IMAGE_BYTES,
    MAX_TEXT_CHARS,
    STUDENT_MARK,
    insert_rubrics,
    restore_outputs,
    rubrics,
    safe_outputs,
)

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(100)).decode()


def test_only_text_and_images_are_kept_and_each_is_capped():
    outputs = [
        new_output("stream", name="stdout", text="x" * (MAX_TEXT_CHARS + 50)),
        new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
        new_output("display_data", data={"text/html": "<script>alert(1)</script>", "text/plain": "<table>"}),
        new_output("display_data", data={"image/svg+xml": "<svg onload='alert(1)'/>"}),
        new_output("display_data", data={"image/png": '" onerror="alert(1)'}),  # not base64
        new_output("display_data", data={"image/png": base64.b64encode(bytes(MAX_IMAGE_BYTES + 1)).decode()}),
        new_output("error", ename="ValueError", evalue="bad", traceback=["\x1b[31m...", "secret frames"]),
    ]
    kept = safe_outputs(outputs, [10**9])
    assert kept[0].text.endswith("50 more characters left out]\n") and len(kept[0].text) < MAX_TEXT_CHARS + 100
    assert dict(kept[1].data) == {"image/png": PNG}
    assert dict(kept[2].data) == {"text/plain": "<table>"}  # the HTML is dropped, its plain text kept
    assert [o.get("text") for o in kept[3:]] == ["[an output of a kind not shown here]\n"] * 3 + ["ValueError: bad\n"]
    assert "script" not in str(kept) and "onerror" not in str(kept) and "secret frames" not in str(kept)


def test_the_notebook_budget_bounds_what_is_kept():
    outputs = [new_output("stream", name="stdout", text="y" * 1000) for _ in range(5)]
    assert len(safe_outputs(outputs, [2500])) == 2


def test_grade_cells_keep_the_engines_outputs_and_others_get_the_students_marked():
    nb = new_notebook(cells=[new_code_cell("plot()"), new_code_cell("assert ok")])
    nb.cells[1].metadata["nbgrader"] = {"grade": True, "grade_id": "check", "points": 1}
    engine = [new_output("execute_result", data={"text/plain": "1.0"}, execution_count=2)]
    nb.cells[1].outputs = engine
    kept = [(None, [new_output("stream", name="stdout", text="hello\n")], 7),
            (None, [new_output("execute_result", data={"text/plain": "99.0"}, execution_count=3)], 3)]
    restore_outputs(nb, kept)
    assert [o.get("text") for o in nb.cells[0].outputs] == [STUDENT_MARK, "hello\n"]
    assert nb.cells[0].execution_count == 7
    assert nb.cells[1].outputs == engine


def test_rubrics_come_from_the_source_and_never_from_the_release():
    source = rubrics(solution_path("linreg_scratch"))
    assert sorted(source) == ["exercise_a", "exercise_b", "exercise_c", "exercise_d"]
    assert source["exercise_d"].startswith("Rubric (5 points): A plot with one loss curve per learning rate")
    assert all("SOLUTION" not in text for text in source.values())
    released = release_path("linreg_scratch").read_text()  # nbgrader cleared the answers in the release
    assert "Rubric" not in released and "one loss curve per learning rate" not in released


def test_each_rubric_follows_its_answer_once():
    answer = new_markdown_cell("my answer")
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "exercise_a", "points": 5}
    nb = new_notebook(cells=[new_markdown_cell("intro"), answer])
    for _ in range(2):  # a notebook autograded twice still has one rubric per answer
        insert_rubrics(nb, {"exercise_a": "Rubric: yes (2)\n\nwhy (3)"})
    assert [c.source.split("\n")[0] for c in nb.cells] == [
        "intro", "my answer", "**Rubric for `exercise_a`** (from the course's source notebook; for grading, "
        "never in the release)"]
    assert nb.cells[2].source.endswith("> Rubric: yes (2)\n>\n> why (3)") and nb.cells[2].id == "rubric-exercise_a"
    nbformat.validate(nb)
