"""A variant's problem parameters: parsing ``--set``, the supported ranges, random draws, and the
bit of SGD theory that picks a learning rate and a number of epochs that converge."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from autograder.variants.profiles import Profile

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


class VariantError(Exception):
    """The variant was not created; the message says why and what to change."""


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
    """The largest step size for which minibatch SGD on N(0, 1) features stays stable in mean square.

    For section 3.2's loss (squared error / 2, gradient averaged over the batch) and x ~ N(0, I),
    the step's second moment is 1 + (d + 2) / batch_size (the bias adds one more feature of 1s),
    so the squared error shrinks per step by 1 - 2 lr + lr^2 (1 + (d + 2) / batch_size), which is
    below 1 only for lr under this. A loss with twice that gradient (nn.MSELoss) halves it.
    """
    return 2 / (1 + (d + 2) / batch_size)


def steps_needed(params: dict[str, Any], target: float, lr_scale: float = 1.0) -> float:
    """Steps of the book's loop until the error in (w, b) falls from |(w, b)| to ``target``;
    ``lr_scale`` is the loss's gradient relative to section 3.2's (2 for nn.MSELoss)."""
    d, bs, lr = len(params["true_w"]), params["batch_size"], params["lr"] * lr_scale
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
        limit = stability_limit(len(params["true_w"]), params["batch_size"]) / profile.lr_scale
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


def draw_epochs(profile: Profile, params: dict[str, Any]) -> int:
    """Epochs for 1.5 times the steps the theory says the loop needs: at least 2, and within the
    grader's budget (an lr that cannot converge is left for the convergence check to refuse)."""
    most = min(LIMITS["num_epochs"][1], MAX_STEPS // batches_per_epoch(params))
    steps = steps_needed(params, profile.target(params), profile.lr_scale)
    if not math.isfinite(steps):
        return min(DRAW_MAX_EPOCHS, most)
    return max(1, min(most, max(2, math.ceil(1.5 * steps / batches_per_epoch(params)))))
