"""Reading submitted notebooks: which cells the grader runs, and which assignment it is."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

# jsonschema (under nbformat) optionally imports rfc3987_syntax, which builds a parser grammar
# at import: 1 s of every grading run's start-up, for an IRI format check notebooks never use.
# jsonschema skips the check when the import fails, so we make it fail.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402

MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
PART_MARKER = re.compile(r"autograder:\s*part\s*=\s*([A-Za-z_][A-Za-z0-9_]*)")


class NotebookError(Exception):
    """The file cannot be graded as a notebook; the message says why, for the student."""


@dataclass(frozen=True)
class AnswerCell:
    grade_id: str
    source: str


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise NotebookError(f"cannot read {path.name}: {exc.strerror}") from None
    if size == 0:
        raise NotebookError(f"{path.name} is empty (0 bytes): was the notebook saved?")
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(
            f"{path.name} is {size / 2**20:.0f} MB, over the {MAX_NOTEBOOK_BYTES // 2**20} MB "
            "limit: clear the outputs (Kernel > Restart & Clear Output) and save again"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotebookError(f"{path.name} is not a text file, so not a notebook") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{path.name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "the file is damaged: download it again from Jupyter"
        ) from None
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise NotebookError(f"{path.name} is JSON but not a Jupyter notebook (no cells)")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises many kinds for malformed documents
        raise NotebookError(f"{path.name} is not a readable notebook: {exc}") from None
    return nb


def answer_cells(nb: nbformat.NotebookNode) -> list[AnswerCell]:
    """The student's code answer cells, in notebook order; nothing else of theirs is run."""
    cells = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("solution") and not meta.get("grade"):
            cells.append(AnswerCell(str(meta.get("grade_id", "")), cell.get("source", "")))
    return cells


def cell_by_grade_id(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode | None:
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    return None


def grade_cell_part(cell: nbformat.NotebookNode) -> str | None:
    """The suite part a grade cell stands for, named in its hidden section."""
    match = PART_MARKER.search(cell.get("source", ""))
    return match.group(1) if match else None


def assignment_of(nb: nbformat.NotebookNode, path: str | Path) -> str | None:
    """The assignment a notebook belongs to: its metadata, else its file name."""
    name = nb.get("metadata", {}).get("autograder", {}).get("assignment")
    return str(name) if name else Path(path).stem
