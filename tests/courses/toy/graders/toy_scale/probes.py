"""Probes of the toy assignment: each calls one student function on the grader's inputs and reports
what came back, as plain data. They run in the worker, next to student code; the suite judges."""

from __future__ import annotations

from typing import Any

from autograder.probes import describe, student_function, tensor


def probe_scale(ns: dict[str, Any], x: Any, a: float) -> dict[str, Any]:
    """``scale(x, a)``, and what the caller's ``x`` holds afterwards (an in-place change shows there)."""
    scale = student_function(ns, "scale")
    x_t = tensor(x)
    out = scale(x_t, a)
    return {"output": describe(out), "x_after": describe(x_t), "same_object": out is x_t}


def probe_mean_abs(ns: dict[str, Any], x: Any) -> dict[str, Any]:
    mean_abs = student_function(ns, "mean_abs")
    return {"output": describe(mean_abs(tensor(x)))}
