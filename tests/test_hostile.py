"""Hostile submissions, graded in ONE run of the CLI next to an honest one.

For every case: the batch completes, the score is exactly what the honest part of the code
earns (never more), and the feedback says plainly what happened. For the batch as a whole:
no file outside the workers' folders changed, no process survived, no connection reached a
listener of this test, and nothing of the hidden suite or the solution reached a result.

The whole corpus runs in the isolating mode this machine offers (``namespaces`` as root, else
``userns``), the mode ``auto`` chooses. The corpus attacks the machine it runs on (it kills
processes it finds, deletes files it can reach), so in ``rlimits`` mode, which does not isolate
files, processes or the network and which a TA must ask for by name, only the cases that attack
the grade, the channel and the resources run: they show what that mode still protects. Where a
mode is not available here (``rlimits`` as root needs a Python environment that ``nobody`` can
read) its tests are skipped with the reason. As root, the ``userns`` mode refuses (student code
would keep uid 0 outside its user namespace), and a test shows that nothing is graded then.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import site
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.corpus import ROOT, solution_path, submission, write
from autograder.engine import sandbox
from tests.conftest import AUTOGRADER, part_max, parts
from tests.hostile.cases import CASES, fill

ASSIGNMENT = "linreg_scratch"
MODE = "namespaces" if os.geteuid() == 0 else "userns"
# Safe to run without isolation (as root, too): they attack the grade, the channel and the limits, not the machine.
GRADE_AND_LIMITS = {"replaces torch.allclose", "patches pytest", "prints fake results in every format",
                    "os._exit at definition time", "os._exit in sgd",
                    "allocates 40 GiB in sgd", "segfault via ctypes", "leaves many child processes",
                    "background thread that keeps running", "replaces the grader's probe",
                    "forges a message to the grader", "forges control frames while its cell loads",
                    "forges replies and floods the channel in sgd", "raises with a lone surrogate in its message"}
CHANNEL_CASES = {"forges a message to the grader", "forges control frames while its cell loads",
                 "forges replies and floods the channel in sgd"}
RUNS = {MODE: [c.name for c in CASES], "rlimits": [c.name for c in CASES if c.name in GRADE_AND_LIMITS]}
PAIRS = [(mode, case) for mode, names in RUNS.items() for case in CASES if case.name in names]
PAIRS = [(mode, case) for mode, names in RUNS.items() for case in CASES if case.name in names]
LIMITS = {"probe_seconds": 5, "load_seconds": 8, "submission_seconds": 40, "processes": 64}  # a fork bomb stops soon
SUITE = ROOT / "graders" / ASSIGNMENT / "suite"
# Lines of the hidden suite and the solution that must never reach a result.
SECRETS = ["def explain_values", "def check_update", "def check_recovered", "BEGIN SOLUTION"]

pytestmark = pytest.mark.slow


def hidden_files() -> list[Path]:
    """The hidden suite, the solution, and the kit's engine (which a submission must not change)."""
    solution = solution_path(ASSIGNMENT)
    engine = ROOT / "autograder" / "engine"
    return sorted(SUITE.glob("*.py")) + [solution, solution.parent / "assignment.json", *sorted(engine.glob("*.py"))]


def environment_folders() -> list[Path]:
    """Where a planted ``.pth`` or module would change later gradings."""
    return [Path(p) for p in {*site.getsitepackages(), sys.prefix}] + [ROOT / "autograder" / "engine"]


def digest(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def marked_processes(token: str) -> list[str]:
    """Processes whose command line or name carries the token: survivors of the batch."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            comm = Path(f"/proc/{pid}/comm").read_text()
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state in (b"Z", b"X"):  # dead, waiting for its new parent to collect its exit status
            continue
        if f"hostile-{token}".encode() in cmdline or f"hst{token}" in comm:
            found.append(f"{pid}: {cmdline[:120]!r} {comm.strip()}")
    return found


def files_named(token: str, folders: list[Path], recursive: bool = False) -> list[str]:
    pattern = f"*hostile-{token}*"
    return [str(p) for folder in folders for p in (folder.rglob(pattern) if recursive else folder.glob(pattern))]


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    """One CLI run per sandbox mode, each run on first use."""
    done: dict[str, dict] = {}

    def get(mode: str) -> dict:
        if mode not in done:
            done[mode] = run_batch(tmp_path_factory, mode, [c for c in CASES if c.name in RUNS[mode]])
        return done[mode]

    return get


def run_batch(tmp_path_factory, mode: str, cases: list) -> dict:
    """Listeners, sentinels, the notebooks; one CLI run; then what the attacks left behind."""
    problem = sandbox.check_mode(mode if mode != "rlimits" else MODE)
    if problem:
        pytest.skip(f"no {MODE if mode == 'rlimits' else mode} sandbox on this machine ({problem}): the hostile "
                    "corpus would attack the machine itself")
    problem = sandbox.check_mode(mode)
    if problem:
        pytest.skip(f"the {mode} mode refuses on this machine: {problem}")
    token = secrets.token_hex(4)
    folder = tmp_path_factory.mktemp("hostile")
    host_tmp = folder / "tmp"  # the CLI's TMPDIR: the workers' folders are made here
    host_tmp.mkdir()
    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix_path = folder / f"hostile-{token}.sock"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(unix_path))
    unix.listen()
    for s in (tcp, udp, unix):
        s.setblocking(False)
    sentinels = [Path("/tmp") / f"sentinel-{token}.txt", Path.home() / f"sentinel-{token}.txt",
                 host_tmp / f"sentinel-{token}.txt"]
    for s in sentinels:
        s.write_text(f"sentinel {token}")
    protected = hidden_files()
    before = digest(protected)
    values = {"TOKEN": token, "TCP": str(tcp.getsockname()[1]), "UDP": str(udp.getsockname()[1]),
              "UNIX": str(unix_path), "SENTINELS": repr([str(s) for s in sentinels]),
              "PROTECTED": repr([str(p) for p in protected]), "HOME": str(Path.home()), "REPO": str(ROOT),
              "HOSTTMP": str(host_tmp), "PRIVATE_FILES": repr([str(p) for p in protected])}
    paths = {"honest": write(submission(ASSIGNMENT), folder / "honest" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")}
    for i, case in enumerate(cases):
        nb = submission(ASSIGNMENT, {"sgd": fill(case.sgd_cell, values)})
        paths[case.name] = write(nb, folder / f"case{i}" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    # Graded after every hostile case, in the same process: nothing they did changed its grading.
    paths["honest after"] = write(submission(ASSIGNMENT), folder / "after" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    env = {**os.environ, "AUTOGRADER_SANDBOX": mode, "AUTOGRADER_LIMITS": json.dumps(LIMITS),
           "TMPDIR": str(host_tmp)}
    try:
        proc = subprocess.run([*AUTOGRADER, "grade", *map(str, paths.values()), "--format", "json"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        left = {
            "returncode": proc.returncode, "stderr": proc.stderr[-3000:],
            "results": json.loads(proc.stdout) if proc.returncode == 0 else [],
            "processes": marked_processes(token),
            "sentinels": {str(s): s.read_text() if s.exists() else None for s in sentinels},
            "changed": {p for p, h in digest([p for p in protected if p.exists()]).items() if before[p] != h}
            | {str(p) for p in protected if not p.exists()},
            "files": files_named(token, [Path("/tmp"), Path.home(), ROOT, *environment_folders()])
            + files_named(token, [host_tmp], recursive=True),
            "worker_folders": [p.name for p in host_tmp.iterdir() if p.name.startswith("autograder-worker-")],
            "connections": [],
        }
        for name, sock in (("tcp", tcp), ("unix", unix)):
            try:
                sock.accept()
                left["connections"].append(name)
            except BlockingIOError:
                pass
        try:
            left["connections"].append(f"udp {udp.recvfrom(100)}")
        except BlockingIOError:
            pass
    finally:
        for s in (tcp, udp, unix):
            s.close()
        for s in sentinels:
            s.unlink(missing_ok=True)
    left["by_name"] = dict(zip(paths, left["results"], strict=False))
    left["token"] = token
    left["count"] = len(paths)
    return left


def feedback(result: dict) -> str:
    return "\n".join([result["output"]] + [t["output"] for t in result["tests"] if t["status"] != "passed"])


@pytest.mark.parametrize("mode", RUNS)
def test_batch_completes_and_the_honest_submission_keeps_full_marks(batches, mode):
    batch = batches(mode)
    assert batch["returncode"] == 0, batch["stderr"]
    assert len(batch["results"]) == batch["count"]
    honest, after = batch["by_name"]["honest"], batch["by_name"]["honest after"]
    assert honest["score"] == honest["max_score"] == 100, feedback(honest)
    assert honest["extra_data"]["sandbox"]["mode"] == after["extra_data"]["sandbox"]["mode"] == mode
    assert [t["output"] for t in after["tests"]] == [t["output"] for t in honest["tests"]]
    assert after["score"] == 100 and not after["extra_data"]["channel_violations"]


@pytest.mark.parametrize(("mode", "case"), PAIRS, ids=[f"{m}: {c.name}" for m, c in PAIRS])
def test_hostile_case_earns_only_its_honest_part(batches, mode, case):
    result = batches(mode)["by_name"][case.name]
    assert result["extra_data"]["sandbox"]["mode"] == mode
    assert parts(result) == {**part_max(result), **case.expected}, feedback(result)
    assert result["max_score"] == 100
    assert not result["extra_data"]["grading_errors"]
    assert case.reason in feedback(result), feedback(result)


@pytest.mark.parametrize("mode", RUNS)
def test_no_process_survives(batches, mode):
    assert batches(mode)["processes"] == []


@pytest.mark.parametrize("mode", RUNS)
def test_no_file_outside_the_workers_folders_changed(batches, mode):
    batch = batches(mode)
    assert all(text == f"sentinel {batch['token']}" for text in batch["sentinels"].values()), batch["sentinels"]
    assert batch["changed"] == set()
    assert batch["files"] == []
    assert batch["worker_folders"] == [], "every worker's folder is removed afterwards"


@pytest.mark.parametrize("mode", [m for m in RUNS if m != "rlimits"])
def test_no_connection_left_the_sandbox(batches, mode):
    assert batches(mode)["connections"] == []


@pytest.mark.parametrize("mode", RUNS)
def test_nothing_hidden_reaches_a_result(batches, mode):
    text = json.dumps(batches(mode)["results"])
    assert not [s for s in SECRETS if s in text]


def test_the_checks_see_what_they_look_for(tmp_path):
    """The survivor, file and connection checks above can fail: here each finds its target."""
    token = secrets.token_hex(4)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", f"hostile-{token}"])
    try:
        assert len(marked_processes(token)) == 1
    finally:
        proc.kill()
        proc.wait()
    assert marked_processes(token) == []
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / f"x-hostile-{token}.txt").write_text("")
    assert files_named(token, [tmp_path], recursive=True) and not files_named(token, [tmp_path])
    with socket.create_server(("127.0.0.1", 0)) as server:
        socket.create_connection(server.getsockname()).close()
        server.settimeout(5)
        server.accept()  # what the batch reads as a connection that got through


def test_hostile_output_is_never_parsed(tmp_path):
    """The fake results a submission prints reach no format the CLI emits, nor its score."""
    case = next(c for c in CASES if c.name == "prints fake results in every format")
    path = write(submission(ASSIGNMENT, {"sgd": case.sgd_cell}), tmp_path / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    env = {**os.environ, "AUTOGRADER_SANDBOX": MODE, "AUTOGRADER_LIMITS": json.dumps(LIMITS)}
    expected = 100 - (20 - case.expected["sgd"]) - (15 - case.expected["training"])
    for fmt in ("gradescope", "text"):
        proc = subprocess.run([*AUTOGRADER, "grade", str(path), "--format", fmt], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "100/100" not in proc.stdout and "100/100" not in proc.stderr
        if fmt == "gradescope":
            result = json.loads(proc.stdout)  # exactly one JSON document: nothing was mixed in
            assert result["score"] == expected
        else:
            assert proc.stdout.splitlines()[0].endswith(f": {expected}/100  ({ASSIGNMENT})")


def test_tampering_with_the_probes_is_flagged_for_the_ta(batches):
    """Patching probe code in the worker cannot be ruled out (README: threat model); it is flagged."""
    batch = batches(MODE)
    assert batch["by_name"]["honest"]["extra_data"]["review_flags"] == []
    flags = batch["by_name"]["replaces the grader's probe"]["extra_data"]["review_flags"]
    assert "sgd: reaches into the grader's modules" in flags


@pytest.mark.parametrize("mode", RUNS)
def test_forged_frames_are_recorded_for_the_ta_and_change_nothing_else(batches, mode):
    batch = batches(mode)
    assert batch["by_name"]["honest"]["extra_data"]["channel_violations"] == []
    for name in CHANNEL_CASES & set(RUNS[mode]):
        extra = batch["by_name"][name]["extra_data"]
        assert extra["channel_violations"], name
        assert any("grader's own channel" in f for f in extra["review_flags"]), name
        assert extra["sandbox"] == batch["by_name"]["honest"]["extra_data"]["sandbox"], name


def test_a_later_grading_in_a_new_process_is_unchanged(batches, tmp_path):
    """Whatever the hostile batch tried to plant, a separate grading of an honest notebook is the same."""
    batch = batches(MODE)
    path = write(submission(ASSIGNMENT), tmp_path / "honest" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    env = {**os.environ, "AUTOGRADER_SANDBOX": MODE, "AUTOGRADER_LIMITS": json.dumps(LIMITS)}
    proc = subprocess.run([*AUTOGRADER, "grade", str(path), "--format", "json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = json.loads(proc.stdout)[0]
    honest = batch["by_name"]["honest"]
    assert (again["score"], [t["output"] for t in again["tests"]]) == (honest["score"],
                                                                      [t["output"] for t in honest["tests"]])


@pytest.mark.skipif(os.geteuid() != 0, reason="the userns mode refuses only when the grader runs as root")
def test_userns_as_root_grades_nothing(tmp_path):
    """Asked for by name where it would leave student code uid 0 outside: refused, with the reason."""
    path = write(submission(ASSIGNMENT), tmp_path / "x" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    proc = subprocess.run([*AUTOGRADER, "grade", str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "AUTOGRADER_SANDBOX": "userns"})
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "nothing was graded" in proc.stderr and "the namespaces mode" in proc.stderr
