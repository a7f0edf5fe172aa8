"""Grading on a Dask distributed cluster (``autograder autograde ... --scheduler tcp://HOST:PORT``).

Dask (``dask scheduler``, ``dask worker``, dask-jobqueue for SLURM/PBS) places the work, moves
the data and re-runs what a dead worker was doing; the kit adds only what grading needs:

- Each task is one submission: its notebooks' bytes go to the worker, a plain ``JobOutcome``
  comes back. The worker process runs exactly the local pool's grading code (nbgrader's
  preprocessors, the engine and its warm fork server of sandboxed workers), one submission
  at a time. Only the client writes the gradebook and the course's files.
- The course travels once, scattered to the workers: ``nbgrader_config.py``, the assignment's
  source folder and a snapshot of the gradebook holding only this assignment's cells (what
  nbgrader's ``OverwriteCells`` and ``OverwriteKernelspec`` read), and the course's own
  assignment folder if it has one. The kit's assignment folders do not travel: they come with
  the kit, which must be installed on every node.
- A worker whose kit differs from the client's (version, code, the kit's assignment folder,
  torch, nbgrader) is refused before it grades anything: it would grade differently.
  It is checked when the batch starts and again by every task, for workers that join later.
- GPU routing uses Dask resources: with a worker started with ``--resources GPU=1``, every
  submission goes to GPU workers, so every student's CUDA checks run; workers without it
  never run a CUDA check (on them grading is ``--device cpu`` when the machine has a GPU).
"""

from __future__ import annotations

import atexit
import hashlib
import io
import multiprocessing
import os
import shutil
import sys
import tarfile
import tempfile
import threading
import uuid
from collections.abc import Iterable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from autograder import graders
from autograder.assignment import PACKAGE_DIR, Assignment
from autograder.batch.job import Job, JobOutcome

CONNECT_SECONDS = 10.0
SNAPSHOT = "gradebook.db"  # the gradebook snapshot, at the root of the course a worker unpacks
SETUP_HINT = ("install the same kit on every node (README: Grading on a Dask cluster) and restart "
              "its dask workers")


class ClusterError(Exception):
    """The cluster cannot grade this batch (unreachable, no worker, every worker refused)."""


class WorkerRefused(Exception):
    """Raised by a worker that must not grade for this client; ``address`` names it."""

    def __init__(self, address: str, message: str) -> None:
        super().__init__(address, message)
        self.address = address
        self.message = message

    def __str__(self) -> str:
        return self.message


# -- what decides a grade, on each side ------------------------------------------------------

_IDENTITY: dict[str, dict[str, str]] = {}


def _digest(paths: Iterable[Path], base: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def kit_identity(grader: str) -> dict[str, str]:
    """The versions and digests a grade depends on: equal on both sides, or no grading. An
    assignment folder of the kit's own is compared; a course's own travels in the course bundle."""
    if grader not in _IDENTITY:
        code = [p for p in PACKAGE_DIR.rglob("*.py")]
        folder = graders.KIT_COURSE / graders.FOLDER / grader
        graded_by = graders.GraderFolder(grader, folder).grading_files() if folder.is_dir() else []
        _IDENTITY[grader] = {
            "autograder": metadata.version("autograder"), "torch": metadata.version("torch"),
            "nbgrader": metadata.version("nbgrader"), "kit code": _digest(code, PACKAGE_DIR),
            f"assignment folder {grader}": _digest(graded_by, folder.parent) if graded_by else "sent with the course"}
    return _IDENTITY[grader]


def refusal(address: str, theirs: Any, ours: dict[str, str]) -> str:
    """Why the worker at ``address`` is refused, naming what differs."""
    if not isinstance(theirs, dict):
        return f"refused Dask worker {address}: it could not tell its kit version ({theirs!r}): {SETUP_HINT}"
    diffs = [f"{key} {theirs.get(key, 'missing')} (client: {value})" for key, value in ours.items()
             if theirs.get(key) != value]
    return f"refused Dask worker {address}: it would grade differently: {'; '.join(diffs)}: {SETUP_HINT}"


# -- the course, as the workers receive it ---------------------------------------------------

def course_bundle(root: Path, db_url: str, assignment: str, grader: str) -> bytes:
    """``nbgrader_config.py``, ``solutions/ASSIGNMENT/``, the course's own assignment folder if the
    assignment is graded by one, and a gradebook snapshot, as a tar.gz."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="autograder-bundle-") as tmp:
        snapshot = Path(tmp) / SNAPSHOT
        gradebook_snapshot(db_url, assignment, snapshot)
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(root / "nbgrader_config.py", "nbgrader_config.py")
            tar.add(root / "solutions" / assignment, f"solutions/{assignment}")
            own = root / graders.FOLDER / grader
            if own.is_dir():  # with the folders it imports from
                for name in [grader, *graders.GraderFolder(grader, own).uses()]:
                    tar.add(own.parent / name, f"{graders.FOLDER}/{name}",
                            filter=lambda t: None if "__pycache__" in t.name else t)
            tar.add(snapshot, SNAPSHOT)
    return buffer.getvalue()


def gradebook_snapshot(db_url: str, assignment: str, path: Path) -> None:
    """A new SQLite gradebook with this assignment's definition only: its course, notebooks and
    cells, copied row for row (no student, no grade): what the sanitizing preprocessors read."""
    from nbgrader import api
    from sqlalchemy import create_engine, insert, select, text

    source, dest = create_engine(db_url), create_engine(f"sqlite:///{path}")
    tables = api.Base.metadata.tables
    try:
        api.Base.metadata.create_all(dest)
        with source.connect() as src, dest.begin() as out:
            version = src.execute(text("SELECT version_num FROM alembic_version")).scalar()
            out.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            out.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version})

            def copy(table: str, column: str, values: Iterable[Any]) -> list[dict[str, Any]]:
                t = tables[table]
                rows = [dict(r) for r in src.execute(select(t).where(t.c[column].in_(list(values)))).mappings()]
                if rows:
                    out.execute(insert(t), rows)
                return rows

            found = [dict(r) for r in src.execute(select(tables["assignment"]).where(
                tables["assignment"].c.name == assignment)).mappings()]
            copy("course", "id", {a["course_id"] for a in found})
            if found:
                out.execute(insert(tables["assignment"]), found)
            notebooks = {n["id"] for n in copy("notebook", "assignment_id", {a["id"] for a in found})}
            cells = {c["id"] for c in copy("base_cell", "notebook_id", notebooks)}
            for table in ("grade_cells", "solution_cells", "task_cells"):
                copy(table, "id", cells)
            copy("source_cell", "notebook_id", notebooks)
    finally:
        source.dispose()
        dest.dispose()


@dataclass(frozen=True)
class RemoteJob:
    """One submission as it travels to a worker: its notebooks' bytes, not a path."""

    student: str
    assignment: str
    notebooks: tuple[str, ...]
    files: dict[str, bytes]  # the submission folder's notebooks: name -> contents
    device: str  # --device as the TA gave it
    grader: str
    identity: dict[str, str]  # the client's kit_identity(grader)
    preload: tuple[str, ...]
    bundle_digest: str


# -- the worker side ---------------------------------------------------------------------------

_LOCK = threading.Lock()  # one submission at a time per worker process (pytest runs in-process)
_COURSE: dict[str, Any] = {}  # the unpacked course: digest, root, device


def grade_on_worker(task: RemoteJob, bundle: bytes) -> JobOutcome:
    """A Dask task: grade one submission in this worker process, or refuse to."""
    from distributed import get_worker

    from autograder.batch.job import run_job

    worker = get_worker()
    with _LOCK:
        mine = kit_identity(task.grader)
        if mine != task.identity:
            raise WorkerRefused(worker.address, refusal(worker.address, mine, task.identity))
        if multiprocessing.current_process().daemon:
            raise WorkerRefused(worker.address, f"refused Dask worker {worker.address}: it runs as a daemonic "
                                "process, which cannot start the engine's sandboxed workers: start it with "
                                "DASK_DISTRIBUTED__WORKER__DAEMON=False (the kit's venv sets it) or --no-nanny")
        has_gpu = worker.state.total_resources.get("GPU", 0) >= 1
        device = task.device if has_gpu or not Path("/dev/nvidiactl").exists() else "cpu"
        root = _course(bundle, task, device)
        folder = root / "submitted" / task.student / task.assignment
        folder.mkdir(parents=True, exist_ok=True)
        try:
            for name, data in task.files.items():
                (folder / Path(name).name).write_bytes(data)
            outcome = run_job(Job(task.student, task.assignment, str(folder), task.notebooks))
        finally:
            shutil.rmtree(folder.parent, ignore_errors=True)
        outcome.where = worker.address
        return outcome


def executing_keys(dask_worker: Any) -> list[str]:
    """Run by ``Client.run``: the tasks this worker is running now."""
    return [str(ts.key) for ts in dask_worker.state.executing]


def _course(bundle: bytes, task: RemoteJob, device: str) -> Path:
    """The course unpacked and the grader set up for it, once per bundle and device."""
    from autograder.batch.job import init_grader

    if _COURSE.get("digest") != task.bundle_digest:
        old = _COURSE.get("root")
        root = Path(tempfile.mkdtemp(prefix="autograder-course-"))
        atexit.register(shutil.rmtree, root, True)
        with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
            tar.extractall(root, filter="data")
        _COURSE.update(digest=task.bundle_digest, root=root, device=None)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    root = _COURSE["root"]
    if _COURSE["device"] != device:
        init_grader(str(root), device, task.preload, db_url=f"sqlite:///{root / SNAPSHOT}")
        _COURSE["device"] = device
    return root


# -- the client side ---------------------------------------------------------------------------

class DaskExecutor:
    """Submissions as Dask tasks; outcomes as ``concurrent.futures`` futures (see ``executors``)."""

    lost: tuple[type[BaseException], ...] = ()  # Dask re-runs a dead worker's tasks itself

    def __init__(self, scheduler: str, *, root: Path, coursedir: Any, assignment: str, device: str,
                 preload: tuple[str, ...], connect_seconds: float = CONNECT_SECONDS) -> None:
        from distributed import Client

        self.root, self.assignment, self.device, self.preload = root, assignment, device, preload
        self.grader = Assignment.load(assignment, root).grader.name
        self.identity = kit_identity(self.grader)
        try:
            self.client = Client(scheduler, timeout=connect_seconds, set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError for a bad address
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); start one with "
                               "`dask scheduler` and its workers with `dask worker ADDRESS --nthreads 1`") from None
        self._lock = threading.Lock()
        self._pending: dict[Future, Any] = {}  # our future -> the Dask future grading it
        try:
            self.good, self.refused = self._check_workers(scheduler, connect_seconds)
            self.resources = self._route(device)
            bundle = course_bundle(root, coursedir.db_url, assignment, self.grader)
            self.bundle_digest = hashlib.sha256(bundle).hexdigest()
            self.bundle = self.client.scatter(bundle, broadcast=True, hash=False)
        except BaseException:
            self.client.close()
            raise

    def _check_workers(self, scheduler: str, seconds: float) -> tuple[set[str], dict[str, str]]:
        try:
            self.client.wait_for_workers(1, timeout=seconds)
        except Exception:  # noqa: BLE001 - dask's TimeoutError
            raise ClusterError(f"the Dask scheduler at {scheduler} has no workers (waited {seconds:g} s): "
                               "start them with `dask worker ADDRESS --nthreads 1`") from None
        found = self.client.run(kit_identity, self.grader, on_error="return")
        refused = {addr: refusal(addr, theirs, self.identity) for addr, theirs in found.items()
                   if theirs != self.identity}
        for message in refused.values():
            print(f"autograder: {message}", file=sys.stderr, flush=True)
        good = set(found) - set(refused)
        if not good:
            raise ClusterError(f"no worker of the Dask cluster at {scheduler} runs this client's kit: "
                               + "; ".join(refused.values()))
        return good, refused

    def _route(self, device: str) -> dict[str, float] | None:
        """GPU workers get every submission when there are any (so every student's CUDA checks run)."""
        info = self.client.scheduler_info()["workers"]
        gpus = [a for a in self.good if info.get(a, {}).get("resources", {}).get("GPU", 0) >= 1]
        if device == "cuda" and not gpus:
            raise ClusterError("--device cuda, but no worker of the cluster declares a GPU: start GPU workers "
                               "with `dask worker ADDRESS --nthreads 1 --resources GPU=1`")
        return {"GPU": 1} if gpus and device != "cpu" else None

    def submit(self, job: Job) -> Future[JobOutcome]:
        folder = Path(job.folder)
        files = {p.name: p.read_bytes() for p in sorted(folder.glob("*.ipynb")) if p.is_file()}
        task = RemoteJob(job.student, job.assignment, job.notebooks, files, self.device, self.grader,
                         self.identity, self.preload, self.bundle_digest)
        bridge: Future[JobOutcome] = Future()
        self._send(task, job, bridge, 0)
        return bridge

    def _send(self, task: RemoteJob, job: Job, bridge: Future, attempt: int) -> None:
        with self._lock:
            workers = sorted(self.good) if self.refused else None
        # One task group ("grade"), so that the scheduler queues the batch and hands tasks out as
        # workers free up (or join), rather than assigning them all at once.
        remote = self.client.submit(grade_on_worker, task, self.bundle, key=f"grade-{uuid.uuid4().hex}",
                                    pure=False, resources=self.resources, workers=workers,
                                    allow_other_workers=False)
        with self._lock:
            self._pending[bridge] = remote
        remote.add_done_callback(lambda f: self._done(f, task, job, bridge, attempt))

    def _done(self, remote: Any, task: RemoteJob, job: Job, bridge: Future, attempt: int) -> None:
        """In Dask's callback thread: hand the outcome over, or send the task again."""
        from distributed import KilledWorker

        try:
            outcome = remote.result()
        except WorkerRefused as exc:
            with self._lock:
                new = exc.address not in self.refused
                self.refused[exc.address] = exc.message
                self.good.discard(exc.address)
                retry = bool(self.good) and attempt < 3
            if new:
                print(f"autograder: {exc.message}", file=sys.stderr, flush=True)
            if retry:
                self._send(task, job, bridge, attempt + 1)
                return
            outcome = JobOutcome(task.student, [], 0.0, error=f"no worker of the cluster could grade it ({exc})")
        except KilledWorker as exc:
            outcome = JobOutcome(task.student, [], 0.0, error="the grading worker died while grading this "
                                 f"submission, on {exc.allowed_failures + 1} workers in turn (out of memory?)")
        except (CancelledError, KeyboardInterrupt):
            return
        except Exception as exc:  # noqa: BLE001 - one submission never takes down the batch
            outcome = JobOutcome(task.student, [], 0.0, error=f"could not grade on the cluster: {exc!r}")
        for nb in outcome.notebooks:  # where this notebook is in the client's course, as the local pool says
            nb.result.setdefault("extra_data", {})["notebook"] = os.path.relpath(
                Path(job.folder) / f"{nb.notebook}.ipynb", self.root)
        with self._lock:
            self._pending.pop(bridge, None)
            if bridge.cancelled():  # Ctrl-C came first: not stored, graded again next time
                return
            bridge.set_running_or_notify_cancel()
        bridge.set_result(outcome)

    def stop_waiting(self, futures: Iterable[Future[JobOutcome]]) -> None:
        """Cancel every task that no worker is running now (one assigned but waiting is cancelled)."""
        try:
            found = self.client.run(executing_keys, on_error="return")
            busy = {key for keys in found.values() if isinstance(keys, list) for key in keys}
        except Exception:  # noqa: BLE001 - the scheduler is gone: nothing more will come
            busy = set()
        for bridge in futures:
            with self._lock:
                remote = self._pending.get(bridge)
                if remote is None or remote.key in busy or not bridge.cancel():
                    continue
                bridge.set_running_or_notify_cancel()  # what wait() sees: cancelled and done
            remote.cancel()

    def close(self, now: bool) -> None:
        with self._lock:
            remote = list(self._pending.values())
            self._pending.clear()
        try:
            if remote:
                self.client.cancel(remote, force=True)
        finally:
            self.client.close(timeout=2 if now else 10)
