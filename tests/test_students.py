"""What students see before they submit: visible checks, the "Where do I stand?" cell, exercise (d).

The check cells are run here in one Python namespace, as a kernel would run them in order (the
set-up cell, the helpers, the answer cells, then the check cell), with the reference answers and
with one classic mistake at a time.
"""

from __future__ import annotations

import contextlib
import io
import random

import nbformat
import pytest
import torch

from autograder.assignment import Assignment
from autograder.corpus import ROOT
from autograder.standing import STANDING_ID, expected_block, notebook_block
from autograder.variants.rewrite import variant_notebook

THEORY = Assignment.load("linreg_scratch", ROOT).grader.module("variants")  # the scratch assignment's variants.py
SCRATCH, exercise_d_rates = THEORY.RULES, THEORY.exercise_d_rates

ASSIGNMENTS = sorted(p.parent.name for p in (ROOT / "solutions").glob("*/assignment.json"))  # variants too


def grade_id(cell) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id", "")


def run_check(name: str, check: str, mistake: tuple[str, str, str] | None = None) -> tuple[bool, str]:
    """Run the set-up, helper and answer cells, then one check cell; (passed, what it printed)."""
    nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    ns: dict = {}
    out = io.StringIO()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        source = cell.source
        if mistake and grade_id(cell) == mistake[0]:
            assert mistake[1] in source, mistake
            source = source.replace(mistake[1], mistake[2])
        if grade_id(cell) in ("setup", "check_helpers") or (meta.get("solution") and cell.cell_type == "code"):
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(source, grade_id(cell), "exec"), ns)  # noqa: S102 - our own notebook
        elif grade_id(cell) == check:
            if check == "check_training":  # it reads the loss of the training cells above
                for marker in ("features, labels = synthetic_data", "w = torch.normal(0, 0.01", "net, loss = linreg"):
                    code = next(c.source for c in nb.cells if not grade_id(c) and marker in c.source)
                    with contextlib.redirect_stdout(io.StringIO()):
                        exec(code.replace("plt.show()", ""), ns)  # noqa: S102
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(source, check, "exec"), ns)  # noqa: S102
            except ns["CheckFailed"]:
                return False, out.getvalue()
            return True, out.getvalue()
    raise AssertionError(f"no cell {check} in {name}")


CHECKS = {"linreg_scratch": ["check_synthetic_data", "check_data_iter", "check_linreg", "check_squared_loss",
                             "check_sgd", "check_training"],
          "linreg_concise": ["check_load_array", "check_linear_net", "check_train_concise",
                             "check_sum_reduction_lr", "check_huber_loss", "check_weight_grad"]}


@pytest.mark.parametrize("name, check", [(n, c) for n, cs in CHECKS.items() for c in cs])
def test_reference_passes_every_visible_check(name, check):
    passed, printed = run_check(name, check)
    assert passed, printed
    assert "FAIL" not in printed and "visible checks passed" in printed


MISTAKES = [
    ("linreg_scratch", "check_squared_loss", "labels of shape (n,)",
     ("squared_loss", "y.reshape(y_hat.shape)", "y"), "shape (2, 2)"),
    ("linreg_scratch", "check_data_iter", "last batch dropped",
     ("data_iter", "range(0, num_examples, batch_size)", "range(0, num_examples - batch_size + 1, batch_size)"),
     "batch sizes [4]"),
    ("linreg_scratch", "check_data_iter", "last batch padded",
     ("data_iter", "indices[i: min(i + batch_size, num_examples)]", "(indices + indices)[i: i + batch_size]"),
     "batch sizes [4, 4]"),
    ("linreg_scratch", "check_sgd", "hard-coded lr and batch size",
     ("sgd", "lr * param.grad / batch_size", "0.03 * param.grad / 10"), "use the arguments"),
    ("linreg_scratch", "check_synthetic_data", "hard-coded true_w",
     ("synthetic_data", "torch.matmul(X, w)", "torch.matmul(X[:, :2], true_w)"), "X (5, 3)"),
    ("linreg_concise", "check_weight_grad", "stale gradient",
     ("weight_grad", "    net.zero_grad()\n", ""), "second call [[-4.0, -8.5]]"),
    ("linreg_concise", "check_train_concise", "hard-coded lr",
     ("train_concise", "lr=lr)", "lr=0.03)"), "learning rates [0.03]"),
    ("linreg_concise", "check_train_concise", "hard-coded batch size",
     ("train_concise", "load_array((features, labels), batch_size)", "load_array((features, labels), 10)"),
     "10 steps"),
    ("linreg_concise", "check_load_array", "drop_last",
     ("load_array", "shuffle=is_train)", "shuffle=is_train, drop_last=True)"), "batch sizes [4]"),
    ("linreg_concise", "check_sum_reduction_lr", "hard-coded batch size",
     ("sum_reduction_lr", "lr / batch_size", "lr / 10"), "sum_reduction_lr(0.1, 4) = 0.01"),
]


@pytest.mark.parametrize("name, check, what, mistake, seen", MISTAKES, ids=[m[2] for m in MISTAKES])
def test_visible_checks_catch_the_classic_mistakes(name, check, what, mistake, seen):
    passed, printed = run_check(name, check, mistake)
    assert not passed, f"{what} passed the visible checks:\n{printed}"
    assert "[FAIL]" in printed and seen in printed, printed  # says what it tried and what it saw
    assert "[PASS]" in printed, printed  # the other checks of the cell ran too


def test_a_stub_fails_every_check_with_a_plain_message():
    passed, printed = run_check("linreg_scratch", "check_linreg",
                                ("linreg", "return torch.matmul(X, w) + b", "raise NotImplementedError('x')"))
    assert not passed and printed.count("still the stub") == 2, printed


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_hidden_check_names_are_those_of_the_suite(name):
    """Fails when the suite changed after the notebook was released: run `autograder release NAME`."""
    asg = Assignment.load(name, ROOT)
    expected = expected_block(asg)
    for folder in ("solutions", "assignments"):
        nb = nbformat.read(ROOT / folder / name / f"{name}.ipynb", as_version=4)
        assert notebook_block(nb) == expected, (f"{folder}/{name}'s '{STANDING_ID}' cell lists other hidden "
                                                f"checks than the suite has: run `autograder release {name}`")
    assert "def test_" not in expected and "student.probe" not in expected  # names only, never code


def book_loop(lr: float) -> list[float]:
    """Exercise (d)'s loop in plain PyTorch at the notebook's parameters: the oracle for its rates."""
    params = Assignment.load("linreg_scratch", ROOT).params
    torch.manual_seed(0)
    random.seed(0)
    true_w = torch.tensor(params["true_w"])
    X = torch.normal(0, 1, (params["num_examples"], len(true_w)))
    y = (X @ true_w + params["true_b"] + torch.normal(0, params["noise"], (len(X),))).reshape(-1, 1)
    w = torch.normal(0, 0.01, (len(true_w), 1), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    losses = []
    for _ in range(params["num_epochs"]):
        order = list(range(len(X)))
        random.shuffle(order)
        for i in range(0, len(X), params["batch_size"]):
            j = torch.tensor(order[i:i + params["batch_size"]])
            ((X[j] @ w + b - y[j]) ** 2 / 2).sum().backward()
            with torch.no_grad():
                for p in (w, b):
                    p -= lr * p.grad / params["batch_size"]
                    p.grad.zero_()
        with torch.no_grad():
            losses.append(float(((X @ w + b - y) ** 2 / 2).mean()))
    return losses


def test_exercise_d_rates_show_slow_good_and_diverging_training():
    nb = nbformat.read(ROOT / "solutions/linreg_scratch/linreg_scratch.ipynb", as_version=4)
    code = next(c.source for c in nb.cells if "rates = (" in c.source)
    rates = eval(code.split("rates = ", 1)[1].split("#")[0])  # noqa: S307 - our own notebook
    small, lr, mid, big = (float(r) for r in exercise_d_rates(Assignment.load("linreg_scratch", ROOT).params))
    assert rates == (small, lr, mid, big)
    assert book_loop(small)[-1] > 1.0  # still far from the noise floor after 3 epochs
    assert book_loop(lr)[-1] < 1e-3 and book_loop(mid)[-1] < 1e-3
    last = book_loop(big)[-1]
    assert not last < 1e3  # inf or nan: it diverged
    assert SCRATCH.notebook_checks(nb, Assignment.load("linreg_scratch", ROOT).params) == []


@pytest.mark.parametrize("seed", [1, 2027, 31])
def test_a_variant_rewrites_exercise_d_code_with_its_prose_and_rubric(seed):
    base = Assignment.load("linreg_scratch", ROOT)
    params = SCRATCH.draw(seed, {})
    nb = variant_notebook(base, SCRATCH, "v", params)
    code = next(c.source for c in nb.cells if "rates = (" in c.source)
    small, lr, mid, big = exercise_d_rates(params)
    assert f"rates = ({', '.join(r for r in (small, lr, mid, big) if r)})" in code
    assert SCRATCH.notebook_checks(nb, params) == []
    code_cell = next(c for c in nb.cells if "rates = (" in c.source)
    code_cell.source = code_cell.source.replace(f"rates = ({small}", "rates = (0.123")
    assert "code cell loops over" in " ".join(SCRATCH.notebook_checks(nb, params))


def test_a_largest_rate_that_does_not_diverge_is_refused(monkeypatch):
    base = Assignment.load("linreg_scratch", ROOT)
    nb = variant_notebook(base, SCRATCH, "v", base.params)
    assert THEORY.book_loop_losses(base.params, 1.5, 0)[-1] < 1e-3  # the old (d) rate: no divergence
    monkeypatch.setattr(THEORY, "exercise_d_rates", lambda p: ("0.001", "0.03", "0.4", "1.5"))
    problems = " ".join(SCRATCH.notebook_checks(nb, base.params))
    assert "largest rate, 1.5, does not diverge" in problems, problems


@pytest.mark.slow
@pytest.mark.parametrize("name", ["linreg_scratch", "linreg_concise"])
def test_nbgrader_validate_passes_the_reference_and_fails_the_stubs(tmp_path, name):
    """In a real kernel, as a student runs `nbgrader validate` (or the Validate button)."""
    import shutil

    from autograder.course import nbgrader

    for folder, ok in (("solutions", True), ("assignments", False)):
        path = tmp_path / folder / f"{name}.ipynb"
        path.parent.mkdir()
        shutil.copy(ROOT / folder / name / f"{name}.ipynb", path)
        proc = nbgrader(["validate", str(path)], path.parent, check=False, quiet=True)
        passed = "Success! Your notebook passes all the tests." in proc.stdout
        assert passed == ok, proc.stdout[-3000:]
        if not ok:  # the stubs fail with their own message, never a cascade of unrelated errors
            assert "NameError" not in proc.stdout and "IndexError" not in proc.stdout, proc.stdout[-3000:]
            assert "CheckFailed" in proc.stdout
