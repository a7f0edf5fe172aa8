"""The trusted side's handle on a submission: a proxy to a sandboxed worker process.

Suites call ``student.probe("NAME", x=...)`` (the assignment's ``probe_NAME``) and get plain data back, or
one of two exceptions: ``StudentError`` (the student's code raised) or ``WorkerFault`` (it
hung, crashed, exited, or wrote on the channel). After a fault the worker is replaced, so one
broken function costs only its own tests.

The trust boundary (README: threat model). The sandbox mode is chosen here, once per process,
by a canary worker that runs no student code (``choose_mode``), and every worker of every
submission gets exactly that mode; nothing a worker sends can change it or what a result says
about it (``sandbox.describe``). Once student code may have run, the channel carries only
replies to this side's requests, each checked against the request it answers; anything else
is a ``ChannelViolation``: the running check fails, the worker is replaced, and the
submission's result records it for the TA.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import multiprocessing
import os
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from multiprocessing import forkserver, resource_tracker
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, NoReturn

from autograder.engine import sandbox
from autograder.engine.processes import without_main_reimport
from autograder.engine.protocol import MAX_MESSAGE_BYTES, ProtocolError, decode, encode

PACKAGE_DIR = Path(__file__).resolve().parents[1]
LIMITS_ENV = "AUTOGRADER_LIMITS"
SANDBOX_ENV = "AUTOGRADER_SANDBOX"
# The kit's files a worker may see (besides its assignment's probes.py): what it imports to run.
WORKER_FILES = ("__init__.py", "engine/__init__.py", "engine/worker.py", "engine/protocol.py",
                "engine/sandbox.py", "probes.py")
# nbgrader's default exchange folders (every student's submissions and feedback), hidden from
# workers whatever the course's configuration, which ``grade(private=...)`` adds to.
NBGRADER_EXCHANGES = ("/usr/local/share/nbgrader/exchange", "/srv/nbgrader/exchange")
log = logging.getLogger("autograder")
# (requested mode, device) -> the mode the canary found working, or why none did. Written only
# by ``choose_mode`` from canaries that run no student code; never from a worker's message.
_CHOSEN: dict[tuple[str, str], str | SandboxUnavailable] = {}

_CONTEXT: multiprocessing.context.BaseContext | None = None
SANDBOX_START_TRIES = 3  # a worker that stopped before any student code ran is started again
FORK_SERVER_RETRIES = 40  # 50 ms apart: a killed fork server takes a moment to be gone


def context(preload: Sequence[str] = ()) -> multiprocessing.context.BaseContext:
    """A fork server that has imported torch once; each worker is a cheap fork of it.

    ``preload`` names modules the probes import, to import there too (the concise probes bring
    torch._dynamo, 2-3 s); it counts only before the server starts, and a module it does not
    hold is imported by each worker instead.
    """
    global _CONTEXT
    if _CONTEXT is None:
        ctx = multiprocessing.get_context("forkserver")
        # numpy.random: numpy 2 imports it on first use, which is each worker's np.random.seed
        # (10 ms per worker otherwise). This module: each worker's target (``_worker_main``) lives here.
        ctx.set_forkserver_preload(["autograder.engine.worker", "autograder.engine.student", "numpy.random",
                                    *preload])
        _CONTEXT = ctx
        atexit.register(shutdown)  # e.g. under `nbgrader autograde`: the fork server goes first
    return _CONTEXT


def _reader_open(fd: int) -> bool:
    """Whether the read end of the pipe whose write end is ``fd`` is still open somewhere (the
    fork server holds it while it runs): poll reports POLLERR on a pipe nobody reads."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return not any(events & (select.POLLERR | select.POLLNVAL) for _, events in poller.poll(0))


class _InheritedForkServer(forkserver.ForkServer):
    """The parent's fork server, used by a process it forked: alive while its pipe is read."""

    def ensure_running(self) -> None:
        with self._lock:
            if self._forkserver_alive_fd is not None and _reader_open(self._forkserver_alive_fd):
                resource_tracker.ensure_running()
                return
            if self._forkserver_alive_fd is not None:  # gone: this process starts its own
                os.close(self._forkserver_alive_fd)
            self._forkserver_alive_fd = self._forkserver_address = self._forkserver_pid = None
            self.__class__ = forkserver.ForkServer
        forkserver.ForkServer.ensure_running(self)


_SHARED = False  # this process's fork server serves the processes it forks too


def _forget_parents_fork_server() -> None:
    """In a forked child (a grading process of the batch or of ``watch``): the fork server it
    inherited a handle on belongs to the parent. The stdlib would ``waitpid`` on it and fail
    (not a child), and the inherited "alive" descriptor would keep it running: the child lets
    go of both and starts its own on first use, with its own preloads.

    Unless the parent shared it (``share_fork_server``): then the child keeps the handle and
    forks its workers from the parent's server, checking that it is alive by its pipe."""
    global _CONTEXT, _SHARED
    server = forkserver._forkserver
    if _SHARED and server._forkserver_alive_fd is not None:
        _SHARED = False  # what this child forks in turn lets go of it
        server._forkserver_pid = None  # not this process's child: never waited for nor killed here
        server.__class__ = _InheritedForkServer
        return
    _SHARED = False
    if server._forkserver_alive_fd is not None:
        try:
            os.close(server._forkserver_alive_fd)
        except OSError:
            pass
    server._forkserver_pid = server._forkserver_address = server._forkserver_alive_fd = None
    if isinstance(server, _InheritedForkServer):
        server.__class__ = forkserver.ForkServer
    _CONTEXT = None


os.register_at_fork(after_in_child=_forget_parents_fork_server)


def warm_up(preload: Sequence[str] = ()) -> None:
    """Start the fork server now (it imports torch), so the first submission does not wait."""
    context(preload)
    forkserver._forkserver.ensure_running()  # the instance's: an inherited server is checked by its pipe


def share_fork_server(preload: Sequence[str] = ()) -> None:
    """Start the fork server now, for this process and the processes it forks from now on (the
    batch's grading processes): they fork their workers from it instead of each starting its own
    (a torch import, 2-3 s of CPU, each). Only this process stops it (``shutdown``)."""
    global _SHARED
    warm_up(preload)
    _SHARED = True


@dataclass
class Limits:
    """Per-worker limits. ``AUTOGRADER_LIMITS`` (JSON, e.g. ``{"probe_seconds": 3}``) and
    ``AUTOGRADER_SANDBOX`` (auto, namespaces, userns, rlimits) override the defaults."""

    probe_seconds: float = 10.0
    load_seconds: float = 20.0
    submission_seconds: float = 300.0
    cpu_seconds: int = 300
    memory_bytes: int | None = 6 * 2**30
    file_bytes: int = 64 * 2**20
    output_bytes: int = 1 * 2**20
    open_files: int = 256
    processes: int | None = 256
    max_restarts: int = 25
    sandbox: str = "auto"

    @classmethod
    def from_env(cls) -> Limits:
        """Defaults, overridden from the environment (a TA's machine, the kit's own tests)."""
        overrides = json.loads(os.environ.get(LIMITS_ENV) or "{}")
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"{LIMITS_ENV} names unknown limits {sorted(unknown)} (known: {sorted(known)})")
        if os.environ.get(SANDBOX_ENV):
            overrides["sandbox"] = os.environ[SANDBOX_ENV]
        sandbox.candidates(overrides.get("sandbox", "auto"))  # fail early on a misspelt mode
        return cls(**overrides)

    def for_worker(self, device: str) -> dict[str, Any]:
        # CUDA maps far more virtual memory than it uses: an address-space cap breaks it.
        memory = None if device == "cuda" else self.memory_bytes
        return {"cpu_seconds": self.cpu_seconds, "memory_bytes": memory,
                "file_bytes": self.file_bytes, "output_bytes": self.output_bytes,
                "open_files": self.open_files, "processes": self.processes}


class StudentError(Exception):
    """The student's code raised; carries their exception's type, message and line."""

    def __init__(self, type: str, message: str, where: dict | None = None) -> None:
        super().__init__(f"{type}: {message}")
        self.type = type
        self.message = message
        self.where = where

    def describe(self) -> str:
        text = f"{self.type}: {self.message}" if self.message else self.type
        if self.where:
            text += f"\n    at line {self.where['line']} of your cell '{self.where['cell']}'"
            if self.where.get("code"):
                text += f": {self.where['code']}"
        return text


class WorkerFault(Exception):
    """The worker hung, crashed or exited; the message is written for the student."""


class SandboxUnavailable(WorkerFault):
    """The grading machine cannot set up the sandbox asked for: a problem for the TA."""


class TimeUsedUp(WorkerFault):
    """The submission as a whole ran past its time limit: every later check fails at once."""


class ChannelViolation(WorkerFault):
    """The worker sent something that answers no request: the submission's doing."""


def derive_seed(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") % 2**63


def choose_mode(limits: Limits, device: str = "cpu") -> str:
    """The sandbox mode for every worker of this process, decided once by canaries.

    A canary is a worker that enters the sandbox and runs no student code; the first candidate
    whose canary confirms its sandbox is the mode. ``auto`` tries only isolating modes and
    refuses, with how to opt in, where none works: weaker isolation is the TA's explicit choice.
    """
    key = (limits.sandbox, device)
    if key not in _CHOSEN:
        failures = []
        for mode in sandbox.candidates(limits.sandbox):
            try:
                Student(setup="", cells=[], probes="", limits=limits, device=device,
                        mode=mode).close(start=True)
            except WorkerFault as exc:
                failures.append(f"{mode}: {exc}")
                continue
            _CHOSEN[key] = mode
            if not sandbox.MODES[mode].isolated:
                log.warning("grading WITHOUT isolation (%s=rlimits, asked for by name): %s", SANDBOX_ENV,
                            "; ".join(sandbox.describe(mode, device)["notes"]))
            break
        else:
            _CHOSEN[key] = SandboxUnavailable(refusal(limits.sandbox, "; ".join(failures)))
    chosen = _CHOSEN[key]
    if isinstance(chosen, SandboxUnavailable):
        raise chosen
    return chosen


def refusal(requested: str, failures: str) -> str:
    """Why grading cannot start in ``requested`` mode, and how the TA can go on."""
    if requested == "auto":
        return (f"no isolating sandbox works on this machine ({failures}). Grade as root (namespaces mode) or "
                "where unprivileged user namespaces are enabled (userns mode); to grade without isolation "
                f"anyway, set {SANDBOX_ENV}=rlimits (README: threat model)")
    return f"the {requested} sandbox, asked for by {SANDBOX_ENV}, does not work on this machine: {failures}"


def shutdown() -> None:
    """Stop this process's fork server and wait for it: nothing of the kit's outlives a grading run.

    Killed rather than asked to exit: it holds nothing to save, and a torch-loaded interpreter
    takes most of a second to tear itself down (every worker it forked is already gone)."""
    global _SHARED
    from multiprocessing import util

    _SHARED = False
    server = forkserver._forkserver
    pid, server._forkserver_pid = server._forkserver_pid, None  # None: not ours (a shared one's user)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    if server._forkserver_alive_fd is not None:
        os.close(server._forkserver_alive_fd)
        server._forkserver_alive_fd = None
    address, server._forkserver_address = server._forkserver_address, None
    if address and not util.is_abstract_socket_namespace(address):
        try:
            os.unlink(address)
        except OSError:
            pass


@dataclass
class Student:
    setup: str
    cells: list[tuple[str, str]]
    probes: str = ""  # the assignment folder's probes.py ("": only autograder.probes')
    seed_base: str = ""
    device: str = "cpu"
    limits: Limits = field(default_factory=Limits)
    unavailable: str | None = None  # set when the notebook could not be read at all
    private: list[str] = field(default_factory=list)  # folders the worker must never see
    mode: str | None = None  # the sandbox mode; None: ``choose_mode`` decides

    def __post_init__(self) -> None:
        self._proc: Any = None
        self._conn: Any = None
        self._workdir: str | None = None
        self._skipped: dict[str, str] = {}  # cells left out after they hung or crashed the worker
        self._restarts = 0
        self._started_at = time.monotonic()
        self._test = ""
        self._calls = 0
        self._request_id = 0
        self.cell_errors: list[dict[str, Any]] = []
        self.violations: list[str] = []  # what the worker sent unasked, for the TA
        self.sandbox: dict[str, Any] | None = None  # how the workers were sandboxed (trusted side's words)

    # -- used by the grading plugin -------------------------------------------------------

    def begin_test(self, test_id: str) -> None:
        self._test = test_id
        self._calls = 0

    def cell_problem(self, function: str) -> str | None:
        """Why ``function`` may be missing: its cell raised, hung or crashed while loading."""
        for err in self.cell_errors:
            if function in err["cell"]:
                return f"your cell '{err['cell']}' failed while loading: {err['type']}: {err['message']}"
        for cell, reason in self._skipped.items():
            if function in cell:
                return f"your cell '{cell}' {reason}, so the grader left it out"
        return None

    def close(self, start: bool = False) -> None:
        """Stop the worker (``start``: start it first, as the canary does) and kill what it left."""
        if start:
            try:
                self._start()
            finally:
                self._stop_worker()
            return
        self._stop_worker()

    def _stop_worker(self) -> None:
        if self._conn is not None and self._proc is not None:
            try:
                self._expect_silence("the end of grading")
                self._conn.send_bytes(encode({"op": "stop"}))
                # A supervisor that exits by itself has left nothing behind (its PID namespace
                # is gone, or it swept its orphans); one that does not is killed with its tree.
                self._proc.join(0.5)
            except (OSError, ChannelViolation):
                pass
        self._kill()

    # -- used by suites -------------------------------------------------------------------

    def probe(self, name: str, *, what: str | None = None, timeout: float | None = None,
              **args: Any) -> dict[str, Any]:
        """Run probe ``name`` in the worker; ``what`` names the student's function in messages."""
        what = what or name
        if self.unavailable:
            raise WorkerFault(self.unavailable)
        if self._proc is None or not self._proc.is_alive():
            self._kill()
            self._start()
        self._calls += 1
        seed = derive_seed(self.seed_base, self._test, str(self._calls))
        limit = timeout or self.limits.probe_seconds
        reply = self._request({"op": "probe", "name": name, "args": args, "seed": seed}, what, limit,
                              stopped=f"the worker running your code stopped before {what} was called")
        ok = reply.get("ok")
        if ok is True and isinstance(reply.get("result"), dict):
            return reply["result"]
        err = reply.get("error")
        if ok is not False or not isinstance(err, dict):
            self._violation(what, "sent a reply that is not of the form the grader asked for")
        raise StudentError(str(err.get("type", "Error")), str(err.get("message", "")), _where(err.get("where")))

    # -- the channel ----------------------------------------------------------------------

    def _request(self, message: dict[str, Any], what: str, limit: float, stopped: str) -> dict[str, Any]:
        """Send one request and return its reply, checked to answer exactly this request."""
        self._expect_silence(what)
        self._request_id += 1
        try:
            self._conn.send_bytes(encode({**message, "id": self._request_id}))
        except OSError:
            self._kill()
            raise WorkerFault(stopped) from None
        reply = self._receive(time.monotonic() + limit, what, limit)
        if not isinstance(reply, dict) or reply.get("re") != self._request_id:
            self._violation(what, "sent a message that answers no request of the grader's")
        return reply

    def _expect_silence(self, what: str) -> None:
        """Between a reply and the next request the worker has nothing to say."""
        conn, proc = self._conn, self._proc
        if conn is None or not conn.poll(0):
            return
        if proc is not None and proc.is_alive():
            self._violation(what, "sent a message nobody asked for")
        try:
            conn.recv_bytes(MAX_MESSAGE_BYTES)
        except (EOFError, OSError):
            return  # it died after its last reply; the next request starts a new one
        self._violation(what, "sent a message nobody asked for, then exited")

    def _violation(self, what: str, detail: str) -> NoReturn:
        self._kill()
        self.violations.append(f"while {what} ran, the worker {detail}")
        raise ChannelViolation(f"Your code wrote on the grader's own channel while {what} ran (it {detail}), "
                               "so this check cannot count. Your TA has been told.")

    def _receive(self, deadline: float, what: str, limit: float) -> Any:
        conn, proc = self._conn, self._proc
        while True:
            remaining = deadline - time.monotonic()
            if time.monotonic() - self._started_at > self.limits.submission_seconds:
                self._kill()
                raise TimeUsedUp(f"grading stopped while {what} ran: your code used up the "
                                 f"{self.limits.submission_seconds:g} s a whole submission may take")
            if remaining <= 0:
                self._kill()
                raise WorkerFault(f"{what} did not return within {limit:g} s: "
                                  "look for a loop that never ends, or far too much work")
            ready = wait([conn, proc.sentinel], timeout=min(remaining, 1.0))
            if conn in ready:
                try:
                    return decode(conn.recv_bytes(MAX_MESSAGE_BYTES))  # strings cleaned
                except EOFError:
                    pass  # the worker died; fall through to report how
                except OSError:
                    if proc.is_alive():  # recv_bytes refuses a frame over the limit
                        self._violation(what, "sent a message over the size limit")
                except ProtocolError as exc:
                    self._violation(what, f"sent a malformed message ({exc})")
            if proc.sentinel in ready or conn in ready:
                proc.join(1)
                code = proc.exitcode
                self._kill()
                raise WorkerFault(f"the process running your code stopped while running {what} "
                                  f"({_describe_exit(code)})")

    # -- process management ---------------------------------------------------------------

    def _start(self) -> None:
        if self.mode is None:
            self.mode = choose_mode(self.limits, self.device)
        self.sandbox = sandbox.describe(self.mode, self.device)
        while True:
            if self._restarts >= self.limits.max_restarts:
                raise WorkerFault("grading stopped: your code crashed or hung too many times")
            self._restarts += 1
            self._spawn()
            loading = None
            try:
                order = [i for i, (g, _) in enumerate(self.cells) if g not in self._skipped]
                for index in [None, *order]:
                    grade_id = loading = None if index is None else self.cells[index][0]
                    what = "the assignment's set-up cell" if index is None else f"your cell '{grade_id}'"
                    request = {"op": "load", "cell": index}
                    if index is None:  # seeded once, before the set-up cell, as a fresh kernel would be
                        request["seed"] = derive_seed(self.seed_base, "load")
                    reply = self._request(request, what, self.limits.load_seconds,
                                          stopped=f"the worker stopped before {what}")
                    error = reply.get("error")
                    if error is not None and not isinstance(error, dict):
                        self._violation(what, "sent a reply that is not of the form the grader asked for")
                    if error and grade_id is None:
                        raise WorkerFault(f"the assignment's set-up cell failed in the worker: "
                                          f"{error.get('type')}: {error.get('message')}")
                    if error:
                        self.cell_errors.append({"cell": grade_id, "type": str(error.get("type", "Error")),
                                                 "message": str(error.get("message", "")),
                                                 "where": _where(error.get("where"))})
                return
            except TimeUsedUp:
                raise
            except ChannelViolation:
                if loading is None:
                    raise
                self._skipped[loading] = "wrote on the grader's own channel while it loaded"
            except WorkerFault as fault:
                if loading is None:
                    raise
                self._skipped[loading] = ("did not finish running within "
                                          f"{self.limits.load_seconds:g} s" if "did not return" in str(fault)
                                          else "stopped the process running it")
            self.cell_errors = []  # the cells load again, without the one left out

    def _spawn(self) -> None:
        """A new worker in ``self.mode``; returns once it confirmed its sandbox, before any student code.

        A worker that did not confirm it ran nothing of the student's: the set-up failed (or the
        machine did, for a moment), so it is tried again, ``SANDBOX_START_TRIES`` times in all,
        before the submission is left to a human."""
        for attempt in range(SANDBOX_START_TRIES):
            try:
                return self._spawn_once()
            except SandboxUnavailable as exc:
                if attempt + 1 == SANDBOX_START_TRIES:
                    raise
                log.warning("a worker did not start (%s); trying again", exc)

    def _spawn_once(self) -> None:
        self._workdir = tempfile.mkdtemp(prefix="autograder-worker-")
        spec = {"workdir": self._workdir, "setup": self.setup, "cells": self.cells,
                "probes": self.probes, "limits": self.limits.for_worker(self.device),
                "sandbox": self._sandbox_spec()}
        ctx = context()
        self._conn, child = ctx.Pipe(duplex=True)
        for attempt in range(FORK_SERVER_RETRIES):
            self._proc = ctx.Process(target=_worker_main, args=(child, spec), daemon=True)
            try:
                with without_main_reimport():  # the worker is not to run this program's main script
                    self._proc.start()
                break
            except OSError:  # its fork server died a moment ago: not yet reaped, it still counts as
                if attempt + 1 == FORK_SERVER_RETRIES:  # running, and refuses the connection;
                    raise  # once it is gone, the next try starts a new one
                time.sleep(0.05)
        child.close()
        self._request_id = 0
        try:
            first = self._receive(time.monotonic() + self.limits.load_seconds, "setting up the sandbox",
                                  self.limits.load_seconds)
        except TimeUsedUp:
            raise
        except WorkerFault as fault:
            self._kill()
            raise SandboxUnavailable(f"the {self.mode} sandbox did not start: {fault}") from None
        if first != {"entered": self.mode}:
            self._kill()
            reason = first.get("sandbox_failed") if isinstance(first, dict) else None
            raise SandboxUnavailable(str(reason) if isinstance(reason, str)
                                     else f"the worker did not confirm the {self.mode} sandbox")

    def _sandbox_spec(self) -> dict[str, Any]:
        private = {*self.private, str(Path.home()), os.getcwd(), *NBGRADER_EXCHANGES}
        if PACKAGE_DIR.parent.name not in ("site-packages", "dist-packages"):
            private.add(str(PACKAGE_DIR.parent))  # a source checkout: the course, tests and git history
        files = [PACKAGE_DIR / f for f in WORKER_FILES] + ([Path(self.probes)] if self.probes else [])
        return {"mode": self.mode, "private": sorted(private), "package_dir": str(PACKAGE_DIR),
                "files": sorted({str(f) for f in files}), "device": self.device}

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if proc is not None and proc.pid is not None:  # None: it never started
            if proc.is_alive():
                # The worker is a supervisor; its sandboxed child and anything that child
                # started (setsid or not) are found through /proc and killed first.
                sandbox.kill_tree(proc.pid)
            if proc.is_alive():
                proc.kill()
            proc.join(5)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


def _where(where: Any) -> dict[str, Any] | None:
    """The student's line, as the worker described it: only the fields the messages use."""
    if not isinstance(where, dict):
        return None
    return {"cell": str(where.get("cell", "")), "line": where.get("line") if isinstance(where.get("line"), int)
            else "?", "code": str(where.get("code") or "")}


def _worker_main(conn: Any, spec: dict[str, Any]) -> None:
    from autograder.engine import worker

    worker.main(conn, spec)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "it did not exit"
    if code < 0:
        sig = -code
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        hints = {"SIGKILL": "killed: often memory far over the limit",
                 "SIGSEGV": "a segmentation fault", "SIGXCPU": "CPU time limit reached"}
        return f"signal {name}" + (f", {hints[name]}" if name in hints else "")
    return f"it exited with code {code}: does your code call exit() or os._exit()?"
