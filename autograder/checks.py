"""Assertion helpers for the hidden suites, on the trusted side (numpy only, no torch).

Each failure message says what was checked, what was seen and, where known, the usual
cause, because it is the feedback a student reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def kind_name(desc: dict[str, Any]) -> str:
    kind = desc.get("kind")
    if kind == "tensor":
        return f"a tensor of shape {tuple(desc['shape'])}"
    if kind == "none":
        return "None (is a `return` missing?)"
    if kind in ("tuple", "list"):
        return f"a {kind} of {desc['length']} items"
    if kind == "number":
        return "a Python number"
    if kind == "ndarray":
        return "a NumPy array (return a torch tensor)"
    if kind == "module":
        return f"an nn.Module of type {desc.get('type')}"
    if kind == "dataloader":
        return f"a DataLoader ({desc.get('type')})"
    return f"a {desc.get('type', kind)}"


def tensor_of(desc: dict[str, Any], what: str) -> np.ndarray:
    """The value of a described tensor, failing plainly when it is something else."""
    assert desc.get("kind") == "tensor", f"{what} should be a torch tensor, but it is {kind_name(desc)}."
    assert desc.get("value") is not None, f"{what} has dtype {desc.get('dtype')}, which is not numeric."
    return np.asarray(desc["value"])


def items_of(desc: dict[str, Any], what: str, count: int) -> list[dict[str, Any]]:
    assert desc.get("kind") in ("tuple", "list") and desc.get("length") == count, (
        f"{what} should be {count} values (a tuple), but it is {kind_name(desc)}."
    )
    return desc["items"]


def shape_of(desc: dict[str, Any]) -> tuple[int, ...]:
    return tuple(desc.get("shape", ()))


def short(values: Any, digits: int = 4) -> str:
    arr = np.asarray(values, dtype=float).reshape(-1)
    text = np.array2string(arr[:6], precision=digits, separator=", ", suppress_small=True)
    return text[:-1] + ", ...]" if arr.size > 6 else text


def close(actual: Any, expected: Any, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    return actual.shape == expected.shape and bool(np.allclose(actual, expected, rtol, atol))

