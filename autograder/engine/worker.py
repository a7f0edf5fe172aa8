"""The untrusted side: a forked child that loads one submission and answers probes.

It runs the assignment's set-up cell and the student's answer cells in a fresh namespace,
then serves requests from the grader: "run probe P with these arrays". A probe (in the
assignment folder's ``probes.py``, or ``autograder.probes``) calls the student's functions and
describes what they did as plain data. Nothing here decides a score; everything sent back is re-checked by the grader.

This module is imported once by the fork server (paying for torch and matplotlib once), and
``main`` runs in each child it forks.
"""

from __future__ import annotations

import builtins
import gc
import importlib
import importlib.util
import io
import linecache
import os
import random
import sys
import tempfile
import traceback
from typing import Any

# The fork server imports this module first, then the probes' modules: about a million objects,
# none of them garbage, and the collector's passes over that growing heap were 15-20 % of the
# import (0.2-0.4 s, before any worker can start). It stays off in the fork server, which only
# forks after that (what its loop allocates is freed by reference counting); ``main`` turns it
# back on in each worker, once what the worker inherited is frozen.
gc.disable()
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot  # noqa: E402, F401  (imported here so each worker gets it for free)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from autograder.engine import sandbox  # noqa: E402
from autograder.engine.protocol import decode, encode  # noqa: E402

CELL_FILENAME = "<answer cell {}>"
SETUP_FILENAME = "<set-up cell>"
PROBES_MODULE = "assignment_probes"  # the assignment folder's probes.py, in the worker


class CappedStream(io.TextIOBase):
    """stdout and stderr for student code: the first ``cap`` bytes are kept, the rest dropped."""

    def __init__(self, fd: int, cap: int) -> None:
        self._fd = fd
        self._left = cap

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._left > 0:
            data = str(text).encode("utf-8", "replace")[: self._left]
            self._left -= len(data)
            try:
                os.write(self._fd, data)
            except OSError:
                self._left = 0
        return len(text)


def strip_magics(source: str) -> str:
    """Jupyter magics (``%matplotlib``, ``!pip``) are not Python; the grader skips them."""
    if source.lstrip().startswith("%%"):
        return ""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append("pass" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """Type, message and the student's own line: never a frame of grader code."""
    where = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if filename.startswith("<answer cell"):
            line = linecache.getline(filename, lineno).strip()
            where = {"cell": filename[len("<answer cell ") : -1], "line": lineno, "code": line}
    if isinstance(exc, SyntaxError) and exc.filename and exc.filename.startswith("<answer cell"):
        where = {"cell": exc.filename[len("<answer cell ") : -1], "line": exc.lineno,
                 "code": (exc.text or "").strip()}
    try:
        message = str(exc)
    except Exception:
        message = "<exception message could not be read>"
    return {"type": type(exc).__name__, "message": message[:2000], "where": where}


def run_cell(ns: dict, source: str, filename: str) -> None:
    source = strip_magics(source)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), ns)


def seed_everything(seed: int) -> None:
    if torch.accelerator.is_available():
        torch.manual_seed(seed)  # every device's generator
    else:  # the CPU's is the only one; torch.manual_seed would also queue seedings for absent
        torch.default_generator.manual_seed(seed)  # devices, each with a stack trace (0.2 ms)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def load_probes(path: str) -> dict[str, Any]:
    """name -> probe: every assignment's (``autograder.probes``), then those of the assignment
    folder's ``probes.py`` (its imports are already in the fork server: this costs milliseconds)."""
    from autograder import probes as common

    modules = [common]
    if path:
        module_spec = importlib.util.spec_from_file_location(PROBES_MODULE, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[PROBES_MODULE] = module
        module_spec.loader.exec_module(module)
        modules.append(module)
    return {name[len("probe_"):]: getattr(m, name) for m in modules for name in dir(m) if name.startswith("probe_")}


def main(conn: Any, spec: dict[str, Any]) -> None:
    """Runs in the forked child: sandbox, then answer the grader's requests until told to stop.

    Before any student code: one message, ``{"entered": mode}``. After it, only replies, each
    naming the request it answers (``re``); the grader checks each against its request, and
    treats anything else on this pipe as the submission's doing.
    """
    # What the fork server imported (torch, matplotlib: about a million objects) is never garbage
    # here, and a collection that walked it would write to, and so copy, most of its pages: frozen
    # (an O(1) relinking), a submission's worker does about a third less work (README: speed).
    gc.freeze()
    gc.enable()  # off while the fork server imported (above): the student's code gets a collector
    os.setsid()
    workdir = spec["workdir"]
    os.chdir(workdir)
    # Output goes to a log in the worker's folder, which nobody parses: the first
    # ``output_bytes`` of Python-level prints, and at most ``file_bytes`` of raw writes.
    out_fd = os.open(os.path.join(workdir, "output.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    os.close(null_fd)
    stream = CappedStream(1, spec["limits"].get("output_bytes", 1 << 20))
    sys.stdout = sys.stderr = stream
    # Imported, and the probes looked up, before the sandbox hides the disk and before student
    # code could replace them in the module.
    send = conn.send_bytes
    try:  # nothing of the student's has run yet: whatever fails here is the set-up's, and says so
        probe_table = load_probes(spec["probes"])
        mode = sandbox.enter(spec, keep_fds=(conn.fileno(),))  # forks: only the sandboxed child comes back
        os.environ.update(HOME=workdir, TMPDIR=workdir, MPLCONFIGDIR=workdir)
        tempfile.tempdir = None  # recomputed from TMPDIR: a folder cached by the fork server may not be visible
        torch.set_num_threads(1)
    except BaseException as exc:  # noqa: BLE001 - reported, never swallowed: the worker stops
        reason = str(exc) if isinstance(exc, sandbox.SandboxFailed) else \
            f"the worker failed while setting up its sandbox ({type(exc).__name__}: {exc})"
        traceback.print_exc()  # to the worker's log, for whoever debugs the machine
        try:
            send(encode({"sandbox_failed": reason}))
        finally:
            os._exit(3)
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    send(encode({"entered": mode}))

    while True:
        request = decode(conn.recv_bytes())
        op, rid = request.get("op"), request.get("id")
        if op == "stop":
            break
        if "seed" in request:
            seed_everything(request["seed"])
        if op == "load":
            reply: dict[str, Any] = {"re": rid, "error": None}
            try:
                if request["cell"] is None:
                    run_cell(ns, spec["setup"], SETUP_FILENAME)
                else:
                    grade_id, source = spec["cells"][request["cell"]]
                    run_cell(ns, source, CELL_FILENAME.format(grade_id))
            except BaseException as exc:  # noqa: BLE001 - a student's cell may raise anything
                reply["error"] = describe_exception(exc)
        else:
            try:
                reply = {"re": rid, "ok": True, "result": probe_table[request["name"]](ns, **request["args"])}
            except BaseException as exc:  # noqa: BLE001 - SystemExit and friends included
                reply = {"re": rid, "ok": False, "error": describe_exception(exc)}
        try:
            data = encode(reply)
        except Exception as exc:  # a probe described something that cannot be sent
            data = encode({"re": rid, "ok": False, "error": describe_exception(exc)})
        send(data)
    os._exit(0)
