"""The trusted side's handle on a submission: a proxy to a sandboxed worker process.

Suites call ``student.probe("sgd_step", params=..., lr=...)`` and get plain data back, or
one of two exceptions: ``StudentError`` (the student's code raised) or ``WorkerFault`` (it
hung, crashed or exited). After a fault the worker is replaced, so one broken function
costs only its own tests.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from autograder.engine import sandbox
from autograder.engine.protocol import MAX_MESSAGE_BYTES, ProtocolError, decode, encode

PACKAGE_DIR = Path(__file__).resolve().parents[1]
LIMITS_ENV = "AUTOGRADER_LIMITS"
SANDBOX_ENV = "AUTOGRADER_SANDBOX"
# Sandbox modes that failed after they started on this machine; later workers skip them.
_BROKEN_MODES: set[str] = set()

_CONTEXT: multiprocessing.context.BaseContext | None = None


def context(preload: Sequence[str] = ()) -> multiprocessing.context.BaseContext:
    """A fork server that has imported torch once; each worker is a cheap fork of it.

    ``preload`` names probe modules to import there too (the concise probes bring
    torch._dynamo, 2-3 s); it counts only before the server starts, and a module it does not
    hold is imported by each worker instead.
    """
    global _CONTEXT
    if _CONTEXT is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["autograder.engine.worker", *preload])
        _CONTEXT = ctx
    return _CONTEXT


def warm_up(preload: Sequence[str] = ()) -> None:
    """Start the fork server now (it imports torch), so the first submission does not wait."""
    from multiprocessing import forkserver

    context(preload)
    forkserver.ensure_running()


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
        sandbox.modes_for(overrides.get("sandbox", "auto"))  # fail early on a misspelt mode
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


def derive_seed(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") % 2**63


@dataclass
class Student:
    setup: str
    cells: list[tuple[str, str]]
    probe_module: str
    seed_base: str = ""
    device: str = "cpu"
    limits: Limits = field(default_factory=Limits)
    unavailable: str | None = None  # set when the notebook could not be read at all
    private: list[str] = field(default_factory=list)  # folders the worker must never see

    def __post_init__(self) -> None:
        self._proc: Any = None
        self._conn: Any = None
        self._workdir: str | None = None
        self._skipped: dict[str, str] = {}  # cells left out after they hung or crashed the worker
        self._restarts = 0
        self._started_at = time.monotonic()
        self._test = ""
        self._calls = 0
        self.cell_errors: list[dict[str, Any]] = []
        self.sandbox: dict[str, Any] | None = None  # how the last worker was sandboxed

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

    def close(self) -> None:
        if self._conn is not None and self._proc is not None:
            try:
                self._conn.send_bytes(encode({"op": "stop"}))
                # A supervisor that exits by itself has left nothing behind (its PID namespace
                # is gone, or it swept its orphans); one that does not is killed with its tree.
                self._proc.join(0.5)
            except OSError:
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
        try:
            self._conn.send_bytes(encode({"op": "probe", "name": name, "args": args, "seed": seed}))
        except OSError:
            self._kill()
            raise WorkerFault(f"the worker running your code stopped before {what} was called") from None
        reply = self._receive(time.monotonic() + limit, what, limit)
        if reply.get("ok"):
            return reply["result"]
        err = reply.get("error") or {}
        raise StudentError(str(err.get("type", "Error")), str(err.get("message", "")), err.get("where"))

    # -- process management ---------------------------------------------------------------

    def _receive(self, deadline: float, what: str, limit: float) -> dict[str, Any]:
        conn, proc = self._conn, self._proc
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or time.monotonic() - self._started_at > self.limits.submission_seconds:
                self._kill()
                raise WorkerFault(f"{what} did not return within {limit:g} s: "
                                  "look for a loop that never ends, or far too much work")
            ready = wait([conn, proc.sentinel], timeout=min(remaining, 1.0))
            if conn in ready:
                try:
                    data = conn.recv_bytes(MAX_MESSAGE_BYTES)
                    return decode(data)
                except (EOFError, OSError):
                    pass  # the worker died; fall through to report how
                except ProtocolError as exc:
                    self._kill()
                    raise WorkerFault(f"the worker sent a malformed reply while running {what} "
                                      f"({exc})") from None
            if proc.sentinel in ready or conn in ready:
                proc.join(1)
                code = proc.exitcode
                self._kill()
                raise WorkerFault(f"the process running your code stopped while running {what} "
                                  f"({_describe_exit(code)})")

    def _start(self) -> None:
        while True:
            if self._restarts >= self.limits.max_restarts:
                raise WorkerFault("grading stopped: your code crashed or hung too many times")
            self._restarts += 1
            cells = [(g, s) for g, s in self.cells if g not in self._skipped]
            self._workdir = tempfile.mkdtemp(prefix="autograder-worker-")
            spec = {"workdir": self._workdir, "setup": self.setup, "cells": cells,
                    "probe_module": self.probe_module,
                    "limits": self.limits.for_worker(self.device),
                    "seed": derive_seed(self.seed_base, "load"),
                    "sandbox": self._sandbox_spec()}
            ctx = context()
            self._conn, child = ctx.Pipe(duplex=True)
            self._proc = ctx.Process(target=_worker_main, args=(child, spec), daemon=True)
            self._proc.start()
            child.close()
            loading = "sandbox"  # until the worker's first message: the sandbox is being set up
            try:
                while True:
                    msg = self._receive(time.monotonic() + self.limits.load_seconds,
                                        "loading your notebook", self.limits.load_seconds)
                    if "sandbox_failed" in msg:
                        self._sandbox_failed(str(msg["sandbox_failed"]), str(msg.get("error")))
                        break  # try again with the next mode
                    if "sandbox" in msg:
                        self.sandbox = msg["sandbox"]
                    if "loading" in msg:
                        loading = str(msg["loading"])
                        continue
                    self.cell_errors = list(msg.get("cell_errors", []))
                    return
            except SandboxUnavailable:
                raise
            except WorkerFault as fault:
                if loading == "sandbox":
                    raise SandboxUnavailable(f"the sandbox did not start: {fault}") from None
                if loading == "setup":
                    raise WorkerFault(f"the assignment's set-up cell failed in the worker: {fault}") \
                        from None
                reason = ("did not finish running within "
                          f"{self.limits.load_seconds:g} s" if "did not return" in str(fault)
                          else "stopped the process running it")
                self._skipped[loading] = reason

    def _sandbox_spec(self) -> dict[str, Any]:
        modes = sandbox.modes_for(self.limits.sandbox)
        if self.limits.sandbox == "auto":
            modes = [m for m in modes if m not in _BROKEN_MODES] or ["rlimits"]
        private = {*self.private, str(Path.home()), os.getcwd()}
        if PACKAGE_DIR.parent.name not in ("site-packages", "dist-packages"):
            private.add(str(PACKAGE_DIR.parent))  # a source checkout: the course, tests and git history
        return {"modes": modes, "private": sorted(private), "package_dir": str(PACKAGE_DIR),
                "device": self.device}

    def _sandbox_failed(self, mode: str, error: str) -> None:
        """A mode broke after it started: in ``auto``, fall back to the next one for good."""
        self._kill()
        self._restarts -= 1  # not the student's fault
        if self.limits.sandbox != "auto" or mode == "rlimits":
            raise SandboxUnavailable(f"grading could not start: {error}. Set {SANDBOX_ENV} to a "
                                     "mode this machine supports (see the README).")
        _BROKEN_MODES.add(mode)

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if proc is not None:
            if proc.pid and proc.is_alive():
                # The worker is a supervisor; its sandboxed child and anything that child
                # started (setsid or not) are found through /proc and killed first.
                sandbox.kill_tree(proc.pid)
            if proc.is_alive():
                proc.kill()
            proc.join(5)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


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
