"""What a TA needs beside a written answer: the student's own outputs, and the answer's rubric.

Two nbgrader preprocessors, put in place by ``nbgrader_plugin.configure`` so that both
``autograder autograde`` and ``nbgrader autograde`` use them:

- ``StashStudentOutputs`` runs first in ``Autograde.sanitize_preprocessors``, before nbgrader's
  ``ClearOutput``, and keeps a copy of the submission's outputs in ``resources``.
- ``ShowForHandGrading`` runs after the engine has graded. It puts the kept outputs back into
  the cells that are not grade cells, filtered (plain text, PNG and JPEG images only; no HTML,
  SVG or JavaScript, which formgrader would run in the TA's browser), capped in size, and
  marked as the student's; and it adds, after each hand-graded answer, a markdown cell with
  that answer's rubric from the source notebook.

Why keep the submission's outputs rather than re-run the notebook: re-running the plots means
running all of the student's code, plots included, in the sandbox for every submission
(seconds each, more than the grading itself) only to show a picture, and the result would be
just as much the student's output. The kept outputs are what the student saw and answered
from. They are never read by the engine, which grades from the code alone, and grade cells
keep the engine's outputs, so no score can depend on them.

The rubric is taken from the source notebook (``solutions/``) when the submission is
autograded: ``generate_assignment`` never runs these preprocessors, so the release never has
it, and the gradebook stores the released (cleared) answer cells only. nbgrader's feedback is
generated from the autograded notebook, so the student sees the rubric once grading is done.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from pathlib import Path
from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.notebook import NotebookError, read_source_notebook

STASH = "autograder_student_outputs"
STUDENT_MARK = "[the student's own output, as saved in the submission: not run by the grader, not graded]\n"
RUBRIC_MARK = "autograder_rubric"  # cell metadata key of an injected rubric cell
MAX_TEXT_CHARS = 10_000  # per stream or text output
MAX_IMAGE_BYTES = 2 * 1024 * 1024  # per image, decoded
MAX_NOTEBOOK_OUTPUT_BYTES = 8 * 1024 * 1024  # all kept outputs of one notebook
IMAGE_TYPES = ("image/png", "image/jpeg")
BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
SOLUTION_DELIMITER = re.compile(r"^\s*(#+|//|--)?\s*(BEGIN|END) SOLUTION\s*$")


class StashStudentOutputs(NbGraderPreprocessor):
    """Keeps the submission's outputs (before ``ClearOutput``) for ``ShowForHandGrading``."""

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict):
        resources[STASH] = [(cell.get("id"), copy.deepcopy(cell.get("outputs", [])), cell.get("execution_count"))
                            if cell.cell_type == "code" else None for cell in nb.cells]
        return nb, resources


class ShowForHandGrading(NbGraderPreprocessor):
    """Puts the student's outputs back (non-grade cells only, marked) and adds each rubric."""

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict):
        kept = resources.pop(STASH, None)
        if kept is not None:
            restore_outputs(nb, kept)
        info = resources.get("nbgrader", {})
        root = Path(self.config.CourseDirectory.get("root", ".")).resolve()
        source = root / self.config.CourseDirectory.get("source_directory", "source")
        insert_rubrics(nb, rubrics(source / info.get("assignment", "") / f"{info.get('notebook', '')}.ipynb"))
        return nb, resources


def restore_outputs(nb: NotebookNode, kept: list[Any]) -> None:
    """Cell by cell (nbgrader's sanitizing keeps the cells in order), or by cell id if not."""
    by_id = {entry[0]: entry for entry in kept if entry and entry[0]}
    same_shape = len(kept) == len(nb.cells)
    budget = [MAX_NOTEBOOK_OUTPUT_BYTES]
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("grade"):
            continue  # grade cells keep the engine's outputs
        entry = kept[index] if same_shape else by_id.get(cell.get("id"))
        if not entry or not entry[1]:
            continue
        outputs = safe_outputs(entry[1], budget)
        if outputs:
            cell.outputs = [new_output("stream", name="stdout", text=STUDENT_MARK), *outputs]
            if isinstance(entry[2], int):
                cell.execution_count = entry[2]


def safe_outputs(outputs: list[Any], budget: list[int]) -> list[NotebookNode]:
    """Text and PNG/JPEG images only, each capped, within the notebook's budget."""
    out: list[NotebookNode] = []
    for output in outputs:
        kind = output.get("output_type") if isinstance(output, dict) else None
        if kind == "stream":
            text = capped(output.get("text"), budget)
            if text:
                out.append(new_output("stream", name="stderr" if output.get("name") == "stderr" else "stdout",
                                      text=text))
        elif kind in ("display_data", "execute_result"):
            data = output.get("data") if isinstance(output.get("data"), dict) else {}
            kept = {}
            for mime in IMAGE_TYPES:
                image = image_data(data.get(mime), budget)
                if image:
                    kept[mime] = image
                    break
            text = capped(data.get("text/plain"), budget)
            if text and not kept:
                kept["text/plain"] = text
            if kept:
                out.append(new_output("display_data", data=kept))
            elif data:
                out.append(new_output("stream", name="stdout", text="[an output of a kind not shown here]\n"))
        elif kind == "error":
            text = capped(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}\n", budget)
            if text:
                out.append(new_output("stream", name="stderr", text=text))
    return out


def capped(value: Any, budget: list[int]) -> str | None:
    text = "".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value
    if not isinstance(text, str) or not text:
        return None
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS] + f"\n[... {len(text) - MAX_TEXT_CHARS} more characters left out]\n"
    if len(text) > budget[0]:
        return None
    budget[0] -= len(text)
    return text


def image_data(value: Any, budget: list[int]) -> str | None:
    """Base64 that decodes (so it cannot break out of nbconvert's ``<img src=...>``), capped."""
    text = "".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value
    if not isinstance(text, str) or not BASE64.fullmatch(text):
        return None
    try:
        size = len(base64.b64decode(text, validate=False))
    except (binascii.Error, ValueError):
        return None
    if size == 0 or size > MAX_IMAGE_BYTES or len(text) > budget[0]:
        return None
    budget[0] -= len(text)
    return "".join(text.split())


def rubrics(source_notebook: Path) -> dict[str, str]:
    """grade_id -> rubric text of each hand-graded answer in the source notebook."""
    try:
        nb = read_source_notebook(source_notebook)
    except NotebookError:
        return {}
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("solution") and meta.get("grade_id"):
            lines = [line for line in cell.source.splitlines() if not SOLUTION_DELIMITER.match(line)]
            text = "\n".join(lines).strip()
            if text:
                out[meta["grade_id"]] = text
    return out


def insert_rubrics(nb: NotebookNode, texts: dict[str, str]) -> None:
    """A markdown cell with the rubric right after each hand-graded answer (no nbgrader metadata)."""
    cells = []
    for cell in nb.cells:
        if cell.metadata.get(RUBRIC_MARK):
            continue  # already there (a notebook autograded twice)
        cells.append(cell)
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in texts and cell.metadata.nbgrader.get("solution"):
            quoted = "\n".join("> " + line if line else ">" for line in texts[grade_id].splitlines())
            rubric = new_markdown_cell(f"**Rubric for `{grade_id}`** (from the course's source notebook; "
                                       f"for grading, never in the release)\n\n{quoted}")
            rubric.metadata[RUBRIC_MARK] = grade_id
            if (nb.nbformat, nb.nbformat_minor) >= (4, 5):  # cell ids exist from 4.5 on
                rubric.id = "rubric-" + re.sub(r"[^A-Za-z0-9_-]", "-", grade_id)[:56]  # not random: re-grades match
            else:
                del rubric["id"]
            cells.append(rubric)
    nb.cells = cells
