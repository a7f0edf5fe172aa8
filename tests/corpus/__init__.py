"""Submissions the kit must grade the way a careful human would.

Each case replaces some answer cells of the reference solution with other code and states
the score every part must get (parts not named keep full marks).
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    name: str
    cells: dict[str, str]
    expected: dict[str, float] = field(default_factory=dict)  # part -> score; others full
    hint: str = ""  # a phrase the feedback must contain
