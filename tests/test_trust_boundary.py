"""The trust boundary in a whole batch: a hostile student between honest ones changes nothing of theirs.

Two courses grade the same honest submissions with ``autograder autograde --jobs 1`` (one
grading process, so the hostile student's worker comes and goes between theirs); one course
also holds ``hana``, whose answer cell forges the engine's control messages, tries to write
the gradebook, the other students' files and the Python environment, starts a daemon meant to
outlive the batch and raises with a lone surrogate in its message; her ``linreg`` writes forged
frames on the channel. The honest students' stored
grades, autograded notebooks, results and feedback must be the same in both courses, and
nothing may survive the command (the fork servers included). A submission folder holding a
symlink to the solution is never read or copied, by the batch or by ``nbgrader autograde``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import site
import sys
from pathlib import Path

import pytest

from autograder.corpus import cases
from autograder.course import nbgrader
from autograder.engine import sandbox
from tests.batch_helpers import ASSIGNMENT, answered, autograde, hand_in, results, sqlite_url, stored
from tests.course_helpers import make_course, run
from tests.hostile.cases import CHANNEL, FORGED

WRONG = cases("linreg_scratch").WRONG

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    sandbox.preflight("auto")[0] is None, reason=f"no isolating sandbox here: {sandbox.preflight('auto')[1]}")]

HONEST = {"ada": answered(), "zed": answered({c.name: c for c in WRONG}["sgd does not divide by batch_size"].cells)}
TOKEN = secrets.token_hex(4)

# linreg forges every control message an earlier engine obeyed, then computes honestly.
FORGING_LINREG = CHANNEL + f'''
def linreg(X, w, b):
    for message in {FORGED!r}:
        say(message)
    return torch.matmul(X, w) + b
'''
HOSTILE = f'''
import os, site, sys, time
outcomes = []
course = "@COURSE@"
for path in [os.path.join(course, "gradebook.db"), os.path.join(course, "submitted", "ada", "{ASSIGNMENT}",
             "{ASSIGNMENT}.ipynb"), os.path.join(course, "autograded", "ada", "{ASSIGNMENT}", "{ASSIGNMENT}.ipynb"),
             *[os.path.join(p, "hostile-{TOKEN}.pth") for p in site.getsitepackages()]]:
    try:
        with open(path, "a") as f:
            f.write("hostile")
        outcomes.append(path + ": WRITTEN")
    except OSError as exc:
        outcomes.append(f"{{path}}: {{exc.strerror}}")
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        import ctypes
        ctypes.CDLL(None).prctl(15, b"hst{TOKEN}", 0, 0, 0)
        time.sleep(600)
    os._exit(0)

def sgd(params, lr, batch_size):
    raise ValueError("lone surrogate \\udc80 " + "; ".join(outcomes))
'''


def survivors(token: str) -> list[str]:
    """Processes marked by the hostile cell, or started with this run's environment (fork servers)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X") and (comm == f"hst{token}" or f"RUN_TOKEN={token}".encode() in environ):
            found.append(f"{pid} {comm}")
    return found


def grade_course(folder: Path, students: dict, token: str) -> tuple[Path, object]:
    course = make_course(folder, [ASSIGNMENT])
    run(["generate_assignment", ASSIGNMENT, "--force"], course)
    for student, nb in students.items():
        hand_in(course, student, nb)
    os.environ["RUN_TOKEN"] = token  # marks every process this batch starts
    try:
        proc = autograde(course, "--jobs", "1")
    finally:
        del os.environ["RUN_TOKEN"]
    return course, proc


@pytest.fixture(scope="module")
def courses(tmp_path_factory):
    clean, clean_proc = grade_course(tmp_path_factory.mktemp("clean"), HONEST, secrets.token_hex(4))
    folder = tmp_path_factory.mktemp("attacked")
    course = folder / "course"
    hostile = answered({"sgd": HOSTILE.replace("@COURSE@", str(course)), "linreg": FORGING_LINREG})
    attacked, attacked_proc = grade_course(folder, {"ada": HONEST["ada"], "hana": hostile, "zed": HONEST["zed"]},
                                           TOKEN)
    return {"clean": (clean, clean_proc), "attacked": (attacked, attacked_proc), "left": survivors(TOKEN)}


def test_hana_is_graded_in_the_isolating_mode_and_earns_only_her_honest_parts(courses):
    course, proc = courses["attacked"]
    hana = results(course, "hana")
    assert hana["extra_data"]["sandbox"]["mode"] == sandbox.preflight("auto")[0]
    assert results(course, "ada")["extra_data"]["sandbox"] == hana["extra_data"]["sandbox"]
    parts = {}
    for test in hana["tests"]:
        parts[test["tags"][0]] = parts.get(test["tags"][0], 0) + test["score"]
    assert parts["sgd"] == parts["linreg"] == parts["training"] == 0
    assert hana["score"] == 50  # the reference's other three functions
    assert "sandbox: " + sandbox.preflight("auto")[0] in proc.stdout
    assert "WEAKER" not in proc.stdout


def test_her_attempts_failed_and_are_recorded_for_the_ta(courses):
    course, proc = courses["attacked"]
    hana = results(course, "hana")
    text = "\n".join(t["output"] for t in hana["tests"])
    assert "lone surrogate \\udc80" in text  # kept as its escape, and stored
    assert "WRITTEN" not in text and "Read-only file system" in text
    assert hana["extra_data"]["channel_violations"]
    assert "hana" in proc.stdout.split("worth a look", 1)[1].splitlines()[0]
    gradebook = stored(sqlite_url(course))
    assert sum(score or 0 for score, _ in gradebook["hana"]["grades"].values()) == 50


def test_the_honest_students_are_untouched(courses):
    (clean, _), (attacked, _) = courses["clean"], courses["attacked"]
    before, after = stored(sqlite_url(clean)), stored(sqlite_url(attacked))
    for student in HONEST:
        assert after[student]["grades"] == before[student]["grades"], student
        assert after[student]["comments"] == before[student]["comments"], student
        for rel in (f"autograded/{student}/{ASSIGNMENT}/{ASSIGNMENT}.ipynb",
                    f"submitted/{student}/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"):
            assert digest(attacked / rel) == digest(clean / rel), rel
        assert comparable(results(attacked, student)) == comparable(results(clean, student)), student
        page = Path("reports") / ASSIGNMENT / "students" / student / "feedback.html"
        assert without_time((attacked / page).read_text()) == without_time((clean / page).read_text()), student


def test_a_submission_folder_with_a_symlink_is_never_read_or_copied(tmp_path_factory):
    folder = tmp_path_factory.mktemp("symlink")
    course = make_course(folder, [ASSIGNMENT])
    run(["generate_assignment", ASSIGNMENT, "--force"], course)
    hand_in(course, "ada", answered())
    nb = hand_in(course, "sym", answered())
    (nb.parent / "notes.txt").symlink_to(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    proc = autograde(course, "--jobs", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    reason = proc.stdout.split("needs a human", 1)[1]
    assert "sym: " in reason and "notes.txt is a symbolic link" in reason
    assert not (course / "autograded" / "sym").exists()
    assert (course / "autograded" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()
    # nbgrader's own autograde, through the engine, refuses it too and keeps nothing of it in autograded/
    direct = nbgrader(["autograde", ASSIGNMENT, "--student", "sym", "--force"], course, check=False, quiet=True)
    assert "notes.txt is a symbolic link" in direct.stdout + direct.stderr
    assert not (course / "autograded" / "sym" / ASSIGNMENT).exists()  # nbgrader removes the failed folder


def test_nothing_outlives_the_batch(courses):
    assert courses["left"] == []
    leftovers = [p for p in (Path(x) for x in {*site.getsitepackages(), sys.prefix}) if list(p.glob(f"*{TOKEN}*"))]
    assert leftovers == []


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def comparable(result: dict) -> dict:
    """A result without the figures that measure time."""
    out = {k: v for k, v in result.items() if k != "execution_time"}
    out["extra_data"] = {k: v for k, v in result["extra_data"].items() if k not in ("batch", "notebook")}
    return out


def without_time(html: str) -> str:
    return re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", "<time>", html)
