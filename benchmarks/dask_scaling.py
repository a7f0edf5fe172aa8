"""Grading on a Dask cluster on this machine: throughput with 1 and 2 workers, the scheduler's
overhead per submission, each worker's peak memory, and from those a model of a big batch.

Starts a real ``dask scheduler`` and ``dask worker --nthreads 1`` processes on 127.0.0.1 from
this venv. For each worker count: one batch to warm the workers up (each sets up nbgrader and
its fork server once; that is timed too), then the measured batch (``--force``), run in this
process so that the client's own share (storing each result) is timed separately. Then the
local pool with as many processes, for comparison, and N empty tasks carrying a
submission-sized payload through the same scheduler: its overhead per submission.

    .venv/bin/python benchmarks/dask_scaling.py -n 40
    .venv/bin/python benchmarks/dask_scaling.py -n 40 --model-submissions 10000 --model-machines 50 --model-cores 16
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from autograde_vs_nbgrader import (  # noqa: E402
    ASSIGNMENT,
    BIN,
    ENGINE_CONFIG,
    PeakMemory,
    build_course,
    environment,
    load,
    mixed_submissions,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    import signal

    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def cluster(count: int, folder: Path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(folder / "scheduler.log", "w")  # noqa: SIM115 - the process holds it
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT, env=environment(),
                              start_new_session=True)]
    try:
        for i in range(count):
            wlog = open(folder / f"worker{count}-{i}.log", "w")  # noqa: SIM115
            procs.append(subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-nanny",
                                           "--no-dashboard", "--host", "127.0.0.1",
                                           "--local-directory", str(folder / f"w{count}-{i}")],
                                          stdout=wlog, stderr=subprocess.STDOUT, env=environment(), cwd=folder,
                                          start_new_session=True))
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(count, timeout=180)
        yield address, procs[1:]
    finally:
        for proc in reversed(procs):
            stop(proc)
        log.close()


def batch(course: Path, scheduler: str | None, jobs: int) -> tuple[float, float, int]:
    """(wall s, client seconds storing results, graded) of one ``--force`` batch, in this process."""
    from autograder.batch import run

    stored = [0.0]
    collect = run.Pool.collect

    def timed_collect(self, futures, stop, bar, last_try=False):
        store = self.store

        def timed_store(sub, outcome):
            started = time.monotonic()
            try:
                store(sub, outcome)
            finally:
                stored[0] += time.monotonic() - started
        self.store = timed_store
        return collect(self, futures, stop, bar, last_try)

    run.Pool.collect = timed_collect
    try:
        started = time.monotonic()
        summary = run.autograde(ASSIGNMENT, course_root=course, jobs=jobs, force=True, progress=False,
                                scheduler=scheduler)
        return time.monotonic() - started, stored[0], len(summary.graded)
    finally:
        run.Pool.collect = collect


def noop(payload: bytes) -> int:
    return len(payload)


def scheduler_overhead(address: str, n: int, size: int) -> tuple[float, float]:
    """Seconds per task for n empty tasks with a payload of ``size`` bytes: all at once, and one by one."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.submit(noop, b"", pure=False).result()
        started = time.monotonic()
        futures = [client.submit(noop, os.urandom(size), pure=False) for _ in range(n)]
        client.gather(futures)
        batched = (time.monotonic() - started) / n
        started = time.monotonic()
        for _ in range(min(n, 20)):
            client.submit(noop, os.urandom(size), pure=False).result()
        serial = (time.monotonic() - started) / min(n, 20)
    return batched, serial


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=40, help="submissions (default 40)")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure (default 1,2)")
    parser.add_argument("--model-submissions", type=int, default=10_000)
    parser.add_argument("--model-machines", type=int, default=50)
    parser.add_argument("--model-cores", type=int, default=16, help="cores (one worker each) per machine")
    args = parser.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    work = Path(tempfile.mkdtemp(prefix="dask-scaling-"))
    os.environ["PATH"] = environment()["PATH"]
    rows = []
    try:
        course = build_course(work / "course", ENGINE_CONFIG, mixed_submissions(args.n))
        size = (course / "submitted" / "s000" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").stat().st_size
        print(f"{os.cpu_count()} CPUs, {args.n} submissions of {size / 1024:.0f} KB; load average {load()}", flush=True)
        overhead = None
        for count in counts:
            with cluster(count, work) as (address, procs):
                warm, _, _ = batch(course, address, count)
                memory = [PeakMemory(p.pid) for p in procs]
                for m in memory:
                    m.__enter__()
                try:
                    wall, storing, graded = batch(course, address, count)
                finally:
                    for m in memory:
                        m.__exit__()
                assert graded == args.n, f"graded {graded} of {args.n}"
                rows.append((f"Dask, {count} worker(s)", wall, storing, warm - wall,
                             max(m.peak for m in memory), load()))
                if overhead is None:
                    overhead = scheduler_overhead(address, args.n * 5, size)
            print(f"  {rows[-1][0]}: {wall:.1f} s", flush=True)
        for count in counts:  # a fresh process: this one has Dask's threads, and the pool forks
            cmd = [str(BIN / "autograder"), "autograde", ASSIGNMENT, "--force", "--no-progress", "--jobs", str(count)]
            started = time.monotonic()
            subprocess.run(cmd, cwd=course, env=environment(), capture_output=True, check=False)
            wall = time.monotonic() - started
            rows.append((f"local pool, --jobs {count}", wall, float("nan"), None, None, load()))
            print(f"  {rows[-1][0]}: {wall:.1f} s", flush=True)

        print(f"\n{'backend':24s} {'wall s':>7s} {'subs/s':>7s} {'client storing s/sub':>21s} "
              f"{'worker start s':>15s} {'peak MiB/worker':>16s} {'load after':>16s}")
        for name, wall, storing, start, peak, after in rows:
            print(f"{name:24s} {wall:7.1f} {args.n / wall:7.2f} {storing / args.n:21.3f} "
                  f"{'' if start is None else f'{start:.1f}':>15s} "
                  f"{'' if peak is None else f'{peak / 2**20:.0f}':>16s} {after:>16s}")
        batched, serial = overhead
        print(f"\nscheduler overhead per submission ({size / 1024:.0f} KB payload, empty task): "
              f"{batched * 1000:.1f} ms when many are queued, {serial * 1000:.1f} ms round trip one at a time")

        one = next(r for r in rows if r[0].startswith("Dask, 1"))
        per_worker = one[1] / args.n  # seconds per submission of one single-threaded worker, client included
        storing = max(r[2] for r in rows if r[0].startswith("Dask")) / args.n
        workers = args.model_machines * args.model_cores
        grading = args.model_submissions * per_worker / workers
        client = args.model_submissions * storing
        sched = args.model_submissions * batched
        start = max(r[3] for r in rows if r[3] is not None)
        print(f"\nmodel: {args.model_submissions} submissions on {args.model_machines} machines x "
              f"{args.model_cores} workers ({workers} workers)")
        print(f"  workers grading:      {args.model_submissions} x {per_worker:.2f} s / {workers} = {grading:7.0f} s")
        print(f"  client storing:       {args.model_submissions} x {storing:.3f} s (one process) = {client:7.0f} s")
        print(f"  scheduler:            {args.model_submissions} x {batched * 1000:.1f} ms = {sched:7.0f} s")
        print(f"  workers' start:       {start:7.0f} s once (in parallel)")
        total = start + max(grading, client, sched)
        bound = max(("the workers", grading), ("the client", client), ("the scheduler", sched), key=lambda x: x[1])
        print(f"  => about {total:.0f} s ({total / 60:.1f} min): the three overlap, so the slowest decides; "
              f"bound by {bound[0]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
