"""Broken and unusual notebooks, graded in ONE CLI run next to an honest one.

Each gets a clear, specific message in its result (and so in the TA's report), and the batch
goes on with nothing lost. What the grader does with each, and why:

- unreadable files (corrupt JSON, empty, binary, Python source, JSON that is no notebook, a
  format too new or too old, a folder, a missing path, over the hard size limit): score 0 with
  the reason; nothing runs;
- format 3 notebooks are converted and graded; a notebook of 100 MB of outputs is graded (the
  grader reads only code) with a note to clear outputs;
- answer cells run in notebook order, as Jupyter's "Run All" would: reordered cells change
  nothing, a duplicated cell's last definition wins, a cell whose grade id was changed still
  runs (functions are found by name); a deleted cell, a renamed function or a changed
  signature costs that function's points, with a message that names the cause.
"""

from __future__ import annotations

import copy
import json

import nbformat
import pytest

from autograder.corpus import solved_cells, submission, write
from autograder.notebook import MAX_NOTEBOOK_BYTES
from tests.conftest import grade, part_max, parts

ASSIGNMENT = "linreg_scratch"
NOTHING = {p: 0 for p in ("synthetic_data", "data_iter", "linreg", "squared_loss", "sgd", "training")}
NO_SGD = {"sgd": 0, "training": 0}

pytestmark = pytest.mark.slow


def answer(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def reordered():
    nb = submission(ASSIGNMENT)
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
    order = [nb.cells.index(c) for c in cells]
    for index, cell in zip(order, reversed(cells), strict=True):
        nb.cells[index] = cell
    return nb


def duplicated():
    """A wrong sgd, then a copy of its cell with the right one: the last definition counts."""
    nb = submission(ASSIGNMENT, {"sgd": "def sgd(params, lr, batch_size):\n    pass\n"})
    cell = copy.deepcopy(answer(nb, "sgd"))
    cell.source = solved_cells(ASSIGNMENT)["sgd"]
    cell.id = "copy-of-sgd"  # Jupyter gives a pasted cell a new id
    nb.cells.insert(nb.cells.index(answer(nb, "sgd")) + 1, cell)
    return nb


def edited(change):
    nb = submission(ASSIGNMENT)
    change(nb)
    return nb


def huge_outputs():
    nb = submission(ASSIGNMENT)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (100 * 2**20))]
    return nb


def strip_metadata(nb):
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)


# name -> (how to build the file, expected part scores (None: not graded), phrase the result must contain)
CASES = {
    "corrupt JSON": (lambda p: p.write_text(nbformat.writes(submission(ASSIGNMENT))[:-300]), None,
                     "is not valid JSON (line"),
    "empty file": (lambda p: p.write_bytes(b""), None, "is empty (0 bytes)"),
    "binary file": (lambda p: p.write_bytes(bytes(range(256)) * 40), None, "is not a text file"),
    "Python source": (lambda p: p.write_text("import torch\n\ndef sgd(params, lr, batch_size):\n    pass\n"), None,
                      "looks like Python source"),
    "JSON that is not a notebook": (lambda p: p.write_text('{"name": "linreg"}'), None,
                                    "is JSON but not a Jupyter notebook"),
    "nbformat 5": (lambda p: p.write_text(json.dumps({**json.loads(nbformat.writes(submission(ASSIGNMENT))),
                                                      "nbformat": 5})), None, "format 5, newer than the grader"),
    "nbformat 2": (lambda p: p.write_text(json.dumps({"nbformat": 2, "worksheets": []})), None,
                   "format 2, which is too old"),
    "a folder": (lambda p: p.mkdir(), None, "is a folder, not a notebook"),
    "a missing file": (lambda p: None, None, "No such file or directory"),
    "over the hard size limit": (lambda p: p.open("wb").truncate(MAX_NOTEBOOK_BYTES + 2**24), None,
                                 f"over the {MAX_NOTEBOOK_BYTES // 2**20} MB limit"),
    "nbformat 3": (lambda p: p.write_text(nbformat.writes(nbformat.convert(submission(ASSIGNMENT), 3), version=3)),
                   {}, ""),
    "100 MB of outputs": (lambda p: write(huge_outputs(), p), {}, "the grader reads only its code"),
    "answer cells reordered": (lambda p: write(reordered(), p), {}, ""),
    "answer cell duplicated": (lambda p: write(duplicated(), p), {}, "appears 2 times"),
    "grade id renamed": (lambda p: write(edited(lambda nb: answer(nb, "sgd").metadata.nbgrader.update(
        grade_id="my_sgd")), p), {}, "Cell 'my_sgd' is not one of the assignment's answer cells"),
    "answer cell deleted": (lambda p: write(edited(lambda nb: nb.cells.remove(answer(nb, "sgd"))), p), NO_SGD,
                            "the answer cell 'sgd' is not in your notebook"),
    "all grade ids lost": (lambda p: write(edited(strip_metadata), p), NOTHING,
                           "none of the assignment's answer cells"),
    "damaged cell metadata": (lambda p: write(edited(lambda nb: answer(nb, "sgd").metadata.update(nbgrader="x")), p),
                              NO_SGD, "the answer cell 'sgd' is not in your notebook"),
    "function renamed": (lambda p: write(submission(ASSIGNMENT, {"sgd": solved_cells(ASSIGNMENT)["sgd"].replace(
        "def sgd(", "def step(")}), p), NO_SGD,
        "Your cell 'sgd' defines step(params, lr, batch_size): was the function renamed?"),
    "other signature": (lambda p: write(submission(ASSIGNMENT, {"sgd": solved_cells(ASSIGNMENT)["sgd"].replace(
        "def sgd(params, lr, batch_size):", "def sgd(params, lr):\n    batch_size = 10")}), p), NO_SGD,
        "the grader calls `sgd(params, lr, batch_size)`"),
    "answer cell of 300 KB": (lambda p: write(submission(ASSIGNMENT, {"sgd": solved_cells(ASSIGNMENT)["sgd"]
                                                                      + "\n# " + "x" * 300_000}), p),
                              NO_SGD, "over the 256 KB limit"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    paths = {"honest": write(submission(ASSIGNMENT), folder / "honest" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")}
    for i, (name, (build, _, _)) in enumerate(CASES.items()):
        path = folder / f"case{i}" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        path.parent.mkdir(parents=True)
        build(path)
        paths[name] = path
    results = grade(list(paths.values()), "--assignment", ASSIGNMENT, status=1)  # some are not notebooks
    return dict(zip(paths, results, strict=True))


def feedback(result: dict) -> str:
    return "\n".join([result["output"]] + [t["output"] for t in result["tests"] if t["status"] != "passed"])


def test_the_batch_goes_on_and_the_honest_notebook_keeps_full_marks(graded):
    assert len(graded) == len(CASES) + 1
    assert graded["honest"]["score"] == 100


@pytest.mark.parametrize("name", CASES)
def test_bad_input_gets_a_clear_message(graded, name):
    _, expected, phrase = CASES[name]
    result = graded[name]
    assert phrase in feedback(result), feedback(result)
    if expected is None:  # not graded: zero, the reason first, and the TA is told
        assert result["score"] == 0
        assert result["output"].startswith("Your notebook could not be graded: ")
        assert result["extra_data"]["grading_errors"] == [result["output"]]
    else:
        assert parts(result) == {**part_max(result), **expected}, feedback(result)
        assert result["max_score"] == 100
        assert not result["extra_data"]["grading_errors"]


def test_a_clean_notebook_gets_no_notes(graded):
    assert graded["honest"]["output"] == ""
    assert graded["answer cells reordered"]["output"] == ""


def test_results_of_unreadable_notebooks_still_list_every_test(graded):
    """The gradebook sees the same tests, all at 0, so a re-grade after a fix lines up."""
    names = [t["name"] for t in graded["honest"]["tests"]]
    assert [t["name"] for t in graded["corrupt JSON"]["tests"]] == names


def test_reading_stays_within_the_hard_limit_without_reading_the_file(tmp_path):
    """A sparse file over the limit is refused from its size alone (it is never read)."""
    path = tmp_path / "big.ipynb"
    with path.open("wb") as f:
        f.truncate(MAX_NOTEBOOK_BYTES * 50)
    from autograder.notebook import NotebookError, read_notebook

    with pytest.raises(NotebookError, match="over the"):
        read_notebook(path)

