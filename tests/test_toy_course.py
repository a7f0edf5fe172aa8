"""A third assignment, in a course folder outside the kit: the kit is generic (issue 14, point 5).

``tests/courses/toy/`` is a course of its own: ``nbgrader_config.py``, the source
``solutions/toy_scale/`` and its assignment folder ``graders/toy_scale/`` (suite, probes, corpus,
hints, variant rules). The kit holds no ``toy_scale``: everything below finds it from the course
root. Each test works on a copy in a temporary folder, never in the repository. The toy is
released, graded through ``autograder grade``, ``autograder autograde`` and ``nbgrader autograde``
(the same scores), and a variant of it is drawn, validated, released and graded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.assignment import Assignment, AssignmentError
from autograder.corpus import ROOT, release_path, solution_path, submission, write
from autograder.graders import contract_problems
from autograder.results import part_scores
from tests.conftest import AUTOGRADER, grade
from tests.course_helpers import run as nbgrader_run

SOURCE = Path(__file__).resolve().parent / "courses" / "toy"
NAME = "toy_scale"
POINTS = {"scale": 6.0, "mean_abs": 4.0}


def copy_course(folder: Path) -> Path:
    course = folder / "toy"
    shutil.copytree(SOURCE, course, ignore=shutil.ignore_patterns("__pycache__", "gradebook.db", "assignments"))
    return course


def autograder(*args: str, course: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*AUTOGRADER, *args, "--course", str(course)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def corpus(course: Path):
    return Assignment.load(NAME, course).grader.corpus()


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """A copy of the toy course, released with ``autograder release``."""
    course = copy_course(tmp_path_factory.mktemp("toy"))
    proc = autograder("release", NAME, course=course)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return course


# -- the folder, found from the course (no grading) ------------------------------------------


def test_the_course_finds_its_own_assignment_folder(tmp_path):
    course = copy_course(tmp_path)
    asg = Assignment.load(NAME, course)
    assert asg.grader.path == course / "graders" / NAME  # the course's, not the kit's
    assert contract_problems(asg.grader) == []
    assert asg.parts() == list(POINTS) and asg.params == {"a": 3.0, "n": 5}
    assert asg.grader.preload() == ("typing", "autograder.probes")
    assert [h[0] for h in asg.grader.hints()][0].startswith("'builtin_function_or_method'")
    assert len(corpus(course).WRONG) >= 2 and len(corpus(course).RIGHT) >= 2
    with pytest.raises(AssignmentError, match="no assignment 'toy_scale'"):
        Assignment.load(NAME, ROOT)  # the kit's own course does not have it


def test_the_suites_contract_holds_and_a_broken_one_is_named(tmp_path):
    from autograder.engine.contract import suite_problems

    course = copy_course(tmp_path)
    assert suite_problems(Assignment.load(NAME, course)) == []
    (course / "graders" / NAME / "probes.py").unlink()
    with pytest.raises(AssignmentError, match="probes.py is missing"):
        Assignment.load(NAME, course)


def test_the_reference_notebook_runs_and_its_visible_checks_pass():
    """The source's code cells, run top to bottom as "Run All" would (the grade cells' visible checks too)."""
    nb = nbformat.read(SOURCE / "solutions" / NAME / f"{NAME}.ipynb", as_version=4)
    code = "\n\n".join(c.source for c in nb.cells if c.cell_type == "code")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["scale: the visible checks passed", "mean_abs: the visible checks passed"]


# -- released and graded -----------------------------------------------------------------------


@pytest.mark.slow
def test_release_has_stubs_and_no_solution_or_hidden_part(released):
    text = release_path(NAME, released).read_text()
    assert "### BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert "autograder: part=" not in text and "return a * x" not in text
    cells = nbformat.reads(text, as_version=4).cells
    answers = [c.source for c in cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(answers) == 2 and all('raise NotImplementedError("replace this stub' in a for a in answers)
    assert sorted(p.name for p in (released / "assignments" / NAME).iterdir()) == ["assignment.json", f"{NAME}.ipynb"]


@pytest.mark.slow
def test_autograder_grade_reference_stubs_and_corpus(released, tmp_path):
    """Full marks for the reference, 0 for the stubs, each WRONG case exactly its expected points at its
    part (the others full) with its hint, each RIGHT case full marks: one ``autograder grade`` run."""
    cases = corpus(released)
    notebooks = {"stubs": release_path(NAME, released),
                 "reference": write(submission(NAME, root=released), tmp_path / "reference" / f"{NAME}.ipynb")}
    for i, case in enumerate([*cases.WRONG, *cases.RIGHT]):
        notebooks[case.name] = write(submission(NAME, case.cells, root=released), tmp_path / f"c{i}" / f"{NAME}.ipynb")
    results = dict(zip(notebooks, grade(list(notebooks.values()), "--course", str(released), "--student", "toy"),
                       strict=True))
    for label, result in results.items():
        assert result["extra_data"]["assignment"] == NAME and result["max_score"] == 10, label
        assert result["extra_data"]["grading_errors"] == [], label
    assert results["stubs"]["score"] == 0 and results["reference"]["score"] == 10
    for case in cases.WRONG:
        got = {part: score for part, (score, _) in part_scores(results[case.name]).items()}
        assert got == {**POINTS, **case.expected}, case.name
        part = next(iter(case.expected))
        failed = [t["output"] for t in results[case.name]["tests"] if t["tags"][0] == part and t["status"] == "failed"]
        assert failed and any(case.hint in out for out in failed), (case.name, failed)
    for case in cases.RIGHT:
        assert results[case.name]["score"] == 10, (case.name, results[case.name]["tests"])


SUBMITTED = {"ada": None, "ben": "scale changes x in place", "cyd": "mean_abs returns a Python float",
             "dan": "stubs"}
TOTALS = {"ada": 10.0, "ben": 8.0, "cyd": 9.0, "dan": 0.0}


def hand_in(course: Path) -> None:
    """Submissions in nbgrader's layout, submitted/<student>/toy_scale/toy_scale.ipynb."""
    wrong = {c.name: c for c in corpus(course).WRONG}
    for student, case in SUBMITTED.items():
        path = course / "submitted" / student / NAME / f"{NAME}.ipynb"
        if case == "stubs":
            path.parent.mkdir(parents=True)
            shutil.copy(release_path(NAME, course), path)
        else:
            write(submission(NAME, wrong[case].cells if case else None, root=course), path)


def gradebook(course: Path) -> dict[str, dict[str, float]]:
    """Per student: each grade cell's automatic score, and the total, as nbgrader's gradebook holds them."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "toy") as gb:
        for sub in gb.find_assignment(NAME).submissions:
            nb = sub.notebooks[0]
            out[sub.student.id] = {**{g.name: g.auto_score for g in nb.grades}, "total": sub.score}
    return out


@pytest.mark.slow
def test_autograde_and_nbgrader_autograde_give_the_same_scores(released, tmp_path):
    """``autograder autograde`` in one copy of the course, ``nbgrader autograde`` (the engine as nbgrader's
    preprocessor) in another, on the same submissions: the same gradebook, and results.json agrees."""
    ours = tmp_path / "ours"
    shutil.copytree(released, ours)
    hand_in(ours)
    theirs = tmp_path / "theirs"
    shutil.copytree(ours, theirs)

    proc = autograder("autograde", NAME, "--no-progress", "--jobs", "2", course=ours)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"{NAME}: graded 4, already graded 0; needs a human: 0 of 4" in proc.stdout
    nbgrader_run(["autograde", NAME], theirs)

    by_us, by_nbgrader = gradebook(ours), gradebook(theirs)
    assert by_us == by_nbgrader
    assert {s: g["total"] for s, g in by_us.items()} == TOTALS
    for student in SUBMITTED:
        result = json.loads((ours / "reports" / NAME / "students" / student / "results.json").read_text())
        assert result["score"] == TOTALS[student]
        cells = {f"check_{part}": score for part, (score, _) in part_scores(result).items()}
        assert cells == {k: v for k, v in by_us[student].items() if k != "total"}, student
    assert (ours / "autograded" / "ben" / NAME / f"{NAME}.ipynb").exists()
    assert (ours / "reports" / NAME / "report.html").exists()
    assert (theirs / "autograded" / "ben" / NAME / f"{NAME}.ipynb").exists()


@pytest.mark.slow
def test_a_variant_is_drawn_validated_released_and_graded(released, tmp_path):
    from autograder.variants import setup_values

    course = tmp_path / "variant"
    shutil.copytree(released, course)
    report_file, variant = tmp_path / "report.json", "toy_scale_v2"
    proc = autograder("variant", "new", NAME, "--name", variant, "--seed", "7", "--report", str(report_file),
                      course=course)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(report_file.read_text())
    params, checked = report["params"], report["grading"]
    assert params != {"a": 3.0, "n": 5} and set(params) == {"a", "n"}
    assert checked["reference"] == [10, 10] and checked["stubs"] == 0
    assert [w["case"] for w in checked["wrong"]] == [c.name for c in corpus(course).WRONG]
    assert all(w["caught"] for w in checked["wrong"]), checked["wrong"]
    # each right case is graded at its own part only (validate.check_grading): full marks there
    assert all(r["score"] == r["max_score"] > 0 for r in checked["right"]), checked["right"]

    config = json.loads((course / "solutions" / variant / "assignment.json").read_text())
    assert config == {"grader": NAME, "base": NAME, "seed": 7, "params": params}
    asg = Assignment.load(variant, course)
    assert asg.grader.path == course / "graders" / NAME  # graded by its base's folder, in the course
    assert {k: setup_values(asg.setup_code())[k] for k in params} == params
    source = solution_path(variant, course).read_text()
    assert f"with `a` = {params['a']:g} and `n` = {params['n']} from the" in source

    listing = autograder("variant", "list", NAME, course=course)
    assert listing.returncode == 0 and listing.stdout.splitlines()[2].split()[:3] == [variant, f"{params['a']:g}",
                                                                                       str(params["n"])]
    # Graded afresh, not on the validator's word: the released stubs, the reference and a mistake.
    hard_coded = next(c for c in corpus(course).WRONG if c.name == "scale with the notebook's a written in")
    ref = write(submission(variant, root=course), tmp_path / "ref" / f"{variant}.ipynb")
    bad = write(submission(variant, hard_coded.cells, root=course), tmp_path / "bad" / f"{variant}.ipynb")
    stubs, ref_result, bad_result = grade([release_path(variant, course), ref, bad], "--course", str(course))
    assert (stubs["score"], ref_result["score"]) == (0, 10)
    assert part_scores(bad_result)["scale"] == (0, 6) and bad_result["score"] == 4
    assert {r["extra_data"]["assignment"] for r in (stubs, ref_result, bad_result)} == {variant}
