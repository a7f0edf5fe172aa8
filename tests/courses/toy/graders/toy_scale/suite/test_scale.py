"""scale: every entry of x times a, as a new tensor of x's shape and dtype."""

import numpy as np
import pytest

from autograder.checks import close, shape_of, short, tensor_of

pytestmark = pytest.mark.tags("scale")


def other_factor(rng, params):
    """A factor drawn per student, away from the notebook's a, from 0 and from 1 (where a * x is x)."""
    while True:
        a = float(np.round(rng.uniform(-5, 5), 2))
        if min(abs(a - params["a"]), abs(a), abs(a - 1)) > 0.5:
            return a


def run(student, x, a):
    return student.probe("scale", x=x, a=a)


def values_of(result, x, a, params):
    """What scale returned as an array of x's shape, failing with the usual cause when it is not a * x."""
    out = tensor_of(result["output"], "What scale returns")
    assert out.size == x.size, (
        f"scale returns shape {shape_of(result['output'])} for x of shape {x.shape}; expected {x.shape}, "
        "one entry per entry of x."
    )
    values, x64 = out.reshape(x.shape).astype(np.float64), x.astype(np.float64)
    expected = a * x64
    if close(values, expected):
        return values
    if close(values, x64):
        raise AssertionError("scale returns x unchanged: multiply it by a (return a * x).")
    if a != params["a"] and close(values, params["a"] * x64):
        raise AssertionError(f"scale(x, {a:g}) multiplies by {params['a']:g}, the notebook's a, not by its "
                             "argument a: use the parameter a.")
    if close(values, x64 + a):
        raise AssertionError(f"scale(x, {a:g}) adds a to every entry; it should multiply (a * x).")
    raise AssertionError(f"scale(x, {a:g}) gives {short(values)}; expected a * x = {short(expected)}.")


@pytest.mark.points(4)
def test_values(student, params, rng):
    """Multiplies every entry of x by a
    Compared with a * x computed by the grader, for the notebook's a and another a drawn per student,
    on vectors drawn per student."""
    for a in (params["a"], other_factor(rng, params)):
        x = rng.normal(0, 2, int(rng.integers(3, 12))).astype(np.float32)
        values_of(run(student, x, a), x, a, params)


@pytest.mark.points(2)
def test_new_tensor_of_the_same_shape(student, params, rng):
    """Returns a new tensor of x's shape and dtype, and leaves x unchanged
    Checked on a matrix drawn per student, once scale computes a * x there."""
    x = rng.normal(0, 2, (int(rng.integers(2, 5)), int(rng.integers(2, 5)))).astype(np.float32)
    a = other_factor(rng, params)
    result = run(student, x, a)
    values_of(result, x, a, params)  # the shape and the input matter only once the values are right
    out = result["output"]
    assert shape_of(out) == x.shape, (
        f"For x of shape {x.shape} scale returns shape {shape_of(out)}; keep the shape of x (a * x does)."
    )
    assert out["dtype"] == "float32", (
        f"For a float32 x scale returns a {out['dtype']} tensor; keep the dtype of x (a * x does)."
    )
    after = tensor_of(result["x_after"], "x after the call")
    assert close(after, x) and not result["same_object"], (
        "scale changed the tensor x it was given (an in-place operation such as x.mul_(a) or x *= a): "
        "return a new tensor, a * x, and leave x as it was."
    )
