"""sgd: one in-place minibatch step, param -= lr * param.grad / batch_size, then clear grads.

Each test calls sgd with learning rates and batch sizes drawn per student, besides the
notebook's, so an sgd with lr or batch_size written in loses points. The checks of in-place
updates, cleared gradients, dtype and shape give their points only when sgd moved the
parameters along their gradients: an sgd that does nothing gets none of them.
"""

import numpy as np
import pytest

from autograder.checks import close, tensor_of

pytestmark = pytest.mark.tags("sgd")
RATES = (0.5, 0.2, 0.1, 0.01, 0.003)
SIZES = (4, 7, 13, 32)  # not 1: with batch_size 1, forgetting / batch_size would not show


def settings(rng, params, count):
    """The notebook's (lr, batch_size) and ``count`` others drawn per student."""
    lrs = [v for v in RATES if not np.isclose(v, params["lr"])]
    sizes = [v for v in SIZES if v != params["batch_size"]]
    drawn = [(float(rng.choice(lrs)), int(rng.choice(sizes))) for _ in range(count)]
    return [(float(params["lr"]), int(params["batch_size"])), *drawn]


def problem(rng, shapes, lr, batch_size):
    """Parameters ~ N(0, 1), and gradients scaled so that a correct step moves them by about
    0.5 whatever the lr and batch_size: a step lost in float32 rounding could not tell a right
    update from a wrong one."""
    params = [rng.normal(0, 1, s).astype(np.float32) for s in shapes]
    grads = [rng.normal(0, 0.5 * batch_size / lr, s).astype(np.float32) for s in shapes]
    return params, grads


def steps(student, rng, shapes, configs):
    """One sgd call per (lr, batch_size), in one round trip: a list of calls, each a dict."""
    calls = [(lr, bs, *problem(rng, shapes, lr, bs)) for lr, bs in configs]
    out = student.probe("sgd_many", what="sgd", calls=[
        {"params": p, "grads": g, "lr": lr, "batch_size": bs} for lr, bs, p, g in calls])
    results = []
    for (lr, bs, before, grads), result in zip(calls, out["results"], strict=True):
        after = [tensor_of(r["after"], f"params[{i}]").astype(np.float64) for i, r in enumerate(result)]
        results.append({"lr": lr, "bs": bs, "before": before, "grads": grads, "after": after, "result": result})
    return results


def rate(before, grad, after):
    """The c with after = before - c * grad, or None when the change is not along the gradient."""
    delta = (np.asarray(after, dtype=np.float64).reshape(-1) - np.asarray(before, dtype=np.float64).reshape(-1))
    g = np.asarray(grad, dtype=np.float64).reshape(-1)
    if delta.shape != g.shape or not np.any(g):
        return None
    c = -float(delta @ g) / float(g @ g)
    return c if close(delta, -c * g) else None


def moved_along_gradients(call):
    """Whether sgd did its job at least partly: no parameter moved off the line of its gradient,
    and one that is more than a single number moved along it (any single number moves "along"
    its gradient, so it tells nothing alone)."""
    rows = list(zip(call["before"], call["grads"], call["after"], strict=True))
    if any(np.shape(a) != np.shape(p) for p, _, a in rows):
        return False
    moved = [(p, rate(p, g, a)) for p, g, a in rows if not close(a, p)]
    if any(c is None for _, c in moved):
        return False
    return any(np.size(p) > 1 and c != 0.0 for p, c in moved)


def require_job_done(call, what):
    assert moved_along_gradients(call), (
        f"{what} is checked only when sgd moves the parameters along their gradients, which it did not "
        f"(lr = {call['lr']:g}, batch_size = {call['bs']}). " + explain(call, None)
    )


def diagnose(c, lr, bs, nb_lr, nb_bs):
    """What a step of -c * grad means, for a call with (lr, bs); None when it is right."""
    if c is None:
        return "moved, but not along its gradient"
    for value, text in ((lr / bs, None), (lr, "was stepped by lr * grad, without / batch_size"),
                        (-lr / bs, "moved up the gradient"),
                        (nb_lr / bs, f"was stepped with lr = {nb_lr:g}, the notebook's, not the lr argument"),
                        (lr / nb_bs, f"was divided by {nb_bs}, the notebook's batch size, not the batch_size "
                                     "argument"),
                        (nb_lr / nb_bs, f"was stepped by {nb_lr:g} * grad / {nb_bs}, the notebook's numbers, "
                                        "not the arguments"),
                        (0.0, "did not change")):
        if np.isclose(c, value, rtol=1e-3, atol=1e-9) and (text is None or not np.isclose(c, lr / bs, rtol=1e-3)):
            return text
    return f"moved by {c:.4g} * grad instead of lr / batch_size = {lr / bs:.4g} times it"


def explain(call, params):
    """Why the updated values are wrong, from what each parameter did."""
    lr, bs = call["lr"], call["bs"]
    nb_lr, nb_bs = (params["lr"], params["batch_size"]) if params else (lr, bs)
    rows = list(zip(call["before"], call["grads"], call["after"], strict=True))
    if any(np.shape(a) != np.shape(p) for p, _, a in rows):
        return "sgd changed the shape of a parameter; update each one in place: param -= lr * param.grad / batch_size."
    if all(close(a, p) for p, _, a in rows):
        kinds = [r["grad"]["kind"] for r in call["result"]]
        cleared = all(k == "none" or not np.any(tensor_of(r["grad"], "grad"))
                      for k, r in zip(kinds, call["result"], strict=True))
        if cleared:
            return ("The parameters the caller holds did not change, though their gradients were cleared: "
                    "either the gradient was zeroed before the step used it (call param.grad.zero_() after "
                    "the update), or the result went to a new tensor (`param = param - ...` only rebinds a "
                    "local name). Update the tensor itself: `param -= lr * param.grad / batch_size` inside "
                    "`with torch.no_grad():`.")
        return ("The parameters the caller holds did not change. `param = param - ...` only "
                "rebinds a local name; update the tensor itself: `param -= lr * param.grad / "
                "batch_size` inside `with torch.no_grad():`.")
    found = [diagnose(rate(p, g, a), lr, bs, nb_lr, nb_bs) for p, g, a in rows]
    if len(set(found)) == 1:
        what = found[0]
        if what == "was stepped by lr * grad, without / batch_size":
            return ("The step is lr * grad, not lr * grad / batch_size: the loss was summed over "
                    "the batch, so divide by batch_size to step by the mean gradient.")
        if what == "moved up the gradient":
            return "The parameters moved up the gradient: subtract lr * grad / batch_size to go downhill."
        return (f"With lr = {lr:g} and batch_size = {bs}, every parameter {what}. One step is "
                "param -= lr * param.grad / batch_size.")
    if all(f in (None, "did not change") for f in found):
        return (f"Only some parameters were updated (correct: {[f is None for f in found]}): loop over every "
                "tensor in params.")
    parts = [f"params[{i}] (shape {np.shape(p)}) " + (f or "was right") for i, (p, f) in
             enumerate(zip(call["before"], found, strict=True))]
    return f"With lr = {lr:g} and batch_size = {bs}: " + "; ".join(parts) + ". Update each the same way."


def check_updates(calls, params):
    for call in calls:
        expected = [p.astype(np.float64) - call["lr"] * g / call["bs"]
                    for p, g in zip(call["before"], call["grads"], strict=True)]
        if not all(np.shape(a) == np.shape(e) and close(a, e) for a, e in zip(call["after"], expected, strict=True)):
            raise AssertionError(explain(call, params))


@pytest.mark.points(6)
def test_update_values(student, rng, params):
    """One step moves each parameter by -lr * grad / batch_size
    On w (d, 1) and b (1,), with the assignment's lr and batch_size and with two other pairs."""
    check_updates(steps(student, rng, [(len(params["true_w"]), 1), (1,)], settings(rng, params, 2)), params)


@pytest.mark.points(5)
def test_updates_in_place(student, rng, params):
    """Updates the caller's tensors in place: same objects, still leaves that require grad
    The training loop keeps using w and b, so sgd must change those very tensors."""
    call = steps(student, rng, [(3, 1), (1,)], settings(rng, params, 1)[1:])[0]
    require_job_done(call, "Updating in place")
    for i, r in enumerate(call["result"]):
        assert r["same_object"], (
            f"params[{i}] was replaced by a new tensor. Update it in place (param -= ...), "
            "so the w and b the training loop holds are the ones that learn."
        )
        assert r["after"]["is_leaf"] and r["after"]["requires_grad"], (
            f"After sgd, params[{i}] no longer requires grad as a leaf tensor, so the next "
            "backward() cannot reach it. Update inside `with torch.no_grad():` with an "
            "in-place operation, not by assigning a computed tensor."
        )


@pytest.mark.points(4)
def test_gradients_cleared(student, rng, params):
    """Clears the gradients after the step (zeros or None)
    Otherwise backward() adds the next batch's gradient to the old one."""
    call = steps(student, rng, [(2, 1), (1,)], settings(rng, params, 1)[1:])[0]
    require_job_done(call, "Clearing the gradients")
    for i, r in enumerate(call["result"]):
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
    call = steps(student, rng, [(4, 1), (1,)], settings(rng, params, 1)[1:])[0]
    require_job_done(call, "Keeping dtype and shape")
    for i, r in enumerate(call["result"]):
        after = r["after"]
        assert after["dtype"] == "float32", (
            f"params[{i}] became {after['dtype']}; it was float32. Keep the update in the "
            "parameter's own dtype (no .double(), no NumPy round trip)."
        )
        assert tuple(after["shape"]) == call["before"][i].shape, (
            f"params[{i}] changed shape from {call['before'][i].shape} to {tuple(after['shape'])}."
        )


@pytest.mark.points(2)
def test_every_parameter_updated(student, rng, params):
    """Updates every tensor in the list, whatever their number and shapes
    Three parameters: a (3, 2) matrix, a (2, 1) column and a (1,) bias, with another lr and batch_size."""
    check_updates(steps(student, rng, [(3, 2), (2, 1), (1,)], settings(rng, params, 1)[1:]), params)
