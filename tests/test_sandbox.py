"""The sandbox's parts, without grading: limits, what the worker sees, killing process trees,
failure reporting, and the review flags. The end-to-end attacks are in ``test_hostile.py``."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from autograder.corpus import ROOT, cases, solved_cells
from autograder.engine import sandbox, student
from autograder.engine.review import review_flags
from autograder.engine.runner import GradingRun
from autograder.engine.student import Limits, SandboxUnavailable, Student

SCRATCH_PROBES = str(ROOT / "graders" / "linreg_scratch" / "probes.py")
RIGHT = cases("linreg_scratch").RIGHT
WRONG = cases("linreg_scratch").WRONG


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("AUTOGRADER_LIMITS", '{"probe_seconds": 2.5}')
    monkeypatch.setenv("AUTOGRADER_SANDBOX", "rlimits")
    limits = Limits.from_env()
    assert (limits.probe_seconds, limits.sandbox, limits.load_seconds) == (2.5, "rlimits", Limits().load_seconds)
    monkeypatch.setenv("AUTOGRADER_LIMITS", '{"probe_secs": 2}')
    with pytest.raises(ValueError, match="unknown limits"):
        Limits.from_env()
    monkeypatch.setenv("AUTOGRADER_LIMITS", "{}")
    monkeypatch.setenv("AUTOGRADER_SANDBOX", "chroot")
    with pytest.raises(ValueError, match="unknown sandbox mode"):
        Limits.from_env()


def test_auto_only_ever_picks_an_isolating_mode():
    assert sandbox.candidates("auto") == (["namespaces"] if os.geteuid() == 0 else ["userns"])
    assert sandbox.candidates("rlimits") == ["rlimits"]  # weaker isolation only when asked for by name
    assert sandbox.describe("rlimits")["weaker"] and not sandbox.describe("namespaces")["weaker"]


def test_the_worker_sees_the_python_environment_and_its_probes_but_not_the_kit():
    package = ROOT / "autograder"
    scratch_probes = ROOT / "graders" / "linreg_scratch" / "probes.py"
    files = [str(package / "engine" / "worker.py"), str(scratch_probes)]
    spec = {"sandbox": {"private": [str(ROOT), str(Path.home()), "/tmp/somewhere/submitted/alice"],
                        "package_dir": str(package), "files": files}}
    shown, covered, kit_files = sandbox.visible_paths(spec)
    assert sys.prefix in shown or any(sys.prefix.startswith(s + "/") for s in shown)
    assert kit_files == sorted(files)
    assert not any(str(package) == s or str(package).startswith(s + "/") for s in shown), shown
    assert not any(str(ROOT) == s or str(ROOT).startswith(s + "/") for s in shown if s != "/"), shown
    assert "/" not in shown and "/tmp" not in shown
    probes = Student(setup="", cells=[], probes=str(scratch_probes))._sandbox_spec()["files"]
    assert str(scratch_probes) in probes
    assert not [f for f in probes if "suite" in f or "corpus" in f or "variants" in f or "hints" in f
                or "linreg_concise" in f]


def marked(token: str) -> list[int]:
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                stat = Path(f"/proc/{pid}/stat").read_bytes()
                if stat.rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X"):
                    pids.append(int(pid))
        except (OSError, IndexError):
            pass
    return pids


def test_kill_tree_gets_children_that_left_the_process_group():
    """A subreaper's tree, with double-forked children in their own sessions, dies whole."""
    token = f"tree-{secrets.token_hex(4)}"
    script = textwrap.dedent(f"""
        import ctypes, os, subprocess, sys, time
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # a subreaper, like the sandbox's supervisor
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "{token}"],
                                 start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", "{token}"])
            os._exit(0)
        print("ready", flush=True)
        time.sleep(60)
    """)
    root = subprocess.Popen([sys.executable, "-c", script, token], stdout=subprocess.PIPE, text=True)
    try:
        assert root.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        # The root and its two sleepers (the middle child of the double fork may still be exiting).
        sleepers = lambda: marked(f"import time; time.sleep(60)\0{token}")  # noqa: E731
        while len(sleepers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(sleepers()) == 2 and root.pid in marked(token)
        sandbox.kill_tree(root.pid)
        root.wait(10)
        deadline = time.monotonic() + 5
        while marked(token) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marked(token) == []
    finally:
        for pid in marked(token):
            os.kill(pid, 9)


@pytest.mark.skipif(sandbox.check_mode("namespaces" if os.geteuid() == 0 else "userns") is not None,
                    reason="no namespace sandbox on this machine")
def test_a_mode_that_breaks_after_it_started_is_reported(monkeypatch, tmp_path):
    """Past unshare there is no way back: enter() raises SandboxFailed, never runs code half-sandboxed."""
    mode = "namespaces" if os.geteuid() == 0 else "userns"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        try:
            monkeypatch.setattr(sandbox, "_build_root", lambda *a: (_ for _ in ()).throw(OSError(5, "broken")))
            sandbox.enter({"workdir": str(tmp_path), "limits": {},
                           "sandbox": {"mode": mode, "private": [], "package_dir": "/nonexistent"}})
            os.write(write, b"returned")
        except sandbox.SandboxFailed as exc:
            os.write(write, f"failed {exc.mode}: {exc}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        message = f.read()
    os.waitpid(pid, 0)
    assert message == f"failed {mode}: the {mode} sandbox could not be set up: [Errno 5] broken"


def test_no_isolating_mode_refuses_and_says_how_to_opt_in(monkeypatch):
    monkeypatch.setattr(student, "_CHOSEN", {})
    monkeypatch.setattr(sandbox, "candidates", lambda requested: ["userns"] if os.geteuid() == 0 else ["bogus"])
    with pytest.raises(SandboxUnavailable, match="AUTOGRADER_SANDBOX=rlimits"):
        student.choose_mode(Limits(sandbox="auto"))
    with pytest.raises(SandboxUnavailable, match="AUTOGRADER_SANDBOX=rlimits"):  # decided once: the same answer
        student.choose_mode(Limits(sandbox="auto"))


def test_a_mode_that_fails_for_one_submission_fails_closed(monkeypatch):
    """No fallback: that submission's worker does not start, the mode chosen for the others stays."""
    monkeypatch.setattr(student, "_CHOSEN", {})
    mode = student.choose_mode(Limits())
    assert mode == sandbox.candidates("auto")[0]
    chosen = dict(student._CHOSEN)

    real_spec = Student._sandbox_spec

    def broken(self):  # the worker is asked for a mode whose set-up fails there
        return {**real_spec(self), "mode": "unknown-mode"}

    victim = Student(setup="import torch\n", cells=[], probes=SCRATCH_PROBES)
    monkeypatch.setattr(Student, "_sandbox_spec", broken)
    with pytest.raises(SandboxUnavailable, match="unknown mode"):
        victim.probe("environment")
    assert victim.sandbox["mode"] == mode  # what the trusted side asked for, never something weaker
    victim.close()
    assert student._CHOSEN == chosen


def _probes_that_fail(folder: Path, times: int) -> str:
    """A probes file whose import (in the worker, before its sandbox) fails the first ``times`` times."""
    probes = folder / "probes.py"
    probes.write_text(textwrap.dedent(f"""\
        from pathlib import Path
        _count = Path({str(folder / "count")!r})
        failed = int(_count.read_text()) if _count.exists() else 0
        if failed < {times}:
            _count.write_text(str(failed + 1))
            raise RuntimeError("the machine hiccuped")
        """))
    return str(probes)


def test_a_worker_that_fails_before_student_code_ran_is_started_again(tmp_path):
    """Nothing of the student's ran in it, so a passing failure of the set-up costs a retry, not a grade."""
    worker = Student(setup="import torch\n", cells=[], probes=_probes_that_fail(tmp_path, times=2))
    try:
        assert worker.probe("environment")["torch"]
    finally:
        worker.close()
    assert (tmp_path / "count").read_text() == "2"


def test_a_set_up_that_keeps_failing_fails_closed_and_says_why(tmp_path):
    worker = Student(setup="import torch\n", cells=[], probes=_probes_that_fail(tmp_path, times=99))
    try:
        with pytest.raises(SandboxUnavailable, match=r"setting up its sandbox \(RuntimeError: the machine hiccuped\)"):
            worker.probe("environment")
    finally:
        worker.close()
    assert (tmp_path / "count").read_text() == str(student.SANDBOX_START_TRIES)


def test_a_worker_does_not_run_the_graders_main_module_again(tmp_path):
    """Under ``python -m autograder.cli``, multiprocessing would re-run the CLI module in each worker."""
    probes = tmp_path / "probes.py"
    probes.write_text(textwrap.dedent("""\
        import sys

        def probe_mains(ns):
            return {"ran": any("GRADING_MAIN_RAN" in getattr(m, "__dict__", {}) for m in list(sys.modules.values()))}
        """))
    (tmp_path / "grading_main.py").write_text(textwrap.dedent(f"""\
        from autograder.engine.student import Student

        GRADING_MAIN_RAN = True
        if __name__ == "__main__":
            worker = Student(setup="", cells=[], probes={str(probes)!r})
            print(worker.probe("mains")["ran"])
            worker.close()
        """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    run = subprocess.run([sys.executable, "-m", "grading_main"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "False"


def test_student_code_runs_with_the_garbage_collector_on(tmp_path):
    """The fork server imports torch with the collector off (engine/worker.py); a worker turns it
    back on, so that a submission's reference cycles are freed as in any Python."""
    probes = tmp_path / "probes.py"
    probes.write_text(textwrap.dedent("""\
        import gc
        import weakref

        def probe_collector(ns):
            class Node:
                pass
            a, b = Node(), Node()
            a.other, b.other = b, a  # a cycle: only the collector frees it
            gone = weakref.ref(a)
            del a, b
            kept = [Node() for _ in range(5000)]  # enough new objects to start a collection on their own
            return {"enabled": gc.isenabled(), "collected": gone() is None and len(kept) == 5000}
        """))
    worker = Student(setup="", cells=[], probes=str(probes))
    try:
        assert worker.probe("collector") == {"enabled": True, "collected": True}
    finally:
        worker.close()


def test_a_batch_pauses_the_collector_only_until_its_pool_starts():
    import gc

    from autograder.batch.speed import pause_collector, resume_collector

    assert gc.isenabled()
    pause_collector()
    assert not gc.isenabled()
    pause_collector()  # a second pause changes nothing
    resume_collector()
    assert gc.isenabled()
    gc.disable()  # off by someone else's choice: resume leaves it so
    try:
        pause_collector()
        resume_collector()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_sandbox_problem_is_the_tas_not_the_students():
    plugin = GradingRun(Student(setup="", cells=[]), None, "cpu")

    class Info:
        value = SandboxUnavailable("the userns sandbox could not be set up")

    text = plugin._explain(Info(), ["sgd"])
    assert "not a verdict on your code" in text
    assert plugin.errors == ["the userns sandbox could not be set up"]


def test_review_flags_leave_honest_code_alone():
    cells = [(g, s) for case in WRONG + RIGHT for g, s in case.cells.items()]
    assert review_flags(list(solved_cells("linreg_scratch").items()) + cells) == []
    hack = "import sys\nsys.modules['assignment_probes'].describe = lambda x: {}\n"
    assert review_flags([("sgd", hack)]) == ["sgd: reaches into the grader's modules"]


def userns_for_nobody() -> str | None:
    """Whether an unprivileged user could use the userns mode here (None), or why not."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.setgroups([])
        os.setresgid(sandbox.NOBODY, sandbox.NOBODY, sandbox.NOBODY)
        os.setresuid(sandbox.NOBODY, sandbox.NOBODY, sandbox.NOBODY)
        sandbox._prctl(4, 1)  # PR_SET_DUMPABLE, as a process an unprivileged user starts is
        os.write(write, (sandbox.check_mode("userns") or "").encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        problem = f.read()
    os.waitpid(pid, 0)
    return problem or None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become an unprivileged user for the test")
@pytest.mark.skipif(os.geteuid() == 0 and userns_for_nobody() is not None, reason="no user namespaces here")
def test_userns_mode_works_for_an_unprivileged_user(monkeypatch):
    """CI runs as root; here a forked child becomes ``nobody`` and sets up the userns sandbox
    exactly as a TA without root would, then checks what its sandboxed child can do."""
    import encodings.idna  # noqa: F401 - socket needs it, and the restricted view below hides Python's library
    import socket
    import tempfile

    workdir = tempfile.mkdtemp(prefix="autograder-test-")
    os.chown(workdir, sandbox.NOBODY, sandbox.NOBODY)
    secret = ROOT / "graders" / "linreg_scratch" / "suite" / "test_sgd.py"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, then the sandboxed grandchild
        os.close(read)
        try:
            os.setgroups([])
            os.setresgid(sandbox.NOBODY, sandbox.NOBODY, sandbox.NOBODY)
            os.setresuid(sandbox.NOBODY, sandbox.NOBODY, sandbox.NOBODY)
            # Changing uid made this process non-dumpable (its /proc files stay root's); a process
            # an unprivileged user starts is dumpable, as here from now on.
            sandbox._prctl(4, 1)  # PR_SET_DUMPABLE
            # nobody cannot reach this machine's Python (under /root), so show only system folders.
            monkeypatch.setattr(sandbox, "visible_paths", lambda spec: (["/usr", "/bin", "/lib", "/lib64"], [], []))
            box = sandbox.enter({"workdir": workdir, "limits": {"processes": 64},
                                 "sandbox": {"mode": "userns", "private": [], "package_dir": "/nonexistent"}},
                                keep_fds=(write,))
            seen = [f"mode={box}", f"uid={os.getuid()}", f"cwd={os.getcwd() == workdir}",
                    f"pids={sorted(p for p in os.listdir('/proc') if p.isdigit())}",
                    f"suite={os.path.exists(secret)}", f"tmp={os.listdir('/tmp')}"]
            open_fds = []
            for fd in range(3, 1024):
                try:
                    os.fstat(fd)
                    open_fds.append(fd)
                except OSError:
                    pass
            seen.append(f"others={[fd for fd in open_fds if fd != write]}")
            try:
                socket.create_connection(("127.0.0.1", 9), timeout=1)
            except OSError as exc:
                seen.append(f"net={exc.errno}")
            try:
                open("/usr/hostile", "w")
            except OSError as exc:
                seen.append(f"usr={exc.errno}")
            os.write(write, " ".join(seen).encode())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            os.write(write, f"error {exc!r}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        seen = f.read()
    os.waitpid(pid, 0)
    assert not os.path.exists(workdir), "the supervisor removes the worker's folder"
    import errno

    assert seen == (f"mode=userns uid=0 cwd=True pids=['1'] suite=False tmp=['{os.path.basename(workdir)}'] "
                    f"others=[] net={errno.ENETUNREACH} usr={errno.EROFS}")


def test_grading_recovers_when_the_fork_server_is_killed():
    """The worker's parent is the fork server; the sandbox keeps it out of the student's reach,
    and were it to die anyway, the next worker starts from a new one."""
    import signal
    from multiprocessing import forkserver

    from autograder.assignment import Assignment

    asg = Assignment.load("linreg_scratch")
    make = lambda: Student(setup=asg.setup_code(), cells=asg.solution_cells(),  # noqa: E731
                           probes=str(asg.grader.probes_file))
    first = make()
    try:
        assert first.probe("environment")["torch"]
        old = forkserver._forkserver._forkserver_pid
        os.kill(old, signal.SIGKILL)
    finally:
        first.close()
    second = make()
    try:
        assert second.probe("environment")["torch"]
        assert forkserver._forkserver._forkserver_pid != old
    finally:
        second.close()


@pytest.mark.parametrize("mode", ["auto", "rlimits"])
def test_nothing_outlives_a_grader_that_is_killed(tmp_path, mode):
    """The grading process dies (SIGKILL) while a cell sleeps forever: the worker's processes
    and folder go too (the fork server exits with the grader; each supervisor then cleans up)."""
    if mode == "rlimits" and sandbox.check_mode("rlimits"):
        pytest.skip(f"the rlimits mode refuses here: {sandbox.check_mode('rlimits')}")
    token = secrets.token_hex(4)
    cell = ("import ctypes, time\nctypes.CDLL(None).prctl(15, b'hst" + token + "', 0, 0, 0)\n"
            "time.sleep(600)\n")
    script = textwrap.dedent(f"""
        from autograder.assignment import Assignment
        from autograder.engine.student import Limits, Student, warm_up
        if __name__ == "__main__":
            asg = Assignment.load("linreg_scratch")
            warm_up()
            Student(setup=asg.setup_code(), cells=[("sgd", {cell!r})], probes=str(asg.grader.probes_file),
                    limits=Limits(load_seconds=600, sandbox={mode!r})).probe("environment")
    """)
    (tmp_path / "grader.py").write_text(script)
    host_tmp = tmp_path / "tmp"
    host_tmp.mkdir()
    grader = subprocess.Popen([sys.executable, str(tmp_path / "grader.py")], cwd=ROOT,
                              env={**os.environ, "TMPDIR": str(host_tmp)})

    def sleeping_cells() -> list[str]:
        found = []
        for p in filter(str.isdigit, os.listdir("/proc")):
            try:
                if Path(f"/proc/{p}/comm").read_text().strip() == f"hst{token}":
                    found.append(p)
            except OSError:  # it ended while we looked
                pass
        return found

    try:
        deadline = time.monotonic() + 60
        while not sleeping_cells() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sleeping_cells(), "the cell never started"
        assert any(p.name.startswith("autograder-worker-") for p in host_tmp.iterdir())
        grader.kill()
        grader.wait()
        def worker_folders() -> list[str]:  # (multiprocessing's own pymp-* folder is left by the kill)
            return [p.name for p in host_tmp.iterdir() if p.name.startswith("autograder-worker-")]

        deadline = time.monotonic() + 15
        while (sleeping_cells() or worker_folders()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sleeping_cells() == []
        assert worker_folders() == []
    finally:
        grader.kill()
        for pid in sleeping_cells():
            os.kill(int(pid), 9)


def test_the_nbgrader_exchange_is_hidden_from_workers():
    """Every student's submissions and feedback pass through the exchange: never shown to a worker."""
    from traitlets.config import Config

    from autograder.nbgrader_plugin import exchange_root

    spec = Student(setup="", cells=[], probes=SCRATCH_PROBES,
                   private=["/srv/course/exchange"])._sandbox_spec()
    assert {"/usr/local/share/nbgrader/exchange", "/srv/course/exchange"} <= set(spec["private"])
    config = Config()
    assert exchange_root(config) == "/usr/local/share/nbgrader/exchange"  # nbgrader's default
    config.Exchange.root = "/srv/course/exchange"
    assert exchange_root(config) == "/srv/course/exchange"
    shown, covered, _ = sandbox.visible_paths({"sandbox": {**spec, "private": ["/usr/share"]}})
    assert "/usr/share" in covered  # a private folder inside a shown one is covered


def _probe_in_a_fork() -> str:
    from autograder.assignment import Assignment

    asg = Assignment.load("linreg_scratch")
    child = Student(setup=asg.setup_code(), cells=asg.solution_cells(), probes=str(asg.grader.probes_file))
    try:
        return child.probe("environment")["torch"]
    finally:
        child.close()


def test_a_forked_grading_process_starts_its_own_fork_server():
    """The batch and ``watch`` fork their grading processes: one forked from a process whose fork
    server is running must not use (or wait on) its parent's, which is not its child."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    assert _probe_in_a_fork()  # this process now has a fork server
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        assert pool.submit(_probe_in_a_fork).result(timeout=300)
