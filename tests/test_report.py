"""The class report and the feedback page, from hand-made results (no grading: fast)."""

from __future__ import annotations

import csv
import json

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


def test_report_ranks_failures_and_lists_who_needs_a_human(tmp_path):
    stub = "Your code raised NotImplementedError\nHint: this is still the stub"
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
    assert "divide by batch_size" in html  # the hint about a real attempt, not the stub's
    assert "One step of SGD" in html and "2 (67%)" in html
    with open(tmp_path / "grades.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert rows["cyd"]["sgd"] == "10.0" and rows["cyd"]["needs_human"] == "no"
    assert rows["cyd"]["worth_a_look"] == "sgd: touches files"
    assert rows["eve"]["score"] == "" and rows["eve"]["needs_human"] == "yes"
    skipped = json.loads((tmp_path / "students" / "ada" / "results.json").read_text())["tests"][2]
    assert "status" not in skipped  # Gradescope knows passed and failed only


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
