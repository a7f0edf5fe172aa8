"""Exercise 3, weight_grad: read net[0].weight.grad after backward() of nn.MSELoss, cleared first."""

import numpy as np
import pytest

from autograder.checks import close, kind_name, short, tensor_of

pytestmark = pytest.mark.tags("weight_grad", "exercise")


def problem(rng, n=12, d=3):
    X = rng.normal(0, 1, (n, d)).astype(np.float32)
    y = rng.normal(0, 2, (n, 1)).astype(np.float32)
    W = rng.normal(0, 1, (1, d)).astype(np.float32)
    b = rng.normal(0, 1, 1).astype(np.float32)
    r = X.astype(np.float64) @ W.reshape(-1) + b[0] - y[:, 0]
    return X, y, W, b, (2 * r @ X / n).reshape(1, d)  # the gradient of the mean squared error


def run(student, X, y, W, b, **kwargs):
    return student.probe("weight_grad", what="weight_grad", W=W, b=b, X=X, y=y, **kwargs)


def partly_right(g, expected, n):
    """Whether weight_grad does its job at least partly: the gradient of nn.MSELoss(), or of the
    usual look-alikes (a loss with 1/2, or summed)."""
    return any(close(g, v, 1e-3, 1e-5) for v in (expected, expected / 2, expected * n))


def require_gradient(g, expected, n, what):
    assert partly_right(g, expected, n), (
        f"{what} is checked only when weight_grad returns the weight's gradient; it returned {short(g)}, "
        f"not the gradient of nn.MSELoss() {short(expected)}."
    )


def gradient_of(desc, W, what):
    """The returned gradient as an array, after the checks that it is one at all."""
    assert desc["kind"] == "tensor", (
        f"weight_grad returns {kind_name(desc)}. After l.backward(), the gradient is in "
        "net[0].weight.grad: return that tensor."
    )
    g = tensor_of(desc, what).astype(np.float64)
    if g.size == 1:
        raise AssertionError("weight_grad returns a single number: that is the bias's gradient (or the "
                             "loss). Return net[0].weight.grad, one value per weight.")
    assert g.size == W.size, f"weight_grad returns shape {g.shape}; net[0].weight has shape {W.shape}."
    if close(g.reshape(W.shape), W):
        raise AssertionError("weight_grad returns the weight itself; its gradient is net[0].weight.grad.")
    return g.reshape(W.shape)


@pytest.mark.points(5)
def test_value(student, rng):
    """Exercise 3: returns the gradient of nn.MSELoss() with respect to net[0].weight
    A net with known parameters, 12 examples with 3 features; compared with 2/n (X w + b - y)^T X."""
    X, y, W, b, expected = problem(rng)
    g = gradient_of(run(student, X, y, W, b)["output"], W, "The gradient")
    if close(g, expected / 2):
        raise AssertionError("The gradient is half of nn.MSELoss()'s: the loss has a 1/2 in it. Use "
                             "nn.MSELoss(), the plain mean of the squared errors.")
    if close(g, expected * len(X)):
        raise AssertionError("The gradient is n times nn.MSELoss()'s: the loss is summed. Use nn.MSELoss(), "
                             "whose default reduction is the mean.")
    assert close(g, expected, 1e-3, 1e-5), (
        f"weight_grad returns {short(g)}; the gradient of nn.MSELoss() at these parameters is "
        f"{short(expected)}."
    )


@pytest.mark.points(3)
def test_old_gradients_cleared(student, rng):
    """Exercise 3: old gradients do not leak in
    On a net whose .grad already held values (as after an earlier call), the same result as on a
    fresh net."""
    X, y, W, b, expected = problem(rng)
    fresh = gradient_of(run(student, X, y, W, b)["output"], W, "The gradient")
    require_gradient(fresh, expected, len(X), "Clearing old gradients")
    g = gradient_of(run(student, X, y, W, b, stale=True)["output"], W, "The gradient")
    assert close(g, fresh, 1e-3, 1e-5), (
        f"On a net whose gradients already held values, weight_grad returned {short(g)}, not "
        f"{short(fresh)} as on a fresh net: backward() adds to .grad. Clear it first, "
        "net.zero_grad(), then compute the loss and call backward()."
    )


@pytest.mark.points(2)
def test_parameters_unchanged(student, rng):
    """Exercise 3: reading the gradient leaves the parameters as they were
    No optimizer step: the weight and bias after the call are compared with before."""
    X, y, W, b, expected = problem(rng)
    out = run(student, X, y, W, b)
    require_gradient(gradient_of(out["output"], W, "The gradient"), expected, len(X), "Leaving the parameters alone")
    W_after = tensor_of(out["weight"], "net[0].weight")
    b_after = tensor_of(out["bias"], "net[0].bias")
    assert close(W_after, W, 0, 0) and close(b_after.reshape(-1), b, 0, 0), (
        f"After weight_grad the weight is {short(W_after)} (it was {short(W)}): reading a gradient "
        "must not update the parameters. Leave out the optimizer step."
    )
