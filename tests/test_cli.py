"""The ``autograder grade`` command as a TA uses it."""

import json
import subprocess

from autograder.corpus import ROOT, release_path, solution_path, submission, write
from tests.conftest import AUTOGRADER


def run(*args):
    return subprocess.run([*AUTOGRADER, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_gradescope_format_prints_exactly_one_json_object():
    proc = run("grade", str(solution_path("linreg_scratch")), "--format", "gradescope", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # the whole of stdout is one JSON document
    assert isinstance(result, dict)
    assert result["score"] == result["max_score"] == 100
    for test in result["tests"]:
        assert {"name", "score", "max_score", "output", "tags", "visibility"} <= set(test)
        assert test.get("status") in ("passed", "failed", None)  # skipped: no status
    assert any("status" not in t for t in result["tests"])  # the CUDA check, skipped here


def test_unreadable_notebook_gets_a_zero_with_a_reason(tmp_path):
    broken = tmp_path / "linreg_scratch.ipynb"
    broken.write_text('{"cells": [')
    proc = run("grade", str(broken), "--format", "gradescope")
    assert proc.returncode == 1, proc.stderr  # not a notebook: a result, and a non-zero exit status
    assert f"{broken}: " in proc.stderr and "not valid JSON" in proc.stderr
    result = json.loads(proc.stdout)
    assert result["score"] == 0 and result["max_score"] == 100
    assert "not valid JSON" in result["output"]
    assert all("not valid JSON" in t["output"] for t in result["tests"] if t["max_score"])


def test_assignment_is_inferred_or_asked_for(tmp_path):
    path = write(submission("linreg_scratch"), tmp_path / "my_homework.ipynb")
    result = json.loads(run("grade", str(path), "--format", "gradescope").stdout)
    assert result["score"] == 100  # from the notebook's metadata, despite the file name
    nb = json.loads(path.read_text())
    del nb["metadata"]["autograder"]
    path.write_text(json.dumps(nb))
    result = json.loads(run("grade", str(path), "--format", "gradescope").stdout)
    assert result["score"] == 0 and "--assignment" in result["extra_data"]["grading_errors"][0]
    result = json.loads(run("grade", str(path), "--format", "gradescope", "--assignment", "linreg_scratch").stdout)
    assert result["score"] == 100


def test_text_report_names_parts_and_hints():
    proc = run("grade", str(release_path("linreg_scratch")))
    assert proc.returncode == 0
    assert "0/100" in proc.stdout and "sgd: 0/20" in proc.stdout
    assert "replace `raise NotImplementedError()`" in proc.stdout


def test_a_missing_path_or_a_non_notebook_exits_non_zero_and_the_others_are_graded(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("my answers are in the notebook")
    missing = tmp_path / "does-not-exist.ipynb"
    proc = run("grade", str(missing), str(solution_path("linreg_scratch")), str(text), "--format", "json",
               "--device", "cpu")
    assert proc.returncode == 1
    results = json.loads(proc.stdout)
    assert [r["score"] for r in results] == [0, 100, 0]
    assert f"{missing}: cannot read does-not-exist.ipynb: No such file or directory" in proc.stderr
    assert f"{text}: " in proc.stderr and str(solution_path("linreg_scratch")) not in proc.stderr


def test_release_of_an_unknown_assignment_is_a_message_not_a_traceback(tmp_path):
    proc = subprocess.run([*AUTOGRADER, "release", "no_such_assignment", "--course", str(ROOT)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no assignment 'no_such_assignment'" in proc.stderr
