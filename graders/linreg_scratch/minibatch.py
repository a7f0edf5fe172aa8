"""The minibatch checks of both linear-regression suites (data_iter, load_array): the batch sizes
they draw, and what an epoch's batches say about shuffling. A batch is a sequence of arrays, the
features first."""

from __future__ import annotations

from typing import Any

import numpy as np

PRIMES = (3, 5, 7, 11, 13)


def other_size(rng: np.random.Generator, params: dict[str, Any]) -> int:
    """A prime batch size other than the notebook's, drawn per student; below it when it can be, so
    that a batch size written into the code fails alike for every student."""
    bs = params["batch_size"]
    return int(rng.choice([p for p in PRIMES if p != bs and p < max(bs, 8)]))


def uneven(rng: np.random.Generator, params: dict[str, Any]) -> tuple[int, int]:
    """(batch_size, n) with n mod batch_size in 1 .. batch_size - 2: there, and only there, sizes
    spread evenly (np.array_split into ceil(n / batch_size) parts) differ from slicing's."""
    bs = other_size(rng, params)
    return bs, int(rng.integers(4, 8)) * bs + int(rng.integers(1, bs - 1))


def order(batches: list) -> np.ndarray:
    """The example indices in the order an epoch visited them (the features' first column holds them)."""
    firsts = [b[0].reshape(len(b[0]), -1)[:, 0] for b in batches]
    return np.concatenate(firsts).astype(int) if firsts else np.zeros(0, dtype=int)


def composition(batches: list) -> set[frozenset[int]]:
    """The minibatches of an epoch as a set of sets of example indices: which examples share a batch."""
    return {frozenset(b[0][:, 0].astype(int).tolist()) for b in batches}
