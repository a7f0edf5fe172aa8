"""The concise assignment: reference full marks, stubs zero, the corpus lands exactly, nbgrader agrees."""

import json

import pytest

from autograder.assignment import Assignment
from autograder.corpus import ROOT, cases, release_path, solution_path, submission, write
from autograder.notebook import grade_cell_part, read_notebook
from tests.conftest import grade, part_max, parts
from tests.course_helpers import make_course, run

NOTHING = cases("linreg_concise").NOTHING
NOTHING_CASES = cases("linreg_concise").NOTHING_CASES
RIGHT = cases("linreg_concise").RIGHT
WRONG = cases("linreg_concise").WRONG

ASSIGNMENT = "linreg_concise"
CASES = WRONG + RIGHT
PARTS = {"load_array": 20, "linear_net": 15, "train_concise": 40, "sum_reduction_lr": 5, "huber_loss": 10,
         "weight_grad": 10}
EXERCISES = {"sum_reduction_lr", "huber_loss", "weight_grad"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Reference, stubs and every corpus case, graded in one run of the CLI."""
    folder = tmp_path_factory.mktemp("concise")
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
    assert result["max_score"] == 100 and part_max(result) == PARTS
    failed = [t["name"] + ": " + t["output"] for t in result["tests"] if t["status"] == "failed"]
    assert result["score"] == 100, failed
    assert not result["extra_data"]["grading_errors"]


def test_stubs_score_zero_without_crashing(graded):
    result = graded["stubs"]
    assert result["score"] == 0 and result["max_score"] == 100
    assert not result["extra_data"]["grading_errors"]
    assert all("stub" in t["output"] for t in result["tests"] if t["status"] == "failed")


def test_corpus_has_enough_cases():
    assert len(WRONG) >= 10 and len(RIGHT) >= 2
    assert len({c.name for c in CASES}) == len(CASES)
    assert all(c.expected and (c.hint or c in NOTHING_CASES) for c in WRONG) and not any(c.expected for c in RIGHT)


def test_every_graded_function_has_a_do_nothing_family():
    """pass, None, zeros (or an untrained net), an input unchanged; and the data loader's empty
    generator and single batch: each scores 0 at its own part (issue 10)."""
    assert set(NOTHING) == set(PARTS)
    for function, kinds in NOTHING.items():
        assert {"pass", "returns None", "returns an input unchanged"} <= set(kinds), function
    assert {"empty generator", "one batch of everything"} <= set(NOTHING["load_array"])
    assert all(set(c.expected.values()) == {0} for c in NOTHING_CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case_lands_exactly(graded, case):
    result = graded[case.name]
    expected = {**part_max(result), **case.expected}
    assert parts(result) == expected
    assert not result["extra_data"]["grading_errors"]
    if case.hint:
        feedback = "\n".join(t["output"] for t in result["tests"] if t["status"] == "failed")
        assert case.hint in feedback


def test_every_test_is_tagged_with_a_part(graded):
    for test in graded["reference"]["tests"]:
        part, *rest = test["tags"]
        assert part in PARTS
        assert rest == (["exercise"] if part in EXERCISES else []), test["name"]


def test_cuda_check_is_worth_nothing_and_skips_without_a_gpu(graded):
    cuda = [t for t in graded["reference"]["tests"] if "CUDA" in t["name"]]
    assert len(cuda) == 1 and cuda[0]["max_score"] == 0
    assert cuda[0]["status"] in ("passed", "skipped"), cuda[0]["output"]
    if cuda[0]["status"] == "skipped":
        assert "no points are lost" in cuda[0]["output"]


def test_grade_cells_carry_the_suite_points(graded):
    """The notebook's grade cells and the suite agree on each part's points."""
    nb = read_notebook(solution_path(ASSIGNMENT))
    cells = {grade_cell_part(c): c.metadata.nbgrader.points for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade") and grade_cell_part(c)}
    assert cells == part_max(graded["reference"])


def test_setup_cell_matches_parameters():
    """The set-up cell draws the data itself, from the parameters the suite reads."""
    asg = Assignment.load(ASSIGNMENT, ROOT)
    params = asg.params
    namespace = {}
    exec(asg.setup_code(), namespace)
    assert namespace["true_w"].tolist() == pytest.approx(params["true_w"])
    for key, name in [("true_b", "true_b"), ("num_examples", "num_examples"), ("noise", "noise_std"),
                      ("batch_size", "batch_size"), ("lr", "lr"), ("num_epochs", "num_epochs")]:
        assert namespace[name] == pytest.approx(params[key]), key
    X, y = namespace["features"].numpy(), namespace["labels"].numpy()
    assert X.shape == (params["num_examples"], len(params["true_w"])) and y.shape == (params["num_examples"], 1)
    residual = y[:, 0] - (X @ params["true_w"] + params["true_b"])
    assert abs(residual.std() / params["noise"] - 1) < 0.15


def test_regrading_gives_an_identical_result(tmp_path):
    case = next(c for c in WRONG if c.name == "train_concise never clears the gradients")
    path = write(submission(ASSIGNMENT, case.cells), tmp_path / f"{ASSIGNMENT}.ipynb")
    first, second = grade([path, path], "--student", "s1")
    for result in (first, second):
        result.pop("execution_time")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


@pytest.mark.slow
def test_nbgrader_autograde_uses_the_engine(tmp_path):
    """nbgrader autograde gives each grade cell the engine's part score; written answers wait for a human."""
    course = make_course(tmp_path, [ASSIGNMENT])
    run(["generate_assignment", ASSIGNMENT, "--force"], course)
    case = next(c for c in WRONG if c.name == "train_concise never clears the gradients")
    write(submission(ASSIGNMENT, case.cells), course / "submitted" / "zed" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    run(["autograde", ASSIGNMENT], course)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "zed")
        manual = sorted(g.name for g in notebook.grades if g.needs_manual_grade)
        auto = {g.name.removeprefix("check_"): g.auto_score for g in notebook.grades if not g.needs_manual_grade}
    assert manual == ["exercise_1", "exercise_2", "exercise_3"]
    assert auto == {part: float(points) for part, points in {**PARTS, **case.expected}.items()}
