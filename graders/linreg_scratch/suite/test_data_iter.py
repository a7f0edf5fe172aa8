"""data_iter: shuffled minibatches that cover every example exactly once per epoch.

Every test draws its own batch sizes (the notebook's, primes, sizes that do and do not divide
n, larger than n) and numbers of features, seeded per student, so a data_iter that ignores its
arguments loses points. Checks of a secondary property (shapes, pairing, shuffling) give their
points only when data_iter yields minibatches made of the rows it was given.
"""

import numpy as np
import pytest

from autograder.checks import items_of, tensor_of

from ..minibatch import composition, order, other_size, uneven

pytestmark = pytest.mark.tags("data_iter")
LABEL_OFFSET = 1000.0


def make_data(rng, n, d=3):
    """Features whose first column is the example's index, so batches can be traced back."""
    X = rng.normal(0, 1, (n, d)).astype(np.float32)
    X[:, 0] = np.arange(n)
    y = (LABEL_OFFSET + np.arange(n, dtype=np.float32)).reshape(-1, 1)
    return X, y


def read_many(student, rng, configs):
    """Per config (n, batch_size, epochs, d): (X, that config's epochs as lists of (features, labels))."""
    data = [make_data(rng, n, d) for n, _, _, d in configs]
    out = student.probe("data_iter_many", what="data_iter", configs=[
        {"batch_size": int(bs), "features": X, "labels": y, "epochs": int(epochs)}
        for (_, bs, epochs, _), (X, y) in zip(configs, data, strict=True)])
    results = []
    for (X, _), res in zip(data, out["results"], strict=True):
        assert not res["endless"], (
            "data_iter kept yielding batches long after the data ran out: one pass over the "
            "data must end (loop `for i in range(0, num_examples, batch_size)`)."
        )
        runs = []
        for run in res["runs"]:
            batches = []
            for desc in run:
                X_b, y_b = items_of(desc, "Each batch from data_iter", 2)
                batches.append((tensor_of(X_b, "A batch of features"), tensor_of(y_b, "A batch of labels")))
            runs.append(batches)
        results.append((X, runs))
    return results


def read_epochs(student, rng, n, batch_size, epochs=1, d=3):
    return read_many(student, rng, [(n, batch_size, epochs, d)])[0]


def rows_of_data(batches, X):
    """Whether every batch is made of whole rows of the features data_iter was given."""
    if not batches:
        return False
    n, d = X.shape
    for X_b, _ in batches:
        if X_b.ndim != 2 or X_b.shape[1] != d or len(X_b) == 0:
            return False
        idx = X_b[:, 0]
        if not np.all((idx >= 0) & (idx < n) & (idx == np.round(idx))):
            return False
        if not np.array_equal(X_b, X[idx.astype(int)]):
            return False
    return True


def require_minibatches(batches, X, batch_size, what):
    """The gate of the secondary checks: data_iter yields minibatches (more than one, when the data
    hold more than a batch) made of rows of the data it is given."""
    n = len(X)
    assert rows_of_data(batches, X), (
        f"{what} is checked only when data_iter yields minibatches of the data it is given; here "
        f"(n = {n}, batch_size = {batch_size}) it gave "
        + (f"{len(batches)} batches that are not rows of the features passed in." if batches else "no batch at all.")
        + " Yield features[batch_indices], labels[batch_indices]."
    )
    assert len(batches) > 1 or n <= batch_size, (
        f"{what} is checked only on minibatches: with n = {n} and batch_size = {batch_size} data_iter gave "
        "all the data in one batch. Slice the shuffled indices into pieces of batch_size."
    )


def check_permutation(batches, n, batch_size):
    seen = order(batches)
    counts = np.bincount(seen[(seen >= 0) & (seen < n)], minlength=n)
    missing, repeated = int((counts == 0).sum()), int((counts > 1).sum())
    sizes = [len(X_b) for X_b, _ in batches]
    if repeated and missing:
        raise AssertionError(
            f"In one epoch {repeated} examples came more than once and {missing} never came: "
            "that is sampling with replacement (random.choices, torch.randint). Shuffle a list "
            "of all indices instead, so each example is used exactly once per epoch."
        )
    if missing and missing == n % batch_size and sizes and all(s == batch_size for s in sizes):
        raise AssertionError(
            f"One epoch gave {len(seen)} examples out of {n}: {n // batch_size} full batches, and the "
            f"last {missing} examples never came. With n = {n} and batch_size = {batch_size}, the last "
            "batch is smaller: keep it (indices[i: min(i + batch_size, num_examples)]), do not drop it."
        )
    if missing:
        raise AssertionError(
            f"One epoch gave {len(seen)} examples out of {n} (batch sizes {sizes[:12]}"
            f"{', ...' if len(sizes) > 12 else ''}); {missing} never came. Each example must come "
            "exactly once per epoch: slice one shuffled list of all indices into batches."
        )
    assert len(seen) == n, (
        f"One epoch gave {len(seen)} examples for a data set of {n}: some were repeated or "
        "padded in. Each example must come exactly once per epoch, even when the last batch "
        "is smaller than batch_size."
    )
    assert max(sizes) <= batch_size, (
        f"With n = {n} and batch_size = {batch_size} data_iter gave batches of {sorted(set(sizes))} examples: "
        "every example came, but not in minibatches of batch_size. Slice the shuffled indices into "
        "pieces of batch_size."
    )


@pytest.mark.points(3)
def test_batch_shapes(student, rng, params):
    """Yields (features, labels) batches of shape (batch_size, d) and (batch_size, 1)
    With the assignment's batch_size and d = 3, and with a prime batch_size and another d."""
    bs, other, d = params["batch_size"], other_size(rng, params), int(rng.integers(1, 6))
    for (X, runs), (n, size, _, dim) in zip(
            read_many(student, rng, [(5 * bs, bs, 1, 3), (4 * other, other, 1, d)]),
            [(5 * bs, bs, 1, 3), (4 * other, other, 1, d)], strict=True):
        batches = runs[0]
        require_minibatches(batches, X, size, "The shape of the batches")
        assert len(batches) == n // size, (
            f"data_iter gave {len(batches)} batches for {n} examples and batch_size {size}; expected {n // size}."
        )
        for X_b, y_b in batches:
            assert X_b.shape == (size, dim), f"A batch of features has shape {X_b.shape}; expected ({size}, {dim})."
            assert y_b.shape == (size, 1), (
                f"A batch of labels has shape {y_b.shape}; expected ({size}, 1). Index the labels "
                "with the same indices as the features: labels[batch_indices]."
            )


@pytest.mark.points(5)
def test_each_example_once_per_epoch(student, rng, params):
    """Each epoch visits every example exactly once, in minibatches of batch_size
    Nothing dropped, repeated or padded; with the assignment's batch_size and a prime one."""
    bs, other = params["batch_size"], other_size(rng, params)
    configs = [(6 * bs, bs, 1, 3), (5 * other, other, 1, 3)]
    for (_, runs), (n, size, _, _) in zip(read_many(student, rng, configs), configs, strict=True):
        check_permutation(runs[0], n, size)


@pytest.mark.points(4)
def test_features_and_labels_stay_paired(student, rng, params):
    """Each label stays with its own features
    Every label in a batch belongs to the feature row beside it (a prime batch_size)."""
    bs = other_size(rng, params)
    X, runs = read_epochs(student, rng, 6 * bs, bs)
    require_minibatches(runs[0], X, bs, "Whether labels stay with their features")
    for X_b, y_b in runs[0]:
        X_idx = X_b.reshape(len(X_b), -1)[:, 0]
        y_idx = y_b.reshape(-1) - LABEL_OFFSET
        assert X_idx.shape == y_idx.shape and np.array_equal(X_idx, y_idx), (
            "A batch pairs features with labels of other examples: shuffle one list of "
            "indices and use it for both, features[batch_indices] and labels[batch_indices]."
        )


@pytest.mark.points(3)
def test_shuffled_anew_each_epoch(student, rng, params):
    """Shuffles the examples, so that the minibatches differ from epoch to epoch
    Two epochs over the same data are compared: which examples share a minibatch must change."""
    bs = other_size(rng, params)
    n = 6 * bs
    X, runs = read_epochs(student, rng, n, bs, epochs=2)
    for batches in runs:
        require_minibatches(batches, X, bs, "Shuffling")
    first, second = (order(batches) for batches in runs)
    assert not np.array_equal(first, np.arange(len(first))), (
        "The examples come in their original order: minibatch SGD needs random batches. "
        "Shuffle the indices (random.shuffle(indices)) before slicing them into batches."
    )
    assert not np.array_equal(first, second), (
        "Two epochs visited the examples in the same order. Shuffle inside data_iter, each "
        "time it is called, and do not re-seed the random generator there."
    )
    assert composition(runs[0]) != composition(runs[1]), (
        "Two epochs gave the same minibatches (the same examples together), only in another order: "
        "shuffling within fixed blocks, or visiting fixed blocks in a random order, is no shuffle for "
        "SGD. Shuffle the list of all indices, then slice it into batches."
    )


@pytest.mark.points(3)
@pytest.mark.tags("exercise")
def test_last_batch_smaller_when_uneven(student, rng, params):
    """Exercise (c): when n is not a multiple of batch_size, the last batch is smaller
    Full batches of batch_size, then one of n mod batch_size; every example exactly once."""
    bs, n = uneven(rng, params)
    _, runs = read_epochs(student, rng, n, bs)
    batches = runs[0]
    check_permutation(batches, n, bs)
    sizes = [len(X_b) for X_b, _ in batches]
    expected = [bs] * (n // bs) + [n % bs]
    assert sizes == expected, (
        f"Batch sizes were {sizes}; with n = {n} and batch_size = {bs} expected "
        f"{n // bs} batches of {bs} and a last one of n mod batch_size = {n % bs}, as slicing "
        "indices[i: i + batch_size] gives (not sizes spread evenly, as np.array_split does)."
    )


@pytest.mark.points(2)
def test_batch_size_larger_than_data(student, rng, params):
    """A batch_size larger than the data gives one batch holding everything
    Checked only when the same data_iter also slices larger data into minibatches."""
    n = int(rng.integers(3, 10))
    bs, other = n + int(rng.integers(1, 15)), other_size(rng, params)
    (_, runs), (X, small) = read_many(student, rng, [(n, bs, 1, 3), (5 * other, other, 1, 3)])
    require_minibatches(small[0], X, other, "A batch_size larger than the data")
    batches = runs[0]
    check_permutation(batches, n, bs)
    assert len(batches) == 1, (
        f"data_iter gave {len(batches)} batches for {n} examples and batch_size {bs}; expected 1.")
