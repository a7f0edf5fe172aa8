"""sgd: one in-place minibatch step, param -= lr * param.grad / batch_size, then clear grads."""

import numpy as np
import pytest

from autograder.engine.checks import close, short, tensor_of

pytestmark = pytest.mark.tags("sgd")


def problem(rng, shapes, lr, batch_size):
    """Parameters ~ N(0, 1), and gradients scaled so that a correct step moves them by about
    0.5 whatever the variant's lr and batch_size: a step lost in float32 rounding could not
    tell a right update from a wrong one."""
    params = [rng.normal(0, 1, s).astype(np.float32) for s in shapes]
    grads = [rng.normal(0, 0.5 * batch_size / lr, s).astype(np.float32) for s in shapes]
    return params, grads


def step(student, params, grads, lr, batch_size):
    out = student.probe("sgd", what="sgd", params=params, grads=grads, lr=float(lr),
                        batch_size=int(batch_size))
    return out["params"]


def explain_values(before, grads, after, lr, bs):
    """Why the updated values are wrong, from the usual mistakes."""
    rows = list(zip(before, grads, after, strict=True))
    if all(close(a, p) for p, _, a in rows):
        return ("The parameters the caller holds did not change. `param = param - ...` only "
                "rebinds a local name; update the tensor itself: `param -= lr * param.grad / "
                "batch_size` inside `with torch.no_grad():`.")
    if all(close(a, p - lr * g) for p, g, a in rows):
        return ("The step is lr * grad, not lr * grad / batch_size: the loss was summed over "
                "the batch, so divide by batch_size to step by the mean gradient.")
    if all(close(a, p + lr * g / bs) for p, g, a in rows):
        return ("The parameters moved up the gradient: subtract lr * grad / batch_size to go "
                "downhill.")
    right = [close(a, p - lr * g / bs) for p, g, a in rows]
    if any(right):
        return (f"Only some parameters were updated (correct: {right}): loop over every "
                "tensor in params.")
    got, expected = rows[0][2], rows[0][0] - lr * rows[0][1] / bs
    return f"After one step the first parameter is {short(got)}; expected {short(expected)}."


def check_update(student, rng, params_cfg, shapes):
    lr, bs = params_cfg["lr"], params_cfg["batch_size"]
    params, grads = problem(rng, shapes, lr, bs)
    result = step(student, params, grads, lr, bs)
    after = [tensor_of(r["after"], f"Parameter {i}").astype(np.float64)
             for i, r in enumerate(result)]
    expected = [p.astype(np.float64) - lr * g / bs for p, g in zip(params, grads, strict=True)]
    if not all(close(a, e) for a, e in zip(after, expected, strict=True)):
        raise AssertionError(explain_values(params, grads, after, lr, bs))
    return result


@pytest.mark.points(6)
def test_update_values(student, rng, params):
    """One step moves each parameter by -lr * grad / batch_size
    Checked on w (d, 1) and b (1,) with the assignment's d, lr and batch_size."""
    check_update(student, rng, params, [(len(params["true_w"]), 1), (1,)])


@pytest.mark.points(5)
def test_updates_in_place(student, rng, params):
    """Updates the caller's tensors in place: same objects, still leaves that require grad
    The training loop keeps using w and b, so sgd must change those very tensors."""
    lr, bs = params["lr"], params["batch_size"]
    before, grads = problem(rng, [(3, 1), (1,)], lr, bs)
    result = step(student, before, grads, lr, bs)
    after = [tensor_of(r["after"], f"params[{i}]") for i, r in enumerate(result)]
    for i, r in enumerate(result):
        assert r["same_object"], (
            f"params[{i}] was replaced by a new tensor. Update it in place (param -= ...), "
            "so the w and b the training loop holds are the ones that learn."
        )
        assert r["after"]["is_leaf"] and r["after"]["requires_grad"], (
            f"After sgd, params[{i}] no longer requires grad as a leaf tensor, so the next "
            "backward() cannot reach it. Update inside `with torch.no_grad():` with an "
            "in-place operation, not by assigning a computed tensor."
        )
    # Which parameters moved, and by how much, is test_update_values' concern; here it is
    # whether the caller's tensors changed at all.
    assert not all(close(a, b) for a, b in zip(after, before, strict=True)), explain_values(
        before, grads, after, lr, bs)


@pytest.mark.points(4)
def test_gradients_cleared(student, rng, params):
    """Clears the gradients after the step (zeros or None)
    Otherwise backward() adds the next batch's gradient to the old one."""
    lr, bs = params["lr"], params["batch_size"]
    before, grads = problem(rng, [(2, 1), (1,)], lr, bs)
    for i, r in enumerate(step(student, before, grads, lr, bs)):
        grad = r["grad"]
        if grad["kind"] == "none":
            continue
        assert not np.any(tensor_of(grad, f"params[{i}].grad")), (
            f"params[{i}].grad still holds the gradient after the step. Call "
            "param.grad.zero_() after updating, or PyTorch will accumulate gradients across "
            "batches."
        )


@pytest.mark.points(3)
def test_dtype_and_shape_kept(student, rng, params):
    """Keeps each parameter's dtype (float32) and shape"""
    lr, bs = params["lr"], params["batch_size"]
    before, grads = problem(rng, [(4, 1), (1,)], lr, bs)
    for i, r in enumerate(step(student, before, grads, lr, bs)):
        after = r["after"]
        tensor_of(after, f"params[{i}]")
        assert after["dtype"] == "float32", (
            f"params[{i}] became {after['dtype']}; it was float32. Keep the update in the "
            "parameter's own dtype (no .double(), no NumPy round trip)."
        )
        assert tuple(after["shape"]) == before[i].shape, (
            f"params[{i}] changed shape from {before[i].shape} to {tuple(after['shape'])}."
        )


@pytest.mark.points(2)
def test_every_parameter_updated(student, rng, params):
    """Updates every tensor in the list, whatever their number and shapes
    Three parameters: a (3, 2) matrix, a (2, 1) column and a (1,) bias."""
    check_update(student, rng, params, [(3, 2), (2, 1), (1,)])
