"""Exercise 2, huber_loss: quadratic for small errors, linear for large ones, averaged over examples."""

import numpy as np
import pytest

from autograder.checks import close, kind_name, short, tensor_of

pytestmark = pytest.mark.tags("huber_loss", "exercise")
FORMULA = "0.5 * r**2 where |r| <= delta, delta * (|r| - 0.5 * delta) elsewhere (r = y_hat - y)"


def huber(r, delta):
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


def residuals(rng, n, low, high):
    """Residuals with |r| in [low, high), random signs."""
    return rng.uniform(low, high, n) * rng.choice([-1.0, 1.0], n)


def run(student, rng, r, delta=None):
    y = rng.normal(0, 2, (len(r), 1)).astype(np.float32)
    y_hat = (y + r.reshape(-1, 1)).astype(np.float32)
    out = student.probe("huber_loss", what="huber_loss", y_hat=y_hat, y=y, delta=delta)
    return out, y_hat.astype(np.float64) - y


def returned(out, n):
    """What huber_loss returned: per-example losses (an array of n), or one number (a float)."""
    desc = out["output"]
    assert desc["kind"] == "tensor", f"huber_loss returns {kind_name(desc)}; return a tensor."
    value = tensor_of(desc, "What huber_loss returns").astype(np.float64)
    if value.size == n:
        return value.reshape(-1)
    assert value.size == 1, f"huber_loss returns shape {value.shape} for {n} examples; expected a scalar."
    return float(value.reshape(-1)[0])


def check_values(out, r, delta, what):
    """The formula, whatever the reduction (test_returns_the_mean checks that)."""
    r = r.reshape(-1)
    expected = huber(r, delta)
    got = returned(out, r.size)
    if not isinstance(got, float):
        assert close(got, expected), (
            f"huber_loss gives {short(got)} per example for {what} (delta = {delta}); expected "
            f"{short(expected)}: {FORMULA}."
        )
        return
    if close(got, expected.mean()) or close(got, expected.sum()):
        return
    if close(got, (expected / delta).mean()):
        raise AssertionError(
            f"huber_loss with delta = {delta} gives Huber's loss divided by delta: that is the book's "
            "variant with sigma (nn.SmoothL1Loss(beta=delta)). Huber's loss, nn.HuberLoss(delta=delta), "
            f"is {FORMULA}."
        )
    if close(got, (0.5 * r**2).mean()):
        raise AssertionError(
            f"huber_loss gives the squared loss {got:.4f} for {what}; Huber's loss is linear for errors "
            f"beyond delta: {FORMULA}."
        )
    raise AssertionError(
        f"huber_loss gives {got:.5g} for {what} (delta = {delta}); the mean of Huber's loss is "
        f"{expected.mean():.5g}: {FORMULA}."
    )


@pytest.mark.points(2)
def test_quadratic_for_small_errors(student, rng):
    """Exercise 2: for errors smaller than delta = 1, Huber's loss is 0.5 * r^2"""
    r = residuals(rng, 8, 0.05, 0.95)
    out, r64 = run(student, rng, r)
    check_values(out, r64, 1.0, "errors below delta")


@pytest.mark.points(2)
def test_linear_for_large_errors(student, rng):
    """Exercise 2: for errors larger than delta = 1, Huber's loss is |r| - 0.5
    So a far outlier pulls on the fit linearly, not quadratically."""
    r = residuals(rng, 8, 1.5, 6.0)
    out, r64 = run(student, rng, r)
    check_values(out, r64, 1.0, "errors above delta")


@pytest.mark.points(2)
def test_honours_delta(student, rng):
    """Exercise 2: follows delta, here 0.5 and 2, with errors on both sides of it"""
    for delta in (0.5, 2.0):
        r = np.concatenate([residuals(rng, 5, 0.05 * delta, 0.95 * delta), residuals(rng, 5, 1.2 * delta, 4 * delta)])
        out, r64 = run(student, rng, r, delta=delta)
        check_values(out, r64, delta, "errors on both sides of delta")


@pytest.mark.points(2)
def test_returns_the_mean(student, rng):
    """Exercise 2: returns the mean over the examples, a scalar like nn.MSELoss()'s
    Errors below delta, where the formula is 0.5 * r^2, so only the reduction is judged here."""
    r = residuals(rng, 8, 0.1, 0.9)
    out, r64 = run(student, rng, r)
    expected = huber(r64.reshape(-1), 1.0)
    got = returned(out, r.size)
    assert isinstance(got, float), (
        f"huber_loss returns {r.size} values, one per example; return their mean, a scalar, as "
        "nn.MSELoss() does, so that l.backward() works directly."
    )
    if close(got, expected.sum()):
        raise AssertionError("huber_loss returns the sum over the examples; return the mean (.mean()).")
    assert close(got, expected.mean()), (
        f"huber_loss returns {got:.5g} for errors below delta; the mean of 0.5 * r^2 is {expected.mean():.5g}."
    )


@pytest.mark.points(2)
def test_gradient_is_the_clipped_error(student, rng):
    """Exercise 2: its gradient is the error clipped to [-delta, delta]
    Autograd through your loss, with respect to y_hat (per example, before averaging)."""
    r = np.concatenate([residuals(rng, 4, 0.1, 0.9), residuals(rng, 4, 1.5, 3)])
    out, r64 = run(student, rng, r)
    desc = out["output"]
    assert desc["kind"] == "tensor", f"huber_loss returns {kind_name(desc)}; return a tensor."
    assert desc["has_grad_fn"], (
        "huber_loss's result is cut from the autograd graph, so training could not use it. Compute it "
        "with torch operations on y_hat (torch.where, torch.abs), without .item(), .detach() or "
        "torch.tensor(...)."
    )
    grad = tensor_of(out["y_hat_grad"], "y_hat.grad").reshape(-1)
    clipped = np.clip(r64.reshape(-1), -1.0, 1.0)
    size = tensor_of(desc, "What huber_loss returns").size
    expected = clipped / len(clipped) if size == 1 else clipped
    if size == 1 and close(grad, clipped):
        expected = clipped  # a sum: the reduction is test_returns_the_mean's concern
    assert close(grad, expected), (
        f"The gradient of your loss with respect to y_hat is {short(grad)}; expected the error "
        f"clipped to [-1, 1]{' / n' if size == 1 else ''}: {short(expected)}."
    )
