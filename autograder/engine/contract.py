"""The hidden suite's contract, checked before anything is graded with it.

Every test carries its points and a part tag, the suite imports, and each part's tests add up
to the points of that part's grade cell in the notebook. A suite that breaks it would give
short or rescaled results without a word (a test without points makes pytest stop reporting),
so ``grade`` reports a grading error instead and ``autograde`` refuses to start.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest

from autograder.assignment import Assignment
from autograder.graders import make_importable
from autograder.notebook import grade_cell_part, read_notebook
from autograder.results import part_of

_checked: dict[tuple[str, str], list[str]] = {}


class _Collector:
    """Records what pytest collects, and what it could not import."""

    def __init__(self) -> None:
        self.items: list[pytest.Item] = []
        self.errors: list[str] = []

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "points(n): what the test is worth")
        config.addinivalue_line("markers", "tags(*names): the part of the assignment it grades")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = str(report.longrepr).strip().splitlines()
            last = next((line for line in reversed(text) if line.strip()), "")
            self.errors.append(f"{report.nodeid or 'the suite'}: does not import ({last.strip()[:300]})")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items = list(session.items)


def grade_cell_points(source_notebook: Path) -> dict[str, float]:
    """part -> the points of its grade cell in the instructor's notebook."""
    points: dict[str, float] = {}
    for cell in read_notebook(source_notebook).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        part = grade_cell_part(cell)
        if part and meta.get("grade"):
            points[part] = points.get(part, 0.0) + float(meta.get("points", 0))
    return points


def check_suite_dir(suite_dir: Path, cell_points: dict[str, float], pytest_args: list[str]) -> list[str]:
    """What is wrong with the suite in ``suite_dir``, each problem naming its test or file."""
    collector = _Collector()
    with contextlib.redirect_stdout(io.StringIO()):
        code = pytest.main([*pytest_args, "--collect-only"], plugins=[collector])
    problems = list(collector.errors)
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not problems:
        problems.append(f"{suite_dir}: pytest could not collect the suite (exit status {int(code)})")
    if not collector.items and not problems:
        problems.append(f"{suite_dir}: no tests collected")
    from autograder.engine.suite_session import tags_of

    totals: dict[str, float] = {}
    for item in collector.items:
        mark = item.get_closest_marker("points")
        tags = tags_of(item)
        part = part_of(tags)
        value: Any = mark.args[0] if mark is not None and mark.args else None
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            problems.append(f"{item.nodeid}: no @pytest.mark.points(n) with a number n >= 0")
            continue
        if not tags or part not in cell_points:
            known = ", ".join(cell_points) or "none"
            problems.append(f"{item.nodeid}: its part tag {part if tags else '(none)'!r} is not a graded part "
                            f"of the notebook (pytest.mark.tags(...) naming one of: {known})")
            continue
        totals[part] = totals.get(part, 0.0) + float(value)
    if not problems:
        for part, points in cell_points.items():
            if abs(totals.get(part, 0.0) - points) > 1e-9:
                problems.append(f"part {part}: the suite's tests are worth {totals.get(part, 0.0):g} points but "
                                f"its grade cell in the notebook gives {points:g}")
    return problems


def suite_problems(asg: Assignment) -> list[str]:
    """The contract problems of ``asg``'s suite (checked once per process and suite)."""
    from autograder.engine.suite_session import pytest_args

    key = (str(asg.suite_dir), str(asg.source_notebook))
    if key not in _checked:
        make_importable(asg.grader)
        _checked[key] = check_suite_dir(asg.suite_dir, grade_cell_points(asg.source_notebook),
                                        pytest_args(asg.suite_dir))
    return _checked[key]
