"""Stock ``nbgrader autograde`` against ``autograder autograde`` on the same N submissions.

Builds two temporary nbgrader courses with the same source notebook and the same N
submissions (a mix of correct and wrong answers from the kit's corpus), then, in one run:

(a) stock nbgrader: the course config without the engine, so nbgrader's ``Execute`` runs each
    notebook in a fresh kernel (the visible checks only: this is the cost, not the grading);
(b) ``autograder autograde``: the hidden suites, in a pool of grading processes, on fresh copies
    of its course: ``--kit-runs`` times (default 3), the first before (a) and the others after,
    because one run of about ten seconds swings with the machine by 10-20 %, and (a), some
    minutes long, sits between them; the ratio uses their median, and every run is printed;
(c) ``autograder grade`` on one notebook, including interpreter start-up.

It prints wall times, seconds per submission, the ratio (a)/(b) and the peak memory of each
command's whole process tree (sum of PSS, so pages shared by forked workers count once), and
the machine's load average, since other work on the machine skews every figure.

    .venv/bin/python benchmarks/autograde_vs_nbgrader.py            # N = 100
    .venv/bin/python benchmarks/autograde_vs_nbgrader.py -n 40 --kit-runs 5 --skip-stock
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from autograder.corpus import ROOT, cases, submission, write

RIGHT = cases("linreg_scratch").RIGHT
WRONG = cases("linreg_scratch").WRONG

ASSIGNMENT = "linreg_scratch"
BIN = Path(sys.executable).parent

ENGINE_CONFIG = """
from pathlib import Path

from autograder.nbgrader_plugin import configure

c = get_config()  # noqa: F821
configure(c, Path(__file__).resolve().parent)
"""

# The same course, but nbgrader's own autograde preprocessors, Execute included.
STOCK_CONFIG = """
from pathlib import Path

c = get_config()  # noqa: F821
root = Path(__file__).resolve().parent
c.CourseDirectory.root = str(root)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
"""


def environment() -> dict[str, str]:
    """This venv's tools first on PATH: nbgrader shells out to alembic, stock Execute starts ipykernel."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def build_course(folder: Path, config: str, notebooks: list) -> Path:
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, folder / "solutions" / ASSIGNMENT)
    (folder / "nbgrader_config.py").write_text(config)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"],
                   cwd=folder, env=environment(), check=True, capture_output=True)
    for i, nb in enumerate(notebooks):
        write(nb, folder / "submitted" / f"s{i:03d}" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    return folder


# Notebooks that never finish when run top to bottom: stock Execute can only time out on them
# (an error, the submission ungraded), so they are left out of the side-by-side comparison.
ENDLESS = {"data_iter never stops"}


def mixed_submissions(n: int) -> list:
    """Reference answers, then every wrong and right corpus case, round and round."""
    cases = [None, *(c for c in WRONG if c.name not in ENDLESS), *RIGHT]
    return [submission(ASSIGNMENT, case.cells if case else None) for case in (cases[i % len(cases)]
                                                                             for i in range(n))]


class PeakMemory:
    """Samples the process tree under a command; PSS so that shared pages are counted once."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            for proc in procs:
                try:
                    info = proc.memory_full_info()
                    total += getattr(info, "pss", info.rss)
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)


def timed(cmd: list[str], cwd: Path) -> tuple[float, int, subprocess.CompletedProcess]:
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    with PeakMemory(proc.pid) as memory:
        out, err = proc.communicate()
    seconds = time.monotonic() - started
    return seconds, memory.peak, subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_kit(template: Path, copy: Path, jobs: list[str], n: int) -> tuple[float, int]:
    """One ``autograder autograde`` on a fresh copy of the engine course: (wall seconds, peak bytes)."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(template, copy, symlinks=True)
    print(f"(b) autograder autograde... load average before: {load()}", flush=True)
    wall, mem, proc = timed([str(BIN / "autograder"), "autograde", ASSIGNMENT, "--no-progress", *jobs], copy)
    graded = len(list((copy / "reports" / ASSIGNMENT / "students").glob("*/results.json")))
    if proc.returncode not in (0, 1) or graded != n:
        print(proc.stdout[-2000:], proc.stderr[-3000:])
        raise SystemExit(f"autograder graded {graded} of {n} (exit {proc.returncode})")
    return wall, mem


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=100, help="submissions (default 100)")
    parser.add_argument("--jobs", type=int, help="autograder's grading processes (default: the CPU cores)")
    parser.add_argument("--kit-runs", type=int, default=3, help="runs of (b), the first before (a) (default 3)")
    parser.add_argument("--skip-stock", action="store_true", help="time only the autograder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary courses")
    args = parser.parse_args()

    cores = len(os.sched_getaffinity(0))
    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores available, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; python {platform.python_version()}")
    work = Path(tempfile.mkdtemp(prefix="autograde-bench-"))
    try:
        notebooks = mixed_submissions(args.n)
        stock = build_course(work / "stock", STOCK_CONFIG, notebooks)
        engine = build_course(work / "engine", ENGINE_CONFIG, notebooks)
        print(f"built 2 courses with {args.n} submissions each in {work}")
        jobs = ["--jobs", str(args.jobs)] if args.jobs else []
        kit = [run_kit(engine, work / "engine-run", jobs, args.n)]

        if not args.skip_stock:
            print(f"(a) nbgrader autograde (stock Execute)... load average before: {load()}", flush=True)
            a, a_mem, proc = timed([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT], stock)
            graded = len(list((stock / "autograded").glob(f"*/{ASSIGNMENT}/{ASSIGNMENT}.ipynb")))
            if proc.returncode != 0 or graded != args.n:
                print(proc.stderr[-3000:])
                raise SystemExit(f"stock nbgrader graded {graded} of {args.n} (exit {proc.returncode})")
        kit += [run_kit(engine, work / "engine-run", jobs, args.n) for _ in range(args.kit_runs - 1)]
        b = statistics.median(wall for wall, _ in kit)

        one = work / "engine-run" / "submitted" / "s000" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        c, c_mem, proc = timed([str(BIN / "autograder"), "grade", str(one), "--format", "json"], work / "engine-run")
        if proc.returncode != 0:
            raise SystemExit(f"autograder grade failed: {proc.stderr[-2000:]}")
        print(f"load average after: {load()}\n")

        rows = [] if args.skip_stock else [("(a) nbgrader autograde, stock Execute", a, a_mem)]
        rows += [(f"(b) autograder autograde, run {i + 1}{' (before a)' if i == 0 and not args.skip_stock else ''}",
                  wall, mem) for i, (wall, mem) in enumerate(kit)]
        print(f"{'command':40s} {'wall s':>8s} {'s/submission':>13s} {'peak MiB':>9s}")
        for name, wall, mem in rows:
            print(f"{name:40s} {wall:8.1f} {wall / args.n:13.3f} {mem / 2**20:9.0f}")
        print(f"{'(c) autograder grade, one notebook':40s} {c:8.1f} {c:13.3f} {c_mem / 2**20:9.0f}")
        print(f"\n(b), median of {len(kit)}: {b:.1f} s ({b / args.n:.3f} s per submission)")
        if not args.skip_stock:
            print(f"ratio (a)/(b): {a / b:.1f}  (target >= 20 at 40 submissions); "
                  f"per run of (b): {', '.join(f'{a / wall:.1f}' for wall, _ in kit)}")
        print(f"(c) one notebook: {c:.2f} s  (target <= 3 s)")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
