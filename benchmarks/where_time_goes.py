"""Where one grading process spends its time per submission, and what a batch pays once.

Builds a course of N submissions (as ``autograde_vs_nbgrader.py`` does), then in this process
sets up a grading process's state (``init_grader``) and grades them one after another with
``run_job``, timing each of nbgrader's preprocessors, the engine's pytest run, and inside it
the time spent waiting for the sandboxed worker (the student's code and the probes) and
starting it. CPU seconds are this (trusted) process's; the worker's own work is in "waiting".
It also times the fixed costs: importing nbgrader, the fork server's start, the class report.

    .venv/bin/python benchmarks/where_time_goes.py -n 12
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from autograde_vs_nbgrader import ASSIGNMENT, ENGINE_CONFIG, build_course, load, mixed_submissions  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=12, help="submissions (default 12; the first one is not counted)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="where-time-goes-"))
    try:
        course = build_course(work / "course", ENGINE_CONFIG, mixed_submissions(args.n))
        os.chdir(course)
        print(f"load average before: {load()}")
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import nbgrader.converters, nbgrader.preprocessors"], check=True)
        print(f"once: a fresh interpreter importing nbgrader's converters: {time.monotonic() - started:.2f} s")
        profile(course, args.n)
        print(f"load average after: {load()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def profile(course: Path, n: int) -> None:
    from autograder.assignment import Assignment
    from autograder.batch import job as jobs
    from autograder.engine import runner, student

    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # name -> [wall, cpu]

    def timed(name, fn):
        def wrapper(*a, **k):
            w, c = time.monotonic(), time.process_time()
            try:
                return fn(*a, **k)
            finally:
                spent[name][0] += time.monotonic() - w
                spent[name][1] += time.process_time() - c
        return wrapper

    w, c = time.monotonic(), time.process_time()
    jobs.init_grader(str(course), "auto", Assignment.load(ASSIGNMENT, course).grader.preload())
    print(f"once: init_grader (exporters, fork server started): {time.monotonic() - w:.2f} s wall, "
          f"{time.process_time() - c:.2f} s CPU")
    for pp in jobs._STATE["sanitize"] + jobs._STATE["autograde"]:
        pp.preprocess = timed(f"nbgrader {type(pp).__name__}", pp.preprocess)
    runner.run_suite = timed("engine: pytest run (all of it)", runner.run_suite)
    student.Student._receive = timed("  waiting for the worker (student code, probes)", student.Student._receive)
    student.Student._start = timed("  starting the worker (fork, sandbox, load cells)", student.Student._start)
    student.Student.close = timed("  stopping the worker", student.Student.close)
    todo = [jobs.Job(f"s{i:03d}", ASSIGNMENT, str(course / "submitted" / f"s{i:03d}" / ASSIGNMENT), (ASSIGNMENT,))
            for i in range(n)]
    w = time.monotonic()
    jobs.run_job(todo[0])  # the fork server finishes importing torch meanwhile
    print(f"once: the first submission (waits for the fork server): {time.monotonic() - w:.2f} s")
    outcomes = grade_all(todo[1:], spent, "with batch/speed.py")
    # The same submissions again without the two cuts of batch/speed.py, under the same load.
    import gc

    import jsonschema
    from nbgrader.nbgraderformat import common

    gc.unfreeze()
    common.jsonschema = jsonschema
    grade_all(todo[1:], spent, "without them (gc not frozen, nbgrader's schema checked on every cell)")

    from autograder.batch import outputs
    from autograder.report import write_class_report

    reports = course / "reports" / ASSIGNMENT
    for outcome in outcomes:  # what the batch writes before its report
        outputs.write_results(reports, outcome.student, outputs.combined_result(outcome, ASSIGNMENT), {})
    w, c = time.monotonic(), time.process_time()
    write_class_report(reports, ASSIGNMENT, [o.student for o in outcomes], {})
    print(f"\nonce: the class report with its charts: {time.monotonic() - w:.2f} s wall, "
          f"{time.process_time() - c:.2f} s CPU (matplotlib imported here)")


def grade_all(todo: list, spent: dict, label: str) -> list:
    from autograder.batch import job as jobs

    spent.clear()
    w, c = time.monotonic(), time.process_time()
    outcomes = [jobs.run_job(job) for job in todo]
    total_w, total_c = (time.monotonic() - w) / len(todo), (time.process_time() - c) / len(todo)
    print(f"\nper submission, {label}, mean of {len(todo)} ({'wall s':>7s} {'CPU s':>7s}), load {load()}")
    for name, (wall, cpu) in sorted(spent.items(), key=lambda kv: -kv[1][0]):
        print(f"  {name:52s} {wall / len(todo):7.3f} {cpu / len(todo):7.3f}")
    print(f"  {'whole submission (run_job)':52s} {total_w:7.3f} {total_c:7.3f}")
    return outcomes


if __name__ == "__main__":
    sys.exit(main())
