"""squared_loss: one loss per example, (y_hat - y)^2 / 2, whatever the shape of y."""

import numpy as np
import pytest

from autograder.checks import close, shape_of, short, tensor_of

pytestmark = pytest.mark.tags("squared_loss")


def problem(rng, n):
    y_hat = rng.normal(0, 2, (n, 1)).astype(np.float32)
    y = rng.normal(0, 2, (n, 1)).astype(np.float32)
    return y_hat, y, rng.normal(0, 1, n).astype(np.float32)


def is_a_loss(out, r):
    """Whether ``out`` is at least partly a loss of the errors r: one value per example that grows
    with |r|, or a single number that is the mean or sum of such values."""
    out, a = np.asarray(out, dtype=np.float64).reshape(-1), np.abs(np.asarray(r, dtype=np.float64)).reshape(-1)
    if out.size == a.size and np.ptp(out) > 0:
        return bool(np.all(np.diff(out[np.argsort(a)]) >= -1e-6 * (1 + np.abs(out).max())))
    if out.size == 1:
        return any(close(out[0], f(v)) for v in (a**2 / 2, a**2, a) for f in (np.mean, np.sum))
    return False


def run(student, y_hat, y, upstream):
    return student.probe("squared_loss", what="squared_loss", y_hat=y_hat, y=y, upstream=upstream)


@pytest.mark.points(5)
def test_values_per_example(student, rng):
    """Returns (y_hat - y)^2 / 2 for each example, shape (n, 1)"""
    y_hat, y, g = problem(rng, 7)
    out = tensor_of(run(student, y_hat, y, g)["output"], "What squared_loss returns")
    expected = (y_hat.astype(np.float64) - y) ** 2 / 2
    if out.size == 1:
        raise AssertionError(
            f"squared_loss returns a single number ({out.reshape(-1)[0]:.4f}) for 7 examples: "
            "return one loss per example, shape (n, 1). The training loop sums them itself "
            "(l.sum().backward())."
        )
    assert out.size == expected.size, (
        f"squared_loss returns shape {out.shape} for y_hat (7, 1) and y (7, 1); expected (7, 1)."
    )
    values = out.reshape(expected.shape)
    if close(values, 2 * expected):
        raise AssertionError("squared_loss is twice the expected value: the 1/2 is missing, "
                             "(y_hat - y) ** 2 / 2.")
    if close(values, np.abs(y_hat - y)):
        raise AssertionError("squared_loss returns the absolute error |y_hat - y|; the squared "
                             "loss is (y_hat - y) ** 2 / 2.")
    assert close(values, expected), (
        f"squared_loss gives {short(values)}; expected (y_hat - y)^2 / 2 = {short(expected)}."
    )
    assert out.shape == (7, 1), f"squared_loss returns shape {out.shape}; expected (7, 1)."


@pytest.mark.points(5)
@pytest.mark.tags("exercise")
def test_labels_shaped_n_or_n_by_1(student, rng):
    """Exercise (b): labels of shape (n,) give the same result as labels of shape (n, 1)
    Without reshaping y, y_hat (n, 1) minus y (n,) broadcasts to an (n, n) matrix."""
    y_hat, y, g = problem(rng, 6)
    column = tensor_of(run(student, y_hat, y, g)["output"], "squared_loss with y of shape (6, 1)")
    assert is_a_loss(column, y_hat - y), (
        "Labels of shape (n,) are checked only when squared_loss computes a loss of y_hat - y: with y of "
        f"shape (6, 1) it returns {short(column)} for errors {short(y_hat - y)}."
    )
    flat_desc = run(student, y_hat, y.reshape(-1), g)["output"]
    flat = tensor_of(flat_desc, "squared_loss with y of shape (6,)")
    assert flat.shape != (6, 6), (
        "With y of shape (6,), squared_loss returns a (6, 6) matrix: y_hat (6, 1) minus "
        "y (6,) broadcasts every prediction against every label. Reshape y to y_hat's shape "
        "first: y.reshape(y_hat.shape)."
    )
    assert flat.shape == column.shape and close(flat, column), (
        f"With y of shape (6,), squared_loss returns shape {shape_of(flat_desc)} "
        f"({short(flat)}); with y of shape (6, 1) it returns {column.shape} ({short(column)}). "
        "Reshape y to y_hat's shape so both give the same per-example losses."
    )


@pytest.mark.points(5)
def test_gradient(student, rng):
    """Its gradient with respect to y_hat is y_hat - y
    Autograd through your loss, weighted per example, against the analytic gradient."""
    y_hat, y, g = problem(rng, 7)
    result = run(student, y_hat, y, g)
    out = result["output"]
    tensor_of(out, "What squared_loss returns")
    assert out["has_grad_fn"], (
        "squared_loss's result is cut from the autograd graph: compute it with torch "
        "operations on y_hat, without .detach(), .item() or torch.tensor(...)."
    )
    assert result["y_hat_grad"] is not None, (
        f"squared_loss returns shape {shape_of(out)}, not one loss per example, so its "
        "per-example gradient could not be checked."
    )
    grad = tensor_of(result["y_hat_grad"], "y_hat.grad").reshape(-1, 1)
    expected = (y_hat.astype(np.float64) - y) * g.reshape(-1, 1)
    assert close(grad, expected), (
        f"The gradient of your loss with respect to y_hat is {short(grad)}; expected "
        f"(y_hat - y) = {short(expected)} (per-example weights applied). With the 1/2, the "
        "derivative of (y_hat - y)^2 / 2 is exactly y_hat - y."
    )
