"""The "from scratch" assignment: reference full marks, stubs zero, the corpus lands exactly."""

import json

import pytest

from autograder.assignment import Assignment
from autograder.corpus import ROOT, cases, release_path, solution_path, submission, write
from autograder.notebook import grade_cell_part, read_notebook
from tests.conftest import grade, part_max, parts

NOTHING = cases("linreg_scratch").NOTHING
NOTHING_CASES = cases("linreg_scratch").NOTHING_CASES
RIGHT = cases("linreg_scratch").RIGHT
WRONG = cases("linreg_scratch").WRONG

ASSIGNMENT = "linreg_scratch"
CASES = WRONG + RIGHT


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Reference, stubs and every corpus case, graded in one run of the CLI."""
    folder = tmp_path_factory.mktemp("scratch")
    paths = {"source": solution_path(ASSIGNMENT), "stubs": release_path(ASSIGNMENT),
             "reference": write(submission(ASSIGNMENT), folder / "ref" / f"{ASSIGNMENT}.ipynb")}
    for i, case in enumerate(CASES):
        paths[case.name] = write(submission(ASSIGNMENT, case.cells), folder / f"case{i}" /
                                 f"{ASSIGNMENT}.ipynb")
    results = grade(list(paths.values()))
    return dict(zip(paths, results, strict=True))


@pytest.mark.parametrize("which", ["source", "reference"])
def test_reference_scores_full_marks(graded, which):
    """The instructor's source and the released notebook answered with it both get 100."""
    result = graded[which]
    assert result["max_score"] == 100
    failed = [t["name"] + ": " + t["output"] for t in result["tests"] if t["status"] == "failed"]
    assert result["score"] == 100, failed


def test_stubs_score_zero_without_crashing(graded):
    result = graded["stubs"]
    assert result["score"] == 0 and result["max_score"] == 100
    assert not result["extra_data"]["grading_errors"]
    assert all("stub" in t["output"] for t in result["tests"] if t["status"] == "failed")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case_lands_exactly(graded, case):
    result = graded[case.name]
    expected = {**part_max(result), **case.expected}
    assert parts(result) == expected
    assert not result["extra_data"]["grading_errors"]
    if case.hint:
        feedback = "\n".join(t["output"] for t in result["tests"] if t["status"] == "failed")
        assert case.hint in feedback


def test_every_graded_function_has_a_do_nothing_family():
    """pass, None, zeros of the right shape, an input unchanged; and data_iter's empty generator
    and single batch: each scores 0 at its own part and, but for synthetic_data (the training
    checks make their own data), at training (issue 10)."""
    assert set(NOTHING) == {"synthetic_data", "data_iter", "linreg", "squared_loss", "sgd"}
    for function, kinds in NOTHING.items():
        assert {"pass", "returns None", "zeros of the right shape"} <= set(kinds), function
    assert {"empty generator", "one batch of everything"} <= set(NOTHING["data_iter"])
    assert all(set(c.expected.values()) == {0} for c in NOTHING_CASES)


def test_every_test_is_tagged_with_a_part(graded):
    known = {"synthetic_data", "data_iter", "linreg", "squared_loss", "sgd", "training"}
    for test in graded["reference"]["tests"]:
        assert test["tags"][0] in known
        assert set(test["tags"][1:]) <= {"exercise"}


def test_grade_cells_carry_the_suite_points(graded):
    """The notebook's grade cells and the suite agree on each part's points."""
    nb = read_notebook(solution_path(ASSIGNMENT))
    cells = {grade_cell_part(c): c.metadata.nbgrader.points for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade") and grade_cell_part(c)}
    assert cells == part_max(graded["reference"])


def test_setup_cell_matches_parameters():
    params = Assignment.load(ASSIGNMENT, ROOT).params
    setup = Assignment.load(ASSIGNMENT, ROOT).setup_code()
    namespace = {}
    exec(setup, namespace)
    assert namespace["true_w"].tolist() == pytest.approx(params["true_w"])
    for key, name in [("true_b", "true_b"), ("num_examples", "num_examples"), ("noise", "noise_std"),
                      ("batch_size", "batch_size"), ("lr", "lr"), ("num_epochs", "num_epochs")]:
        assert namespace[name] == pytest.approx(params[key]), key


def test_regrading_gives_an_identical_result(tmp_path):
    case = WRONG[9]  # data_iter sampling with replacement: randomness on both sides
    path = write(submission(ASSIGNMENT, case.cells), tmp_path / f"{ASSIGNMENT}.ipynb")
    first, second = grade([path, path], "--student", "s1")
    for result in (first, second):
        result.pop("execution_time")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
