"""The variants of the toy assignment: a new factor a and vector length n per term.

Nothing to converge here, so the rules are the defaults of ``autograder.variants.Rules`` plus how
a and n are drawn, their ranges, and the one sentence of the notebook that names them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograder.variants.rules import Pairs, Params, Rules, VariantError, number

FACTORS = (-4.0, -2.5, -2.0, -1.5, 0.5, 1.5, 2.0, 2.5, 4.0, 5.0)  # 3.0 is the base's
LIMITS = {"a": (0.25, 10.0), "n": (2, 20)}


class ToyRules(Rules):
    setup_names = {"a": "a", "n": "n"}  # parameter -> the set-up cell's variable
    part_params = {"scale": ("a",), "mean_abs": ("n",)}
    case_hints = {"scale returns x unchanged": "change a: with a = 1, x unchanged is a * x"}

    def draw(self, seed: int, overrides: Params) -> Params:
        rng = np.random.default_rng(seed)
        drawn = {"a": float(rng.choice(FACTORS)), "n": int(rng.integers(3, 10))}
        return {**drawn, **overrides}

    def coerce(self, key: str, value: Any) -> Any:
        value = super().coerce(key, value)
        if key == "n":
            if value != int(value):
                raise VariantError(f"n = {value!r}: expected a whole number")
            return int(value)
        return float(value)

    def check_limits(self, params: Params) -> list[str]:
        problems = []
        lo, hi = LIMITS["a"]
        if not lo <= abs(params["a"]) <= hi:
            problems.append(f"a = {number(params['a'])}: |a| must lie in {lo:g}..{hi:g}")
        elif abs(params["a"] - 1) < 0.25:
            problems.append(f"a = {number(params['a'])} is too close to 1: a scale that returns x unchanged "
                            "would pass; change a")
        lo, hi = LIMITS["n"]
        if not lo <= params["n"] <= hi:
            problems.append(f"n = {params['n']} is outside {lo}..{hi}")
        return problems

    def prose(self, base: Params, new: Params) -> Pairs:
        def names(p: Params) -> str:
            return f"with `a` = {number(p['a'])} and `n` = {p['n']} from the"

        return [(names(base), names(new))]


RULES = ToyRules()
