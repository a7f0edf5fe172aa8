"""Exercise 1, sum_reduction_lr: the learning rate that makes reduction='sum' take the mean's steps."""

import numpy as np
import pytest

from autograder.checks import close, kind_name, short, tensor_of

pytestmark = pytest.mark.tags("sum_reduction_lr")


def check_same_step(student, rng, lr, batch_size):
    d = 2
    X = rng.normal(0, 1, (batch_size, d)).astype(np.float32)
    y = rng.normal(0, 3, (batch_size, 1)).astype(np.float32)
    w = rng.normal(0, 1, d).astype(np.float32)
    b = rng.normal(0, 1, 1).astype(np.float32)
    out = student.probe("sum_reduction_lr", what="sum_reduction_lr", lr=float(lr),
                        batch_size=int(batch_size), X=X, y=y, w=w, b=b)
    value = out["value"]
    assert value["kind"] == "number" or (value["kind"] == "tensor" and value["value"] is not None
                                         and np.size(value["value"]) == 1), (
        f"sum_reduction_lr returns {kind_name(value)}; return the learning rate, a number."
    )
    rate = float(np.asarray(value["value"]).reshape(-1)[0])
    # The step the mean reduction takes with lr, computed here: w - lr * 2/B X^T (X w + b - y).
    r = X.astype(np.float64) @ w + b[0] - y[:, 0]
    expected_w = w - lr * 2 * (r @ X) / batch_size
    expected_b = b - lr * 2 * r.sum() / batch_size
    steps = out["steps"]
    ok = steps is not None and close(tensor_of(steps["sum"]["weight"], "weight").reshape(-1), expected_w) \
        and close(tensor_of(steps["sum"]["bias"], "bias").reshape(-1), expected_b)
    if ok:
        return
    seen = f"sum_reduction_lr({lr:g}, {batch_size}) returned {rate:.6g}"
    if np.isclose(rate, lr * batch_size):
        raise AssertionError(
            f"{seen}, lr * batch_size. With reduction='sum' the loss, and so its gradient, is "
            "batch_size times larger than the mean's: divide the learning rate by batch_size instead."
        )
    if np.isclose(rate, lr):
        raise AssertionError(
            f"{seen}, the same lr. The summed loss is batch_size times the mean, so its gradient is "
            "batch_size times larger and the step would be too: the rate must shrink to compensate."
        )
    got = tensor_of(steps["sum"]["weight"], "weight").reshape(-1) if steps else None
    raise AssertionError(
        f"{seen}. One SGD step with nn.MSELoss(reduction='sum') and that rate moves w to "
        f"{short(got) if got is not None else '(no step: the rate is not a non-negative number)'}, but the "
        f"mean's step with lr = {lr:g} moves it to {short(expected_w)}. How much larger is the summed "
        "loss's gradient than the mean's?"
    )


@pytest.mark.points(3)
@pytest.mark.tags("exercise")
def test_sum_step_equals_mean_step(student, rng, params):
    """Exercise 1: with reduction='sum' and your rate, one SGD step lands where the mean's does
    The assignment's lr and batch_size; one step of torch.optim.SGD under each reduction."""
    check_same_step(student, rng, params["lr"], params["batch_size"])


@pytest.mark.points(2)
@pytest.mark.tags("exercise")
def test_for_other_rates_and_batch_sizes(student, rng):
    """Exercise 1: the same holds for other learning rates and batch sizes
    Two pairs drawn per student: lr from 0.005 to 0.5, batch sizes from 2 to 40."""
    for lr, batch_size in ((float(rng.choice([0.5, 0.1, 0.05])), int(rng.integers(2, 9))),
                           (float(rng.choice([0.01, 0.005, 0.02])), int(rng.integers(11, 41)))):
        check_same_step(student, rng, lr, batch_size)
