"""Batch sizes for the minibatch checks of both linear-regression suites (data_iter, load_array)."""

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
