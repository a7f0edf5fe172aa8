"""What ``variant new`` asks of an assignment: its ``variants.py`` defines ``RULES``, a ``Rules``.

The kit's variant machinery (``create``, ``notebook``, ``validate``) is generic; the theory of an
assignment's parameters (their ranges, how new ones are drawn so that training converges, where
the notebook writes them, why a draw is refused) is the assignment's own. Override what the
assignment needs; the defaults suit an assignment whose parameters are plain numbers.
"""

from __future__ import annotations

import json
import math
from typing import Any

import nbformat

Params = dict[str, Any]
Pairs = list[tuple[str, str]]


class VariantError(Exception):
    """The variant was not created; the message says why and what to change."""


class Rules:
    """The defaults; an assignment's ``RULES`` sets ``setup_names`` and ``draw`` at least."""

    # parameter -> the variable the set-up cell assigns it to, in the order they are shown
    setup_names: dict[str, str] = {}
    # part -> the parameters its tests depend on (named when a corpus case is no longer caught)
    part_params: dict[str, tuple[str, ...]] = {}
    shared_parts: tuple[str, ...] = ()  # parts whose tests call several of the student's functions
    case_hints: dict[str, str] = {}  # corpus case -> what to change when the variant no longer catches it

    def draw(self, seed: int, overrides: Params) -> Params:
        """New parameters from ``seed``; ``overrides`` (from ``--set``) win."""
        raise NotImplementedError

    def check_limits(self, params: Params) -> list[str]:
        """What is outside the supported ranges, each naming the parameter to change."""
        return []

    def coerce(self, key: str, value: Any) -> Any:
        """A ``--set`` value in its JSON type (refuse with ``VariantError``)."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise VariantError(f"{key} = {value!r}: expected a finite number")
        return value

    def parse_overrides(self, items: list[str]) -> Params:
        """``["lr=0.05"]`` -> values, checked for type (ranges come later, in ``check_limits``)."""
        out: Params = {}
        for item in items:
            key, sep, text = item.partition("=")
            key, text = key.strip(), text.strip()
            if not sep or key not in self.setup_names:
                raise VariantError(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(self.setup_names)}")
            try:
                value = json.loads(self.override_text(key, text))
            except json.JSONDecodeError:
                raise VariantError(f"--set {item!r}: {text!r} is not a number (or a JSON list)") from None
            out[key] = self.coerce(key, value)
        return out

    def override_text(self, key: str, text: str) -> str:
        """``--set``'s text as JSON (e.g. a list written without brackets)."""
        return text

    def literal(self, key: str, value: Any) -> str:
        """The right-hand side of the set-up cell's line for a parameter."""
        return repr(value)

    def prose(self, base: Params, new: Params) -> Pairs:
        """[(text in the base notebook, its replacement)]: each must be found, or the variant fails."""
        return []

    def code(self, base: Params, new: Params) -> Pairs:
        """[(code, replacement)] in the answers: the notebook's and the corpus's alike."""
        return []

    def check_convergence(self, assignment: Any) -> tuple[list[str], Params]:
        """Run the reference solution as the suite will and refuse parameters it cannot meet:
        (problems, a summary whose ``"line"`` is logged)."""
        return [], {}

    def notebook_checks(self, nb: nbformat.NotebookNode, params: Params) -> list[str]:
        """Problems in what the variant's notebook shows at these parameters."""
        return []

    def columns(self, params: Params) -> dict[str, str]:
        """``variant list``'s columns for one assignment of the family."""
        return {key: format_value(params[key]) if key in params else "-" for key in self.setup_names}


def number(x: float) -> str:
    """A number as the prose writes it: 2, -3.4, 0.01."""
    return f"{x:g}"


def format_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(number(v) for v in value) + "]"
    return number(value) if isinstance(value, float) else str(value)


def reference_student(assignment: Any, seed_base: str) -> Any:
    """A worker running ``assignment``'s reference solution, for ``check_convergence`` (close it)."""
    from autograder.engine.student import Student, context

    context(assignment.grader.preload())  # the fork server imports what the probes do, once
    return Student(setup=assignment.setup_code(), cells=assignment.solution_cells(),
                   probes=str(assignment.grader.probes_file), seed_base=seed_base)
