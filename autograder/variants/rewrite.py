"""A variant's notebook: the base's source with the new numbers in its set-up cell and its prose.

The set-up cell is rewritten line by line (``lr = 0.03`` -> ``lr = 0.05``); the prose through the
rules' list of (text in the base, its replacement), each of which must be found, so a change
to the base notebook's wording fails loudly here instead of leaving old numbers in a variant.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

import nbformat
import numpy as np

from autograder.assignment import SETUP_GRADE_ID, Assignment, AssignmentError
from autograder.notebook import cell_by_grade_id
from autograder.variants.rules import Rules, number


def sci(x: float, up: bool = False) -> str:
    """One significant digit in the notebook's style, "5e-5"; ``up`` rounds up, not to nearest."""
    exponent = math.floor(math.log10(x))
    mantissa = x / 10**exponent
    digit = math.ceil(mantissa - 1e-9) if up else round(mantissa)
    if digit >= 10:
        digit, exponent = 1, exponent + 1
    return f"{digit}e{exponent}"


def one_digit(x: float) -> str:
    return number(float(f"{x:.1g}"))


def setup_values(code: str) -> dict[str, Any]:
    """The constants a set-up cell assigns (``x = 3``, ``w = torch.tensor([...])``), read without
    running it: the trusted side does not import torch."""
    values: dict[str, Any] = {}
    for node in ast.parse(code).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            continue
        expr = node.value
        if isinstance(expr, ast.Call) and len(expr.args) == 1:
            expr = expr.args[0]  # torch.tensor([...])
        try:
            values[node.targets[0].id] = ast.literal_eval(expr)
        except ValueError:
            continue
    return values


def setup_mismatches(code: str, params: dict[str, Any], setup_names: dict[str, str]) -> list[str]:
    """Parameters the set-up cell does not carry, or carries with another value."""
    found = setup_values(code)
    wrong = []
    for key, var in setup_names.items():
        if key not in params:
            continue
        got, want = found.get(var), params[key]
        same = (got is not None and np.shape(got) == np.shape(want)
                and np.allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=1e-9))
        if not same:
            wrong.append(f"{var} = {got!r} in the set-up cell, {want!r} in assignment.json")
    return wrong


def rewrite_setup(code: str, params: dict[str, Any], rules: Rules) -> str:
    for key, value in params.items():
        var = rules.setup_names[key]
        pattern = re.compile(rf"^{re.escape(var)}\s*=.*$", re.MULTILINE)
        if len(pattern.findall(code)) != 1:
            raise AssignmentError(f"the base's set-up cell must assign {var} exactly once, on one line")
        code = pattern.sub(lambda _m, var=var, key=key, value=value: f"{var} = {rules.literal(key, value)}",
                           code)
    return code


def replace_all(sources: list[str], pairs: list[tuple[str, str]], where: str, rules_file: Any) -> list[str]:
    """Each (old, new) replaced in every source holding it; an old found nowhere is an error."""
    for old, new in pairs:
        if not any(old in source for source in sources):
            raise AssignmentError(f"the text {old[:60]!r} is no longer in {where}; update the "
                                  f"variant rules in {rules_file}")
        sources = [source.replace(old, new) for source in sources]
    return sources


def variant_notebook(base: Assignment, rules: Rules, name: str,
                     params: dict[str, Any]) -> nbformat.NotebookNode:
    """The base's source notebook with the new numbers in its set-up cell and its prose."""
    nb = nbformat.read(base.source_notebook, as_version=4)
    setup = cell_by_grade_id(nb, SETUP_GRADE_ID)
    if setup is None:
        raise AssignmentError(f"{base.source_notebook} has no set-up cell (grade_id 'setup')")
    setup.source = rewrite_setup(setup.source, params, rules)
    pairs = rules.prose(base.params, params) + rules.code(base.params, params)
    for cell, source in zip(nb.cells, replace_all([c.source for c in nb.cells], pairs, base.source_notebook.name,
                                                  base.grader.path / "variants.py"), strict=True):
        cell.source = source
    nb.metadata.setdefault("autograder", {})["assignment"] = name
    return nb
