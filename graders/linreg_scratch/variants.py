"""The variants of the linear-regression assignments: their parameters, how new ones are drawn so
that the book's loop converges, why a draw is refused, and this assignment's notebook rules.

``linreg_concise`` uses the same parameters and theory (``LinregRules``) with its own prose and
runs. The SGD theory itself is ``sgd``; the loop the validation runs is the suite's own
(``suite.training``), so the reference is checked exactly as students will be.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograder.variants.rewrite import one_digit, sci
from autograder.variants.rules import Pairs, Params, Rules, VariantError, number, reference_student

from . import sgd
from .suite import training as suite

# The parameters of a variant, in the order they are drawn and shown, and the name each has in
# the notebook's set-up cell.
SETUP_NAMES = {"true_w": "true_w", "true_b": "true_b", "num_examples": "num_examples",
               "noise": "noise_std", "batch_size": "batch_size", "lr": "lr", "num_epochs": "num_epochs"}
INTEGER_PARAMS = {"num_examples", "batch_size", "num_epochs"}

# What the kit supports at all (``--set`` beyond these is refused before anything runs).
MAX_STEPS = 10_000  # epochs * batches per epoch: the grader runs the loop several times per student
LIMITS = {"d": (2, 10), "abs_value": 50.0, "num_examples": (100, 10_000), "noise": (0.001, 0.5),
          "batch_size": (2, 1000), "lr": (1e-4, 10.0), "num_epochs": (1, 100)}

# Where random draws come from: the book's scale, and small enough to grade quickly.
DRAW_NOISES = (0.005, 0.01, 0.02, 0.03, 0.05)
DRAW_BATCH_SIZES = (2, 4, 5, 8, 10, 16, 20, 25, 32)
DRAW_LRS = (0.01, 0.02, 0.03, 0.05, 0.1, 0.2)
DRAW_MAX_STEPS = 1500
DRAW_MAX_EPOCHS = 10



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


def steps_needed(params: dict[str, Any], target: float, lr_scale: float = 1.0) -> float:
    """Steps of the book's loop until the error in (w, b) falls from |(w, b)| to ``target``;
    ``lr_scale`` is the loss's gradient relative to section 3.2's (2 for nn.MSELoss)."""
    d, bs, lr = len(params["true_w"]), params["batch_size"], params["lr"] * lr_scale
    per_step = sgd.shrink(lr, d, bs)  # of the mean squared error
    if per_step >= 1:
        return math.inf
    start = math.sqrt(sum(v * v for v in params["true_w"]) + params["true_b"] ** 2)
    return max(0.0, math.log(max(start, target) / target) / (-0.5 * math.log(per_step)))


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


def draw_params(profile: LinregRules, seed: int, overrides: dict[str, Any]) -> dict[str, Any]:
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
        limit = profile.lr_limit(params)
        candidates = [lr for lr in DRAW_LRS if lr <= limit / 3]
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


def draw_epochs(profile: LinregRules, params: dict[str, Any]) -> int:
    """Epochs for 1.5 times the steps the theory says the loop needs: at least 2, and within the
    grader's budget (an lr that cannot converge is left for the convergence check to refuse)."""
    most = min(LIMITS["num_epochs"][1], MAX_STEPS // batches_per_epoch(params))
    steps = steps_needed(params, profile.target(params), profile.lr_scale)
    if not math.isfinite(steps):
        return min(DRAW_MAX_EPOCHS, most)
    return max(1, min(most, max(2, math.ceil(1.5 * steps / batches_per_epoch(params)))))


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


@dataclass(frozen=True, kw_only=True)  # keywords only: the base's methods are its fields' defaults
class LinregRules(Rules):
    """The variant rules of a linear-regression assignment: the parameters above, drawn so that the
    book's loop converges, and the assignment's own prose, runs and tolerance."""

    prose: Callable[[Params, Params], Pairs]  # (base, new) -> [(text in the base notebook, replacement)]
    runs: Callable[[Any, Params, int], list[Run]]  # (student, params, seed): the loop as the suite runs it
    tolerance: Callable[[Params], float]  # the suite's bound on |learned - true| (the smallest, if it varies)
    loss_bound: Callable[[Params], float]  # the notebook's visible bound on the final loss
    part_params: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the parameters each part's tests use
    # (base, new) -> [(code, replacement)] in the answers: the notebook's and the corpus's alike
    code: Callable[[Params, Params], Pairs] = no_pairs
    case_hints: dict[str, str] = field(default_factory=dict)  # corpus case -> what to change if not caught
    shared_parts: tuple[str, ...] = ()  # parts whose tests call several of the student's functions
    # (variant notebook, params) -> problems in what the notebook shows (e.g. exercise (d)'s rates)
    notebook_checks: Callable[[Any, Params], list[str]] = lambda nb, params: []  # type: ignore[assignment]
    lr_scale: float = 1.0  # the loss's gradient relative to section 3.2's: 2 for nn.MSELoss
    loss_factor: float = 0.5  # final loss = loss_factor * (noise^2 + |error|^2): 1/2 for 3.2's loss

    def target(self, params: Params) -> float:
        """How close the loop must bring (w, b) to release: a quarter of the tolerance, and a
        final loss, loss_factor * (noise^2 + |error|^2), under half the visible bound."""
        room = max(self.loss_bound(params) / 2 / self.loss_factor - params["noise"] ** 2, 1e-12)
        return min(self.tolerance(params) / 4, math.sqrt(room) / 2)

    def lr_limit(self, params: Params) -> float:
        """The largest lr (the notebook's) for which the loop stays stable."""
        return sgd.stability_limit(len(params["true_w"]), params["batch_size"], self.lr_scale)

    setup_names = SETUP_NAMES

    def draw(self, seed: int, overrides: Params) -> Params:
        return draw_params(self, seed, overrides)

    def check_limits(self, params: Params) -> list[str]:
        return check_limits(params)

    def override_text(self, key: str, text: str) -> str:
        return f"[{text}]" if key == "true_w" and not text.startswith("[") else text

    def coerce(self, key: str, value: Any) -> Any:
        return coerce(key, value)

    def literal(self, key: str, value: Any) -> str:
        if key == "true_w":
            return f"torch.tensor([{', '.join(repr(float(v)) for v in value)}])"
        return repr(value)

    def columns(self, params: Params) -> dict[str, str]:
        return {"d": str(len(params.get("true_w", []))), **super().columns(params)}

    def check_convergence(self, assignment: Any, seeds: int = 3) -> tuple[list[str], Params]:
        return check_convergence(assignment, self, seeds)


def check_convergence(asg: Any, profile: LinregRules, seeds: int = 3) -> tuple[list[str], Params]:
    """Run the book's loop with the reference solution, as the suite does, and hold it to half the
    suite's tolerance; refuse lr that diverges or epochs that stall, naming the parameter to change."""
    from autograder.engine.student import StudentError, WorkerFault, derive_seed

    student = reference_student(asg, f"{asg.name}:convergence")
    try:
        runs = [run for i in range(seeds)
                for run in profile.runs(student, asg.params, derive_seed(asg.name, "convergence", str(i)))]
    except (StudentError, WorkerFault) as exc:
        return [f"the reference solution failed in the book's loop: {exc}"], {}
    finally:
        student.close()
    worst = max(runs, key=lambda r: r.error / r.tolerance)
    summary = {"runs": len(runs), "worst_error": worst.error, "tolerance": worst.tolerance,
               "worst_final_loss": max(r.final_loss for r in runs), "loss_bound": profile.loss_bound(asg.params)}
    summary["line"] = (f"{summary['runs']} runs: worst error {worst.error:.3g} (tests allow {worst.tolerance:.3g}), "
                       f"worst final loss {summary['worst_final_loss']:.3g} (notebook check < "
                       f"{summary['loss_bound']:g})")
    return diagnose(asg.params, profile, runs), summary


def diagnose(p: Params, profile: LinregRules, runs: list[Run]) -> list[str]:
    """Nothing if every run converged; else one message naming the parameter to change."""
    bound = profile.loss_bound(p)
    diverged = [r for r in runs if not math.isfinite(r.final_loss) or r.final_loss > max(r.losses[0], bound)]
    stalled = [r for r in runs if r.error > r.tolerance / 2 or r.final_loss > bound / 2]
    if not diverged and not stalled:
        return []
    d, bs, lr, epochs = len(p["true_w"]), p["batch_size"], p["lr"], p["num_epochs"]
    limit = profile.lr_limit(p)
    formula = sgd.FORMULA + (f" / {profile.lr_scale:g}" if profile.lr_scale != 1 else "")
    if diverged or lr > limit / 2:
        run = (diverged or stalled)[0]
        blown = any(not math.isfinite(r.final_loss) for r in runs)
        how = "diverges" if blown else "does not settle (its loss grows)" if diverged else "does not settle"
        return [f"lr = {number(lr)} is too large for batch_size = {bs} and d = {d}: the book's loop with "
                f"the reference solution {how} ({run.what}: loss {curve(run.losses)}). Minibatch SGD here "
                f"is stable only up to about lr = {limit:.2g} ({formula}); change lr to "
                f"{one_digit(limit / 3)} or less, or raise batch_size."]
    run = max(stalled, key=lambda r: r.error / r.tolerance)
    where = (f"the reference solution ends {run.error:.3g} from the true parameters at loss "
             f"{run.final_loss:.3g} ({run.what}: loss {curve(run.losses)}); a release needs at most "
             f"{run.tolerance / 2:.3g} (half the hidden tests' tolerance) and a loss under {bound / 2:.3g}")
    steps = epochs * batches_per_epoch(p)
    need = steps_needed(p, profile.target(p), profile.lr_scale)
    levelled = len(run.losses) < 2 or run.losses[-1] > 0.5 * run.losses[-2]
    if levelled and need <= steps:
        # Enough steps to get there, and the loss has levelled off above the bound: more epochs
        # will not help, smaller steps will.
        return [f"lr = {number(lr)} leaves the steps jittering around the solution with batch_size = {bs} "
                f"and noise = {number(p['noise'])}: {where}. Change lr to {one_digit(lr / 2)} (with more "
                "num_epochs) or raise batch_size."]
    suggest = max(epochs + 1, math.ceil(1.5 * need / batches_per_epoch(p)))
    fix = f"change num_epochs to {suggest} or more"
    if suggest * batches_per_epoch(p) > MAX_STEPS:
        fix = f"raise lr (stable up to about {limit:.2g}; {one_digit(limit / 3)} is safe)"
    elif lr < limit / 6:
        fix += f", or raise lr (stable up to about {limit:.2g})"
    return [f"num_epochs = {epochs} is too few for lr = {number(lr)}: after {epochs} epochs "
            f"({steps} steps) {where}. {fix[0].upper() + fix[1:]}."]


def curve(losses: list[float]) -> str:
    """A loss for a message: per epoch, the first five and the last."""
    if len(losses) == 1:
        return f"{losses[0]:.3g} at the end"
    shown = losses if len(losses) <= 6 else [*losses[:5], losses[-1]]
    return "per epoch " + ", ".join(f"{v:.3g}" for v in shown) + (" (last)" if len(losses) > 6 else "")


# -- linreg_scratch (d2l 3.2) --------------------------------------------------------------


def bound_from(floor: float) -> float:
    """A visible bound on the final loss: 1e-3 (the base's), or 4 times the noise floor if higher."""
    return float(sci(max(1e-3, 4 * floor), up=True))


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
    limit = sgd.stability_limit(len(p["true_w"]), p["batch_size"])
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
    return float(suite.tolerance(params))


RULES = LinregRules(
    prose=scratch_prose, runs=scratch_runs, notebook_checks=scratch_notebook_checks,
    tolerance=scratch_tolerance, loss_bound=scratch_loss_bound,
    part_params={"synthetic_data": ("true_w", "true_b", "num_examples", "noise"),
                 "data_iter": ("batch_size",), "linreg": (), "squared_loss": (),
                 "sgd": ("lr", "batch_size"),
                 "training": ("lr", "batch_size", "num_epochs", "num_examples", "noise")},
    shared_parts=("training",),
    case_hints={"noise at the wrong scale": "change noise: this case adds noise of standard deviation "
                                            "0.1, which is right when noise is within 15% of 0.1"})
