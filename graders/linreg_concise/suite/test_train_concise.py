"""train_concise: the book's loop with DataLoader, nn.Linear, nn.MSELoss and torch.optim.SGD.

The worker runs the student's train_concise with the grader's own load_array and linear_net
(those two have their own tests), on data the grader made, and watches every minibatch and
optimizer step through PyTorch's global hooks. Gradients are re-computed here, in numpy.
"""

import numpy as np
import pytest

from autograder.checks import close, short

from .training import learned, problem, tolerance, train

pytestmark = pytest.mark.tags("train_concise")
BOOK_STEP = "trainer.zero_grad(); l.backward(); trainer.step()"
NOT_THE_ARGUMENTS = ("The net's input before the first step was not a minibatch of the features passed to "
                     "train_concise. Iterate over load_array((features, labels), batch_size) and call net(X) on "
                     "each X: use the arguments, not the notebook's global features.")
NO_STEPS = ("No torch.optim optimizer step was seen. Make trainer = torch.optim.SGD(net.parameters(), "
            "lr=lr) and call trainer.step() once per minibatch.")


ONCE_PER_EPOCH = ("The optimizer stepped {steps} times in {epochs} epochs, once per epoch: trainer.step() is "
                  "outside the loop over minibatches. Step once per minibatch: " + BOOK_STEP + " inside "
                  "`for X, y in data_iter`.")


def covered(out, X):
    """How many distinct examples of X the steps' minibatches held (None when not traceable)."""
    inputs = out["trajectory"]["inputs"]
    if inputs is None:
        return None
    rows = {row.tobytes(): i for i, row in enumerate(np.asarray(X, dtype=np.float32))}
    return len({rows.get(np.asarray(r, dtype=np.float32).tobytes()) for r in np.asarray(inputs)} - {None})


def examples_seen(out):
    sizes = out["steps"]["sizes"]
    return sum(s for s in sizes if s is not None), len(sizes)


def diagnose(out, X, y, num_epochs):
    """The most likely reason training went wrong, from what the loop did."""
    seen, steps = examples_seen(out)
    if steps == 0:
        return NO_STEPS
    verdicts = [v for v, _ in classify_steps(out, X, y)]
    if verdicts and verdicts[0] == "no_batch":
        return NOT_THE_ARGUMENTS
    if verdicts and verdicts[0] == "none":
        return ("The optimizer stepped while the parameters had no gradient: call l.backward() before "
                f"trainer.step(), in the order {BOOK_STEP}.")
    if any(v.startswith("accumulated") for v in verdicts):
        return ("Each step used the gradients of all earlier minibatches added up: clear them with "
                f"trainer.zero_grad() in every iteration ({BOOK_STEP}).")
    if steps == num_epochs:
        return ONCE_PER_EPOCH.format(steps=steps, epochs=num_epochs)
    if seen < num_epochs * len(X):
        return (f"The loop took {steps} step(s) over {seen} examples, fewer than {num_epochs} passes over "
                f"{len(X)} examples: is a `return` inside the loop?")
    return "Look at the other train_concise checks for what the loop did differently."


# -- the gradient at a step, recomputed on the trusted side ---------------------------------

def step_parts(step):
    """(W before, b before, W grad, b grad, W after, b after) of a traced step; grads may be None."""
    def pick(descs):
        W = next((d for d in descs if d.get("kind") == "tensor" and len(d["shape"]) == 2), None)
        b = next((d for d in descs if d.get("kind") == "tensor" and len(d["shape"]) == 1), None)
        return (None if W is None else np.asarray(W["value"], dtype=np.float64),
                None if b is None else np.asarray(b["value"], dtype=np.float64).reshape(-1))
    W0, b0 = pick(step["before"])
    gW, gb = pick(step["grads"])
    W1, b1 = pick(step["after"])
    return W0, b0, gW, gb, W1, b1


CANDIDATES = {
    # loss name -> d loss / d prediction, per example, for residuals r = prediction - label
    "mse": lambda r: 2 * r / len(r),
    "mse_sum": lambda r: 2 * r,
    "half_mse": lambda r: r / len(r),
    "l1": lambda r: np.sign(r) / len(r),
    "huber": lambda r: np.clip(r, -1, 1) / len(r),
}


def classify_steps(out, X, y):
    """Per traced step: (verdict, expected MSE gradient). Verdicts: fresh:<loss>,
    accumulated:<loss>, none (no gradient at the step), unknown, no_batch."""
    rows = {row.tobytes(): i for i, row in enumerate(X)}
    results, previous = [], None
    for step in out["trace"]:
        W0, b0, gW, gb, *_ = step_parts(step)
        batch = step["input"]
        if W0 is None or b0 is None:
            results.append(("unknown", None))
            previous = None
            continue
        if gW is None or gb is None or (not np.any(gW) and not np.any(gb)):
            results.append(("none", None))
            previous = (gW, gb)
            continue
        idx = [rows.get(np.asarray(r, dtype=np.float32).tobytes()) for r in np.asarray(batch)] \
            if batch is not None and np.ndim(batch) == 2 else [None]
        if None in idx:
            results.append(("no_batch", None))
            previous = (gW, gb)
            continue
        Xb = X[idx].astype(np.float64)
        r = Xb @ W0.reshape(-1) + b0[0] - y[idx, 0].astype(np.float64)
        verdict = "unknown"
        for name, dloss in CANDIDATES.items():
            g = dloss(r)
            eW, eb = (g @ Xb).reshape(W0.shape), np.array([g.sum()])
            if close(gW, eW, 1e-3, 1e-4) and close(gb, eb, 1e-3, 1e-4):
                verdict = f"fresh:{name}"
                break
            if previous is not None and previous[0] is not None and previous[1] is not None and \
                    close(gW, eW + previous[0], 1e-3, 1e-4) and close(gb, eb + previous[1], 1e-3, 1e-4):
                verdict = f"accumulated:{name}"
                break
        g = CANDIDATES["mse"](r)
        results.append((verdict, ((g @ Xb).reshape(W0.shape), np.array([g.sum()]))))
        previous = (gW, gb)
    return results


LOSS_HINTS = {
    "mse_sum": "nn.MSELoss(reduction='sum'): the gradient is batch_size times the mean's. Use "
               "nn.MSELoss(), whose default reduction is the mean.",
    "half_mse": "the squared loss with a 1/2 (section 3.2's). Use nn.MSELoss(), the mean of the squared "
                "errors without the 1/2.",
    "l1": "an absolute-error loss (nn.L1Loss). Use nn.MSELoss(), the mean squared error.",
    "huber": "Huber's loss (nn.HuberLoss). Use nn.MSELoss(), the mean squared error.",
}


def traced(student, rng, params):
    X, y, *_ = problem(rng, params, params["num_examples"])
    out, _ = train(student, rng, params, X, y, batch_size=params["batch_size"], lr=params["lr"],
                   num_epochs=params["num_epochs"])
    assert out["steps"]["sizes"], NO_STEPS
    return out, X, y


# -- the tests -----------------------------------------------------------------------------------

NEW_NET = ("The optimizer stepped {count} different sets of parameters: a new net (or a new optimizer over a new "
           "net) was made during training, so no net was trained across all the epochs. Make the net and "
           "the optimizer once, before `for epoch in range(num_epochs)`, and return that net.")


def check_trained_by_steps(out, eval_X, X=None):
    """Training points are for a net that the optimizer's steps trained: one net, stepped at every
    minibatch, nothing else changing its parameters, returned where the last step left it. A
    closed-form fit, or a fit written into the net after the loop, fails here."""
    traj, sizes = out["trajectory"], out["steps"]["sizes"]
    assert sizes, NO_STEPS + " A net fitted without optimizer steps earns no training points."
    count = len(set(traj["param_sets"]))
    assert count == 1, NEW_NET.format(count=count)
    assert traj["returned_is_stepped"], (
        "The net train_concise returns is not the one the optimizer stepped: return the net whose "
        "parameters went to torch.optim.SGD(net.parameters(), lr=lr).")
    before, after = traj["before"], traj["after"]
    assert before is not None and after is not None, "The net's parameters changed size during training."
    before, after = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    gap = np.abs(before[1:] - after[:-1]) > 1e-6 * (1 + np.abs(after[:-1]))
    if gap.any():
        k = int(np.argmax(gap.any(axis=1)))
        raise AssertionError(
            f"Between optimizer steps {k + 1} and {k + 2} the parameters changed from {short(after[k])} to "
            f"{short(before[k + 1])}: something other than trainer.step() moved them (a new initialisation, "
            "or values written into the net). Only the optimizer may change the net during training.")
    distinct = None if X is None else covered(out, X)
    assert distinct is None or distinct == len(X), (
        f"The optimizer's {len(sizes)} steps saw only {distinct} distinct examples of the {len(X)} passed in: "
        "each epoch must step once per minibatch of all the data, `for X, y in data_iter`.")
    w_fit, b_fit = learned(out, eval_X)
    final = np.concatenate([np.asarray(w_fit).reshape(-1), [b_fit]])
    last = after[-1]
    # float32 parameters read back through predictions: equal to about 1e-6 unless they were changed
    same = final.shape == last.shape and any(close(v, last, 1e-5, 5e-6) for v in (final, np.roll(final, 1)))
    assert same, (
        f"The returned net computes w = {short(w_fit)}, b = {b_fit:.4f}, but the last optimizer step left its "
        f"parameters at {short(last)}: the parameters were changed after training (a closed-form fit?). "
        "Return the net as the optimizer's steps left it.")


def check_recovered(out, eval_X, w, b, params, X, y):
    check_trained_by_steps(out, eval_X, X)
    w_fit, b_fit = learned(out, eval_X)
    tol = tolerance(w, params)
    seen = f"learned w = {short(w_fit)}, b = {b_fit:.4f}; true w = {short(w)}, b = {b}"
    ok = np.all(np.isfinite(w_fit)) and np.abs(w_fit - w).max() < tol and abs(b_fit - b) < tol
    assert ok, (f"After training, the net did not recover the true parameters within {tol:.3g} ({seen}). "
                + diagnose(out, X, y, params["num_epochs"]))


@pytest.mark.points(10)
def test_recovers_parameters_cpu(student, rng, params):
    """Returns a trained net that recovers w and b (CPU)
    train_concise(features, labels) with its default arguments, on as many grader-made examples
    as the notebook's, with a new w and b."""
    X, y, w, b = problem(rng, params, params["num_examples"])
    out, eval_X = train(student, rng, params, X, y)
    check_recovered(out, eval_X, w, b, params, X, y)


@pytest.mark.points(3)
def test_any_number_of_features(student, rng, params):
    """Works for any number of features, here one more than the notebook's
    The returned net takes features.shape[1] inputs; whether it learned is the first test's concern."""
    X, y, *_ = problem(rng, params, 100, d=len(params["true_w"]) + 1)
    out, eval_X = train(student, rng, params, X, y, trace_steps=1)
    assert out["steps"]["sizes"], NO_STEPS
    assert classify_steps(out, X, y)[0][0] != "no_batch", NOT_THE_ARGUMENTS
    learned(out, eval_X)


@pytest.mark.points(6)
def test_gradient_is_the_mse_of_the_minibatch(student, rng, params):
    """Steps with the gradient of nn.MSELoss() on the current minibatch, after backward()
    The gradient the optimizer finds at the first step, against the grader's own computation."""
    out, X, y = traced(student, rng, params)
    verdict, expected = classify_steps(out, X, y)[0]
    if verdict == "none":
        raise AssertionError(
            "When trainer.step() ran, the parameters had no gradient (None or zero), so the step "
            f"did nothing: step() came before l.backward(). Use the book's order: {BOOK_STEP}."
        )
    assert verdict != "no_batch", NOT_THE_ARGUMENTS
    loss = verdict.split(":")[-1]
    if loss in LOSS_HINTS:
        raise AssertionError(f"The gradient at the first step is that of {LOSS_HINTS[loss]}")
    gW = step_parts(out["trace"][0])[2]
    assert loss == "mse", (
        f"The gradient of the weight at the first step is {short(gW)}; nn.MSELoss() on that "
        f"minibatch gives {short(expected[0]) if expected else '?'}. Compute l = loss(net(X), y) "
        "with loss = nn.MSELoss(), and y of the same shape as net(X)."
    )


@pytest.mark.points(5)
def test_gradients_cleared_every_step(student, rng, params):
    """Clears the gradients in every iteration (zero_grad)
    The gradients at the second and third steps must come from their own minibatch alone."""
    out, X, y = traced(student, rng, params)
    for k, (verdict, _) in enumerate(classify_steps(out, X, y)):
        assert not verdict.startswith("accumulated"), (
            f"At step {k + 1} the gradient was this minibatch's plus the previous step's: backward() "
            "adds to .grad, so the gradients piled up. Call trainer.zero_grad() in every iteration, "
            f"{BOOK_STEP}."
        )


@pytest.mark.points(4)
def test_steps_are_plain_sgd(student, rng, params):
    """Updates with torch.optim.SGD: each parameter moves by -lr times its gradient
    The parameters before and after the first three steps."""
    out, X, y = traced(student, rng, params)
    lr = params["lr"]
    names = set(out["steps"]["optimizers"])
    assert names == {"SGD"}, (
        f"The optimizer is {', '.join(sorted(names))}; the book uses torch.optim.SGD(net.parameters(), lr=lr)."
    )
    for k, step in enumerate(out["trace"]):
        W0, b0, gW, gb, W1, b1 = step_parts(step)
        assert W0 is not None and b0 is not None and W1 is not None and b1 is not None, (
            "The optimizer does not hold a weight matrix and a bias vector: give it net.parameters()."
        )
        eW = W0 if gW is None else W0 - lr * gW
        eb = b0 if gb is None else b0 - lr * gb
        assert close(W1, eW) and close(b1, eb), (
            f"At step {k + 1} the weight went from {short(W0)} to {short(W1)} with gradient "
            f"{short(gW) if gW is not None else None}; SGD with lr = {lr} gives {short(eW)}. Use plain "
            "torch.optim.SGD(net.parameters(), lr=lr): no momentum, no weight decay."
        )


@pytest.mark.points(4)
def test_honours_lr(student, rng, params):
    """Uses the lr it is given: with a tiny lr, the notebook's epochs are not enough
    train_concise(features, labels, lr=lr / 300) on the notebook's w and b must not have converged."""
    # lr / 300, and smaller still if the notebook's epochs take so many steps that even it would
    # converge: 2 * lr * steps (nn.MSELoss's factor 2) at most 0.06 leaves ~94% of the error.
    steps = params["num_epochs"] * -(-params["num_examples"] // params["batch_size"])
    lr = min(params["lr"] / 300, 0.03 / steps)
    X, y, w, b = problem(rng, params, params["num_examples"], d=len(params["true_w"]),
                         w=params["true_w"], b=params["true_b"])
    out, eval_X = train(student, rng, params, X, y, lr=lr)
    assert out["steps"]["sizes"], NO_STEPS
    used = {round(v, 12) for group in out["steps"]["lrs"] for v in group}
    assert used == {round(lr, 12)}, (
        f"train_concise was called with lr = {lr:.3g} but the optimizer used lr = "
        f"{', '.join(f'{v:g}' for v in sorted(used))}. Pass the argument on: "
        "torch.optim.SGD(net.parameters(), lr=lr)."
    )
    w_fit, b_fit = learned(out, eval_X)
    error = max(np.abs(w_fit - w).max(), abs(b_fit - b))
    assert error > 0.2 * max(np.abs(w).max(), abs(b)), (
        f"With lr = {lr:.3g} the net still recovered w and b (largest error {error:.3g}) in "
        f"{params['num_epochs']} epochs, as if the lr argument were not used. Pass it to the "
        "optimizer: torch.optim.SGD(net.parameters(), lr=lr)."
    )


def small_run(student, rng, params, with_data=False):
    """2 epochs over 100 examples in batches of 7: 15 steps per epoch, the last of 2 examples."""
    bs, n, epochs = 7, 100, 2
    if bs == params["batch_size"]:
        bs = 6
    X, y, *_ = problem(rng, params, n)
    out, _ = train(student, rng, params, X, y, batch_size=bs, num_epochs=epochs, trace_steps=1)
    assert out["steps"]["sizes"], NO_STEPS
    found = (out, bs, n, epochs, classify_steps(out, X, y)[0][0])
    return (*found, X) if with_data else found


@pytest.mark.points(4)
def test_honours_batch_size(student, rng, params):
    """Uses the batch_size it is given
    train_concise(features, labels, batch_size=7, num_epochs=2) on 100 examples: every step's
    minibatch holds 7 examples, except the last of each epoch (2)."""
    out, bs, n, epochs, _ = small_run(student, rng, params)
    sizes = out["steps"]["sizes"]
    assert len(sizes) != epochs, ONCE_PER_EPOCH.format(steps=len(sizes), epochs=epochs)
    assert None not in sizes, "Some optimizer steps came before the net had seen any minibatch."
    # Full batches of bs, except one smaller batch at the end of each epoch: which data the loop
    # went through is the other tests' concern.
    assert max(sizes) == bs and sizes.count(bs) >= 0.8 * len(sizes), (
        f"With batch_size = {bs} the minibatches before each step held {sorted(set(sizes))} examples. "
        "Pass the argument on: load_array((features, labels), batch_size)."
    )


@pytest.mark.points(4)
def test_honours_num_epochs(student, rng, params):
    """Goes through the data num_epochs times, stepping once per minibatch
    train_concise(features, labels, batch_size=7, num_epochs=2) on 100 examples: 200 examples seen
    by the optimizer's steps."""
    out, bs, n, epochs, first, X = small_run(student, rng, params, with_data=True)
    assert first != "no_batch", NOT_THE_ARGUMENTS
    seen, steps = examples_seen(out)
    assert steps != epochs, ONCE_PER_EPOCH.format(steps=steps, epochs=epochs)
    count = len(set(out["trajectory"]["param_sets"]))
    assert count == 1, NEW_NET.format(count=count)
    if seen < n:
        raise AssertionError(
            f"The loop stopped after {steps} step(s) ({seen} examples), within the first epoch: is a "
            "`return` or `break` inside the loop over minibatches? Return the net after all epochs."
        )
    distinct = covered(out, X)
    assert distinct is None or distinct == n, (
        f"The optimizer's {steps} steps went through {seen} examples, but only {distinct} distinct ones of "
        f"the {n}: the same minibatch again and again. Take each step on the next minibatch: "
        "`for X, y in data_iter`."
    )
    assert seen == epochs * n, (
        f"With num_epochs = {epochs} the steps went through {seen} examples, {seen / n:g} pass(es) over "
        f"the {n} examples; expected {epochs} passes ({epochs * n}). Loop `for epoch in "
        "range(num_epochs)`, over every minibatch, and return the net after the last epoch."
    )


@pytest.mark.points(0)
def test_recovers_parameters_cuda(student, rng, params, cuda):
    """train_concise also trains on a CUDA device (no points)
    Features and labels on the GPU; the net must be moved there too, net.to(features.device).
    Only where the grading machine has a GPU; elsewhere reported as skipped."""
    X, y, w, b = problem(rng, params, params["num_examples"])
    out, eval_X = train(student, rng, params, X, y, device="cuda")
    check_recovered(out, eval_X, w, b, params, X, y)
