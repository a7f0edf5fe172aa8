"""Grades one notebook: loads it into a worker, runs the hidden suite in this process.

The suite is plain pytest, run in-process: ``suite_session`` keeps one session of it per
process, whose plugin gives tests their fixtures (``student``, ``params``, ``rng``, ``cuda``);
``GradingRun`` turns each outcome into a Gradescope-style test result.
"""

from __future__ import annotations

import ast
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from autograder.assignment import Assignment, AssignmentError, list_assignments
from autograder.course import find_course_root
from autograder.engine.contract import suite_problems
from autograder.engine.review import review_flags
from autograder.engine.student import (
    Limits,
    SandboxUnavailable,
    Student,
    StudentError,
    WorkerFault,
    context,
)
from autograder.engine.suite_session import kept_session, tags_of
from autograder.notebook import (
    LARGE_NOTEBOOK_BYTES,
    NotebookError,
    answer_cells,
    assignment_of,
    check_answer_cells,
    read_notebook,
)
from autograder.results import build_result

log = logging.getLogger("autograder")

# Errors any assignment's students meet; an assignment folder's ``hints.py`` adds its own, first.
COMMON_HINTS = [
    ("NotImplementedError", "This is still the stub: replace `raise NotImplementedError()` "
     "with your code."),
    ("File too large", "Your code printed or wrote too much output; remove prints inside loops."),
]


class GradingRun:
    """What one submission's run of the suite found: a result entry per test, and the hints
    that explain its failures (``suite_session.SuitePlugin`` hands them in from pytest)."""

    def __init__(self, student: Student, assignment: Assignment, device: str,
                 cell_problems: dict[str, str] | None = None, expected_signatures: dict[str, str] | None = None,
                 student_cells: list[tuple[str, str]] | None = None, parts: set[str] | None = None) -> None:
        self.student = student
        self.assignment = assignment
        self.device = device
        self.parts = parts  # only these parts' tests run (None: all)
        self.cell_problems = cell_problems or {}  # grade id -> why that answer cell was not run
        # For hints only, parsed (never run) on this side: the assignment's signatures, the student's cells.
        self.expected_signatures = expected_signatures or {}
        self.student_cells = student_cells or []
        self.student_signatures = functions_defined(self.student_cells)
        self.hints = [*assignment.grader.hints(), *COMMON_HINTS] if assignment is not None else COMMON_HINTS
        self.entries: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.selected: list[str] = []  # the ids of the tests that were to run
        self.exit_code: int | None = None

    def run_problems(self) -> list[str]:
        """A run that did not end cleanly, or gave one result per test, is a grading error."""
        problems = []
        if self.exit_code not in (int(pytest.ExitCode.OK), int(pytest.ExitCode.TESTS_FAILED)):
            problems.append(f"pytest did not finish the hidden suite cleanly (exit status {self.exit_code})")
        reported = [e["id"] for e in self.entries]
        if sorted(reported) != sorted(self.selected):
            missing = [t for t in self.selected if t not in reported]
            problems.append(f"the hidden suite gave {len(reported)} results for {len(self.selected)} tests"
                            + (f" (no result for {', '.join(missing[:5])})" if missing else ""))
        return problems

    def entry(self, item: pytest.Item, call: pytest.CallInfo, report: Any) -> dict[str, Any]:
        doc = (getattr(item, "function", None).__doc__ or item.name).strip().splitlines()
        points = float(item.get_closest_marker("points").args[0])
        tags = tags_of(item)
        entry = {"name": doc[0].strip(), "score": 0.0, "max_score": points, "tags": tags,
                 "visibility": "visible", "id": item.name}
        if report.passed:
            checked = " ".join(line.strip() for line in doc[1:]).strip()
            entry.update(score=points, status="passed", output=checked or "Passed.")
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            entry.update(status="skipped", output=reason.removeprefix("Skipped: "))
        else:
            entry.update(status="failed", output=self._explain(call.excinfo, tags))
        return entry

    def _explain(self, excinfo: Any, tags: list[str]) -> str:
        exc = excinfo.value if excinfo is not None else None
        if isinstance(exc, AssertionError):
            return str(exc) or "A check failed."
        if isinstance(exc, StudentError):
            if exc.type == "MissingFunction":
                text = exc.message
                for tag in tags:
                    problem = self.student.cell_problem(tag) or next(
                        (p for g, p in self.cell_problems.items() if tag in g), None)
                    text += f"\n{problem}." if problem else ""
                    others = [sig for g, source in self.student_cells if g == tag
                              for sig in functions_defined([(g, source)]).values()]
                    if not problem and others:
                        text += f"\nYour cell '{tag}' defines {', '.join(others)}: was the function renamed?"
                return text
            text = "Your code raised " + exc.describe()
            if exc.type == "TypeError" and "argument" in exc.message:
                for tag in tags:
                    expected = self.expected_signatures.get(tag)
                    if expected and self.student_signatures.get(tag) != expected:
                        yours = self.student_signatures.get(tag, "not found")
                        return (f"{text}\nHint: the grader calls `{expected}`, as the assignment defines "
                                f"it; your definition is `{yours}`. Keep the given signature.")
            for needle, hint in self.hints:
                if needle in f"{exc.type}: {exc.message}":
                    return f"{text}\nHint: {hint}"
            return text
        if isinstance(exc, SandboxUnavailable):  # the machine's problem, not the student's
            if str(exc) not in self.errors:
                self.errors.append(str(exc))
            return f"The grader could not run your code ({exc}). This is not a verdict on your code."
        if isinstance(exc, WorkerFault):
            return str(exc)
        kind = type(exc).__name__ if exc is not None else "unknown error"
        self.errors.append(f"{kind}: {exc}")
        return (f"The grader could not check this part ({kind}: {exc}). This is not a verdict "
                "on your code; your TA has been told.")


def functions_defined(cells: list[tuple[str, str]]) -> dict[str, str]:
    """``name -> "name(a, b)"`` for every top-level function the cells define (last one wins).

    Parsed, never run: this is the trusted side reading student text.
    """
    found: dict[str, str] = {}
    for _, source in cells:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found[node.name] = f"{node.name}({ast.unparse(node.args)})"
    return found


def run_suite(student: Student, assignment: Assignment, device: str, **kwargs: Any) -> GradingRun:
    grading = GradingRun(student, assignment, device, **kwargs)
    try:
        session = kept_session(assignment, grading.parts)
    except Exception as exc:  # noqa: BLE001 - the suite's fault or ours, never the student's
        grading.errors.append(f"the hidden suite could not be set up ({type(exc).__name__}: {exc})")
        grading.exit_code = int(pytest.ExitCode.INTERNAL_ERROR)
        return grading
    grading.exit_code = session.run(grading)
    return grading


def import_suite(assignment: Assignment) -> None:
    """Collect the hidden suite without running it: pytest imports its modules, and what of
    itself it imports lazily, here. A batch does this in its parent while the fork server
    imports torch, so each grading process it forks holds them, and the collected session
    (0.1-0.2 s of CPU each)."""
    kept_session(assignment)


def worker_device(device: str) -> str:
    """``cuda`` lifts the address-space cap, which CUDA's large mappings do not survive."""
    if device == "cuda" or (device == "auto" and Path("/dev/nvidiactl").exists()):
        return "cuda"
    return "cpu"


def grade_notebook(path: str | Path, assignment: str | None = None, *,
                   course_root: Path | None = None, device: str = "auto", student_id: str = "",
                   limits: Limits | None = None, parts: set[str] | None = None) -> dict[str, Any]:
    """Grade one notebook file; always returns a result, with the reason when it cannot."""
    path = Path(path)
    try:
        nb, problem = read_notebook(path), None
    except NotebookError as exc:
        nb, problem = None, f"Your notebook could not be graded: {exc}"
    try:
        return grade(nb, path, assignment, course_root=course_root, device=device,
                     student_id=student_id, limits=limits, problem=problem, parts=parts)
    except Exception as exc:  # a bug of ours must not stop the batch: this notebook says so
        reason = f"The grader failed on this notebook ({type(exc).__name__}: {exc}); your TA has been told."
        return build_result([], notebook=path, assignment=assignment or path.stem, student=student_id,
                            output=reason, errors=[reason]).to_dict()


def grade(nb: Any, path: Path, assignment: str | None = None, *, course_root: Path | None = None,
          device: str = "auto", student_id: str = "", limits: Limits | None = None,
          problem: str | None = None, parts: set[str] | None = None,
          private: list[str] | None = None) -> dict[str, Any]:
    """Grade a notebook already read (``nb`` is None when it could not be, see ``problem``).

    ``private`` names more folders the worker must not see (the course's nbgrader exchange)."""
    started = time.monotonic()
    root = course_root or find_course_root(path.parent)
    name = assignment or (assignment_of(nb, path) if nb is not None else path.stem)
    try:
        asg = Assignment.load(name, root)
    except AssignmentError as exc:
        known = ", ".join(list_assignments(root))
        reason = problem or f"cannot tell which assignment {path.name} belongs to ({exc})"
        return build_result([], notebook=path, assignment=name, student=student_id, output=reason,
                            errors=[f"{reason}; pass --assignment (one of: {known})"]).to_dict()
    broken = suite_problems(asg)
    if broken:  # never a short or rescaled result: a human must look (README: the suite contract)
        reason = f"the hidden suite of {asg.name} is malformed, so nothing was graded: " + "; ".join(broken)
        return build_result([], notebook=path, assignment=asg.name, student=student_id, output=reason,
                            errors=[reason]).to_dict()
    expected = asg.solution_cells()
    cells, cell_problems, notes = [], {}, []
    if nb is not None:
        cells, cell_problems, notes = check_answer_cells(answer_cells(nb), [g for g, _ in expected])
        size = path.stat().st_size if path.is_file() else 0
        if size > LARGE_NOTEBOOK_BYTES:
            notes.append(f"Your notebook is {size / 2**20:.0f} MB; the grader reads only its code and ignores "
                         "outputs, but clear them before you submit (Kernel > Restart & Clear Output).")
    submitted = [(c.grade_id, c.source) for c in cells]
    context(asg.grader.preload())  # when the fork server is not running yet, it imports what the probes do
    student = Student(setup=asg.setup_code(), cells=submitted,
                      probes=str(asg.grader.probes_file), seed_base=f"{asg.name}:{student_id}",
                      device=worker_device(device), limits=limits or Limits.from_env(), unavailable=problem,
                      private=[str(root), str(path.resolve().parent), *(private or [])])
    try:
        plugin = run_suite(student, asg, device, cell_problems=cell_problems,
                           expected_signatures=functions_defined(expected), student_cells=submitted,
                           parts=parts)
    finally:
        student.close()
    errors = ([problem] if problem else []) + plugin.errors + plugin.run_problems()
    result = build_result(plugin.entries, notebook=path, assignment=asg.name, student=student_id,
                          output=problem or "\n".join(notes), cell_errors=student.cell_errors, errors=errors,
                          seconds=time.monotonic() - started)
    # Which protections held: the trusted side's description of the mode it chose (README: threat model).
    result.extra_data["sandbox"] = student.sandbox
    result.extra_data["channel_violations"] = student.violations
    flags = review_flags(submitted)  # for the TA; costs no points
    if student.violations:
        flags.append(f"wrote on the grader's own channel ({len(student.violations)} times): "
                     "the checks it disturbed scored nothing")
    result.extra_data["review_flags"] = flags
    return result.to_dict()
