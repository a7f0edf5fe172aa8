"""New variants of an assignment: fresh problem parameters each term, validated before release.

``autograder variant new BASE --name NAME`` draws new parameters from a seed (``--set``
overrides any of them), writes the variant's notebook and parameter file into a *staging*
copy of the course, and checks it there:

1. the book's training loop, run with the reference solution, converges with the chosen
   hyperparameters (several data sets, random and zero start, uneven batches);
2. nbgrader generates the release (the stubs);
3. the reference scores full marks, the stubs zero, every wrong submission of the kit's
   corpus loses points at its part, and every differently-right one keeps full marks.

Only then are ``solutions/NAME/`` copied into the course and ``assignments/NAME/``
generated with nbgrader. A refused variant leaves nothing behind, and the refusal says
which parameter to change. A variant uses its base's hidden suite, which reads the
parameters from ``solutions/NAME/assignment.json``.
"""

from __future__ import annotations

import ast
import importlib
import json
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from autograder.assignment import SETUP_GRADE_ID, Assignment, AssignmentError, list_assignments
from autograder.notebook import cell_by_grade_id

# The parameters of a variant, in the order they are drawn and shown, and the name each has in
# the notebook's set-up cell.
SETUP_NAMES = {"true_w": "true_w", "true_b": "true_b", "num_examples": "num_examples",
               "noise": "noise_std", "batch_size": "batch_size", "lr": "lr", "num_epochs": "num_epochs"}
INTEGER_PARAMS = {"num_examples", "batch_size", "num_epochs"}
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")

# What the kit supports at all (``--set`` beyond these is refused before anything runs).
MAX_STEPS = 10_000  # epochs * batches per epoch: the grader runs the loop 3 times per student
LIMITS = {"d": (2, 10), "abs_value": 50.0, "num_examples": (100, 10_000), "noise": (0.001, 0.5),
          "batch_size": (2, 1000), "lr": (1e-4, 10.0), "num_epochs": (1, 100)}

# Where random draws come from: the book's scale, and small enough to grade quickly.
DRAW_NOISES = (0.005, 0.01, 0.02, 0.03, 0.05)
DRAW_BATCH_SIZES = (2, 4, 5, 8, 10, 16, 20, 25, 32)
DRAW_LRS = (0.01, 0.02, 0.03, 0.05, 0.1, 0.2)
DRAW_MAX_STEPS = 1500
DRAW_MAX_EPOCHS = 10


class VariantError(Exception):
    """The variant was not created; the message says why and what to change."""


# -- parameters ----------------------------------------------------------------------------


def parse_overrides(items: list[str], known: list[str]) -> dict[str, Any]:
    """``["lr=0.05", "true_w=[1,2,3]"]`` -> values, checked for type (ranges come later)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise VariantError(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(known)}")
        text = text.strip()
        if key == "true_w" and not text.startswith("["):
            text = f"[{text}]"
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise VariantError(f"--set {item!r}: {text!r} is not a number (or a list for true_w)") from None
        out[key] = coerce(key, value)
    return out


def coerce(key: str, value: Any) -> Any:
    """The parameter in its JSON type: a list of floats, a float or an int."""
    def number(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise VariantError(f"{key} = {value!r}: expected a finite number")
        return float(v)

    if key == "true_w":
        if not isinstance(value, list):
            raise VariantError(f"true_w = {value!r}: expected a list of numbers, e.g. [2, -3.4]")
        return [number(v) + 0.0 for v in value]
    if key in INTEGER_PARAMS:
        v = number(value)
        if v != int(v):
            raise VariantError(f"{key} = {value!r}: expected a whole number")
        return int(v)
    return number(value)


def stability_limit(d: int, batch_size: int) -> float:
    """The largest lr for which minibatch SGD on N(0, 1) features stays stable in mean square.

    With x ~ N(0, I) the step's second moment is 1 + (d + 2) / batch_size (the bias adds one
    more feature of 1s), so the squared error shrinks per step by
    1 - 2 lr + lr^2 (1 + (d + 2) / batch_size), which is below 1 only for lr under this.
    """
    return 2 / (1 + (d + 2) / batch_size)


def steps_needed(params: dict[str, Any], target: float) -> float:
    """Steps of the book's loop until the error in (w, b) falls from |(w, b)| to ``target``."""
    d, bs, lr = len(params["true_w"]), params["batch_size"], params["lr"]
    shrink = 1 - 2 * lr + lr**2 * (1 + (d + 2) / bs)  # of the mean squared error, per step
    if shrink >= 1:
        return math.inf
    start = math.sqrt(sum(v * v for v in params["true_w"]) + params["true_b"] ** 2)
    return max(0.0, math.log(max(start, target) / target) / (-0.5 * math.log(shrink)))


def batches_per_epoch(params: dict[str, Any]) -> int:
    return -(-params["num_examples"] // params["batch_size"])


def check_limits(params: dict[str, Any]) -> list[str]:
    """What is outside the kit's supported ranges, each with the parameter to change."""
    problems = range_problems(params)
    if problems:
        return problems
    if params["batch_size"] > params["num_examples"]:
        problems.append(f"batch_size = {params['batch_size']} is larger than num_examples = "
                        f"{params['num_examples']}")
    steps = params["num_epochs"] * batches_per_epoch(params)
    if steps > MAX_STEPS:
        problems.append(f"num_epochs × batches per epoch = {params['num_epochs']} × "
                        f"{batches_per_epoch(params)} = {steps} steps, over the grader's budget of "
                        f"{MAX_STEPS} per training run: lower num_epochs or num_examples, or raise "
                        "batch_size")
    return problems


def range_problems(params: dict[str, Any]) -> list[str]:
    """Each parameter on its own against ``LIMITS``."""
    problems = []
    d = len(params["true_w"])
    lo, hi = LIMITS["d"]
    if not lo <= d <= hi:
        problems.append(f"true_w has {d} values; variants support {lo} to {hi} features")
    big = LIMITS["abs_value"]
    if any(abs(v) > big for v in [*params["true_w"], params["true_b"]]):
        problems.append(f"true_w and true_b must lie within ±{big:g}")
    why = {"batch_size": " (with batch_size 1 an sgd that forgets to divide by it is right by accident, "
                         "so the kit could not catch that mistake)",
           "noise": " (the noise test measures it; without noise it has nothing to measure)"}
    for key in ("num_examples", "noise", "batch_size", "lr", "num_epochs"):
        lo, hi = LIMITS[key]
        if not lo <= params[key] <= hi:
            problems.append(f"{key} = {params[key]:g} is outside {lo:g}..{hi:g}"
                            + (why.get(key, "") if params[key] < lo else ""))
    return problems


def draw_params(profile: Profile, seed: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """New parameters from ``seed``; ``overrides`` win, and the rest adapt to them.

    Every random number is drawn up front in a fixed order, so ``--set lr=...`` leaves the
    other draws of the same seed as they were. lr is drawn from the rates well inside SGD's
    stability limit for this d and batch_size, and num_epochs from the steps that lr needs.
    """
    rng = np.random.default_rng(seed)
    d = int(rng.integers(LIMITS["d"][0], LIMITS["d"][1] + 1))
    w = [round(float(v), 1) + 0.0 for v in rng.uniform(-5, 5, size=10)][:d]
    drawn: dict[str, Any] = {
        "true_w": w,
        "true_b": round(float(rng.uniform(-5, 5)), 1) + 0.0,
        "num_examples": int(rng.integers(200, 1201)),
        "noise": float(rng.choice(DRAW_NOISES)),
        "batch_size": int(rng.choice(DRAW_BATCH_SIZES)),
    }
    lr_pick, epoch_slack = float(rng.uniform()), int(rng.integers(0, 2))
    params = {**drawn, **{k: v for k, v in overrides.items() if k in drawn}}
    if range_problems({**params, "lr": overrides.get("lr", DRAW_LRS[0]),
                       "num_epochs": overrides.get("num_epochs", 1)}):
        # Nothing sensible to adapt to: keep the draw as it is, check_limits will refuse it.
        params = {"lr": DRAW_LRS[0], "num_epochs": 1, **params, **overrides}
        return {key: params[key] for key in SETUP_NAMES}
    if "lr" in overrides:
        params["lr"] = overrides["lr"]
    else:
        candidates = [lr for lr in DRAW_LRS
                      if lr <= stability_limit(len(params["true_w"]), params["batch_size"]) / 3]
        feasible = [lr for lr in candidates if draw_epochs(profile, {**params, "lr": lr}) <= DRAW_MAX_EPOCHS
                    and draw_epochs(profile, {**params, "lr": lr}) * batches_per_epoch(params)
                    <= DRAW_MAX_STEPS]
        pool = feasible or candidates[-1:] or [DRAW_LRS[0]]
        params["lr"] = pool[min(int(lr_pick * len(pool)), len(pool) - 1)]
    if "num_epochs" in overrides:
        params["num_epochs"] = overrides["num_epochs"]
    else:
        epochs = draw_epochs(profile, params)
        params["num_epochs"] = epochs + epoch_slack if epochs < DRAW_MAX_EPOCHS else epochs
    return {key: params[key] for key in SETUP_NAMES}


def draw_epochs(profile: Profile, params: dict[str, Any]) -> int:
    """Epochs for 1.5 times the steps the theory says the loop needs: at least 2, and within the
    grader's budget (an lr that cannot converge is left for the convergence check to refuse)."""
    most = min(LIMITS["num_epochs"][1], MAX_STEPS // batches_per_epoch(params))
    steps = steps_needed(params, profile.target(params))
    if not math.isfinite(steps):
        return min(DRAW_MAX_EPOCHS, most)
    return max(1, min(most, max(2, math.ceil(1.5 * steps / batches_per_epoch(params)))))


# -- the notebook --------------------------------------------------------------------------


def number(x: float) -> str:
    """A number as the prose writes it: 2, -3.4, 0.01."""
    return f"{x:g}"


def sci(x: float, up: bool = False) -> str:
    """One significant digit in the notebook's style, "5e-5"; ``up`` rounds up, not to nearest."""
    exponent = math.floor(math.log10(x))
    mantissa = x / 10**exponent
    digit = math.ceil(mantissa - 1e-9) if up else round(mantissa)
    if digit >= 10:
        digit, exponent = 1, exponent + 1
    return f"{digit}e{exponent}"


def one_digit(x: float) -> str:
    return number(float(f"{x:.1g}"))


def python_literal(key: str, value: Any) -> str:
    """The right-hand side of the set-up cell's line for a parameter."""
    if key == "true_w":
        return f"torch.tensor([{', '.join(repr(float(v)) for v in value)}])"
    return repr(value)


def setup_values(code: str) -> dict[str, Any]:
    """The constants a set-up cell assigns (``x = 3``, ``w = torch.tensor([...])``), read without
    running it: the trusted side does not import torch."""
    values: dict[str, Any] = {}
    for node in ast.parse(code).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            continue
        expr = node.value
        if isinstance(expr, ast.Call) and len(expr.args) == 1:
            expr = expr.args[0]  # torch.tensor([...])
        try:
            values[node.targets[0].id] = ast.literal_eval(expr)
        except ValueError:
            continue
    return values


def setup_mismatches(code: str, params: dict[str, Any]) -> list[str]:
    """Parameters the set-up cell does not carry, or carries with another value."""
    found = setup_values(code)
    wrong = []
    for key, var in SETUP_NAMES.items():
        if key not in params:
            continue
        got, want = found.get(var), params[key]
        same = (got is not None and np.shape(got) == np.shape(want)
                and np.allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=1e-9))
        if not same:
            wrong.append(f"{var} = {got!r} in the set-up cell, {want!r} in assignment.json")
    return wrong


def rewrite_setup(code: str, params: dict[str, Any]) -> str:
    for key, value in params.items():
        var = SETUP_NAMES[key]
        pattern = re.compile(rf"^{re.escape(var)}\s*=.*$", re.MULTILINE)
        if len(pattern.findall(code)) != 1:
            raise AssignmentError(f"the base's set-up cell must assign {var} exactly once, on one line")
        code = pattern.sub(lambda _m, var=var, key=key, value=value: f"{var} = {python_literal(key, value)}",
                           code)
    return code


def variant_notebook(base: Assignment, profile: Profile, name: str,
                     params: dict[str, Any]) -> nbformat.NotebookNode:
    """The base's source notebook with the new numbers in its set-up cell and its prose."""
    nb = nbformat.read(base.source_notebook, as_version=4)
    setup = cell_by_grade_id(nb, SETUP_GRADE_ID)
    if setup is None:
        raise AssignmentError(f"{base.source_notebook} has no set-up cell (grade_id 'setup')")
    setup.source = rewrite_setup(setup.source, params)
    for old, new in profile.prose(base.params, params):
        hits = [cell for cell in nb.cells if old in cell.source]
        if not hits:
            raise AssignmentError(f"the text {old[:60]!r} is no longer in {base.source_notebook.name}; "
                                  "update the prose rules in autograder/variants.py")
        for cell in hits:
            cell.source = cell.source.replace(old, new)
    nb.metadata.setdefault("autograder", {})["assignment"] = name
    return nb


# -- what each suite needs ----------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One run of the book's loop with the reference: where it ended."""
    what: str
    w: np.ndarray
    b: np.ndarray
    losses: list[float]


@dataclass(frozen=True)
class Profile:
    """What ``variant new`` must know about a suite."""

    # (base params, new params) -> [(text in the base notebook, its replacement)]
    prose: Callable[[dict[str, Any], dict[str, Any]], list[tuple[str, str]]]
    # Runs the book's loop with the reference the way the suite does: (student, params, seed) -> runs
    runs: Callable[[Any, dict[str, Any], int], list[Run]]
    tolerance: Callable[[dict[str, Any]], float]  # the suite's bound on |learned - true|
    loss_bound: Callable[[dict[str, Any]], float]  # the notebook's visible bound on the final loss
    part_params: dict[str, tuple[str, ...]]  # the parameters each part's tests depend on
    case_hints: dict[str, str] = field(default_factory=dict)  # corpus case -> what to change if not caught
    shared_parts: tuple[str, ...] = ()  # parts whose tests call several of the student's functions

    def target(self, params: dict[str, Any]) -> float:
        """How close the loop must bring (w, b) to release: a quarter of the tolerance, and a
        final loss (noise^2 / 2 plus |error|^2 / 2) under half the visible bound."""
        room = max(self.loss_bound(params) - params["noise"] ** 2, 1e-12)
        return min(self.tolerance(params) / 4, math.sqrt(room) / 2)


def scratch_loss_bound(params: dict[str, Any]) -> float:
    """The check cell's bound on the final loss: 1e-3, or 4 times the noise floor if higher."""
    return float(sci(max(1e-3, 2 * params["noise"] ** 2), up=True))


def scratch_prose(base: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    def problem(p: dict[str, Any]) -> str:
        w = ", ".join(number(v) for v in p["true_w"])
        return (f"with $\\mathbf{{w}} = [{w}]^\\top$, $b = {number(p['true_b'])}$ and $\\sigma$ = "
                f"`noise_std` = {number(p['noise'])}")

    def bound(p: dict[str, Any]) -> str:
        b = sci(scratch_loss_bound(p))
        return f'assert train_losses[-1] < {b}, f"the loss should end below {b};'

    def uneven(p: dict[str, Any]) -> str:
        k = 2 * p["batch_size"] + 3
        return f"features[:{k}], labels[:{k}]"

    limit = stability_limit(len(new["true_w"]), new["batch_size"])
    small, lr, mid, big = new["lr"] / 30, new["lr"], limit / 4, 2.5 * limit
    moderate = f"{number(lr)}, {one_digit(mid)}" if mid > 2 * lr else number(lr)
    rates = f"{one_digit(small)}, {moderate} and {one_digit(big)}"
    rubric = (f"Too small ({one_digit(small)}): the loss\nfalls slowly and is still high after "
              f"{new['num_epochs']} epochs (2). Moderate ({moderate}): fast convergence to the\n"
              f"noise floor (about {sci(new['noise'] ** 2 / 2)}). Too large ({one_digit(big)} or more): "
              "steps overshoot, the loss oscillates or grows\nand can diverge to inf/nan (2).")
    return [
        (problem(base), problem(new)),
        (bound(base), bound(new)),
        (uneven(base), uneven(new)),
        ("(for example 0.001, 0.03, 0.3 and 1.5)", f"(for example {rates})"),
        ("Too small (0.001): the loss\nfalls slowly and is still high after 3 epochs (2). Moderate "
         "(0.03, 0.3): fast convergence to the\nnoise floor (about 5e-5). Too large (1.5 or more): "
         "steps overshoot, the loss oscillates or grows\nand can diverge to inf/nan (2).", rubric),
    ]


def scratch_runs(student: Any, params: dict[str, Any], seed: int) -> list[Run]:
    """The suite's three training checks (random start, zero start, uneven batches) on one seed."""
    from autograder.suites.linreg_scratch import training as suite

    rng = np.random.default_rng(seed)
    configs = [("random start", params["num_examples"], False),
               ("zero start", params["num_examples"], True),
               (f"{suite.uneven_count(params)} examples", suite.uneven_count(params), False)]
    runs = []
    for what, n, zero in configs:
        out = suite.run_loop(student, rng, params, n, zero_init=zero, timeout=120)
        runs.append(Run(what, np.asarray(out["w"]["value"], float).reshape(-1),
                        np.asarray(out["b"]["value"], float).reshape(-1),
                        [float(v) for v in out["losses"]]))
    return runs


def scratch_tolerance(params: dict[str, Any]) -> float:
    from autograder.suites.linreg_scratch import training as suite

    return float(suite.tolerance(params))


PROFILES: dict[str, Profile] = {
    "linreg_scratch": Profile(
        prose=scratch_prose, runs=scratch_runs, tolerance=scratch_tolerance,
        loss_bound=scratch_loss_bound,
        part_params={"synthetic_data": ("true_w", "true_b", "num_examples", "noise"),
                     "data_iter": ("batch_size",), "linreg": (), "squared_loss": (),
                     "sgd": ("lr", "batch_size"),
                     "training": ("lr", "batch_size", "num_epochs", "num_examples", "noise")},
        shared_parts=("training",),
        case_hints={"noise at the wrong scale": "change noise: this case adds noise of standard deviation "
                                                "0.1, which is right when noise is within 15% of 0.1"}),
}


def profile_for(asg: Assignment) -> Profile:
    if asg.suite not in PROFILES:
        raise VariantError(f"the suite {asg.suite!r} has no variant support (known: {', '.join(PROFILES)})")
    return PROFILES[asg.suite]


# -- validation ----------------------------------------------------------------------------


def check_convergence(asg: Assignment, profile: Profile, seeds: int = 3) -> tuple[list[str], dict[str, Any]]:
    """Run the book's loop with the reference solution; refuse lr that diverges or epochs that stall."""
    from autograder.engine.student import Student, StudentError, WorkerFault, derive_seed

    p = asg.params
    student = Student(setup=asg.setup_code(), cells=asg.solution_cells(), probe_module=asg.probe_module,
                      seed_base=f"{asg.name}:convergence")
    try:
        runs = [run for i in range(seeds)
                for run in profile.runs(student, p, derive_seed(asg.name, "convergence", str(i)))]
    except (StudentError, WorkerFault) as exc:
        return [f"the reference solution failed in the book's loop: {exc}"], {}
    finally:
        student.close()
    true_w, true_b = np.asarray(p["true_w"], float), float(p["true_b"])
    tol, bound = profile.tolerance(p), profile.loss_bound(p)
    errors = [float(max(np.abs(r.w - true_w).max(), np.abs(r.b - true_b).max()))
              if r.w.shape == true_w.shape and np.all(np.isfinite(r.w)) and np.all(np.isfinite(r.b))
              else math.inf for r in runs]
    finals = [r.losses[-1] if r.losses and np.all(np.isfinite(r.losses)) else math.inf for r in runs]
    summary = {"runs": len(runs), "worst_error": max(errors), "tolerance": tol,
               "worst_final_loss": max(finals), "loss_bound": bound}
    return diagnose(p, profile, runs, errors, finals), summary


def diagnose(p: dict[str, Any], profile: Profile, runs: list[Run], errors: list[float],
             finals: list[float]) -> list[str]:
    """Nothing if every run converged; else one message naming the parameter to change."""
    tol, bound = profile.tolerance(p), profile.loss_bound(p)
    diverged = [r for r, f in zip(runs, finals, strict=True)
                if not math.isfinite(f) or (f > r.losses[0] and f > bound)]
    stalled = [(r, e, f) for r, e, f in zip(runs, errors, finals, strict=True) if e > tol / 2 or f > bound / 2]
    if not diverged and not stalled:
        return []
    d, bs, lr, epochs = len(p["true_w"]), p["batch_size"], p["lr"], p["num_epochs"]
    limit = stability_limit(d, bs)
    if diverged or lr > limit / 2:
        run = diverged[0] if diverged else stalled[0][0]
        blown = any(not math.isfinite(f) for f in finals)
        how = "diverges" if blown else "does not settle (its loss grows)" if diverged else "does not settle"
        return [f"lr = {number(lr)} is too large for batch_size = {bs} and d = {d}: the book's loop with "
                f"the reference solution {how} ({run.what}: loss per epoch {curve(run.losses)}). Minibatch "
                f"SGD here is stable only up to about lr = {limit:.2g} (2 / (1 + (d + 2) / batch_size)); "
                f"change lr to {one_digit(limit / 3)} or less, or raise batch_size."]
    run, err, final = max(stalled, key=lambda s: s[1])
    where = (f"the reference solution ends {err:.3g} from the true parameters at loss {final:.3g} "
             f"({run.what}: loss per epoch {curve(run.losses)}); a release needs at most {tol / 2:.3g} "
             f"(half the hidden tests' tolerance) and a loss under {bound / 2:.3g}")
    steps = epochs * batches_per_epoch(p)
    levelled = len(run.losses) < 2 or run.losses[-1] > 0.5 * run.losses[-2]
    if levelled and steps_needed(p, profile.target(p)) <= steps:
        # Enough steps to get there, and the loss has levelled off above the bound: more epochs
        # will not help, smaller steps will.
        return [f"lr = {number(lr)} leaves the steps jittering around the solution with batch_size = {bs} "
                f"and noise = {number(p['noise'])}: {where}. Change lr to {one_digit(lr / 2)} (with more "
                "num_epochs) or raise batch_size."]
    need = steps_needed(p, profile.target(p)) * 1.5
    suggest = max(epochs + 1, math.ceil(need / batches_per_epoch(p)))
    fix = f"change num_epochs to {suggest} or more"
    if suggest * batches_per_epoch(p) > MAX_STEPS:
        fix = f"raise lr (stable up to about {limit:.2g}; {one_digit(limit / 3)} is safe)"
    elif lr < limit / 6:
        fix += f", or raise lr (stable up to about {limit:.2g})"
    return [f"num_epochs = {epochs} is too few for lr = {number(lr)}: after {epochs} epochs "
            f"({steps} steps) {where}. {fix[0].upper() + fix[1:]}."]


def curve(losses: list[float]) -> str:
    """A loss curve for a message: the first five epochs and the last."""
    shown = losses if len(losses) <= 6 else [*losses[:5], losses[-1]]
    return ", ".join(f"{v:.3g}" for v in shown) + (" (last)" if len(losses) > 6 else "")


def check_grading(course: Path, name: str, profile: Profile, log: Callable[[str], None],
                  students: int = 2) -> tuple[list[str], dict[str, Any]]:
    """Grade the reference, the stubs and the corpus on the variant, in the staging course."""
    from autograder.corpus import release_path, solution_path, submission, write
    from autograder.engine.runner import grade_notebook
    from autograder.results import part_scores

    asg = Assignment.load(name, course)
    corpus = importlib.import_module(f"autograder.corpus.{asg.suite}")
    work = course / "validation"

    def grade(path: Path, student: str = "validation", parts: set[str] | None = None) -> dict[str, Any]:
        return grade_notebook(path, name, course_root=course, device="cpu", student_id=student, parts=parts)

    problems: list[str] = []

    def part_hint(parts: list[str]) -> str:
        keys = sorted({k for part in parts for k in profile.part_params.get(part, ())})
        return f"; change {', '.join(keys)}" if keys else ""

    reference = [grade(solution_path(name, course), f"validation-{i}") for i in range(students)]
    max_score = reference[0]["max_score"]
    for result in reference:
        failed = [t for t in result["tests"] if t["status"] == "failed"]
        if result["score"] != max_score or result["extra_data"]["grading_errors"]:
            detail = "; ".join(f"{t['name']}: {t['output'].splitlines()[0]}" for t in failed[:3])
            problems.append(f"the reference solution scores {result['score']:g}/{max_score:g} "
                            f"(student {result['extra_data']['student']}: {detail})"
                            + part_hint([t["tags"][0] for t in failed]))
    scores = ", ".join(f"{r['score']:g}" for r in reference)
    log(f"  reference: {scores} / {max_score:g} ({students} students)")
    stubs = grade(release_path(name, course))
    if stubs["score"] != 0 or stubs["extra_data"]["grading_errors"]:
        problems.append(f"the stubs score {stubs['score']:g}/{max_score:g}; they must score 0")
    log(f"  stubs: {stubs['score']:g} / {max_score:g}")

    wrong = []
    for i, case in enumerate(corpus.WRONG):
        # Caught means: the part the mistake is in (named first in ``expected``) loses points.
        # Only that part's tests need to run for that.
        part = next(iter(case.expected))
        result = grade(write(submission(name, case.cells, root=course), work / f"wrong{i}" / f"{name}.ipynb"),
                       parts={part})
        got, out_of = part_scores(result).get(part, (0.0, 0.0))
        caught = got < out_of and not result["extra_data"]["grading_errors"]
        wrong.append({"case": case.name, "part": part, "score": got, "max_score": out_of,
                      "base_expected": case.expected[part], "caught": caught})
        if not caught:
            hint = profile.case_hints.get(case.name)
            problems.append(f"the corpus case {case.name!r} is no longer caught: its part {part} scores "
                            f"{got:g}/{out_of:g} on this variant, so the mistake passes as right"
                            + (f"; {hint}" if hint else part_hint([part])))
    log(f"  wrong corpus: {sum(w['caught'] for w in wrong)} of {len(wrong)} caught at their part")
    right = []
    known_parts = set(asg.parts())
    for i, case in enumerate(corpus.RIGHT):
        # A right answer can only lose points where its functions are called: its own parts
        # (an answer cell's grade_id names its part) and the parts that use several functions.
        parts = set(case.cells) | set(profile.shared_parts) if set(case.cells) <= known_parts else None
        result = grade(write(submission(name, case.cells, root=course), work / f"right{i}" / f"{name}.ipynb"),
                       parts=parts)
        right.append({"case": case.name, "score": result["score"], "max_score": result["max_score"]})
        if result["score"] != result["max_score"]:
            failed = [t for t in result["tests"] if t["status"] == "failed"]
            problems.append(f"the differently-right corpus case {case.name!r} scores {result['score']:g}/"
                            f"{result['max_score']:g}" + part_hint([t["tags"][0] for t in failed]))
    log(f"  right corpus: {sum(r['score'] == r['max_score'] for r in right)} of {len(right)} full marks")
    shutil.rmtree(work, ignore_errors=True)
    return problems, {"max_score": max_score, "reference": [r["score"] for r in reference],
                      "stubs": stubs["score"], "wrong": wrong, "right": right}


# -- creating, releasing, listing ----------------------------------------------------------


def root_base(name: str, course: Path) -> Assignment:
    """The assignment a variant is made from: a variant of a variant is one of the original."""
    asg = Assignment.load(name, course)
    base = json.loads((course / "solutions" / name / "assignment.json").read_text()).get("base")
    return Assignment.load(base, course) if base else asg


def write_variant(course: Path, base: Assignment, profile: Profile, name: str, params: dict[str, Any],
                  provenance: dict[str, Any]) -> Path:
    """``solutions/NAME/`` in ``course``: the notebook, assignment.json, and the base's other files."""
    folder = course / "solutions" / name
    shutil.copytree(base.source_notebook.parent, folder,
                    ignore=shutil.ignore_patterns("*.ipynb", "assignment.json", ".ipynb_checkpoints"))
    nb = variant_notebook(base, profile, name, params)
    nbformat.write(nb, folder / f"{name}.ipynb")
    config = {"suite": base.suite, "base": base.name, **provenance, "params": params}
    text = json.dumps(config, indent=2)
    # Lists of numbers on one line, like the base's file: "true_w": [2.0, -3.4]
    text = re.sub(r"\[\s+([-+0-9.eE,\s]+?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m[1]) + "]", text)
    (folder / "assignment.json").write_text(text + "\n")
    wrong = setup_mismatches(cell_by_grade_id(nb, SETUP_GRADE_ID).source, params)
    if wrong:
        raise AssignmentError("the variant's set-up cell does not carry its parameters: " + "; ".join(wrong))
    return folder


def create_variant(base_name: str, name: str, *, course: Path, seed: int | None = None,
                   overrides: dict[str, Any] | None = None, dry_run: bool = False,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Draw, write, validate and release a variant (``dry_run``: only validate); raises
    ``VariantError``, leaving nothing behind, if refused."""
    course = course.resolve()
    if not NAME_PATTERN.match(name):
        raise VariantError(f"--name {name!r}: use letters, digits, '_' and '-', starting with a letter")
    for folder in ("solutions", "assignments"):
        if (course / folder / name).exists():
            raise VariantError(f"{folder}/{name} already exists in {course}: choose another --name")
    try:
        base = root_base(base_name, course)
    except AssignmentError as exc:
        raise VariantError(str(exc)) from None
    profile = profile_for(base)
    overrides = overrides or {}
    seed = secrets.randbelow(2**31) if seed is None else seed
    started = time.monotonic()
    params = draw_params(profile, seed, overrides)
    report: dict[str, Any] = {"name": name, "base": base.name, "seed": seed, "params": params}
    log(f"variant {name} of {base.name}, seed {seed}" + (f", set {sorted(overrides)}" if overrides else ""))
    log("  " + "  ".join(f"{k}={format_value(v)}" for k, v in params.items()))
    problems = check_limits(params)
    if problems:
        raise VariantError(refusal(name, problems))

    with tempfile.TemporaryDirectory(prefix="autograder-variant-") as tmp:
        staging = Path(tmp)
        shutil.copy2(course / "nbgrader_config.py", staging / "nbgrader_config.py")
        provenance = {"seed": seed, **({"set": sorted(overrides)} if overrides else {})}
        try:
            write_variant(staging, base, profile, name, params, provenance)
        except AssignmentError as exc:
            raise VariantError(str(exc)) from None
        variant = Assignment.load(name, staging)

        # nbgrader makes the stubs while the loop is checked; the staging course gets its own
        # gradebook, even if the course's config names a shared one. A copy of the course's saves
        # the seconds nbgrader takes to create an empty one.
        if (course / "gradebook.db").is_file():
            shutil.copy2(course / "gradebook.db", staging / "gradebook.db")
        stubs = start_nbgrader(["generate_assignment", name, "--force", f"--CourseDirectory.root={staging}",
                                f"--CourseDirectory.db_url=sqlite:///{staging / 'gradebook.db'}"], staging)
        try:
            log("checking that the book's loop converges with the reference solution ...")
            problems, report["convergence"] = check_convergence(variant, profile)
            report["seconds"] = {"convergence": round(time.monotonic() - started, 1)}
            if problems:
                raise VariantError(refusal(name, problems))
            c = report["convergence"]
            log(f"  {c['runs']} runs: worst error {c['worst_error']:.3g} (tests allow {c['tolerance']:.3g}), "
                f"worst final loss {c['worst_final_loss']:.3g} (notebook check < {c['loss_bound']:g})")
            log("generating the release (the stubs) in a staging course ...")
            _, err = stubs.communicate(timeout=600)
            if stubs.returncode:
                raise VariantError(refusal(name, [f"nbgrader generate_assignment failed:\n{err[-2000:]}"]))
            report["seconds"]["staging_release"] = round(time.monotonic() - started, 1)
        finally:
            if stubs.poll() is None:
                stubs.kill()
                stubs.communicate()

        log("grading the reference, the stubs and the corpus on the variant ...")
        problems, report["grading"] = check_grading(staging, name, profile, log)
        report["seconds"]["grading"] = round(time.monotonic() - started, 1)
        if problems:
            raise VariantError(refusal(name, problems))

        if dry_run:
            log(f"dry run: {name} passed every check; nothing was written (run without --dry-run to "
                "release it)")
            return report
        log(f"releasing: solutions/{name}/ and assignments/{name}/ (nbgrader generate_assignment) ...")
        install(course, staging, name)
    report["seconds"]["release"] = round(time.monotonic() - started, 1)
    log(f"released {name} in {time.monotonic() - started:.0f} s: solutions/{name}/{name}.ipynb -> "
        f"assignments/{name}/{name}.ipynb")
    return report


def install(course: Path, staging: Path, name: str) -> None:
    """Copy the validated source into the course and release it with nbgrader; if that fails or
    is interrupted, undo both (folders and gradebook entry)."""
    from autograder.course import nbgrader

    try:
        shutil.copytree(staging / "solutions" / name, course / "solutions" / name)
        made = nbgrader(["generate_assignment", name, "--force"], course, check=False, quiet=True)
        if made.returncode:
            raise VariantError(f"nbgrader could not release {name} in {course} (nothing was kept):\n"
                               f"{made.stderr[-2000:]}")
    except BaseException:
        shutil.rmtree(course / "solutions" / name, ignore_errors=True)
        shutil.rmtree(course / "assignments" / name, ignore_errors=True)
        nbgrader(["db", "assignment", "remove", name, "--force"], course, check=False, quiet=True)
        raise


def start_nbgrader(args: list[str], course: Path) -> subprocess.Popen:
    """``nbgrader ARGS`` in the background, with this environment's tools on PATH (as
    ``autograder.course.nbgrader`` runs it in the foreground)."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def refusal(name: str, problems: list[str]) -> str:
    return f"variant {name} refused, nothing was written:\n" + "\n".join(f"  - {p}" for p in problems)


def format_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(number(v) for v in value) + "]"
    return number(value) if isinstance(value, float) else str(value)


def family(course: Path, name: str) -> list[str]:
    """The base of ``name`` (or ``name`` itself) and every variant made from it."""
    base = root_base(name, course).name
    variants = [n for n in list_assignments(course) if n != base and
                json.loads((course / "solutions" / n / "assignment.json").read_text()).get("base") == base]
    return [base, *variants]


def variant_table(course: Path, name: str) -> str:
    """A plain aligned table: one row per assignment, one column per parameter."""
    header = ["assignment", "d", *SETUP_NAMES, "seed", "released"]
    rows = [header]
    for n in family(course, name):
        config = json.loads((course / "solutions" / n / "assignment.json").read_text())
        params = config.get("params", {})
        released = (course / "assignments" / n / f"{n}.ipynb").exists()
        rows.append([n + ("" if config.get("base") else " (base)"), str(len(params.get("true_w", []))),
                     *(format_value(params[k]) if k in params else "-" for k in SETUP_NAMES),
                     str(config.get("seed", "-")), "yes" if released else "no"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
