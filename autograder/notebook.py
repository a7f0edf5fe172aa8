"""Reading submitted notebooks: which cells the grader runs, and which assignment it is."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

# jsonschema (under nbformat) optionally imports rfc3987_syntax, which builds a parser grammar
# at import: 1 s of every grading run's start-up, for an IRI format check notebooks never use.
# jsonschema skips the check when the import fails, so we make it fail.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402

# Outputs are never graded, so a notebook saved with huge outputs is still read (100 MB takes
# about a second); past this hard limit it is refused, as reading it costs the grader memory.
MAX_NOTEBOOK_BYTES = 200 * 1024 * 1024
LARGE_NOTEBOOK_BYTES = 20 * 1024 * 1024  # above this, the result suggests clearing outputs
MAX_CELL_SOURCE_BYTES = 256 * 1024  # an answer cell this long holds data, not an answer
PART_MARKER = re.compile(r"autograder:\s*part\s*=\s*([A-Za-z_][A-Za-z0-9_]*)")


class NotebookError(Exception):
    """The file cannot be graded as a notebook; the message says why, for the student."""


@dataclass(frozen=True)
class AnswerCell:
    grade_id: str
    source: str


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` in format 4, or ``NotebookError`` saying plainly what is wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise NotebookError(f"cannot read {path.name}: {exc.strerror}") from None
    if path.is_dir():
        raise NotebookError(f"{path.name} is a folder, not a notebook file")
    if size == 0:
        raise NotebookError(f"{path.name} is empty (0 bytes): was the notebook saved?")
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(
            f"{path.name} is {size / 2**20:.0f} MB, over the {MAX_NOTEBOOK_BYTES // 2**20} MB "
            "limit: clear the outputs (Kernel > Restart & Clear Output) and save again"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark from some editors is fine
    except UnicodeDecodeError:
        raise NotebookError(f"{path.name} is not a text file, so not a notebook") from None
    except OSError as exc:
        raise NotebookError(f"cannot read {path.name}: {exc.strerror}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        if re.search(r"^\s*(def|import|from|class)\s", text[:10000], re.MULTILINE):
            raise NotebookError(f"{path.name} looks like Python source, not a notebook: submit the "
                                ".ipynb file saved from Jupyter") from None
        raise NotebookError(
            f"{path.name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "the file is damaged: download it again from Jupyter"
        ) from None
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise NotebookError(f"{path.name} is JSON but not a Jupyter notebook (no cells)")
    version = raw.get("nbformat")
    if not isinstance(version, int) or version < 3:
        raise NotebookError(f"{path.name} is in notebook format {version!r}, which is too old to "
                            "read: open it in a current Jupyter and save it again")
    if version > 4:
        raise NotebookError(f"{path.name} is in notebook format {version}, newer than the grader "
                            "reads (4): save it from Jupyter as format 4")
    try:
        nb = nbformat.reads(text, as_version=4)  # format 3 is converted
    except Exception as exc:  # nbformat raises many kinds for malformed documents
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise NotebookError(f"{path.name} is not a readable notebook: {detail}") from None
    if not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{path.name} is not a readable notebook: its cells are not a list")
    return nb


def read_source_notebook(path: str | Path) -> nbformat.NotebookNode:
    """The instructor's source notebook, parsed once per version of the file: each submission
    asks for its set-up cell, parts, answer cells and rubrics (four reads and schema validations,
    10-15 ms, otherwise). Shared between callers: never change what it returns."""
    try:
        info = os.stat(path)
    except OSError:
        return read_notebook(path)  # says what is wrong
    return _parsed(str(path), info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=16)
def _parsed(path: str, mtime_ns: int, size: int) -> nbformat.NotebookNode:
    return read_notebook(path)


def _nbgrader(cell: object) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def answer_cells(nb: nbformat.NotebookNode) -> list[AnswerCell]:
    """The student's code answer cells, in notebook order; nothing else of theirs is run."""
    cells = []
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if isinstance(cell, dict) and cell.get("cell_type") == "code" and meta.get("solution") \
                and not meta.get("grade"):
            cells.append(AnswerCell(str(meta.get("grade_id", "")), _source(cell)))
    return cells


def check_answer_cells(cells: list[AnswerCell], expected: list[str]) -> tuple[list[AnswerCell], dict[str, str],
                                                                               list[str]]:
    """Compare a submission's answer cells with the assignment's.

    Returns the cells to run, a problem per missing or refused cell (by grade id, for the
    feedback of the tests that need it), and notes for the whole notebook. Cells run in
    notebook order, like Jupyter's "Run All": a duplicated cell's last definition wins, and a
    cell whose id was changed still runs, so its functions are found by name.
    """
    problems: dict[str, str] = {}
    notes: list[str] = []
    if not cells:
        notes.append("Your notebook has none of the assignment's answer cells: it is not the released "
                      "notebook, or its cells lost their metadata (copying cells into a new notebook "
                      "does that). Download the assignment again and paste your code into its answer cells.")
    run = []
    for cell in cells:
        size = len(cell.source.encode("utf-8", "replace"))
        if size > MAX_CELL_SOURCE_BYTES:
            problems[cell.grade_id] = (f"your cell '{cell.grade_id}' holds {size // 1024} KB of code, over the "
                                       f"{MAX_CELL_SOURCE_BYTES // 1024} KB limit, so the grader left it out")
            notes.append(problems[cell.grade_id][0].upper() + problems[cell.grade_id][1:] + ".")
        else:
            run.append(cell)
    ids = [c.grade_id for c in cells]
    for grade_id in expected:
        if cells and grade_id not in ids:
            problems[grade_id] = (f"the answer cell '{grade_id}' is not in your notebook (deleted, or its "
                                  "metadata changed)")
    for grade_id in dict.fromkeys(ids):
        count = ids.count(grade_id)
        if count > 1:
            notes.append(f"The answer cell '{grade_id}' appears {count} times; the grader ran them in "
                         "notebook order, so the last definition counts (as in Jupyter).")
        if grade_id not in expected:
            notes.append(f"Cell '{grade_id}' is not one of the assignment's answer cells (was its id "
                         "changed?); the grader ran it anyway, in notebook order.")
    missing = [g for g in expected if cells and g not in ids]
    if missing:
        notes.append("Missing answer cells: " + ", ".join(missing) + ". Functions they should define "
                     "are looked up by name in the cells that are there.")
    return run, problems, notes


def cell_by_grade_id(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode | None:
    for cell in nb.cells:
        if _nbgrader(cell).get("grade_id") == grade_id:
            return cell
    return None


def grade_cell_part(cell: nbformat.NotebookNode) -> str | None:
    """The suite part a grade cell stands for, named in its hidden section."""
    match = PART_MARKER.search(_source(cell))
    return match.group(1) if match else None


def assignment_of(nb: nbformat.NotebookNode, path: str | Path) -> str | None:
    """The assignment a notebook belongs to: its metadata, else its file name."""
    meta = nb.get("metadata")
    ours = meta.get("autograder") if isinstance(meta, dict) else None
    name = ours.get("assignment") if isinstance(ours, dict) else None
    return str(name) if isinstance(name, str) and name else Path(path).stem
