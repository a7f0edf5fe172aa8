"""One student's submission, graded inside a pool process; the gradebook is not written here.

Each notebook goes through nbgrader's own preprocessors, in nbgrader's order, exactly as
``nbgrader autograde`` would run them with the course's config: first the sanitizing ones
(clear outputs, restore locked cells and metadata from the gradebook), then the autograde
ones, where the course's ``EngineGrader`` grades with the hidden suites. Only the two that
*write* the gradebook (``SaveAutoGrades``, ``AssignLatePenalties``) are left out: the pool
process computes what they would store, with nbgrader's own ``determine_grade``, and the
parent process stores it. Reading the gradebook here (for the locked cells) is safe alongside
that single writer.

Everything returned is plain data (strings, numbers, dicts), so it pickles cheaply, and
nothing raises: a submission that cannot be graded comes back with the reason.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from autograder.notebook import NotebookError, read_notebook

# The per-process state, set once by ``init_process``: exporters built from the course config.
_STATE: dict[str, Any] = {}


@dataclass
class NotebookOutcome:
    """What grading one notebook produced, for the parent to store."""

    notebook: str  # nbgrader's notebook id (the file name without .ipynb)
    result: dict[str, Any]  # the engine's Gradescope-schema result
    autograded: str | None = None  # the autograded notebook as JSON text; None when there is none
    scores: dict[str, float | None] = field(default_factory=dict)  # grade_id -> auto_score
    comments: dict[str, str | None] = field(default_factory=dict)  # grade_id -> auto_comment
    problem: str | None = None  # why the notebook could not be graded (it then scores 0)


@dataclass
class JobOutcome:
    student: str
    notebooks: list[NotebookOutcome]
    seconds: float
    error: str | None = None  # the job itself failed; nothing of it may be stored
    where: str | None = None  # the Dask worker that graded it (None: this machine's pool)


@dataclass(frozen=True)
class Job:
    student: str
    assignment: str
    folder: str  # submitted/<student>/<assignment>
    notebooks: tuple[str, ...]  # the assignment's notebook ids, from the gradebook


def init_process(course_root: str, device: str, preload: tuple[str, ...] = ()) -> None:
    """Pool initializer: ignore Ctrl-C (the parent decides), then ``init_grader``, unless this
    process was forked from one that had already done it for this course (the batch's parent,
    ``batch.run``): then it holds that state already."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _STATE.get("made_for") != (course_root, device, None):
        init_grader(course_root, device, preload)


def init_grader(course_root: str, device: str, preload: tuple[str, ...] = (), db_url: str | None = None) -> None:
    """Build the course's exporters and start the fork server, once per grading process.

    ``db_url`` replaces the course's gradebook (a Dask worker reads a snapshot of it).
    """
    # nbgrader's preprocessors log through traitlets' logger; every submission of a notebook
    # with hidden tests gets "checksum has changed" warnings when they are put back. Problems
    # that matter reach the class report instead.
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    from multiprocessing import util

    from autograder.engine.student import shutdown, warm_up

    warm_up(preload)  # the fork server imports torch (and the assignment's probes) meanwhile
    util.Finalize(None, shutdown, exitpriority=10)  # the fork server exits before this process does
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    import autograder.engine.runner  # noqa: F401 - numpy and pytest, once per grading process
    from autograder.batch.speed import after_init, reuse_gradebook_engines, validate_schemas_once
    from autograder.course import load_config
    from autograder.nbgrader_plugin import EngineGrader

    config = load_config(Path(course_root))
    config.EngineGrader.device = device
    if db_url:
        config.CourseDirectory.db_url = db_url
    coursedir = CourseDirectory(config=config)
    converter = Autograde(coursedir=coursedir, config=config)
    writers = (SaveAutoGrades, AssignLatePenalties)
    sanitize = [build(pp, config) for pp in converter.sanitize_preprocessors]
    autograde = [build(pp, config) for pp in converter.autograde_preprocessors if not issubclass(pp, writers)]
    if not any(isinstance(pp, EngineGrader) for pp in autograde):
        raise RuntimeError("the course's Autograde.autograde_preprocessors do not include EngineGrader; "
                           "nbgrader_config.py must call autograder.nbgrader_plugin.configure")
    _STATE.update(root=Path(course_root), device=device, db_url=coursedir.db_url,
                  sanitize=sanitize, autograde=autograde, made_for=(course_root, device, db_url))
    validate_schemas_once()
    reuse_gradebook_engines()
    after_init()


def run_job(job: Job) -> JobOutcome:
    """Grade every notebook of one submission; never raises."""
    _STATE["jobs"] = _STATE.get("jobs", 0) + 1
    if _STATE["jobs"] == 2:
        from autograder.batch.speed import after_first_submission

        after_first_submission()
    started = time.monotonic()
    try:
        outcomes = [grade_one(job, notebook, Path(job.folder) / f"{notebook}.ipynb") for notebook in job.notebooks]
        return JobOutcome(job.student, outcomes, time.monotonic() - started)
    except BaseException as exc:  # noqa: BLE001 - one submission never takes down the batch
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return JobOutcome(job.student, [], time.monotonic() - started,
                          error=f"the grader failed on this submission ({detail})")


def grade_one(job: Job, notebook: str, path: Path) -> NotebookOutcome:
    from nbgrader import utils

    from autograder.engine.runner import grade, grade_notebook

    root, device = _STATE["root"], _STATE["device"]
    try:
        nb = read_notebook(path)
    except NotebookError:
        # The engine turns a missing or unreadable file into a zero result that says why.
        result = grade_notebook(path, job.assignment, course_root=root, device=device, student_id=job.student)
        result["extra_data"]["notebook"] = os.path.relpath(path, root)
        if path.exists():
            problem = "; ".join(result["extra_data"]["grading_errors"]) or result["output"]
        else:
            from autograder.batch.submissions import missing_notebook

            problem = missing_notebook(path)  # one message, naming what was found, everywhere
            said, message = result["output"], f"Your notebook could not be graded: {problem}"
            result["output"], result["extra_data"]["grading_errors"] = message, [problem]
            for test in result["tests"]:
                test["output"] = message if test["output"] == said else test["output"]
        return NotebookOutcome(notebook, result, problem=problem)

    resources = {"unique_key": notebook, "output_files_dir": f"{notebook}_files",
                 "nbgrader": {"student": job.student, "assignment": job.assignment, "notebook": notebook,
                              "db_url": _STATE["db_url"]}}
    try:
        nb, resources = run_preprocessors(_STATE["sanitize"], nb, resources)
    except Exception as exc:  # nbgrader rejects the notebook (e.g. its cell metadata is damaged)
        # Not graded, as nbgrader would not: a zero that says why, until a human repairs the file.
        reason = f"nbgrader could not read the notebook's cells ({type(exc).__name__}: {exc})"
        result = grade(None, path, job.assignment, course_root=root, device=device, student_id=job.student,
                       problem=f"Your notebook could not be graded: {reason}")
        result["extra_data"]["notebook"] = os.path.relpath(path, root)
        return NotebookOutcome(notebook, result, problem=reason)

    graded, resources = run_preprocessors(_STATE["autograde"], nb, resources)
    result = resources["autograder_result"]
    result["extra_data"]["notebook"] = os.path.relpath(path, root)
    scores, comments = {}, {}
    for cell in graded.cells:  # what SaveAutoGrades would store, with its own rules
        if utils.is_grade(cell):
            scores[cell.metadata.nbgrader["grade_id"]] = utils.determine_grade(cell)[0]
        if utils.is_solution(cell) or utils.is_task(cell):
            unchanged = cell.metadata.nbgrader.get("checksum") == utils.compute_checksum(cell)
            comments[cell.metadata.nbgrader["grade_id"]] = \
                "No response." if unchanged and not utils.is_task(cell) else None
    problem = "; ".join(result["extra_data"]["grading_errors"]) or None
    output = nbformat.writes(graded)
    return NotebookOutcome(notebook, result, output if output.endswith("\n") else output + "\n",
                           scores, comments, problem)


def build(preprocessor: Any, config: Any) -> Any:
    """An instance configured from the course config, as nbconvert's exporter would make it."""
    return preprocessor(config=config) if isinstance(preprocessor, type) else preprocessor


def run_preprocessors(preprocessors: list[Any], nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """What nbconvert's exporter does with them, minus its per-call signature checks and copies."""
    for pp in preprocessors:
        nb, resources = pp(nb, resources)  # __call__ skips a preprocessor that is not enabled
    return nb, resources
