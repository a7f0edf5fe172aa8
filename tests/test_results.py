"""Typed results read and give back exactly the JSON the kit writes, and each format is rendered once."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from autograder.batch.outputs import combined_result, write_results
from autograder.cli import build_parser
from autograder.corpus import release_path, solution_path, submission, write
from autograder.render import RENDERERS, mark, part_text, render
from autograder.results import Result, TestResult, part_of, part_scores
from tests.conftest import grade

ASSIGNMENT = "linreg_scratch"


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> list[dict]:
    """The engine's results, from ``autograder grade --format json``: all passed (CUDA skipped), the stubs,
    a cell that does not parse."""
    broken = write(submission(ASSIGNMENT, {"sgd": "def sgd(params, lr, batch_size)\n    pass"}),
                   tmp_path_factory.mktemp("broken") / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    return grade([solution_path(ASSIGNMENT), release_path(ASSIGNMENT), broken], "--device", "cpu")


def test_real_results_round_trip_exactly(real, tmp_path):
    statuses = {t["status"] for r in real for t in r["tests"]}
    assert statuses == {"passed", "failed", "skipped"} and real[2]["extra_data"]["cell_errors"]
    combined = combined_result(SimpleNamespace(notebooks=[SimpleNamespace(result=r) for r in real[:2]]), "both")
    for result in [*real, combined]:
        again = Result.from_dict(result).to_dict()
        assert json.dumps(again) == json.dumps(result)  # the same keys, in the same order
    for i, result in enumerate(real):  # results.json on disk: skipped checks have no status
        text = write_results(tmp_path, f"s{i}", result, {"problem": None}).read_text()
        stored = json.loads(text)
        assert json.dumps(Result.from_dict(stored).to_dict(), indent=2) == text
    assert any("status" not in t for t in json.loads((tmp_path / "students/s0/results.json").read_text())["tests"])


def test_each_test_knows_its_part(real):
    result = Result.from_dict(real[0])
    assert [t.part for t in result.tests] == [t["tags"][0] for t in real[0]["tests"]]
    assert part_of([]) == part_of(None) == "other" and part_of(["sgd", "exercise"]) == "sgd"
    parts = result.parts()
    assert {name: (p.score, p.max_score) for name, p in parts.items()} == part_scores(real[0])
    assert sum(p.max_score for p in parts.values()) == pytest.approx(result.max_score)
    untagged = TestResult("no tags", 1.0, 2.0, "failed", "why", [])
    assert untagged.part == "other" and TestResult.from_dict(untagged.to_dict()) == untagged


def test_the_formats(real):
    results = [Result.from_dict(r) for r in real]
    assert list(RENDERERS) == ["text", "json", "gradescope"]
    assert [build_parser().parse_args(["grade", "x.ipynb", "--format", f]).format for f in RENDERERS] == list(RENDERERS)
    # text is printed as each notebook is graded: one at a time gives the same text as all at once
    assert render(results, "text") == "\n".join(render([r], "text") for r in results)
    assert json.loads(render(results, "json")) == real
    assert isinstance(json.loads(render(results[:1], "json")), list)
    one = json.loads(render(results[:1], "gradescope"))
    assert isinstance(one, dict) and len(json.loads(render(results, "gradescope"))) == 3
    assert [t.get("status") for t in one["tests"]] == [t.status if t.status != "skipped" else None
                                                       for t in results[0].tests]


def test_text_and_grade_cell_reports_word_for_word():
    result = Result(score=1.0, max_score=3.5, output="Your cell 'sgd' raised SyntaxError: bad", tests=[
        TestResult("Computes X w + b", 1.0, 1.0, "passed", "Checked at 3 shapes.", ["linreg"]),
        TestResult("One step of SGD", 0.0, 2.5, "failed", "moved by 0.6\nexpected 0.06", ["sgd"]),
        TestResult("On CUDA", 0.0, 0.0, None, "no GPU", ["sgd", "exercise"]),
    ], extra_data={"notebook": "hw.ipynb", "assignment": "hw", "review_flags": ["sgd: touches files"]})
    assert render([result], "text") == """hw.ipynb: 1/3.5  (hw)
  Your cell 'sgd' raised SyntaxError: bad
  for the TA, worth a look (no points lost): sgd: touches files
  linreg: 1/1
    [PASS] Computes X w + b (1/1)
  sgd: 0/2.5
    [FAIL] One step of SGD (0/2.5)
        moved by 0.6
        expected 0.06
    [SKIP] On CUDA (0/0)
        no GPU"""
    part, report = part_text(result, "sgd")
    assert (part.score, part.max_score) == (0.0, 2.5)
    assert report == """sgd: 0/2.5
Your cell 'sgd' raised SyntaxError: bad
[FAIL] One step of SGD (0/2.5)
    moved by 0.6
    expected 0.06
[SKIP] On CUDA (0/0)
    no GPU
"""
    assert part_text(result, "training")[1] == "training: 0/0\nYour cell 'sgd' raised SyntaxError: bad\n"
    assert [mark(s) for s in ("passed", "failed", "skipped", None)] == ["PASS", "FAIL", "SKIP", "SKIP"]
