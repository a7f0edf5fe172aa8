"""The training checks' data, loop and tolerance, shared with ``autograder variant new``.

Validating a variant runs exactly this loop on the reference solution and holds it to a
stricter bound than this tolerance, so a correct student solution passes it on every
released variant.
"""

import numpy as np

from ..sgd import jitter


def truth(rng, params):
    """This run's true w and b: the assignment's values in a random order, with random signs.

    The magnitudes are the assignment's, so the loop converges exactly as fast and the
    tolerance holds; but the set-up cell's true_w and true_b are not the answer, so code that
    copies them into the parameters learns nothing (at least one sign is flipped).
    """
    w = rng.permutation(np.asarray(params["true_w"], dtype=np.float64))
    signs = np.ones(len(w) + 1)
    while (signs > 0).all():
        signs = rng.choice([-1.0, 1.0], size=len(w) + 1)
    return w * signs[:-1], float(params["true_b"]) * signs[-1]


def dataset(rng, params, n, w, b):
    X = rng.normal(0, 1, (n, len(w))).astype(np.float32)
    y = X @ w + b + rng.normal(0, params["noise"], n)
    return X, y.reshape(-1, 1).astype(np.float32)


def run_loop(student, rng, params, n, zero_init=False, device="cpu", timeout=30):
    """The book's loop on grader-made data: (what the probe saw, true w, true b).

    ``autograder variant new`` runs it on the reference solution.
    """
    w, b = truth(rng, params)
    X, y = dataset(rng, params, n, w, b)
    d = len(w)
    w0 = np.zeros((d, 1), np.float32) if zero_init else rng.normal(0, 0.01, (d, 1)).astype(np.float32)
    out = student.probe("train", what="the training loop", timeout=timeout, features=X, labels=y,
                        w0=w0, b0=np.zeros(1, np.float32), lr=params["lr"],
                        batch_size=params["batch_size"], num_epochs=params["num_epochs"],
                        device=device)
    return out, w, b


def uneven_count(params):
    """A number of examples near num_examples that batch_size does not divide."""
    n = params["num_examples"] + max(1, params["batch_size"] // 3)
    return n + 1 if n % params["batch_size"] == 0 else n


def tolerance(params):
    """How far a correct loop may leave w and b from the truth, for this variant's numbers.

    A fixed part, plus six standard deviations of the error a correct loop has (``sgd.jitter``).
    """
    true_w = np.asarray(params["true_w"], dtype=np.float64)
    spread = jitter(params["noise"], params["lr"], len(true_w), params["batch_size"], params["num_examples"])
    return 0.02 + 0.01 * np.abs(true_w).max() + 6 * spread
