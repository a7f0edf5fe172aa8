"""``autograder autograde --scheduler``: grading on a real Dask cluster on loopback.

A ``dask scheduler`` and ``dask worker`` processes (subprocesses of this test, on 127.0.0.1,
from this venv), exactly as a TA would start them. Each test starts the workers it needs and
stops them, the scheduler and every process they started, however it ends.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from autograder.assignment import PACKAGE_DIR
from autograder.corpus import cases
from tests.batch_helpers import ASSIGNMENT, AUTOGRADE, answered, autograde, hand_in, results, sqlite_url, stored
from tests.course_helpers import make_course, run

WRONG = cases("linreg_scratch").WRONG

pytestmark = pytest.mark.slow

DASK = str(Path(sys.executable).parent / "dask")
WRONG_SGD = {c.name: c for c in WRONG}["sgd does not divide by batch_size"].cells
CRASH = {"sgd": "import os\n\ndef sgd(params, lr, batch_size):\n    os._exit(3)\n"}
STUDENTS = {"ada": answered(), "ben": answered(WRONG_SGD), "cyd": answered(CRASH), "dee": '{"cells": [',
            "eve": answered(), "fay": answered(WRONG_SGD)}
TIMING = ("execution_time", "seconds", "worker")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """The process and everything it started (its own session: fork server, sandboxed workers)."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue


def wait_for(scheduler: str, count: int, seconds: float = 120) -> None:
    from distributed import Client

    with Client(scheduler, timeout=30) as client:
        client.wait_for_workers(count, timeout=seconds)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("dask") / "scheduler.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"tcp://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield address
    finally:
        stop(proc)
        log.close()


@contextmanager
def workers(scheduler: str, folder: Path, *specs: dict):
    """``dask worker`` processes; a spec may give ``resources``, an ``env`` and ``nanny`` (as a TA
    starts them; without it the worker process is the one to kill). Yields addresses and processes."""
    procs, addresses = [], []
    try:
        for i, spec in enumerate(specs):
            port = free_port()
            cmd = [DASK, "worker", scheduler, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                   "--worker-port", str(port), "--local-directory", str(folder / f"w{i}")]
            if not spec.get("nanny"):
                cmd.append("--no-nanny")
            if spec.get("resources"):
                cmd += ["--resources", spec["resources"]]
            log = open(folder / f"worker{i}.log", "w")  # noqa: SIM115 - the process holds it
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=folder,
                                          env={**os.environ, **spec.get("env", {})}, start_new_session=True))
            log.close()
            addresses.append(f"tcp://127.0.0.1:{port}")
        wait_for(scheduler, len(specs))
        yield addresses, procs
    finally:
        for proc in procs:
            stop(proc)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("cluster"), [ASSIGNMENT])
    run(["generate_assignment", ASSIGNMENT, "--force"], course)
    for student, nb in STUDENTS.items():
        hand_in(course, student, nb)
    return course


def copy_of(course: Path, tmp_path: Path, name: str) -> Path:
    return shutil.copytree(course, tmp_path / name)


def comparable(result: dict) -> dict:
    """A results.json without what depends on time and on which worker graded it."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in TIMING}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return strip(result)


def test_cluster_grades_exactly_like_the_local_pool(scheduler, course, tmp_path):
    local, remote = copy_of(course, tmp_path, "local"), copy_of(course, tmp_path, "remote")
    proc = autograde(local, "--jobs", "2")
    assert proc.returncode == 1, proc.stderr[-3000:]
    with workers(scheduler, tmp_path, {"nanny": True}, {"nanny": True}) as (addresses, _):
        proc = autograde(remote, "--scheduler", scheduler)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert f"graded {len(STUDENTS)}, already graded 0; needs a human: 1 of {len(STUDENTS)}" in proc.stdout  # dee
    used = {results(remote, s)["extra_data"]["batch"]["worker"] for s in STUDENTS}
    assert used == set(addresses)  # both workers graded, and nothing else did
    for student in STUDENTS:
        assert comparable(results(remote, student)) == comparable(results(local, student)), student
        nb = f"autograded/{student}/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
        assert (remote / nb).exists() == (local / nb).exists(), student
        if (local / nb).exists():
            assert (remote / nb).read_text() == (local / nb).read_text(), student
    assert stored(sqlite_url(remote)) == stored(sqlite_url(local))
    assert results(remote, "ada")["score"] == 100 and results(remote, "dee")["score"] == 0
    # Resumable as with the local pool: nothing changed, nothing graded again.
    with workers(scheduler, tmp_path, {}) as _:
        proc = autograde(remote, "--scheduler", scheduler)
    assert f"graded 0, already graded {len(STUDENTS)}" in proc.stdout, proc.stdout + proc.stderr[-2000:]


def test_a_worker_killed_mid_batch_loses_nothing(scheduler, course, tmp_path):
    remote = copy_of(course, tmp_path, "remote")
    with workers(scheduler, tmp_path, {}, {}) as (addresses, procs):
        batch = subprocess.Popen([*AUTOGRADE, "--scheduler", scheduler], cwd=remote, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        try:
            students = remote / "reports" / ASSIGNMENT / "students"
            deadline = time.monotonic() + 300
            while not list(students.glob("*/results.json")) and time.monotonic() < deadline:
                time.sleep(0.1)
            first = json.loads(next(students.glob("*/results.json")).read_text())
            victim = addresses.index(first["extra_data"]["batch"]["worker"])  # it is busy with the next one
            os.killpg(procs[victim].pid, signal.SIGKILL)
            out, err = batch.communicate(timeout=600)
        finally:
            if batch.poll() is None:
                batch.kill()
                batch.wait()
    assert batch.returncode == 1, out + err[-3000:]
    assert f"graded {len(STUDENTS)}, already graded 0; needs a human: 1 of {len(STUDENTS)}" in out, out + err[-3000:]
    survivor = addresses[1 - victim]
    graded_by = {s: results(remote, s)["extra_data"]["batch"]["worker"] for s in STUDENTS}
    assert list(graded_by.values()).count(survivor) >= len(STUDENTS) - 2, graded_by
    gradebook = stored(sqlite_url(remote))
    assert set(gradebook) == set(STUDENTS)
    from nbgrader.api import Gradebook

    with Gradebook(sqlite_url(remote), "d2l") as gb:  # each submission stored once
        assert len(gb.find_assignment(ASSIGNMENT).submissions) == len(STUDENTS)
    assert results(remote, "ada")["score"] == 100 and results(remote, "eve")["score"] == 100


def test_a_worker_with_another_suite_is_refused(scheduler, course, tmp_path):
    # The same kit, but one hidden test changed: the suite digest differs.
    other = tmp_path / "other-kit"
    shutil.copytree(PACKAGE_DIR, other / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PACKAGE_DIR.parent / "graders", other / "graders", ignore=shutil.ignore_patterns("__pycache__"))
    suite_file = other / "graders" / ASSIGNMENT / "suite" / "test_sgd.py"
    suite_file.write_text(suite_file.read_text() + "\n# a changed hidden test\n")
    changed = {"env": {"PYTHONPATH": str(other)}}
    with workers(scheduler, tmp_path, changed) as _:
        proc = autograde(copy_of(course, tmp_path, "only-changed"), "--scheduler", scheduler, timeout=300)
        assert proc.returncode == 2, proc.stdout + proc.stderr[-3000:]
        assert "no worker of the Dask cluster" in proc.stderr and f"assignment folder {ASSIGNMENT}" in proc.stderr
        assert "graded" not in proc.stdout
        with workers(scheduler, tmp_path, {}) as (good, _):
            remote = copy_of(course, tmp_path, "mixed")
            proc = autograde(remote, "--scheduler", scheduler, "--student", "[abc]*")
    # The class report is the whole class: the three left out of this run are not graded yet.
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert "refused Dask worker" in proc.stderr and f"assignment folder {ASSIGNMENT}" in proc.stderr
    assert "graded 3, already graded 0; needs a human: 3 of 6" in proc.stdout
    assert {results(remote, s)["extra_data"]["batch"]["worker"] for s in "ada ben cyd".split()} == set(good)


def test_gpu_checks_go_only_to_gpu_workers(scheduler, course, tmp_path):
    remote = copy_of(course, tmp_path, "remote")
    with workers(scheduler, tmp_path, {"resources": "GPU=1"}, {}) as (addresses, _):
        proc = autograde(remote, "--scheduler", scheduler, "--student", "[abe]*")
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]  # the other three: not graded yet
    assert "graded 3, already graded 0; needs a human: 3 of 6" in proc.stdout
    gpu_worker = addresses[0]
    for student in ("ada", "ben", "eve"):
        result = results(remote, student)
        assert result["extra_data"]["batch"]["worker"] == gpu_worker, student  # the CPU worker took none
        cuda = [t for t in result["tests"] if "CUDA device" in t["name"]]
        # This machine has no GPU: the checks run on the GPU worker and are skipped there, as today.
        assert cuda and all("status" not in t and t["score"] == 0 and "no CUDA device" in t["output"] for t in cuda)


def test_an_unreachable_scheduler_is_a_clear_error(course, tmp_path):
    proc = autograde(copy_of(course, tmp_path, "remote"), "--scheduler", f"tcp://127.0.0.1:{free_port()}",
                     timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr[-3000:]
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ctrl_c_on_the_client_keeps_the_gradebook_consistent(scheduler, course, tmp_path):
    remote = copy_of(course, tmp_path, "remote")
    reports = remote / "reports" / ASSIGNMENT / "students"
    with workers(scheduler, tmp_path, {}) as _:
        proc = subprocess.Popen([*AUTOGRADE, "--scheduler", scheduler], cwd=remote, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while not list(reports.glob("*/results.json")) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the client's terminal; the workers are elsewhere
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 130, out + err[-3000:]
        done = sorted(p.parent.name for p in reports.glob("*/results.json"))
        assert 1 <= len(done) < len(STUDENTS)
        assert sorted(stored(sqlite_url(remote))) == done  # every stored submission complete
        proc = autograde(remote, "--scheduler", scheduler)
    assert f"graded {len(STUDENTS) - len(done)}, already graded {len(done)}" in proc.stdout, proc.stdout + proc.stderr
    assert sorted(stored(sqlite_url(remote))) == sorted(STUDENTS)


def test_watch_grades_on_the_cluster_too(scheduler, tmp_path):
    """``autograder watch --scheduler``: a submission from the exchange is graded by a Dask worker
    and its page comes back through nbgrader's feedback exchange, as with the local pool."""
    from autograder.watch import watch
    from tests.test_watch import fetched_pages, submit

    folder = tmp_path / "watched"
    course = make_course(folder, [ASSIGNMENT])
    run(["generate_assignment", ASSIGNMENT, "--force"], course)
    run(["release_assignment", ASSIGNMENT], course)
    submit(folder, "ada", {})
    with workers(scheduler, tmp_path, {}):
        summary = watch(ASSIGNMENT, course_root=course, once=True, device="cpu", scheduler=scheduler,
                        log=lambda _: None)
    assert summary.line() == "graded 1 new, 0 already done"
    page = next(iter(fetched_pages(folder, "ada").values()))
    assert "Autograded: <strong>100 / 100</strong>" in page
    assert not (course / "autograded").exists()  # never final grades
