"""Shared helpers: build submissions from the reference solution and grade them via the CLI.

Grading goes through the real ``autograder`` command, in one process per batch of
notebooks, exactly as a TA would run it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.corpus import ROOT

AUTOGRADER = [sys.executable, "-m", "autograder.cli"]


def grade(paths: list[Path], *args: str, fmt: str = "json", status: int = 0) -> list[dict]:
    """Grade notebooks with the CLI; returns one result per notebook. ``status`` 1: some path is
    expected not to be a readable notebook."""
    proc = subprocess.run([*AUTOGRADER, "grade", *map(str, paths), "--format", fmt, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == status, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    return out if isinstance(out, list) else [out]


def parts(result: dict) -> dict[str, float]:
    scores: dict[str, float] = {}
    for test in result["tests"]:
        part = test["tags"][0]
        scores[part] = scores.get(part, 0.0) + test["score"]
    return scores


def part_max(result: dict) -> dict[str, float]:
    scores: dict[str, float] = {}
    for test in result["tests"]:
        scores[test["tags"][0]] = scores.get(test["tags"][0], 0.0) + test["max_score"]
    return scores


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


# Courses the tests copy and grade (tests/courses/<course>/graders/*/suite/test_*.py are hidden suites,
# run by the engine in those courses, not tests of the kit).
collect_ignore = ["courses"]
