"""linreg: the model X w + b, as a matrix product, connected to autograd."""

import numpy as np
import pytest

from autograder.checks import close, shape_of, short, tensor_of

pytestmark = pytest.mark.tags("linreg")


def problem(rng, n, d):
    X = rng.normal(0, 1, (n, d)).astype(np.float32)
    w = rng.normal(0, 1, (d, 1)).astype(np.float32)
    b = rng.normal(0, 1, (1,)).astype(np.float32) + 2
    upstream = rng.normal(0, 1, n).astype(np.float32)
    return X, w, b, upstream


def run(student, X, w, b, upstream):
    return student.probe("linreg", what="linreg", X=X, w=w, b=b, upstream=upstream)


@pytest.mark.points(6)
def test_values(student, rng):
    """Computes X w + b for every example
    Compared with a matrix product computed by the grader, for an X of n examples and d features
    drawn per student."""
    n, d = int(rng.integers(5, 40)), int(rng.choice([2, 3, 4, 6]))
    X, w, b, g = problem(rng, n, d)
    out = tensor_of(run(student, X, w, b, g)["output"], "What linreg returns")
    expected = X.astype(np.float64) @ w + b
    if out.size == expected.size:
        values = out.reshape(expected.shape)
        if close(values, expected - b):
            raise AssertionError("linreg returns X w without the bias: add b (X @ w + b).")
        assert close(values, expected), (
            f"linreg gives {short(values)}; expected X w + b = {short(expected)}."
        )
    else:
        raise AssertionError(
            f"linreg returns shape {out.shape} for X ({n}, {d}) and w ({d}, 1); expected ({n}, 1). "
            "`X * w` multiplies elementwise and broadcasts; use torch.matmul(X, w) + b."
        )


@pytest.mark.points(3)
def test_output_shape(student, rng):
    """Returns one prediction per example, shape (n, 1), for 1 and 5 features"""
    for d in (1, 5):
        X, w, b, g = problem(rng, 6, d)
        out = run(student, X, w, b, g)["output"]
        values = tensor_of(out, "What linreg returns").astype(np.float64)
        assert shape_of(out) == (6, 1), (
            f"For X of shape (6, {d}) and w of shape ({d}, 1) linreg returns shape "
            f"{shape_of(out)}; expected (6, 1). Use torch.matmul(X, w) + b."
        )
        product = X.astype(np.float64) @ w
        assert close(values, product + b) or close(values, product), (
            f"The shape is checked only when linreg computes the model: for X (6, {d}) it returns "
            f"{short(values)}, not X w + b = {short(product + b)}."
        )


@pytest.mark.points(6)
def test_gradients_reach_w_and_b(student, rng):
    """Gradients flow back to w and b
    Autograd's gradients of a weighted sum of the predictions, against the analytic values."""
    X, w, b, g = problem(rng, 8, 3)
    result = run(student, X, w, b, g)
    out = result["output"]
    tensor_of(out, "What linreg returns")
    assert out["has_grad_fn"], (
        "linreg's result is cut from the autograd graph, so sgd would get no gradients. "
        "Compute it with torch operations on w and b; do not use .detach(), .numpy(), "
        ".item(), .data or torch.tensor(...) on the result."
    )
    assert result["w_grad"] is not None, (
        f"linreg returns shape {shape_of(out)}, so its gradients could not be checked; "
        "expected (n, 1)."
    )
    for name in ("w", "b"):
        assert result[f"{name}_grad"]["kind"] != "none", (
            f"After backward(), {name}.grad is None: linreg's result is not connected to {name}. Use the "
            f"tensor {name} itself in torch operations (torch.matmul(X, w) + b), not {name}.item(), "
            f"float({name}) or {name}.detach()."
        )
    w_grad = tensor_of(result["w_grad"], "w.grad")
    b_grad = tensor_of(result["b_grad"], "b.grad")
    assert close(w_grad, X.T.astype(np.float64) @ g.reshape(-1, 1)), (
        f"The gradient reaching w is {short(w_grad)}; expected X^T g = "
        f"{short(X.T @ g)}. The prediction must be X @ w + b."
    )
    assert close(b_grad.reshape(-1), [g.sum()]), (
        f"The gradient reaching b is {short(b_grad)}; expected {g.sum():.4f}: b must be "
        "added once to every example's prediction."
    )
