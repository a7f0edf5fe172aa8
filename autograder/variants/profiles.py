"""What ``variant new`` must know about each suite: where the base notebook writes its numbers,
how the suite runs the training loop, its tolerance, and which parameters each part depends on.

A suite without a profile has no variants. To add one, write its prose rules (checked against
the base notebook every time a variant is made) and its ``runs``, which must call the suite's
own helpers so the reference is checked exactly as students will be.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograder.assignment import Assignment
from autograder.variants.notebook import number, one_digit, sci
from autograder.variants.params import VariantError, batches_per_epoch, stability_limit

Params = dict[str, Any]
Pairs = list[tuple[str, str]]


@dataclass(frozen=True)
class Run:
    """One run of the book's loop with the reference solution: where it ended, against what."""
    what: str
    w: np.ndarray
    b: np.ndarray
    true_w: np.ndarray
    true_b: float
    tolerance: float  # the suite's for this run's true parameters
    losses: list[float]  # per epoch, or only the final one

    @property
    def error(self) -> float:
        ok = self.w.shape == self.true_w.shape and np.all(np.isfinite(self.w)) and np.all(np.isfinite(self.b))
        return float(max(np.abs(self.w - self.true_w).max(), np.abs(self.b - self.true_b).max())) if ok \
            else math.inf

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses and np.all(np.isfinite(self.losses)) else math.inf


def no_pairs(base: Params, new: Params) -> Pairs:
    return []


@dataclass(frozen=True)
class Profile:
    """What ``variant new`` must know about a suite."""

    prose: Callable[[Params, Params], Pairs]  # (base, new) -> [(text in the base notebook, replacement)]
    runs: Callable[[Any, Params, int], list[Run]]  # (student, params, seed): the loop as the suite runs it
    tolerance: Callable[[Params], float]  # the suite's bound on |learned - true| (the smallest, if it varies)
    loss_bound: Callable[[Params], float]  # the notebook's visible bound on the final loss
    part_params: dict[str, tuple[str, ...]]  # the parameters each part's tests depend on
    # (base, new) -> [(code, replacement)] in the answers: the notebook's and the corpus's alike
    code: Callable[[Params, Params], Pairs] = no_pairs
    case_hints: dict[str, str] = field(default_factory=dict)  # corpus case -> what to change if not caught
    shared_parts: tuple[str, ...] = ()  # parts whose tests call several of the student's functions
    # (variant notebook, params) -> problems in what the notebook shows (e.g. exercise (d)'s rates)
    notebook_checks: Callable[[Any, Params], list[str]] = lambda nb, params: []
    lr_scale: float = 1.0  # the loss's gradient relative to section 3.2's: 2 for nn.MSELoss
    loss_factor: float = 0.5  # final loss = loss_factor * (noise^2 + |error|^2): 1/2 for 3.2's loss

    def target(self, params: Params) -> float:
        """How close the loop must bring (w, b) to release: a quarter of the tolerance, and a
        final loss, loss_factor * (noise^2 + |error|^2), under half the visible bound."""
        room = max(self.loss_bound(params) / 2 / self.loss_factor - params["noise"] ** 2, 1e-12)
        return min(self.tolerance(params) / 4, math.sqrt(room) / 2)

    def lr_limit(self, params: Params) -> float:
        """The largest lr (the notebook's) for which the loop stays stable."""
        return stability_limit(len(params["true_w"]), params["batch_size"]) / self.lr_scale


def bound_from(floor: float) -> float:
    """A visible bound on the final loss: 1e-3 (the base's), or 4 times the noise floor if higher."""
    return float(sci(max(1e-3, 4 * floor), up=True))


# -- linreg_scratch (d2l 3.2) --------------------------------------------------------------


def scratch_loss_bound(params: Params) -> float:
    return bound_from(params["noise"] ** 2 / 2)


def scratch_prose(base: Params, new: Params) -> Pairs:
    def problem(p: Params) -> str:
        w = ", ".join(number(v) for v in p["true_w"])
        return (f"with $\\mathbf{{w}} = [{w}]^\\top$, $b = {number(p['true_b'])}$ and $\\sigma$ = "
                f"`noise_std` = {number(p['noise'])}")

    def bound(p: Params) -> str:
        return f"loss_bound = {sci(scratch_loss_bound(p))}  # the loss per example at the end of training"

    def uneven(p: Params) -> str:
        k = 2 * p["batch_size"] + 3
        return f"features[:{k}], labels[:{k}]"

    def rates(p: Params) -> str:
        small, lr, mid, big = exercise_d_rates(p)
        return f"{small}, {lr}" + (f", {mid}" if mid else "") + f" and {big}"

    def code(p: Params) -> str:
        return f"rates = ({', '.join(r for r in exercise_d_rates(p) if r)})"

    def rubric(p: Params) -> str:
        small, lr, mid, big = exercise_d_rates(p)
        moderate = f"{lr}, {mid}" if mid else lr
        return (f"Too small ({small}): the loss\nfalls slowly and is still high after {p['num_epochs']} epochs (2). "
                f"Moderate ({moderate}): fast convergence to the\nnoise floor (about {sci(p['noise'] ** 2 / 2)}). "
                f"Too large ({big}): the steps overshoot, the loss grows at every step\nand reaches inf/nan "
                "within the first epoch (2).")

    return [
        (problem(base), problem(new)),
        (bound(base), bound(new)),
        (uneven(base), uneven(new)),
        (f"(for example {rates(base)})", f"(for example {rates(new)})"),
        (code(base) + "  #", code(new) + "  #"),
        (rubric(base), rubric(new)),
    ]


def exercise_d_rates(p: Params) -> tuple[str, str, str, str]:
    """Exercise (d)'s learning rates as the notebook writes them: slow (the notebook's lr / 30, and
    at most 1 / the number of steps, so that the error shrinks by no more than about e^-1 in
    training), the notebook's, a larger stable one (a quarter of SGD's stability limit; "" when
    not above twice lr) and one far past the limit (2.5 times it), which diverges at once."""
    limit = stability_limit(len(p["true_w"]), p["batch_size"])
    mid = limit / 4
    small = min(p["lr"] / 30, 1 / (p["num_epochs"] * batches_per_epoch(p)))
    return (one_digit(small), number(p["lr"]), one_digit(mid) if mid > 2 * p["lr"] else "",
            one_digit(2.5 * limit))


def book_loop_losses(p: Params, lr: float, seed: int) -> list[float]:
    """Section 3.2's loop (N(0, 1) features, w from N(0, 0.01), b = 0, minibatch SGD on the summed
    squared loss / 2, divided by batch_size) in numpy: the mean loss per epoch, inf once it blows up."""
    rng = np.random.default_rng(seed)
    n, bs, w_true = p["num_examples"], p["batch_size"], np.asarray(p["true_w"], float)
    X = rng.normal(0, 1, (n, len(w_true)))
    y = X @ w_true + p["true_b"] + rng.normal(0, p["noise"], n)
    w, b, losses = rng.normal(0, 0.01, len(w_true)), 0.0, []
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(p["num_epochs"]):
            order = rng.permutation(n)
            for i in range(0, n, bs):
                j = order[i:i + bs]
                r = X[j] @ w + b - y[j]
                w, b = w - lr * (X[j].T @ r) / bs, b - lr * r.sum() / bs
            loss = float(np.mean((X @ w + b - y) ** 2) / 2)
            losses.append(loss if np.isfinite(loss) else math.inf)
    return losses


def scratch_notebook_checks(nb: Any, p: Params) -> list[str]:
    """Exercise (d): its code cell, prose and rubric name the same rates, and at the notebook's
    parameters the smallest is slow and the largest diverges (the book's loop, 3 seeds)."""
    import ast

    small, lr, mid, big = exercise_d_rates(p)
    wanted = [float(r) for r in (small, lr, mid, big) if r]
    problems = []
    code = next((c.source for c in nb.cells if c.cell_type == "code" and "rates = (" in c.source), "")
    line = next((ln for ln in code.splitlines() if ln.startswith("rates = (")), "")
    try:
        in_code = [float(v) for v in ast.literal_eval(line.split("=", 1)[1].split("#")[0].strip())]
    except (ValueError, SyntaxError, IndexError, TypeError):
        in_code = []
    if in_code != wanted:
        problems.append(f"exercise (d)'s code cell loops over {in_code or 'no rates'}, not the rates its prose "
                        f"and rubric name ({', '.join(f'{v:g}' for v in wanted)})")
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    if f"Too small ({small})" not in text or f"Too large ({big})" not in text or f"{small}, {lr}" not in text:
        problems.append(f"exercise (d)'s prose or rubric does not name the rates {small} and {big}")
    runs = [book_loop_losses(p, wanted[-1], seed) for seed in range(3)]
    if not all(math.isinf(r[-1]) or r[-1] > 10 * r[0] for r in runs):
        problems.append(f"exercise (d)'s largest rate, {big}, does not diverge at these parameters (the book's "
                        f"loop ends at loss {max(r[-1] for r in runs):.3g}); the exercise would contradict its rubric")
    slow = [book_loop_losses(p, wanted[0], seed)[-1] for seed in range(3)]
    if min(slow) < 100 * scratch_loss_bound(p):
        problems.append(f"exercise (d)'s smallest rate, {small}, already reaches loss {min(slow):.3g} after "
                        f"{p['num_epochs']} epochs: it does not show slow training")
    return problems


def scratch_runs(student: Any, params: Params, seed: int) -> list[Run]:
    """The suite's three training checks (random start, zero start, uneven batches) on one seed."""
    from autograder.suites.linreg_scratch import training as suite

    rng = np.random.default_rng(seed)
    configs = [("random start", params["num_examples"], False),
               ("zero start", params["num_examples"], True),
               (f"{suite.uneven_count(params)} examples", suite.uneven_count(params), False)]
    runs = []
    for what, n, zero in configs:
        out, true_w, true_b = suite.run_loop(student, rng, params, n, zero_init=zero, timeout=120)
        runs.append(Run(what, np.asarray(out["w"]["value"], float).reshape(-1),
                        np.asarray(out["b"]["value"], float).reshape(-1), true_w, true_b,
                        float(suite.tolerance(params)), [float(v) for v in out["losses"]]))
    return runs


def scratch_tolerance(params: Params) -> float:
    from autograder.suites.linreg_scratch import training as suite

    return float(suite.tolerance(params))


SCRATCH = Profile(
    prose=scratch_prose, runs=scratch_runs, notebook_checks=scratch_notebook_checks,
    tolerance=scratch_tolerance, loss_bound=scratch_loss_bound,
    part_params={"synthetic_data": ("true_w", "true_b", "num_examples", "noise"),
                 "data_iter": ("batch_size",), "linreg": (), "squared_loss": (),
                 "sgd": ("lr", "batch_size"),
                 "training": ("lr", "batch_size", "num_epochs", "num_examples", "noise")},
    shared_parts=("training",),
    case_hints={"noise at the wrong scale": "change noise: this case adds noise of standard deviation "
                                            "0.1, which is right when noise is within 15% of 0.1"})


# -- linreg_concise (d2l 3.3) --------------------------------------------------------------


def concise_loss_bound(params: Params) -> float:
    return bound_from(params["noise"] ** 2)  # nn.MSELoss: no 1/2


def concise_signature(p: Params) -> str:
    """train_concise's defaults are the notebook's hyperparameters; its tests call it without them."""
    return f"batch_size={p['batch_size']}, lr={number(p['lr'])}, num_epochs={p['num_epochs']}"


def concise_code(base: Params, new: Params) -> Pairs:
    return [(concise_signature(base), concise_signature(new))]


def concise_prose(base: Params, new: Params) -> Pairs:
    def bound(p: Params) -> str:
        return f"loss_bound = {sci(concise_loss_bound(p))}  # nn.MSELoss at the end of training"

    def sum_rate(p: Params) -> str:
        return f"e.g. {number(p['lr'] / p['batch_size'])} instead of {number(p['lr'])}"

    def shape(p: Params) -> str:
        return f"weight's shape (1, {len(p['true_w'])})"

    return [(bound(base), bound(new)), (sum_rate(base), sum_rate(new)), (shape(base), shape(new))]


def concise_runs(student: Any, params: Params, seed: int) -> list[Run]:
    """train_concise with its default arguments (the notebook's hyperparameters) on three new
    problems, as its test of recovering w and b runs it."""
    from autograder.suites.linreg_concise import training as suite

    rng = np.random.default_rng(seed)
    runs = []
    for i in range(3):
        X, y, w, b = suite.problem(rng, params, params["num_examples"])
        out, eval_X = suite.train(student, rng, params, X, y, trace_steps=0)
        try:
            w_fit, b_fit = suite.learned(out, eval_X)
        except (AssertionError, np.linalg.LinAlgError):  # the net's predictions were not finite
            w_fit, b_fit = np.full(len(w), np.nan), math.nan
        # nn.MSELoss on the training data would be noise^2 plus the model's own squared error.
        error = eval_X.astype(float) @ (w_fit - w) + (b_fit - b)
        final = params["noise"] ** 2 + float(np.mean(error**2)) if np.all(np.isfinite(error)) else math.inf
        runs.append(Run(f"problem {i + 1}", np.asarray(w_fit, float), np.asarray([b_fit], float),
                        np.asarray(w, float), float(b), float(suite.tolerance(w, params)), [final]))
    return runs


def concise_tolerance(params: Params) -> float:
    """The suite's tolerance is larger for larger weights: its smallest, at w = 0."""
    from autograder.suites.linreg_concise import training as suite

    return float(suite.tolerance(np.zeros(len(params["true_w"])), params))


CONCISE = Profile(
    prose=concise_prose, code=concise_code, runs=concise_runs, tolerance=concise_tolerance,
    loss_bound=concise_loss_bound, lr_scale=2.0, loss_factor=1.0,
    part_params={"load_array": ("batch_size",), "linear_net": ("true_w",),
                 "train_concise": ("lr", "batch_size", "num_epochs", "num_examples", "noise", "true_w"),
                 "sum_reduction_lr": ("lr", "batch_size"), "huber_loss": (), "weight_grad": ()})

PROFILES: dict[str, Profile] = {"linreg_scratch": SCRATCH, "linreg_concise": CONCISE}


def profile_for(asg: Assignment) -> Profile:
    if asg.suite not in PROFILES:
        raise VariantError(f"the suite {asg.suite!r} has no variant support (known: {', '.join(PROFILES)})")
    return PROFILES[asg.suite]
