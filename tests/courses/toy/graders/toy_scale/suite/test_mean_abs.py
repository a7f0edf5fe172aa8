"""mean_abs: the mean of |x| over all entries of x, as a tensor of shape ()."""

import numpy as np
import pytest

from autograder.checks import close, kind_name, short, tensor_of

pytestmark = pytest.mark.tags("mean_abs")


def problems(rng, params):
    """A vector of the notebook's length n and a matrix, drawn per student, with entries of both signs
    and a negative mean (so that the mean of |x|, |mean| and the mean all differ)."""
    def draw(shape):
        while True:
            x = rng.normal(-0.5, 2, shape).astype(np.float32)
            if x.mean() < -0.2 and (x > 0).any():
                return x

    return draw(params["n"]), draw((int(rng.integers(2, 5)), int(rng.integers(3, 7))))


def value_of(result, x):
    """What mean_abs returned as one number (a Python number is read too), failing with the usual
    cause when it is not the mean of |x|."""
    out = result["output"]
    if out.get("kind") == "number":
        value = np.asarray(out["value"], dtype=np.float64)
    else:
        value = tensor_of(out, "What mean_abs returns").astype(np.float64)
    x64 = x.astype(np.float64)
    expected = np.abs(x64).mean()
    assert value.size == 1, (
        f"For x of shape {x.shape} mean_abs returns {value.size} values; expected one, the mean over all entries."
    )
    value = value.reshape(())
    if close(value, expected):
        return float(value)
    if close(value, x64.mean()):
        raise AssertionError("mean_abs returns the plain mean: the absolute value is missing (x.abs()).")
    if close(value, abs(x64.mean())):
        raise AssertionError("mean_abs takes the absolute value of the mean; it should be the mean of the "
                             "absolute values (x.abs().mean()).")
    if close(value, np.abs(x64).sum()):
        raise AssertionError("mean_abs returns the sum of |x|: divide by the number of entries (or use .mean()).")
    if x.ndim > 1 and close(value, np.abs(x64).sum() / len(x64)):
        raise AssertionError(f"For x of shape {x.shape} mean_abs divides by len(x) = {len(x64)}, the number of "
                             f"rows; divide by the number of entries, x.numel() = {x.size} (or use .mean()).")
    raise AssertionError(f"For x = {short(x64)} (shape {x.shape}) mean_abs gives {float(value):.6g}; "
                         f"expected the mean of |x|, {expected:.6g}.")


@pytest.mark.points(3)
def test_value(student, params, rng):
    """Returns the mean of the absolute values of all the entries
    Compared with the grader's, on a vector of the notebook's length and a matrix, drawn per student."""
    for x in problems(rng, params):
        value_of(student.probe("mean_abs", x=x), x)


@pytest.mark.points(1)
def test_one_value_tensor(student, params, rng):
    """Returns a tensor of shape (), not a Python number or a one-element vector
    Checked once mean_abs computes the right value."""
    x = problems(rng, params)[1]
    result = student.probe("mean_abs", x=x)
    value_of(result, x)
    out = result["output"]
    assert out.get("kind") == "tensor", (
        f"mean_abs returns {kind_name(out)}; return the tensor itself (x.abs().mean()), without .item() or float()."
    )
    assert tuple(out["shape"]) == (), (
        f"mean_abs returns a tensor of shape {tuple(out['shape'])}; expected shape (), one value "
        "(x.abs().mean() gives that)."
    )
