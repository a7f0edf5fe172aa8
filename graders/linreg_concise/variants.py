"""The concise assignment's variants: section 3.2's parameters and SGD theory (``linreg_scratch``),
with nn.MSELoss's gradient twice the book's loss (``lr_scale``), this notebook's prose, and its
``train_concise`` run exactly as its test of recovering w and b runs it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from linreg_scratch.variants import LinregRules, Run, bound_from

from autograder.variants.rewrite import sci
from autograder.variants.rules import Pairs, Params, number

from .suite import training as suite


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
    return float(suite.tolerance(np.zeros(len(params["true_w"])), params))


RULES = LinregRules(
    prose=concise_prose, code=concise_code, runs=concise_runs, tolerance=concise_tolerance,
    loss_bound=concise_loss_bound, lr_scale=2.0, loss_factor=1.0,
    part_params={"load_array": ("batch_size",), "linear_net": ("true_w",),
                 "train_concise": ("lr", "batch_size", "num_epochs", "num_examples", "noise", "true_w"),
                 "sum_reduction_lr": ("lr", "batch_size"), "huber_loss": (), "weight_grad": ()})
