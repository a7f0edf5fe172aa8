"""The class report and the feedback page, from hand-made results (no grading: fast)."""

from __future__ import annotations

import csv
import json
import re

from autograder.batch.outputs import templates, write_feedback, write_results
from autograder.report import needs_human, write_class_report


def result(score_sgd: float, output: str = "", errors: list[str] | None = None,
           flags: list[str] | None = None) -> dict:
    tests = [
        {"name": "Computes X w + b", "score": 15.0, "max_score": 15.0, "status": "passed", "output": "ok",
         "tags": ["linreg"], "visibility": "visible"},
        {"name": "One step of SGD", "score": score_sgd, "max_score": 20.0,
         "status": "passed" if score_sgd == 20 else "failed", "output": output, "tags": ["sgd"],
         "visibility": "visible"},
        {"name": "On CUDA", "score": 0.0, "max_score": 0.0, "status": "skipped", "output": "no GPU",
         "tags": ["training"], "visibility": "visible"},
    ]
    return {"score": 15.0 + score_sgd, "max_score": 35.0, "output": "", "visibility": "visible", "tests": tests,
            "extra_data": {"grading_errors": errors or [], "review_flags": flags or []}}


def test_report_groups_failures_and_lists_who_needs_a_human(tmp_path):
    stub = "Your code raised NotImplementedError\n    at line 4 of your cell 'sgd'\nHint: this is still the stub"
    wrong = "sgd moved the parameter by 0.6, expected 0.06: divide by batch_size"
    submissions = {"ada": result(20), "ben": result(0, stub),
                   "cyd": result(10, wrong, flags=["sgd: touches files"]),
                   "dee": result(0, "unreadable", ["dee.ipynb is not valid JSON"])}
    for student, res in submissions.items():
        write_results(tmp_path, student, res, {"problem": None})
    report = write_class_report(tmp_path, "hw", ["ada", "ben", "cyd", "dee", "eve"],
                                {"eve": "the grading process died"})
    assert report.needs_human == {"dee": "dee.ipynb is not valid JSON", "eve": "the grading process died"}
    assert report.worth_a_look == {"cyd": ["sgd: touches files"]}
    html = report.page.read_text()
    assert "sgd: touches files" in html
    mistakes, not_attempted = section(html, "Mistakes in the code"), section(html, "Not attempted")
    assert "divide by batch_size" in mistakes and "cyd" in mistakes and "ben" not in mistakes
    assert "still the stub" in not_attempted and "ben" in not_attempted
    assert "1 of 3 (33%)" in mistakes  # ada, ben, cyd could be checked; dee's notebook could not be read
    causes = html.split("Failures by cause", 1)[1].split("Code worth a look", 1)[0]
    assert "dee" not in causes and "unreadable</code>" not in causes
    with open(tmp_path / "grades.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert rows["cyd"]["sgd (out of 20)"] == "10.0" and rows["cyd"]["needs_human"] == "no"
    assert rows["cyd"]["autograded (out of 35)"] == "25.0"
    assert rows["cyd"]["worth_a_look"] == "sgd: touches files"
    assert rows["eve"]["autograded (out of 35)"] == "" and rows["eve"]["needs_human"] == "yes"
    skipped = json.loads((tmp_path / "students" / "ada" / "results.json").read_text())["tests"][2]
    assert "status" not in skipped  # Gradescope knows passed and failed only


def section(html: str, title: str) -> str:
    """The page from the heading ``title`` to the next heading of any level."""
    rest = html.split(title, 1)[1]
    return re.split(r"<h[23]>", rest, maxsplit=1)[0]


def failing(tests: list[tuple[str, str, str]], cell_errors: list[dict] | None = None) -> dict:
    """A result whose checks (part, name, output) all failed."""
    entries = [{"name": name, "score": 0.0, "max_score": 5.0, "status": "failed", "output": output,
                "tags": [part], "visibility": "visible"} for part, name, output in tests]
    return {"score": 0.0, "max_score": 5.0 * len(entries), "output": "", "visibility": "visible", "tests": entries,
            "extra_data": {"grading_errors": [], "cell_errors": cell_errors or []}}


def test_one_cause_is_one_row_and_syntax_errors_are_apart(tmp_path):
    step = "The step is lr * grad, not lr * grad / batch_size: divide by batch_size"
    syntax = [{"cell": "sgd", "type": "SyntaxError", "message": "expected ':' (<answer cell sgd>, line 1)",
               "where": {"cell": "sgd", "line": 1, "code": "def sgd(params, lr, batch_size)"}}]
    undefined = ("sgd is not defined: run its answer cell, and keep the name sgd\n"
                 "your cell 'sgd' failed while loading: SyntaxError: expected ':'")
    classes = {
        # one mistake seen by two checks, and with other numbers by a second student: one row
        "ann": failing([("sgd", "One step", step), ("sgd", "Every tensor", step)]),
        "bob": failing([("data_iter", "Last batch", "One epoch gave 50 examples out of 53; keep the last batch"),
                        ("data_iter", "Big batch", "One epoch gave 0 examples out of 7; keep the last batch")]),
        "cat": failing([("data_iter", "Last batch", "One epoch gave 20 examples out of 23; keep the last batch")]),
        "dan": failing([("sgd", "One step", undefined),
                        ("training", "Loop", "sgd is not defined: run its answer cell")], syntax),
    }
    for student, res in classes.items():
        write_results(tmp_path, student, res, {"problem": None})
    html = write_class_report(tmp_path, "hw", list(classes), {}).page.read_text()
    mistakes = section(html, "Mistakes in the code")
    assert mistakes.count("divide by batch_size") == 1 and "2: One step; Every tensor" in mistakes
    assert mistakes.count("keep the last batch") == 1 and "bob, cat" in mistakes and "2 of 4 (50%)" in mistakes
    assert "not defined" not in mistakes and "dan" not in mistakes
    broken = section(html, "Code that does not run")
    assert "cell &#39;sgd&#39; does not run: SyntaxError at line 1: expected &#39;:&#39;" in broken
    assert broken.count("does not run:") == 1 and "sgd, training" in broken and "dan" in broken
    assert "(line 1) (line 1)" not in html and "run its answer cell" not in broken


def test_score_table_sorts_and_has_the_class_mean(tmp_path):
    for student, score in (("ada", 20), ("ben", 0), ("cyd", 10)):
        write_results(tmp_path, student, result(score), {"problem": None})
    html = write_class_report(tmp_path, "hw", ["ada", "ben", "cyd"], {}).page.read_text()
    table = html.split('id="scores"', 1)[1].split("</table>", 1)[0]
    assert "total<br><small>(out of 35)</small>" in table and "sgd<br><small>(out of 20)</small>" in table
    assert "<td>class mean</td><td class=\"num\">25.0</td>" in table  # (35 + 15 + 25) / 3
    assert '<td class="num">10.0</td>' in table.split("<tfoot>")[1]  # sgd: (20 + 0 + 10) / 3
    assert "<script>" in html and "src=\"http" not in html and "cdn" not in html.lower()


def test_feedback_page_escapes_what_the_student_wrote(tmp_path):
    page = write_feedback(templates(), tmp_path, "ben", "hw",
                          result(0, "Your code raised ValueError: <script>alert(1)</script>"), None)
    html = page.read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html
    assert "FAIL" in html and "SKIP" in html and "15 / 35" in html


def test_needs_human_reasons():
    assert needs_human(None, "the grading process died") == "the grading process died"
    assert needs_human(None, None) == "not graded yet"
    ok = {"extra_data": {"grading_errors": [], "batch": {"problem": None}}}
    assert needs_human(ok, None) is None
    bad = {"extra_data": {"grading_errors": ["x.ipynb is not valid JSON"], "batch": {"problem": None}}}
    assert needs_human(bad, None) == "x.ipynb is not valid JSON"
    damaged = {"extra_data": {"grading_errors": [], "batch": {"problem": "grade cells missing"}}}
    assert needs_human(damaged, None) == "grade cells missing"
