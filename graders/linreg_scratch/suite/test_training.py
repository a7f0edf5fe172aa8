"""Training: the book's loop, built from the student's data_iter, linreg, squared_loss and sgd.

The data come from the grader (not the student's synthetic_data), so only the four
functions the loop uses are tested together here.
"""

import numpy as np
import pytest

from autograder.checks import close, short, tensor_of

from .training import run_loop, tolerance, uneven_count

pytestmark = pytest.mark.tags("training")


def train(student, rng, params, n, zero_init=False, device="cpu"):
    result, true_w, true_b = run_loop(student, rng, params, n, zero_init, device)
    check_sgd_happened(result, params)
    check_recovered(result, true_w, true_b, params)


def check_sgd_happened(result, params):
    """Training points are for minibatch SGD that took place: every step the loop took moved
    the parameters by the same positive multiple of the gradient sgd was handed, and nothing
    else moved them. A jump to the answer (a closed-form fit written into w and b) fails here."""
    if result["missing_grad"]:
        names = " and ".join(result["missing_grad"])
        raise AssertionError(
            f"After l.sum().backward(), {names}.grad was None, so sgd had no gradient for it: the loss is "
            f"not connected to {names}. linreg must compute with the tensors it is given, "
            "torch.matmul(X, w) + b, without .item(), float(...) or .detach().")
    traj = result["trajectory"]
    sizes = traj["sizes"]
    assert sizes, ("The training loop took no step: data_iter gave no minibatch, so sgd was never called. "
                   "data_iter must yield (features, labels) batches.")
    before, grads, after = (None if traj[k] is None else np.asarray(traj[k], dtype=np.float64)
                            for k in ("before", "grads", "after"))
    assert before is not None and after is not None and grads is not None and before.shape == after.shape, (
        "The parameters changed shape during training: sgd must update w and b in place, keeping their shapes.")
    final = np.concatenate([tensor_of(result["w"], "The trained w").reshape(-1),
                            tensor_of(result["b"], "The trained b").reshape(-1)]).astype(np.float64)
    scale = 4 * np.finfo(np.float32).eps * (1 + np.abs(before).max(axis=1, keepdims=True))
    moved_between = np.abs(before[1:] - after[:-1]) > scale[1:]
    assert not moved_between.any() and final.shape == after[-1].shape and close(final, after[-1], 0, 1e-6), (
        "The parameters changed between sgd's steps (while data_iter gave the next minibatch), so "
        "something other than sgd moved them. Only sgd may change w and b.")
    # One fixed rate per parameter (w, then b), the same at every step: sgd's -lr / batch_size.
    d = tensor_of(result["w"], "The trained w").size
    off, rates = np.zeros(delta_shape := after.shape, dtype=bool), []
    for cols in (slice(0, d), slice(d, delta_shape[1])):
        delta, g = after[:, cols] - before[:, cols], grads[:, cols]
        gg = float((g * g).sum())
        rates.append(-float((delta * g).sum()) / gg if gg > 0 else 0.0)
        off[:, cols] = np.abs(delta + rates[-1] * g) > 1e-3 * np.abs(rates[-1] * g) + scale
    if min(rates) <= 0 or off.any():
        g = grads
        k = int(np.argmax(off.any(axis=1))) if off.any() else 0
        raise AssertionError(
            f"Training points are for gradient steps, but at step {k + 1} of {len(sizes)} the parameters went "
            f"from {short(before[k])} to {short(after[k])} with gradient {short(g[k])}: that is not a step "
            f"of -lr * grad / batch_size (lr = {params['lr']}), nor of any fixed rate along the gradient. "
            "sgd must update every parameter by param -= lr * param.grad / batch_size, and nothing "
            "else may change w and b.")


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
