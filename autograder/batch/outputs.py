"""Files the batch writes for each student: the autograded notebook, results.json, a feedback page.

The autograded folder is laid out exactly as ``nbgrader autograde`` leaves it (formgrader and
``nbgrader generate_feedback`` read it): the student's other files and ``timestamp.txt``, then
the source folder's non-notebook files on top, the graded notebooks, read-only permissions.
It is built beside the old one and swapped in, so a reader never sees half of it.

Our own per-student files go to ``reports/<assignment>/students/<student>/``, never into
nbgrader's folders: ``generate_feedback`` copies every extra file of ``autograded/`` into the
feedback it releases, and an HTML page of ours in ``feedback/`` would stop it from writing its own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from autograder.batch.job import JobOutcome
from autograder.render import mark, render
from autograder.results import Result, fmt

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
RESULTS = "results.json"
FEEDBACK = "feedback.html"


def templates() -> jinja2.Environment:
    """Autoescaping matters: test output quotes students' own exception messages."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    env.filters["mark"] = mark
    return env


def student_dir(reports: Path, student: str) -> Path:
    return reports / "students" / student


def write_autograded(coursedir: Any, converter: Any, assignment: str, student: str, folder: Path,
                     outcome: JobOutcome) -> Path | None:
    """Write ``autograded/<student>/<assignment>/`` as nbgrader would; None when nothing was graded."""
    from nbgrader.utils import find_all_files

    graded = [nb for nb in outcome.notebooks if nb.autograded is not None]
    dest = Path(coursedir.format_path(coursedir.autograded_directory, student, assignment))
    if not graded:
        remove_tree(dest)  # nbgrader removes a failed submission's autograded folder too
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{assignment}-", dir=dest.parent))
    try:
        ignore = list(coursedir.ignore) + ["*.ipynb"]
        for name in find_all_files(str(folder), ignore):  # BaseConverter.init_assignment
            copy_into(Path(name), build / os.path.relpath(name, folder))
        source = Path(coursedir.format_path(coursedir.source_directory, ".", assignment))
        excluded = {str(source / x) for x in converter.exclude_overwriting.get(assignment, [])}
        for name in find_all_files(str(source), ignore):  # Autograde.init_assignment
            if name not in excluded:
                copy_into(Path(name), build / os.path.relpath(name, source))
        for nb in graded:
            (build / f"{nb.notebook}.ipynb").write_text(nb.autograded, encoding="utf-8")
        mode = int(str(converter.permissions), 8)  # BaseConverter.set_permissions
        for path in build.rglob("*"):
            if path.is_file():
                path.chmod(mode)
        build.chmod(0o755)
        old = dest.with_name(f".{dest.name}-old-{os.getpid()}")
        if dest.exists():
            dest.rename(old)
        build.rename(dest)
        remove_tree(old)
    finally:
        remove_tree(build)
    return dest


def copy_into(src: Path, dest: Path) -> None:
    """Copy a plain file; anything else (a link, a device) is refused, never followed."""
    info = src.lstat()
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        raise OSError(f"{src} is not a plain file: not copied")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    shutil.copy(src, dest)


def remove_tree(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)


def combined_result(outcome: JobOutcome, assignment: str) -> dict[str, Any]:
    """One Gradescope result per submission (the kit's assignments have one notebook each)."""
    results = [nb.result for nb in outcome.notebooks]
    if len(results) == 1:
        return results[0]
    return {"score": round(sum(r["score"] for r in results), 4),
            "max_score": round(sum(r["max_score"] for r in results), 4),
            "output": "\n".join(r["output"] for r in results if r["output"]), "visibility": "visible",
            "execution_time": round(sum(r.get("execution_time", 0) for r in results), 3),
            "tests": [t for r in results for t in r["tests"]],
            "extra_data": {"assignment": assignment, "notebooks": [r["extra_data"] for r in results],
                           "grading_errors": [e for r in results for e in r["extra_data"]["grading_errors"]]}}


def write_results(reports: Path, student: str, result: dict[str, Any], batch: dict[str, Any]) -> Path:
    """Gradescope's results.json; ``extra_data.batch`` says what was graded, for resuming."""
    typed = Result.from_dict(result)
    typed.extra_data = {**typed.extra_data, "batch": batch}
    return atomic_write(student_dir(reports, student) / RESULTS, render([typed], "gradescope"))


def read_results(reports: Path, student: str) -> dict[str, Any] | None:
    try:
        return json.loads((student_dir(reports, student) / RESULTS).read_text())
    except (OSError, ValueError):
        return None


def write_feedback(env: jinja2.Environment, reports: Path, student: str, assignment: str,
                   result: dict[str, Any], problem: str | None) -> Path:
    """A page for the student: the score per part, and every check with its hint."""
    typed = Result.from_dict(result)
    said = {typed.output, problem or ""} - {""}
    parts = list(typed.parts().values())
    for part in parts:
        # A message already shown at the top (a notebook that cannot be read) is not repeated per check.
        part.tests = [dataclasses.replace(t, output="") if t.output in said else t for t in part.tests]
    html = env.get_template("feedback.html.j2").render(
        student=student, assignment=assignment, result=typed, parts=parts, problem=problem,
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return atomic_write(student_dir(reports, student) / FEEDBACK, html)


def atomic_write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
