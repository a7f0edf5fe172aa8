"""Training: the book's loop, built from the student's data_iter, linreg, squared_loss and sgd.

The data come from the grader (not the student's synthetic_data), so only the four
functions the loop uses are tested together here.
"""

import numpy as np
import pytest

from autograder.engine.checks import short, tensor_of
from autograder.suites.linreg_scratch.training import run_loop, tolerance, uneven_count

pytestmark = pytest.mark.tags("training")


def train(student, rng, params, n, zero_init=False, device="cpu"):
    check_recovered(*run_loop(student, rng, params, n, zero_init, device), params)


def check_recovered(result, true_w, true_b, params):
    w = tensor_of(result["w"], "The trained w").astype(np.float64).reshape(-1)
    b = tensor_of(result["b"], "The trained b").astype(np.float64).reshape(-1)
    losses = np.asarray(result["losses"], dtype=np.float64)
    seen = (f"learned w = {short(w)}, b = {short(b)}; true w = {short(true_w)}, "
            f"b = {true_b:g}; loss per epoch {short(losses)}")
    if not np.all(np.isfinite(losses)) or not np.all(np.isfinite(w)):
        raise AssertionError(f"Training diverged ({seen}). Usual causes: sgd steps up the "
                             "gradient, does not divide by batch_size, or never clears gradients.")
    tol = tolerance(params)
    ok = (w.shape == true_w.shape and np.abs(w - true_w).max() < tol
          and b.shape == (1,) and abs(b[0] - true_b) < tol)
    assert ok, (f"After {params['num_epochs']} epochs the model did not recover the true "
                f"parameters within {tol:.3g} ({seen}). Each of your functions passes or fails "
                "its own tests above; look there first.")


@pytest.mark.points(7)
def test_recovers_parameters_cpu(student, rng, params):
    """The training loop with your functions recovers w and b (CPU)
    The book's loop, the assignment's lr, batch_size and num_epochs, grader-made data."""
    train(student, rng, params, params["num_examples"])


@pytest.mark.points(4)
@pytest.mark.tags("exercise")
def test_recovers_from_zero_init(student, rng, params):
    """Exercise (a): training also works when w starts at zero
    For linear regression the loss is convex, so zero initialisation is fine."""
    train(student, rng, params, params["num_examples"], zero_init=True)


@pytest.mark.points(4)
@pytest.mark.tags("exercise")
def test_trains_when_batches_are_uneven(student, rng, params):
    """Exercise (c): training works when n is not a multiple of batch_size"""
    train(student, rng, params, uneven_count(params))


@pytest.mark.points(0)
def test_recovers_parameters_cuda(student, rng, params, cuda):
    """The training loop with your functions also runs on a CUDA device (no points)
    Only where the grading machine has a GPU; elsewhere reported as skipped."""
    train(student, rng, params, params["num_examples"], device="cuda")
