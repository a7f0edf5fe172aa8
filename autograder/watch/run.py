"""``autograder watch ASSIGNMENT``: grade each new ``nbgrader submit`` and hand the student a page.

Grading is the batch's own (``autograder.batch.job.run_job`` in a pool process set up by
``init_process``: nbgrader's preprocessors, the engine, the same sandbox and suites). Only the
student's page is written, into the exchange's feedback folder; the gradebook, ``autograded/``
and nbgrader's final feedback are never touched.

State, on disk in ``COURSE/watch/ASSIGNMENT/``: one JSON file per submission, written (atomically)
when it is first seen, with the decision (grade it, or over the attempt limit), and again when its
page is out. After a crash, a submission with a decision and no page is graded again (its student
saw nothing yet); one with a page is never graded again.

The executor is the batch's (``autograder.batch.executors``): this machine's pool by default,
or a Dask cluster with ``--scheduler`` (``autograder autograde`` takes the same option).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder import submission_files
from autograder.assignment import Assignment
from autograder.batch.executors import Executor, LocalExecutor, open_executor
from autograder.batch.job import Job, JobOutcome, init_process
from autograder.course import tools_on_path
from autograder.watch import pages
from autograder.watch.exchange import Inbound, course_exchange, feedback_path, inbound, write_page

DEFAULTS = {"show": "names", "attempts_per_hour": 3}
HOUR = 3600.0


@dataclass
class WatchSummary:
    graded: list[str] = field(default_factory=list)  # submission keys graded by this run
    limited: list[str] = field(default_factory=list)  # over the attempt limit: a page saying when
    failed: list[str] = field(default_factory=list)
    already_done: int = 0

    def line(self) -> str:
        notes = [f"{len(self.limited)} over the attempt limit"] if self.limited else []
        notes += [f"{len(self.failed)} could not be graded"] if self.failed else []
        extra = f" ({', '.join(notes)})" if notes else ""
        new = len(self.graded) + len(self.limited) + len(self.failed)
        return f"graded {new} new{extra}, {self.already_done} already done"


def settings(asg: Assignment) -> dict[str, Any]:
    """``"watch": {"show": "names" | "hints", "attempts_per_hour": N}`` in assignment.json."""
    data = json.loads((asg.course_root / "solutions" / asg.name / "assignment.json").read_text())
    out = {**DEFAULTS, **(data.get("watch") or {})}
    if out["show"] not in ("names", "hints") or not isinstance(out["attempts_per_hour"], int) \
            or out["attempts_per_hour"] < 1:
        raise ValueError(f"solutions/{asg.name}/assignment.json: watch.show must be 'names' or 'hints' and "
                         f"watch.attempts_per_hour a whole number >= 1, not {data.get('watch')!r}")
    return out


class State:
    """One JSON record per submission key under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, dict[str, Any]] = {}
        for path in sorted(folder.glob("*.json")):
            try:
                self.records[path.stem] = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # a record cut short by a crash: the submission is seen again

    def save(self, key: str, record: dict[str, Any]) -> None:
        self.records[key] = record
        tmp = self.folder / f".{key}.tmp"
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(self.folder / f"{key}.json")

    def decide(self, sub: Inbound, seen: float, limit: int) -> dict[str, Any]:
        """Grade it, or not (over ``limit`` graded attempts of this student in the past hour)."""
        recent = sorted(r["seen"] for r in self.records.values()
                        if r["student"] == sub.student and r["decision"] == "grade" and seen - HOUR < r["seen"] <= seen)
        record = {"student": sub.student, "timestamp": sub.timestamp, "seen": seen, "decision": "grade",
                  "status": "pending"}
        if len(recent) >= limit:
            record.update(decision="limited", next_at=recent[-limit] + HOUR)
        else:
            record["attempt"] = len(recent) + 1
        return record


def init_watch_process(course_root: str, device: str, preload: tuple[str, ...], exchange: str) -> None:
    """The batch's ``init_process``, in the exchange's folder: the sandbox covers the grading
    process's working folder (with the course and the submission's folder), so a submission
    cannot read the exchange (other submissions, their secrets, pages) even where it lies under
    a system folder the sandbox shows (nbgrader's default is under /usr/local/share)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the watcher decides when to stop
    os.chdir(exchange)
    init_process(course_root, device, preload)


class WatchPool(LocalExecutor):
    """The batch's local pool, its grading processes started in the exchange's folder."""

    def __init__(self, asg: Assignment, jobs: int, device: str, exchange: Path) -> None:
        self.pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                        initializer=init_watch_process,
                                        initargs=(str(asg.course_root), device, asg.grader.preload(), str(exchange)))


def open_watch_executor(asg: Assignment, *, jobs: int, device: str, exchange: Path,
                        scheduler: str | None = None) -> Executor:
    """This machine's pool, or the Dask cluster at ``scheduler`` (``autograder watch --scheduler``)."""
    if scheduler is None:
        return WatchPool(asg, jobs, device, exchange)
    from nbgrader.coursedir import CourseDirectory

    from autograder.course import load_config

    coursedir = CourseDirectory(config=load_config(asg.course_root))
    return open_executor(scheduler=scheduler, root=asg.course_root, coursedir=coursedir, assignment=asg.name,
                         device=device, preload=asg.grader.preload(), jobs=jobs, method="fork")


def notebooks_of(asg: Assignment) -> tuple[str, ...]:
    release = asg.course_root / "assignments" / asg.name
    return tuple(sorted(p.stem for p in release.glob("*.ipynb"))) or (asg.name,)


def watch(assignment: str, *, course_root: Path, once: bool = False, executor: Executor | None = None,
          jobs: int = 2, device: str = "auto", interval: float = 2.0, clock: Callable[[], float] = time.time,
          log: Callable[[str], None] = print, scheduler: str | None = None) -> WatchSummary:
    """Grade new submissions until stopped (SIGINT/SIGTERM: the ones in hand are finished), or,
    with ``once``, until nothing new is left."""
    tools_on_path()
    root = course_root.resolve()
    asg = Assignment.load(assignment, root)
    conf = settings(asg)
    exchange, course_id = course_exchange(root)
    state = State(root / "watch" / assignment)
    notebooks = notebooks_of(asg)
    summary = WatchSummary(already_done=sum(r["status"] == "done" for r in state.records.values()))
    own = executor is None
    pool = open_watch_executor(asg, jobs=jobs, device=device, exchange=exchange, scheduler=scheduler) \
        if own else executor
    in_flight: dict[Future, Inbound] = {}
    stopping = {"now": False}

    def stop(signum: int, frame: Any) -> None:
        if not stopping["now"]:
            log("stopping: finishing the submissions being graded")
        stopping["now"] = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            if not stopping["now"]:
                for sub in inbound(exchange, course_id, assignment):
                    record = state.records.get(sub.key)
                    if record is None:
                        record = state.decide(sub, clock(), conf["attempts_per_hour"])
                        state.save(sub.key, record)
                    if record["status"] == "done" or any(s.key == sub.key for s in in_flight.values()):
                        continue
                    if already_written(exchange, course_id, sub, notebooks):
                        state.save(sub.key, {**record, "status": "done", "note": "page found after a restart"})
                        continue
                    links = submission_files.unsafe_entries(sub.folder)
                    if links:
                        publish(exchange, course_id, sub, notebooks, pages.failed_page(
                            sub.key, assignment, sub.timestamp, f"it holds links or special files, not plain "
                            f"files ({'; '.join(links)}); submit with nbgrader submit", clock()))
                        state.save(sub.key, {**record, "status": "done", "error": "links in the submission"})
                        summary.failed.append(sub.key)
                        continue
                    if record["decision"] == "limited":
                        publish(exchange, course_id, sub, notebooks, pages.limited_page(
                            sub.key, assignment, sub.timestamp, conf["attempts_per_hour"], record["next_at"], clock()))
                        state.save(sub.key, {**record, "status": "done"})
                        summary.limited.append(sub.key)
                        continue
                    in_flight[pool.submit(Job(sub.student, assignment, str(sub.folder), notebooks))] = sub
            if stopping["now"]:  # those not started yet stay pending, for the next run
                for future in [f for f in in_flight if f.cancel()]:
                    in_flight.pop(future)
            if not in_flight and (once or stopping["now"]):
                break
            done, _ = wait_futures(list(in_flight), timeout=interval, return_when=FIRST_COMPLETED) \
                if in_flight else (set(), None)
            if not in_flight:
                time.sleep(interval)
            for future in done:
                sub = in_flight.pop(future)
                finish(future, sub, state, conf, exchange, course_id, notebooks, assignment, summary, clock)
                log(f"{sub.key}: {state.records[sub.key].get('score', 'not graded')}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if own:
            pool.close(now=False)
    return summary


def finish(future: Future, sub: Inbound, state: State, conf: dict[str, Any], exchange: Path, course_id: str,
           notebooks: tuple[str, ...], assignment: str, summary: WatchSummary, clock: Callable[[], float]) -> None:
    record = state.records[sub.key]
    try:
        outcome: JobOutcome = future.result()
        error = outcome.error
    except Exception as exc:  # noqa: BLE001 - a grading process died: this submission says so
        outcome, error = None, f"the grader failed ({type(exc).__name__})"
    if error or outcome is None or not outcome.notebooks:
        publish(exchange, course_id, sub, notebooks, pages.failed_page(sub.key, assignment, sub.timestamp,
                                                                       error or "nothing to grade", clock()))
        state.save(sub.key, {**record, "status": "done", "error": error})
        summary.failed.append(sub.key)
        return
    attempts = f"Graded attempt {record['attempt']} of {conf['attempts_per_hour']} per hour."
    by_notebook = {nb.notebook: nb.result for nb in outcome.notebooks}
    for notebook in notebooks:
        result = by_notebook.get(notebook)
        if result is not None:
            publish(exchange, course_id, sub, (notebook,), pages.graded_page(
                sub.key, assignment, sub.timestamp, result, conf["show"], attempts, clock()))
    score = sum(r["score"] for r in by_notebook.values())
    state.save(sub.key, {**record, "status": "done", "score": score})
    summary.graded.append(sub.key)


def already_written(exchange: Path, course_id: str, sub: Inbound, notebooks: tuple[str, ...]) -> bool:
    """A page of ours for this submission is out (we crashed before recording it)."""
    secret = sub.secret()
    if secret is None:
        return False
    path = feedback_path(exchange, course_id, secret, notebooks[0])
    try:
        return f'content="{sub.key}"' in path.read_text(encoding="utf-8", errors="replace")[:400]
    except OSError:
        return False


def publish(exchange: Path, course_id: str, sub: Inbound, notebooks: tuple[str, ...], html: str) -> None:
    """The page for each notebook, unless the TA has released final feedback there (not ours)."""
    secret = sub.secret()
    if secret is None:
        return
    for notebook in notebooks:
        path = feedback_path(exchange, course_id, secret, notebook)
        if path.exists() and "autograder-submission" not in path.read_text(encoding="utf-8", errors="replace")[:400]:
            continue  # nbgrader release_feedback's final feedback: never replaced
        write_page(path, html)
