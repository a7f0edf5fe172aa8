"""data_iter: shuffled minibatches that cover every example exactly once per epoch."""

import numpy as np
import pytest

from autograder.engine.checks import items_of, tensor_of

pytestmark = pytest.mark.tags("data_iter")
LABEL_OFFSET = 1000.0


def make_data(rng, n, d=3):
    """Features whose first column is the example's index, so batches can be traced back."""
    X = rng.normal(0, 1, (n, d)).astype(np.float32)
    X[:, 0] = np.arange(n)
    y = (LABEL_OFFSET + np.arange(n, dtype=np.float32)).reshape(-1, 1)
    return X, y


def read_epochs(student, rng, n, batch_size, epochs=1, d=3):
    """Batches of each epoch as lists of (features, labels) arrays."""
    X, y = make_data(rng, n, d)
    out = student.probe("data_iter", what="data_iter", batch_size=int(batch_size),
                        features=X, labels=y, epochs=epochs)
    assert not out["endless"], (
        "data_iter kept yielding batches long after the data ran out: one pass over the "
        "data must end (loop `for i in range(0, num_examples, batch_size)`)."
    )
    runs = []
    for run in out["runs"]:
        batches = []
        for desc in run:
            X_b, y_b = items_of(desc, "Each batch from data_iter", 2)
            batches.append((tensor_of(X_b, "A batch of features"), tensor_of(y_b, "A batch of labels")))
        runs.append(batches)
    return runs


def order(batches):
    """The example indices in the order the epoch visited them."""
    firsts = [X_b.reshape(len(X_b), -1)[:, 0] for X_b, _ in batches]
    return np.concatenate(firsts).astype(int) if firsts else np.zeros(0, dtype=int)


def check_permutation(batches, n, batch_size):
    seen = order(batches)
    counts = np.bincount(seen[(seen >= 0) & (seen < n)], minlength=n)
    missing, repeated = int((counts == 0).sum()), int((counts > 1).sum())
    if repeated and missing:
        raise AssertionError(
            f"In one epoch {repeated} examples came more than once and {missing} never came: "
            "that is sampling with replacement (random.choices, torch.randint). Shuffle a list "
            "of all indices instead, so each example is used exactly once per epoch."
        )
    if missing:
        raise AssertionError(
            f"One epoch gave {len(seen)} examples out of {n}; {missing} never came. With "
            f"n = {n} and batch_size = {batch_size}, the last batch is smaller: keep it "
            "(indices[i: min(i + batch_size, num_examples)]), do not drop it."
        )
    assert len(seen) == n, (
        f"One epoch gave {len(seen)} examples for a data set of {n}: some were repeated or "
        "padded in. Each example must come exactly once per epoch, even when the last batch "
        "is smaller than batch_size."
    )


@pytest.mark.points(3)
def test_batch_shapes(student, rng, params):
    """Yields (features, labels) batches of shape (batch_size, d) and (batch_size, 1)
    Checked with the assignment's batch_size on 5 full batches."""
    bs = params["batch_size"]
    batches = read_epochs(student, rng, 5 * bs, bs)[0]
    assert len(batches) == 5, f"data_iter gave {len(batches)} batches for {5 * bs} examples; expected 5."
    for X_b, y_b in batches:
        assert X_b.shape == (bs, 3), f"A batch of features has shape {X_b.shape}; expected ({bs}, 3)."
        assert y_b.shape == (bs, 1), (
            f"A batch of labels has shape {y_b.shape}; expected ({bs}, 1). Index the labels "
            "with the same indices as the features: labels[batch_indices]."
        )


@pytest.mark.points(5)
def test_each_example_once_per_epoch(student, rng, params):
    """Each epoch visits every example exactly once
    Nothing dropped, repeated or padded."""
    bs = params["batch_size"]
    n = 6 * bs
    check_permutation(read_epochs(student, rng, n, bs)[0], n, bs)


@pytest.mark.points(4)
def test_features_and_labels_stay_paired(student, rng, params):
    """Each label stays with its own features
    Every label in a batch belongs to the feature row beside it."""
    bs = params["batch_size"]
    for X_b, y_b in read_epochs(student, rng, 6 * bs, bs)[0]:
        X_idx = X_b.reshape(len(X_b), -1)[:, 0]
        y_idx = y_b.reshape(-1) - LABEL_OFFSET
        assert X_idx.shape == y_idx.shape and np.array_equal(X_idx, y_idx), (
            "A batch pairs features with labels of other examples: shuffle one list of "
            "indices and use it for both, features[batch_indices] and labels[batch_indices]."
        )


@pytest.mark.points(3)
def test_shuffled_anew_each_epoch(student, rng, params):
    """Shuffles the examples, in a new order each epoch
    Two epochs over the same data are compared."""
    bs = params["batch_size"]
    n = 6 * bs
    first, second = (order(batches) for batches in read_epochs(student, rng, n, bs, epochs=2))
    assert not np.array_equal(first, np.arange(len(first))), (
        "The examples come in their original order: minibatch SGD needs random batches. "
        "Shuffle the indices (random.shuffle(indices)) before slicing them into batches."
    )
    assert not np.array_equal(first, second), (
        "Two epochs visited the examples in the same order. Shuffle inside data_iter, each "
        "time it is called, and do not re-seed the random generator there."
    )


@pytest.mark.points(3)
@pytest.mark.tags("exercise")
def test_last_batch_smaller_when_uneven(student, rng, params):
    """Exercise (c): when n is not a multiple of batch_size, the last batch is smaller
    Every example still comes exactly once; no batch is larger than batch_size."""
    bs = params["batch_size"] if params["batch_size"] > 1 else 4
    n = 5 * bs + max(1, bs // 3)
    batches = read_epochs(student, rng, n, bs)[0]
    check_permutation(batches, n, bs)
    sizes = [len(X_b) for X_b, _ in batches]
    assert max(sizes) <= bs and len(sizes) == -(-n // bs), (
        f"Batch sizes were {sizes}; with n = {n} and batch_size = {bs} expected "
        f"{n // bs} batches of {bs} and one of {n % bs}."
    )


@pytest.mark.points(2)
def test_batch_size_larger_than_data(student, rng):
    """A batch_size larger than the data gives one batch holding everything"""
    n = 7
    batches = read_epochs(student, rng, n, 10)[0]
    check_permutation(batches, n, 10)
    assert len(batches) == 1, f"data_iter gave {len(batches)} batches for 7 examples and batch_size 10; expected 1."
