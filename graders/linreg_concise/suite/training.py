"""train_concise's data, call and tolerance, shared with ``autograder variant new``.

Validating a variant runs the reference solution through exactly these and holds it to a
stricter bound than this tolerance, so a correct student solution passes on every released
variant.
"""

import numpy as np
from linreg_scratch.sgd import jitter

from autograder.checks import kind_name, tensor_of
from autograder.engine.student import StudentError


def problem(rng, params, n, d=None, w=None, b=None):
    """n examples of a fresh linear problem: (X, y, w, b), with the assignment's noise."""
    d = d or len(params["true_w"])
    w = rng.normal(0, 2, d).round(2) if w is None else np.asarray(w, dtype=np.float64)
    b = round(float(rng.uniform(-5, 5)), 2) if b is None else float(b)
    X = rng.normal(0, 1, (n, d)).astype(np.float32)
    y = X.astype(np.float64) @ w + b + rng.normal(0, params["noise"], n)
    return X, y.reshape(-1, 1).astype(np.float32), w, b


def train(student, rng, params, X, y, device="cpu", trace_steps=3, **kwargs):
    """train_concise(X, y, **kwargs) in the worker; its default num_epochs is the notebook's."""
    eval_X = rng.normal(0, 1, (20, X.shape[1])).astype(np.float32)
    # Even with batches of one example, the epochs need at most this many steps.
    max_steps = 2 * kwargs.get("num_epochs", params["num_epochs"]) * len(X) + 10
    try:
        out = student.probe("train_concise", what="train_concise", timeout=30, features=X, labels=y,
                            kwargs=kwargs, eval_X=eval_X, max_steps=max_steps, device=device,
                            trace_steps=trace_steps)
    except StudentError as exc:
        if "mat1 and mat2 shapes cannot be multiplied" in exc.message:
            raise AssertionError(
                f"Your code raised {exc.describe()}\nHint: the grader's features have {X.shape[1]} "
                "columns; make the net with linear_net(features.shape[1]), not a fixed number."
            ) from None
        raise
    return out, eval_X


def learned(out, eval_X):
    """The (w, b) the returned net computes, from its predictions (whatever its structure)."""
    net = out["returned"]
    assert net["kind"] == "module", (
        f"train_concise returns {kind_name(net)}; return the trained net (an nn.Module)."
    )
    assert out["forward_error"] is None, f"The returned net failed on new data: {out['forward_error']}"
    pred = tensor_of(out["predictions"], "net(X)").astype(np.float64)
    assert pred.size == len(eval_X), (
        f"The returned net gives {pred.size} values for {len(eval_X)} examples; expected one each."
    )
    A = np.hstack([eval_X, np.ones((len(eval_X), 1))]).astype(np.float64)
    coef, *_ = np.linalg.lstsq(A, pred.reshape(-1), rcond=None)
    return coef[:-1], coef[-1]


def tolerance(w, params):
    """How far a correct loop with the notebook's hyperparameters may leave w and b from the truth.

    A fixed part, plus six standard deviations of the error a correct loop has: nn.MSELoss's
    gradient is twice that of section 3.2's loss, so SGD jitters as with a learning rate of 2 lr
    (``linreg_scratch.sgd.jitter``).
    """
    spread = jitter(params["noise"], 2 * params["lr"], len(w), params["batch_size"], params["num_examples"])
    return 0.02 + 0.01 * np.abs(w).max() + 6 * spread
