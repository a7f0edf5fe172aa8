"""Probes: small, trusted routines that run *inside the worker*, next to student code.

A probe calls the student's functions on inputs the grader chose and describes what
happened as plain data (arrays, numbers, strings). It never judges: the hidden suites do
that in the grader's own process. Each assignment folder has its own (``probes.py``); the
helpers they share, and the probes every assignment has, live here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class MissingFunction(Exception):
    """The notebook does not define a function the grader needs."""


def student_function(ns: dict[str, Any], name: str) -> Any:
    fn = ns.get(name)
    if fn is None:
        raise MissingFunction(f"{name} is not defined: run its answer cell, and keep the name {name}")
    if not callable(fn):
        raise MissingFunction(f"{name} is a {type(fn).__name__}, not a function")
    return fn


def probe_environment(ns: dict[str, Any]) -> dict[str, Any]:
    """Every assignment's: whether the CUDA checks can run here."""
    return {"cuda": torch.cuda.is_available(), "torch": torch.__version__}


def tensor(value: Any, requires_grad: bool = False, device: str = "cpu") -> torch.Tensor:
    t = torch.from_numpy(np.array(value, copy=True)).to(device)
    return t.requires_grad_(requires_grad)


def describe(x: Any, depth: int = 0) -> dict[str, Any]:
    """What a value is, as data the grader can check without trusting the object itself."""
    if isinstance(x, torch.Tensor):
        t = x.detach().to("cpu")
        if t.dtype in (torch.float16, torch.bfloat16):
            t = t.float()
        try:
            value = t.numpy().copy()
        except (TypeError, RuntimeError):
            value = None
        return {"kind": "tensor", "value": value, "dtype": str(x.dtype).removeprefix("torch."),
                "shape": list(x.shape), "requires_grad": bool(x.requires_grad),
                "has_grad_fn": x.grad_fn is not None, "is_leaf": bool(x.is_leaf),
                "device": x.device.type}
    if isinstance(x, np.ndarray):
        ok = x.dtype.kind in "biuf"
        return {"kind": "ndarray", "value": x.copy() if ok else None, "dtype": str(x.dtype),
                "shape": list(x.shape)}
    if isinstance(x, (tuple, list)) and depth < 3:
        return {"kind": type(x).__name__, "length": len(x),
                "items": [describe(v, depth + 1) for v in list(x)[:16]]}
    if isinstance(x, torch.nn.Module):
        return describe_module(x, depth)
    if isinstance(x, torch.utils.data.DataLoader):
        return {"kind": "dataloader", "type": type(x).__name__, "classes": class_names(x),
                "batch_size": x.batch_size, "drop_last": bool(x.drop_last),
                "sampler": type(x.sampler).__name__, "dataset": type(x.dataset).__name__}
    if x is None:
        return {"kind": "none"}
    if isinstance(x, (bool, int, float)):
        return {"kind": "number", "value": float(x)}
    return {"kind": "other", "type": type(x).__name__}


def class_names(x: Any) -> list[str]:
    """The qualified names of x's class and its bases, so the grader can tell nn.Linear from a look-alike."""
    return [f"{c.__module__}.{c.__qualname__}" for c in type(x).__mro__]


def describe_module(m: torch.nn.Module, depth: int = 0) -> dict[str, Any]:
    """A module as data: its classes, its direct parameters and, a few levels deep, its children."""
    desc: dict[str, Any] = {"kind": "module", "type": type(m).__name__, "classes": class_names(m),
                            "parameters": {name: describe(p, depth + 1)
                                           for name, p in list(m.named_parameters(recurse=False))[:16]},
                            "children": []}
    if depth < 3:
        desc["children"] = [describe_module(c, depth + 1) for c in list(m.children())[:16]]
    return desc
