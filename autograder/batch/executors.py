"""Where submissions are graded: this machine's pool, or a Dask cluster (``--scheduler``).

Both take ``Job``s and give back ``concurrent.futures.Future``s of ``JobOutcome``s, so the
batch (and ``autograder watch``) stores results the same way whichever grades them:

- ``LocalExecutor``: ``--jobs`` grading processes forked from this one (``ProcessPoolExecutor``),
  each with its own fork server of warm, sandboxed workers.
- ``autograder.batch.cluster.DaskExecutor``: the same grading code in each Dask worker process.

``open_executor`` picks one. An executor only grades: it never writes the gradebook or a file
of the course; the caller stores each outcome as it arrives.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Protocol

from autograder.batch.job import Job, JobOutcome, init_process, run_job
from autograder.engine.processes import without_main_reimport


class Executor(Protocol):
    """What the batch needs from a backend."""

    #: exceptions of ``Future.result()`` meaning a grading process died: grade the job again alone
    lost: tuple[type[BaseException], ...]

    def submit(self, job: Job) -> Future[JobOutcome]: ...

    def stop_waiting(self, futures: Iterable[Future[JobOutcome]]) -> None:
        """Ctrl-C: cancel what has not started; what is being graded finishes."""

    def close(self, now: bool) -> None:
        """Release the processes (``now``: kill them, a second Ctrl-C)."""


class LocalExecutor:
    """A pool of grading processes on this machine (see ``batch.run``)."""

    lost = (BrokenProcessPool,)

    def __init__(self, root: Path, device: str, preload: tuple[str, ...], jobs: int, method: str) -> None:
        self.pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context(method),
                                        initializer=init_process, initargs=(str(root), device, preload))

    def submit(self, job: Job) -> Future[JobOutcome]:
        with without_main_reimport():  # spawned processes start during submit()
            return self.pool.submit(run_job, job)

    def stop_waiting(self, futures: Iterable[Future[JobOutcome]]) -> None:
        for future in futures:
            future.cancel()  # a running one cannot be cancelled, and finishes

    def close(self, now: bool) -> None:
        if now:
            kill_pool(self.pool)
        self.pool.shutdown(wait=not now, cancel_futures=True)


def kill_pool(executor: ProcessPoolExecutor) -> None:
    """Stopping: the pool's processes end now (their workers die with their fork servers)."""
    processes = getattr(executor, "_processes", None) or {}  # no public handle on them
    for process in list(processes.values()):
        if process.is_alive():
            process.terminate()


def open_executor(*, scheduler: str | None, root: Path, coursedir: Any, assignment: str, device: str,
                  preload: tuple[str, ...], jobs: int, method: str) -> Executor:
    """The local pool, or a client of the Dask cluster at ``scheduler`` (``tcp://host:port``)."""
    if scheduler is None:
        return LocalExecutor(root, device, preload, jobs, method)
    from autograder.batch.cluster import DaskExecutor

    return DaskExecutor(scheduler, root=root, coursedir=coursedir, assignment=assignment, device=device,
                        preload=preload)
