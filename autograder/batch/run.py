"""``autograder autograde``: grade a whole class in parallel, this process the only gradebook writer.

The pipeline, and why it is shaped so:

- A pool of ``--jobs`` grading processes (``concurrent.futures`` over ``spawn``), each of which
  imports the grader once and keeps its own fork server of warm, torch-loaded workers. They
  read submissions and the gradebook (for the locked cells) but write nothing shared.
- Or, with ``--scheduler``, the same grading code in the worker processes of a Dask cluster
  (``batch.cluster``); either way behind ``batch.executors``' small interface.
- This process takes each result as it arrives and stores it: autograded notebook, gradebook
  (one transaction per submission), ``results.json``, feedback page. A progress bar (tqdm)
  shows the rate and the time left.
- Resumable: a submission is skipped when its files, the grader (suite, probes, parameters)
  and the gradebook all still match what was stored, unless ``--force``.
- Ctrl-C stops handing out work, stores what is being graded, and exits 130; a second one
  stops at once. Either way the gradebook holds each submission completely or as before.
- One submission that cannot be graded gets its reason in the class report and the batch
  goes on. The exit status is 1 when any submission needs a human, else 0.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder import submission_files
from autograder.batch.executors import Executor, open_executor
from autograder.batch.job import Job, JobOutcome
from autograder.batch.speed import pause_collector, resume_collector
from autograder.batch.submissions import Submission, extra_notebooks, find_submissions
from autograder.course import CONFIG_FILE, CourseError, load_config, tools_on_path

EXIT_OK, EXIT_NEEDS_HUMAN, EXIT_SETUP, EXIT_INTERRUPTED = 0, 1, 2, 130
ERRORS_FILE = "errors.json"


@dataclass
class Summary:
    """What one run did; ``needs_human`` covers the whole class, not only this run."""

    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # student -> why the grader could not finish
    needs_human: dict[str, str] = field(default_factory=dict)  # student -> reason, from the class report
    worth_a_look: dict[str, list[str]] = field(default_factory=dict)  # student -> review flags (no points lost)
    class_size: int = 0  # submissions of the whole class, which the report covers
    interrupted: bool = False
    seconds: float = 0.0
    report: Path | None = None
    sandbox: dict[str, Any] = field(default_factory=dict)  # the mode the batch grades in (trusted side's words)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_NEEDS_HUMAN if self.needs_human else EXIT_OK


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class StopRequest:
    """First Ctrl-C: finish what is being graded, then stop. Second: stop now, except while a
    submission is being stored, which always completes (so the gradebook stays consistent)."""

    def __init__(self) -> None:
        self.requested = False
        self._now = False
        self._storing = False
        self._previous: Any = None

    def __enter__(self) -> StopRequest:
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    @contextmanager
    def storing(self):
        self._storing = True
        try:
            yield
        finally:
            self._storing = False
        if self._now:
            raise KeyboardInterrupt

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            self._now = True
            if not self._storing:
                raise KeyboardInterrupt
            return
        self.requested = True
        print("\nStopping: storing the submissions being graded now (Ctrl-C again to stop at once).",
              file=sys.stderr, flush=True)


def autograde(assignment: str, *, course_root: Path, students: str = "*", jobs: int | None = None,
              device: str = "auto", force: bool = False, reports: Path | None = None,
              progress: bool | None = None, scheduler: str | None = None) -> Summary:
    """Grade ``submitted/*/ASSIGNMENT`` of the course at ``course_root``; see the module docstring.

    ``scheduler`` (``tcp://host:port``): grade on that Dask cluster instead of a local pool.
    """
    from autograder.assignment import Assignment

    started = time.monotonic()
    tools_on_path()
    root = course_root.resolve()
    if not (root / CONFIG_FILE).exists():
        load_config(root)  # its CourseError, before anything starts
    asg = Assignment.load(assignment, root)
    pause_collector()  # until the pool starts (batch/speed.py)
    try:
        with shared_fork_server(asg.grader.preload() if scheduler is None else None):
            config = load_config(root)  # the course's nbgrader_config.py imports nbgrader: seconds
            return _autograde(asg, config, started, students=students, jobs=jobs, device=device, force=force,
                              reports=reports, progress=progress, scheduler=scheduler)
    finally:
        resume_collector()  # also when an error stopped it before its pool


@contextmanager
def shared_fork_server(preload: tuple[str, ...] | None):
    """The batch's one fork server (``preload``: what it imports; None: none, a Dask cluster grades),
    started first: it imports torch while this process imports nbgrader and reads the course, and
    the grading processes forked later use it rather than each starting its own."""
    from autograder.engine.student import share_fork_server, shutdown

    if preload is None:
        yield
        return
    share_fork_server(preload)
    try:
        yield
    finally:
        shutdown()


def _autograde(asg: Any, config: Any, started: float, *, students: str, jobs: int | None, device: str,
               force: bool, reports: Path | None, progress: bool | None, scheduler: str | None) -> Summary:
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    from autograder.batch import outputs
    from autograder.batch.gradebook import GradebookWriter
    from autograder.batch.job import init_grader
    from autograder.engine.contract import suite_problems
    from autograder.engine.runner import import_suite
    from autograder.engine.student import shutdown
    from autograder.nbgrader_plugin import EngineGrader
    from autograder.report import write_class_report

    assignment, root = asg.name, Path(config.CourseDirectory.root)
    coursedir = CourseDirectory(config=config)
    converter = Autograde(coursedir=coursedir, config=config)
    if EngineGrader not in converter.autograde_preprocessors:
        raise CourseError(f"{root / 'nbgrader_config.py'} does not grade through the engine: it must call "
                          "autograder.nbgrader_plugin.configure(c, root)")
    broken = suite_problems(asg)
    if broken:
        raise CourseError(f"the hidden suite of {assignment} is malformed; fix it before grading: " + "; ".join(broken))
    reports = (reports or root / "reports" / assignment).resolve()
    summary = Summary()

    submissions = find_submissions(coursedir, assignment, students)
    if not submissions:
        raise CourseError(f"no submissions of {assignment!r} in {coursedir.submitted_directory}/ "
                          f"matching {students!r}: run nbgrader collect or zip_collect first")
    summary.sandbox = check_sandbox()
    # A folder with links or special files is never read or copied (its copy could be the solution).
    unsafe = {s.student: why for s in submissions if (why := submission_files.problem(s.folder))}
    summary.failed.update(unsafe)
    grader = asg.digest()
    with GradebookWriter(coursedir.db_url, coursedir.course_id, assignment, config) as writer:
        todo, digests = plan([s for s in submissions if s.student not in unsafe], writer, coursedir,
                             assignment, reports, grader, force)
        pool = Pool(writer.notebooks, assignment, root, device, asg.grader.preload(), coursedir, scheduler)
    summary.skipped = [s.student for s in submissions if s not in todo and s.student not in unsafe]
    env = outputs.templates()

    # The pool is forked from this process, which has imported nbgrader (seconds) once for all of
    # them: before any thread exists here, and with the gradebook closed, so that no process
    # inherits a database connection. The grading processes fork their workers from this
    # process's fork server, in the sandbox mode its canary chose (``decide_sandbox``).
    if todo and scheduler is None:
        # The report's charts need matplotlib (0.4 s of imports): imported while the canary waits
        # for the fork server's torch, and done before the pool forks (never mid-import).
        charts = threading.Thread(target=import_all, args=(REPORT_MODULES,))
        charts.start()
        try:
            import_suite(asg)  # meanwhile too: the grading processes inherit the suite's session
            # The grading processes' state (nbgrader's preprocessors, the engine, a frozen heap) is
            # built once here and inherited by each fork, instead of built again in each of them;
            # also while the fork server imports torch (the canary needs it, the state does not).
            init_grader(str(root), device, asg.grader.preload())
            decide_sandbox(device)
        finally:
            charts.join()
    elif not todo:
        shutdown()  # nothing to grade: the fork server started for nothing goes now
    resume_collector()  # before the grading processes are forked: they collect as usual
    futures = pool.start(todo, max(1, min(jobs or default_jobs(), len(todo))), "fork") if todo else {}
    try:
        writer = GradebookWriter(coursedir.db_url, coursedir.course_id, assignment, config)
    except BaseException:
        pool.close(now=True)
        raise
    with writer:
        def store(sub: Submission, outcome: JobOutcome) -> None:
            if outcome.error:
                summary.failed[sub.student] = outcome.error
                return
            outputs.write_autograded(coursedir, converter, assignment, sub.student, sub.folder, outcome)
            unscored = writer.record(outcome, sub.timestamp)
            result = outputs.combined_result(outcome, assignment)
            problems = [nb.problem for nb in outcome.notebooks if nb.problem]
            extra = extra_notebooks(sub.folder, writer.notebooks)
            if extra:
                problems.append(extra)
            if unscored:
                problems.append(f"grade cells missing from the notebook ({', '.join(unscored)}): "
                                "formgrader asks for a manual grade")
            problem = "; ".join(problems) or None
            outputs.write_feedback(env, reports, sub.student, assignment, result, problem)
            outputs.write_results(reports, sub.student, result, {
                "submission_digest": digests[sub.student], "grader_digest": grader,
                "problem": problem, "seconds": round(outcome.seconds, 3),
                **({"worker": outcome.where} if outcome.where else {})})
            summary.graded.append(sub.student)

        pool.store = store
        if futures:
            summary.interrupted = grade_all(pool, futures, progress)
    shutdown()  # every grading process is gone: so goes their fork server
    # The class report is always the whole class, whatever --student narrowed this run to.
    everyone = [s.student for s in find_submissions(coursedir, assignment)]
    errors = update_errors(reports, summary, everyone)
    report = write_class_report(reports, assignment, everyone, errors)
    summary.report, summary.needs_human, summary.worth_a_look = report.page, report.needs_human, report.worth_a_look
    summary.class_size = len(everyone)
    summary.seconds = time.monotonic() - started
    return summary


def check_sandbox() -> dict[str, Any]:
    """The sandbox the grading processes will use, known before any is started: the batch refuses
    to start where no isolating mode works, unless the TA asked for ``rlimits`` by name."""
    from autograder.engine import sandbox
    from autograder.engine.student import Limits, refusal

    try:
        requested = Limits.from_env().sandbox
    except ValueError as exc:
        raise CourseError(str(exc)) from None
    mode, why = sandbox.preflight(requested)
    if mode is None:
        raise CourseError(f"nothing was graded: {refusal(requested, why)}")
    return sandbox.describe(mode)


def decide_sandbox(device: str) -> None:
    """The canary, here in the batch's (trusted) parent, before any student code runs: the grading
    processes forked from it inherit its verdict (``student.choose_mode``) instead of each starting
    a canary worker of its own. Also imports what they need (numpy, pytest), once for all of them."""
    from autograder.engine.runner import worker_device
    from autograder.engine.student import Limits, SandboxUnavailable, choose_mode

    try:
        choose_mode(Limits.from_env(), worker_device(device))
    except SandboxUnavailable as exc:  # its message says how the TA can go on
        raise CourseError(f"nothing was graded: {exc}") from None


def plan(submissions: list[Submission], writer: Any, coursedir: Any, assignment: str, reports: Path,
         grader: str, force: bool) -> tuple[list[Submission], dict[str, str]]:
    """Which submissions to grade: new, changed, regraded by --force, or not (fully) stored yet."""
    from autograder.batch.outputs import read_results

    digests = {s.student: s.digest() for s in submissions}
    if force:
        return list(submissions), digests
    in_gradebook = writer.graded_students()
    todo = []
    for sub in submissions:
        batch = ((read_results(reports, sub.student) or {}).get("extra_data") or {}).get("batch") or {}
        autograded = Path(coursedir.format_path(coursedir.autograded_directory, sub.student, assignment))
        stored = (batch.get("submission_digest") == digests[sub.student] and batch.get("grader_digest") == grader
                  and sub.student in in_gradebook and (autograded.is_dir() or batch.get("problem")))
        if not stored:
            todo.append(sub)
    return todo, digests


# The figure and its axes with the backend: the Agg backend alone left 0.6 s of imports to the report.
REPORT_MODULES = ("matplotlib.figure", "matplotlib.backends.backend_agg")


def import_all(modules: tuple[str, ...]) -> None:
    for module in modules:
        importlib.import_module(module)


def grade_all(pool: Pool, futures: dict[Future, Submission], progress: bool | None) -> bool:
    """Store the pool's outcomes as they come, with a progress bar; True when interrupted."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread in this process
    # The class report's charts need matplotlib (a second to import): import it while waiting, if
    # it is not already (a Dask batch has no canary to wait for).
    threading.Thread(target=import_all, args=(REPORT_MODULES,), daemon=True).start()
    disable = None if progress is None else not progress  # None: a bar only on a terminal
    with tqdm(total=len(futures), desc=f"grading {pool.assignment}", unit="submission", disable=disable,
              dynamic_ncols=True) as bar, StopRequest() as stop:
        try:
            crashed = pool.collect(futures, stop, bar)
            # A grading process died: its submissions go again, one at a time in a fresh
            # process, so that the one that kills it is found and the others are graded.
            for sub in crashed:
                if stop.requested:
                    break
                pool.collect(pool.start([sub], 1, "spawn"), stop, bar, last_try=True)
        except KeyboardInterrupt:
            return True
        finally:
            pool.close(stop.requested)
        return stop.requested


class Pool:
    """Grading processes over submissions (``executors``); outcomes are stored here as they arrive."""

    def __init__(self, notebooks: tuple[str, ...], assignment: str, root: Path, device: str,
                 preload: tuple[str, ...], coursedir: Any = None, scheduler: str | None = None) -> None:
        self.notebooks, self.assignment, self.root, self.device = notebooks, assignment, root, device
        self.preload = preload  # what the probes import: the fork servers import it once
        self.coursedir, self.scheduler = coursedir, scheduler
        self.store: Any = None  # set before collecting: stores one outcome
        self.executor: Executor | None = None

    def start(self, todo: list[Submission], jobs: int, method: str) -> dict[Future, Submission]:
        """``jobs`` new processes started by ``method`` (fork or spawn), or the Dask cluster, given ``todo``."""
        self.close(now=False)
        self.executor = open_executor(scheduler=self.scheduler, root=self.root, coursedir=self.coursedir,
                                      assignment=self.assignment, device=self.device,
                                      preload=self.preload, jobs=jobs, method=method)
        return {self.executor.submit(Job(sub.student, self.assignment, str(sub.folder), self.notebooks)): sub
                for sub in todo}

    def close(self, now: bool) -> None:
        if self.executor is None:
            return
        self.executor.close(now)
        self.executor = None

    def collect(self, futures: dict[Future, Submission], stop: StopRequest, bar: Any,
                last_try: bool = False) -> list[Submission]:
        """Store outcomes as they come; returns the submissions lost when a grading process died."""
        crashed: list[Submission] = []
        remaining = set(futures)
        lost = self.executor.lost if self.executor is not None else ()
        while remaining:
            done, remaining = wait_futures(remaining, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                if future.cancelled():
                    continue
                sub = futures[future]
                try:
                    outcome = future.result()
                except lost:
                    if not last_try:
                        crashed.append(sub)
                        continue
                    outcome = failed(sub, "the grading process died while grading this submission "
                                          "(out of memory?)")
                except Exception as exc:  # noqa: BLE001 - e.g. a result that could not be sent back
                    outcome = failed(sub, f"could not grade: {exc!r}")
                with stop.storing():
                    try:
                        self.store(sub, outcome)
                    except Exception as exc:  # noqa: BLE001 - this one is not stored; the rest go on
                        self.store(sub, failed(sub, f"could not store the grades: {exc!r}"))
                bar.update(1)
            if stop.requested and remaining and self.executor is not None:
                self.executor.stop_waiting(remaining)
        return crashed


def failed(sub: Submission, why: str) -> JobOutcome:
    return JobOutcome(sub.student, [], 0.0, error=why)


def update_errors(reports: Path, summary: Summary, students: list[str]) -> dict[str, str]:
    """``errors.json``: submissions the grader could not finish, kept until one is graded."""
    path = reports / ERRORS_FILE
    try:
        errors = json.loads(path.read_text())
    except (OSError, ValueError):
        errors = {}
    errors = {s: why for s, why in errors.items() if s in students and s not in summary.graded}
    errors.update(summary.failed)
    reports.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(errors, indent=2, sort_keys=True))
    return errors
