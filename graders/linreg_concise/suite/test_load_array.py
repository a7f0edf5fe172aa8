"""load_array: a DataLoader over the given tensors, shuffled each epoch only when is_train."""

import numpy as np
import pytest
from linreg_scratch.minibatch import composition, order, other_size, uneven

from autograder.checks import items_of, kind_name, tensor_of

pytestmark = pytest.mark.tags("load_array")
LABEL_OFFSET = 1000.0
EXTRA_OFFSET = 5000.0
BOOK_ANSWER = "data.DataLoader(data.TensorDataset(*data_arrays), batch_size, shuffle=is_train)"


def make_arrays(rng, n, d=3, count=2):
    """Features whose first column is the example's index; the other tensors hold offset indices."""
    X = rng.normal(0, 1, (n, d)).astype(np.float32)
    X[:, 0] = np.arange(n)
    arrays = [X, (LABEL_OFFSET + np.arange(n, dtype=np.float32)).reshape(-1, 1)]
    if count > 2:
        arrays.append(EXTRA_OFFSET + np.arange(n, dtype=np.float32))
    return arrays


def read(student, rng, n, batch_size, is_train=None, epochs=1, count=2, gate=None):
    """(the loader's description, per epoch a list of batches, each a list of arrays).

    With ``gate`` (a batch size), the same call also checks, on other data, that load_array does its
    job at least partly: minibatches made of the rows it was given. Secondary checks use it.
    """
    configs = [(n, batch_size, is_train, epochs, count)]
    if gate is not None:
        configs.append((5 * gate, gate, None, 1, 2))
    data = [make_arrays(rng, m, count=c) for m, _, _, _, c in configs]
    many = student.probe("load_array_many", what="load_array", configs=[
        {"arrays": arrays, "batch_size": int(bs), "is_train": train, "epochs": e}
        for (_, bs, train, e, _), arrays in zip(configs, data, strict=True)])["results"]
    found = [parse(out, c) for out, (*_, c) in zip(many, configs, strict=True)]
    if gate is not None:
        _, runs = found[1]
        X = data[1][0]
        ok = bool(runs[0]) and len(runs[0]) > 1 and all(
            b[0].ndim == 2 and b[0].shape[1] == X.shape[1] and np.all((b[0][:, 0] >= 0) & (b[0][:, 0] < len(X)))
            and np.array_equal(b[0], X[b[0][:, 0].astype(int)]) for b in runs[0])
        assert ok, (
            f"This is checked only when load_array gives minibatches of the tensors it is given; with "
            f"{5 * gate} examples and batch_size = {gate} it gave "
            + (f"{len(runs[0])} batch(es) that are not minibatches of them." if runs[0] else "no batch at all.")
            + f" Return {BOOK_ANSWER}."
        )
    return found[0]


def parse(out, count):
    assert not out["endless"], (
        "Iterating over what load_array returned never ended: one pass over the data must stop. "
        f"Return {BOOK_ANSWER}."
    )
    runs = []
    for run in out["runs"]:
        batches = []
        for desc in run:
            items = items_of(desc, "Each batch from the loader", count)
            batches.append([tensor_of(item, f"Item {i} of a batch") for i, item in enumerate(items)])
        runs.append(batches)
    return out["loader"], runs


def check_permutation(loader, batches, n, batch_size):
    seen = order(batches)
    counts = np.bincount(seen[(seen >= 0) & (seen < n)], minlength=n)
    missing = int((counts == 0).sum())
    if missing and loader.get("drop_last"):
        raise AssertionError(
            f"One pass gave {len(seen)} of {n} examples: the DataLoader was made with drop_last=True, "
            f"which throws the last, smaller batch away (n = {n}, batch_size = {batch_size}). "
            "Leave drop_last at its default, False."
        )
    assert not missing and len(seen) == n, (
        f"One pass gave {len(seen)} examples for a data set of {n}, with {missing} never seen. "
        "Every example must come exactly once per pass, the last batch being smaller when "
        f"batch_size does not divide n. Return {BOOK_ANSWER}."
    )


@pytest.mark.points(2)
def test_returns_a_dataloader(student, rng, params):
    """Returns a torch.utils.data.DataLoader (a subclass is fine)
    The framework's data iterator, which a training loop can go through once per epoch."""
    bs = other_size(rng, params)
    loader, _ = read(student, rng, 3 * bs, bs, gate=params["batch_size"])
    assert loader["kind"] == "dataloader", (
        f"load_array returns {kind_name(loader)}, not a DataLoader. A generator or iter(...) can be "
        f"gone through only once, but training needs one pass per epoch: return {BOOK_ANSWER}."
    )


@pytest.mark.points(2)
def test_batch_shapes(student, rng, params):
    """Batches hold (batch_size, d) features and (batch_size, 1) labels
    Checked with a prime batch_size drawn per student on 5 full batches, is_train=False."""
    bs = other_size(rng, params)
    _, runs = read(student, rng, 5 * bs, bs, is_train=False, gate=params["batch_size"])
    batches = runs[0]
    assert len(batches) == 5, f"load_array gave {len(batches)} batches for {5 * bs} examples; expected 5."
    for X_b, y_b in batches:
        assert X_b.shape == (bs, 3), f"A batch of features has shape {X_b.shape}; expected ({bs}, 3)."
        assert y_b.shape == (bs, 1), (
            f"A batch of labels has shape {y_b.shape}; expected ({bs}, 1), one row per example "
            "as in the labels tensor passed in."
        )


@pytest.mark.points(3)
def test_each_example_once_per_epoch(student, rng, params):
    """Each pass visits every example exactly once
    With is_train left at its default and a prime batch_size; nothing dropped, repeated or padded, no
    batch larger than batch_size."""
    bs = other_size(rng, params)
    loader, runs = read(student, rng, 6 * bs, bs)
    check_permutation(loader, runs[0], 6 * bs, bs)
    sizes = sorted({len(b[0]) for b in runs[0]})
    assert max(sizes) <= bs, (
        f"With batch_size = {bs} the loader gave batches of {sizes} examples. Pass batch_size on: {BOOK_ANSWER}.")


@pytest.mark.points(3)
def test_pairs_stay_aligned(student, rng, params):
    """Each label stays with its own features
    Every label in a shuffled batch belongs to the feature row beside it."""
    bs = other_size(rng, params)
    _, runs = read(student, rng, 6 * bs, bs, gate=params["batch_size"])
    for X_b, y_b in runs[0]:
        X_idx = X_b.reshape(len(X_b), -1)[:, 0]
        y_idx = y_b.reshape(-1) - LABEL_OFFSET
        assert X_idx.shape == y_idx.shape and np.array_equal(X_idx, y_idx), (
            "A batch pairs features with labels of other examples. Put the tensors in one "
            "data.TensorDataset(*data_arrays), so the DataLoader shuffles the examples, not "
            "each tensor on its own."
        )


@pytest.mark.points(3)
def test_last_batch_smaller_when_uneven(student, rng, params):
    """When batch_size does not divide n, the last batch is smaller and nothing is dropped
    Full batches of batch_size, then one of n mod batch_size, with n and batch_size drawn per student."""
    bs, n = uneven(rng, params)
    loader, runs = read(student, rng, n, bs)
    check_permutation(loader, runs[0], n, bs)
    sizes = [len(b[0]) for b in runs[0]]
    assert sizes == [bs] * (n // bs) + [n % bs], (
        f"Batch sizes were {sizes}; with n = {n} and batch_size = {bs} expected "
        f"{n // bs} batches of {bs} and a last one of n mod batch_size = {n % bs}."
    )


@pytest.mark.points(3)
def test_shuffled_anew_each_epoch_when_training(student, rng, params):
    """Shuffles when is_train is True (the default), so that the minibatches differ from epoch to epoch
    Two passes over one loader are compared: which examples share a minibatch must change."""
    bs = other_size(rng, params)
    n = 6 * bs
    _, runs = read(student, rng, n, bs, epochs=2, gate=params["batch_size"])
    first, second = (order(batches) for batches in runs)
    assert len(second) > 0, (
        "The second pass over what load_array returned gave no batches: it is a one-shot "
        f"iterator (a generator or iter(...)). Return the DataLoader itself: {BOOK_ANSWER}."
    )
    assert not np.array_equal(first, np.arange(len(first))), (
        "With is_train=True the examples came in their original order: minibatch SGD needs "
        "random batches. Pass shuffle=is_train to the DataLoader."
    )
    assert not np.array_equal(first, second), (
        "Two epochs visited the examples in the same order: the data were shuffled once, not "
        "in every epoch. Let the DataLoader do it: shuffle=is_train."
    )
    assert composition(runs[0]) != composition(runs[1]), (
        "Two epochs gave the same minibatches (the same examples together), only in another order: that "
        f"is no shuffle for SGD. Let the DataLoader shuffle the examples: {BOOK_ANSWER}."
    )


@pytest.mark.points(2)
def test_original_order_when_not_training(student, rng, params):
    """Keeps the original order when is_train is False
    Evaluation data need no shuffling, and a fixed order makes results reproducible."""
    bs = other_size(rng, params)
    n = 4 * bs
    _, runs = read(student, rng, n, bs, is_train=False, gate=params["batch_size"])
    assert np.array_equal(order(runs[0]), np.arange(n)), (
        "With is_train=False the examples came shuffled; they should keep their order. "
        "Pass shuffle=is_train to the DataLoader rather than shuffle=True."
    )


@pytest.mark.points(2)
def test_works_with_more_than_two_tensors(student, rng, params):
    """Works with any number of tensors, here three, keeping them aligned
    load_array((features, labels, extra), batch_size) yields batches of three."""
    bs = other_size(rng, params)
    _, runs = read(student, rng, 3 * bs, bs, count=3, gate=params["batch_size"])
    for X_b, y_b, z_b in runs[0]:
        X_idx = X_b.reshape(len(X_b), -1)[:, 0]
        assert np.array_equal(X_idx, y_b.reshape(-1) - LABEL_OFFSET) and np.array_equal(
            X_idx, z_b.reshape(-1) - EXTRA_OFFSET), (
            "With three tensors, a batch's items do not belong to the same examples. Unpack all "
            "of them into the dataset: data.TensorDataset(*data_arrays)."
        )
