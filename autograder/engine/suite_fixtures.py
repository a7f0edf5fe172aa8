"""The fixtures every hidden suite gets: ``student``, ``params``, ``rng`` and ``cuda``.

A plugin module of each kept session (``suite_session``). Each fixture answers for the
submission being graded, which the session puts in ``config.stash[GRADING]`` for the length
of its run. Plain functions, not methods of a plugin object: pytest 9 deprecates
session-scoped fixtures bound to an instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from autograder.engine.student import Student, StudentError, WorkerFault, derive_seed

if TYPE_CHECKING:
    from autograder.engine.runner import GradingRun

GRADING = pytest.StashKey["GradingRun"]()


def grading_of(config: pytest.Config) -> GradingRun:
    return config.stash[GRADING]


@pytest.fixture(name="student", scope="session")
def student_fixture(request: pytest.FixtureRequest) -> Student:
    return grading_of(request.config).student


@pytest.fixture(name="params", scope="session")
def params_fixture(request: pytest.FixtureRequest) -> dict[str, Any]:
    return grading_of(request.config).assignment.params


@pytest.fixture(name="rng")
def rng_fixture(request: pytest.FixtureRequest) -> np.random.Generator:
    """Inputs drawn per student and per test: the same on every re-grade."""
    return np.random.default_rng(derive_seed(grading_of(request.config).student.seed_base, request.node.name))


@pytest.fixture(name="cuda", scope="session")
def cuda_fixture(request: pytest.FixtureRequest) -> bool:
    """Whether the CUDA checks run: a GPU is present and ``--device`` allows it."""
    grading = grading_of(request.config)
    if grading.device == "cpu":
        pytest.skip("skipped: grading ran with --device cpu (no points are lost)")
    try:
        available = bool(grading.student.probe("environment")["cuda"])
    except (StudentError, WorkerFault):
        available = False
    if not available:
        pytest.skip("skipped: no CUDA device on the grading machine (no points are lost)")
    return True
