"""One fork server for a whole batch: the grading processes forked by the batch's parent use it.

Each check runs in a fresh interpreter (the fork server is per-process state), which prints
what it saw as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder.engine import sandbox

SCRIPT = r"""
import json, multiprocessing, os, sys
from multiprocessing import forkserver

import psutil

from autograder.engine import student

def is_server(proc):
    try:
        return proc.cmdline()[-1].startswith("from multiprocessing.forkserver import main")
    except (psutil.Error, IndexError):
        return False

def servers():  # fork servers below this process (not the workers they forked, which look the same)
    return sorted(p.pid for p in psutil.Process().children(recursive=True)
                  if is_server(p) and not is_server(p.parent()))

student.share_fork_server(())
mode = student.choose_mode(student.Limits.from_env())  # the canary, in the trusted parent
shared = forkserver._forkserver._forkserver_address

def child(queue, go):
    server = forkserver._forkserver
    seen = {"pid": server._forkserver_pid, "same_address": server._forkserver_address == shared,
            "verdict": sorted(map(str, student._CHOSEN.values()))}
    student.warm_up(())  # an inherited server is checked by its pipe: no waitpid, no second server
    worker = student.Student(setup="x = 1", cells=[])
    worker.close(start=True)  # a worker forked by the parent's server, in the inherited mode
    seen.update(mode=worker.mode, still_same=server._forkserver_address == shared)
    queue.put(seen)
    go.wait(60)  # the parent stops its server meanwhile
    student.warm_up(())  # gone: this process starts its own
    worker = student.Student(setup="x = 1", cells=[])
    worker.close(start=True)
    queue.put({"own_server": server._forkserver_pid is not None and server._forkserver_address != shared})
    student.shutdown()

ctx = multiprocessing.get_context("fork")
queue, go = ctx.Queue(), ctx.Event()
proc = ctx.Process(target=child, args=(queue, go))
proc.start()
first = queue.get(timeout=120)
during = servers()
student.shutdown()
go.set()
second = queue.get(timeout=120)
proc.join(60)
print(json.dumps({"mode": mode, "first": first, "servers_while_shared": len(during), "second": second,
                  "exitcode": proc.exitcode, "left": len(servers())}))
"""


@pytest.fixture(scope="module")
def shared():
    mode, why = sandbox.preflight("auto")
    if mode is None:
        pytest.skip(f"no isolating sandbox on this machine: {why}")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_forked_grading_process_uses_the_parents_fork_server(shared):
    first = shared["first"]
    assert first["pid"] is None  # not its child: it never waits for it nor kills it
    assert first["same_address"] and first["still_same"]
    assert shared["servers_while_shared"] == 1  # the parent's, and no other


def test_the_parents_canary_verdict_is_inherited(shared):
    assert shared["first"]["verdict"] == [shared["mode"]]
    assert shared["first"]["mode"] == shared["mode"]


def test_a_grading_process_starts_its_own_when_the_shared_one_is_gone(shared):
    assert shared["second"]["own_server"]
    assert shared["exitcode"] == 0
    assert shared["left"] == 0  # each stopped its own
