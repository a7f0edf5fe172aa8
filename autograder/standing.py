"""The notebook's last cell, "Where do I stand?": the names of each part's hidden checks.

The names come from the hidden suite itself (pytest collects it; a test's name is the first line
of its docstring, as in every result), never typed by hand, so the list cannot drift from what
is graded: ``autograder release`` rewrites the block before nbgrader makes the release, and
``tests/test_standing.py`` fails when a committed notebook's list is out of date. Only names
and part points reach the notebook, never a test's code or inputs.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import nbformat
import pytest

from autograder.assignment import Assignment, AssignmentError
from autograder.notebook import cell_by_grade_id, read_notebook

STANDING_ID = "where_do_i_stand"
BEGIN = "# BEGIN HIDDEN CHECK NAMES"
END = "# END HIDDEN CHECK NAMES"
BLOCK = re.compile(rf"^{re.escape(BEGIN)}.*?^{re.escape(END)}$", re.MULTILINE | re.DOTALL)
NOTE = "# written by `autograder release` from the hidden suite; do not edit"


class _Collector:
    """A pytest plugin that only records what the suite would run."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []  # (part, check name)

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "points(n): what the test is worth")
        config.addinivalue_line("markers", "tags(*names): the part of the assignment it grades")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from autograder.engine.suite_session import tags_of
        from autograder.results import part_of

        for item in session.items:
            doc = (getattr(item, "function", None).__doc__ or item.name).strip().splitlines()
            self.items.append((part_of(tags_of(item)), doc[0].strip()))


def hidden_check_names(asg: Assignment) -> dict[str, list[str]]:
    """Each graded part, in the notebook's order, with its hidden checks' names (no repeats)."""
    from autograder.engine.suite_session import pytest_args
    from autograder.graders import make_importable

    make_importable(asg.grader)
    collector = _Collector()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = pytest.main([*pytest_args(asg.suite_dir), "--collect-only"], plugins=[collector])
    if code != 0:
        raise AssignmentError(f"the hidden suite of {asg.grader.name} could not be collected (pytest exit {code}):\n"
                              f"{out.getvalue()[-2000:]}")
    names: dict[str, list[str]] = {part: [] for part in asg.parts()}
    for part, name in collector.items:
        if part in names and name not in names[part]:
            names[part].append(name)
    return names


def part_points(nb: nbformat.NotebookNode) -> dict[str, float]:
    from autograder.notebook import grade_cell_part

    points = {}
    for cell in nb.cells:
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        part = grade_cell_part(cell) if cell.cell_type == "code" else None
        if part and nbg.get("grade"):
            points[part] = nbg.get("points", 0)
    return points


def block(names: dict[str, list[str]], points: dict[str, float]) -> str:
    """The generated lines: two plain Python literals the cell prints from."""
    lines = [BEGIN, NOTE, "hidden_checks = {"]
    for part, checks in names.items():
        lines.append(f"    {json.dumps(part)}: [")
        lines += [f"        {json.dumps(name)}," for name in checks]
        lines.append("    ],")
    lines.append("}")
    lines.append("points = {" + ", ".join(f"{json.dumps(p)}: {points.get(p, 0):g}" for p in names) + "}")
    lines.append(END)
    return "\n".join(lines)


def notebook_block(nb: nbformat.NotebookNode) -> str | None:
    cell = cell_by_grade_id(nb, STANDING_ID)
    match = BLOCK.search(cell.source) if cell is not None else None
    return match.group(0) if match else None


def expected_block(asg: Assignment) -> str:
    return block(hidden_check_names(asg), part_points(read_notebook(asg.source_notebook)))


def refresh(asg: Assignment) -> bool:
    """Rewrite the source notebook's block from the suite; True when it changed."""
    path: Path = asg.source_notebook
    nb = nbformat.read(path, as_version=4)
    cell = cell_by_grade_id(nb, STANDING_ID)
    if cell is None or not BLOCK.search(cell.source):
        return False  # a notebook without the cell (an older source) is released as it is
    new = expected_block(asg)
    if BLOCK.search(cell.source).group(0) == new:
        return False
    cell.source = BLOCK.sub(lambda _m: new, cell.source)
    nbformat.write(nb, path)
    return True
