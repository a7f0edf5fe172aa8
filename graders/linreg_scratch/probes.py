"""Probes for the "from scratch" assignment (d2l 3.2); each calls one student function.

Only ``probe_train`` uses several of them together: it is the book's training loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from autograder.probes import describe, student_function, tensor


def probe_synthetic_data(ns: dict[str, Any], w: Any, b: float, num_examples: int,
                         calls: int = 1) -> dict[str, Any]:
    synthetic_data = student_function(ns, "synthetic_data")
    results = []
    for _ in range(calls):
        out = synthetic_data(tensor(w), b, num_examples)
        results.append(describe(out))
    return {"calls": results}


def probe_synthetic_data_many(ns: dict[str, Any], problems: list, *,
                              _one: Any = probe_synthetic_data) -> dict[str, Any]:
    """One call per (w, b, num_examples) in ``problems``, in one round trip (``_one``: bound at import)."""
    return {"results": [_one(ns, **problem)["calls"][0] for problem in problems]}


def probe_data_iter(ns: dict[str, Any], batch_size: int, features: Any, labels: Any,
                    epochs: int = 1, max_batches: int = 10_000) -> dict[str, Any]:
    data_iter = student_function(ns, "data_iter")
    X, y = tensor(features), tensor(labels)
    runs = []
    for _ in range(epochs):
        batches = []
        for count, batch in enumerate(iter(data_iter(batch_size, X, y))):
            if count >= max_batches:
                return {"runs": runs, "endless": True}
            batches.append(describe(batch))
        runs.append(batches)
    return {"runs": runs, "endless": False}


def probe_data_iter_many(ns: dict[str, Any], configs: list, *, _one: Any = probe_data_iter) -> dict[str, Any]:
    """Several ``probe_data_iter`` calls in one round trip (each config holds its arguments).

    ``_one`` is bound when this module is imported, before student code runs: code that
    replaces the module's ``probe_data_iter`` does not change what this probe calls.
    """
    return {"results": [_one(ns, **config) for config in configs]}


def probe_linreg(ns: dict[str, Any], X: Any, w: Any, b: Any, upstream: Any) -> dict[str, Any]:
    linreg = student_function(ns, "linreg")
    w_t, b_t = tensor(w, requires_grad=True), tensor(b, requires_grad=True)
    out = linreg(tensor(X), w_t, b_t)
    result = {"output": describe(out), "w_grad": None, "b_grad": None}
    if isinstance(out, torch.Tensor) and out.grad_fn is not None and out.numel() == len(upstream):
        (out.reshape(-1) * tensor(upstream).reshape(-1)).sum().backward()
        result["w_grad"] = describe(w_t.grad)
        result["b_grad"] = describe(b_t.grad)
    return result


def probe_squared_loss(ns: dict[str, Any], y_hat: Any, y: Any, upstream: Any) -> dict[str, Any]:
    squared_loss = student_function(ns, "squared_loss")
    y_hat_t = tensor(y_hat, requires_grad=True)
    out = squared_loss(y_hat_t, tensor(y))
    result = {"output": describe(out), "y_hat_grad": None}
    if isinstance(out, torch.Tensor) and out.grad_fn is not None and out.numel() == len(upstream):
        (out.reshape(-1) * tensor(upstream).reshape(-1)).sum().backward()
        result["y_hat_grad"] = describe(y_hat_t.grad)
    return result


def probe_sgd(ns: dict[str, Any], params: list, grads: list, lr: float,
              batch_size: int) -> dict[str, Any]:
    """One call of sgd; reports what happened to the very tensors the caller holds."""
    sgd = student_function(ns, "sgd")
    originals = [tensor(p, requires_grad=True) for p in params]
    for p, g in zip(originals, grads, strict=True):
        p.grad = tensor(g)
    passed = list(originals)
    sgd(passed, lr, batch_size)
    return {"params": [
        {"after": describe(p), "grad": describe(p.grad), "same_object": passed[i] is p}
        for i, p in enumerate(originals)
    ]}


def probe_sgd_many(ns: dict[str, Any], calls: list, *, _one: Any = probe_sgd) -> dict[str, Any]:
    """Several ``probe_sgd`` calls (params, grads, lr, batch_size each) in one round trip.

    ``_one`` is bound at import, before student code runs (a student replacing the module's
    ``probe_sgd`` changes nothing here).
    """
    return {"results": [_one(ns, **call)["params"] for call in calls]}


def flat(tensors: list) -> torch.Tensor:
    """The tensors' values as one flat copy, in their own dtype (float64 where they differ).

    Three of these per training step: made cheaply here (7 us, not 20), converted to float64
    once in ``stacked``. Either way each value is widened exactly, so the rows are the same."""
    parts = [t.detach().reshape(-1) for t in tensors]
    if len({part.dtype for part in parts}) > 1:
        parts = [part.to(torch.float64) for part in parts]
    return torch.cat(parts)


def stacked(rows: list) -> Any:
    """Rows of one length as one float64 array (one message entry, not hundreds); None when they differ."""
    if len({len(r) for r in rows}) > 1:
        return None
    if not rows:
        return np.zeros((0, 0))
    if len({r.dtype for r in rows}) > 1:
        rows = [r.to(torch.float64) for r in rows]
    return torch.stack(rows).to("cpu", torch.float64).numpy()


def probe_train(ns: dict[str, Any], features: Any, labels: Any, w0: Any, b0: Any, lr: float,
                batch_size: int, num_epochs: int, device: str = "cpu") -> dict[str, Any]:
    """The book's training loop, built from the student's four functions."""
    data_iter = student_function(ns, "data_iter")
    linreg = student_function(ns, "linreg")
    squared_loss = student_function(ns, "squared_loss")
    sgd = student_function(ns, "sgd")
    X, y = tensor(features, device=device), tensor(labels, device=device)
    w = tensor(w0, requires_grad=True, device=device)
    b = tensor(b0, requires_grad=True, device=device)
    losses = []
    # The trajectory, step by step: parameters before the forward pass, the gradients sgd was
    # handed, the parameters after sgd, and how many examples the minibatch held.
    before, grads, after, sizes = [], [], [], []
    missing_grad: list[str] = []
    most = 2 * -(-len(X) // batch_size) + 10  # an epoch far longer than the data is a bug
    for _ in range(num_epochs):
        for count, (X_batch, y_batch) in enumerate(data_iter(batch_size, X, y)):
            if count >= most:
                raise RuntimeError(f"data_iter gave more than {most} batches in one epoch of "
                                   f"{len(X)} examples: does its loop ever end?")
            before.append(flat([w, b]))
            loss = squared_loss(linreg(X_batch, w, b), y_batch)
            loss.sum().backward()
            missing_grad = [name for name, p in (("w", w), ("b", b)) if p.grad is None]
            if missing_grad:  # sgd would fail on it; the grader says why
                break
            grads.append(flat([w.grad, b.grad]))
            sizes.append(int(len(X_batch)) if hasattr(X_batch, "__len__") else -1)
            sgd([w, b], lr, batch_size)
            after.append(flat([w, b]))
        if missing_grad:
            break
        with torch.no_grad():
            losses.append(float(squared_loss(linreg(X, w, b), y).mean()))
    return {"w": describe(w), "b": describe(b), "losses": losses, "device": X.device.type,
            "trajectory": {"before": stacked(before), "grads": stacked(grads), "after": stacked(after),
                           "sizes": sizes},
            "missing_grad": missing_grad}
