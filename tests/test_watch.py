"""``autograder watch`` with a real nbgrader exchange: students submit with ``nbgrader submit`` and
get their page back with ``nbgrader fetch_feedback``; restarts, the attempt limit, no final grades."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest

from autograder.corpus import cases, submission, write
from autograder.watch import watch
from tests.course_helpers import make_course, run

WRONG = cases("linreg_scratch").WRONG

pytestmark = pytest.mark.slow  # nbgrader's exchange commands and grading processes: minutes

ASSIGNMENT = "linreg_scratch"
ANSWERS = {
    "ada": {},  # the reference answers
    "cyd": {c.name: c for c in WRONG}["sgd does not divide by batch_size"].cells,
    # hostile: lists the exchange (other submissions, pages) and shows it in its own error message
    "eve": {"linreg": "import os, glob\n\ndef linreg(X, w, b):\n"
                      "    seen = glob.glob(EXCHANGE + '/**', recursive=True)\n"
                      "    raise RuntimeError('LEAK ' + ' '.join(seen))\n"},
}


def student_home(folder: Path, student: str) -> Path:
    home = folder / "students" / student
    if not home.exists():
        home.mkdir(parents=True)
        (home / "nbgrader_config.py").write_text(
            "c = get_config()\nc.CourseDirectory.course_id = 'd2l'\n"
            f"c.Exchange.root = {str(folder / 'exchange')!r}\nc.Exchange.cache = {str(home / 'cache')!r}\n")
        run(["fetch_assignment", ASSIGNMENT], home)
    return home


def submit(folder: Path, student: str, cells: dict[str, str]) -> None:
    home = student_home(folder, student)
    write(submission(ASSIGNMENT, cells), home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    run(["submit", ASSIGNMENT, f"--student={student}"], home)


def fetched_pages(folder: Path, student: str) -> dict[str, str]:
    """timestamp -> the page nbgrader fetch_feedback brought back."""
    home = student_home(folder, student)
    run(["fetch_feedback", ASSIGNMENT, f"--student={student}"], home)
    return {p.parent.name: p.read_text() for p in (home / ASSIGNMENT / "feedback").glob("*/*.html")}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    folder = tmp_path_factory.mktemp("watch")
    course = make_course(folder, [ASSIGNMENT])
    config = course / "solutions" / ASSIGNMENT / "assignment.json"
    data = json.loads(config.read_text())
    config.write_text(json.dumps({**data, "watch": {"show": "hints", "attempts_per_hour": 2}}))
    run(["generate_assignment", ASSIGNMENT, "--force"], course)
    run(["release_assignment", ASSIGNMENT], course)
    for student, cells in ANSWERS.items():
        cells = {k: v.replace("EXCHANGE", repr(str(folder / "exchange"))) for k, v in cells.items()}
        submit(folder, student, cells)
    return folder, course


def test_each_student_gets_their_own_page_and_no_grades_are_written(course):
    folder, root = course
    lines = []
    summary = watch(ASSIGNMENT, course_root=root, once=True, jobs=2, device="cpu", log=lines.append)
    assert summary.line() == "graded 3 new, 0 already done", lines
    pages = {s: fetched_pages(folder, s) for s in ANSWERS}
    assert all(len(p) == 1 for p in pages.values()), pages
    ada, cyd, eve = (next(iter(pages[s].values())) for s in ("ada", "cyd", "eve"))
    assert "Autograded: <strong>100 / 100</strong>" in ada and "FAIL" not in ada
    assert "One step moves each parameter by -lr * grad / batch_size" in cyd and "FAIL" in cyd
    assert "batch_size" in cyd.split("FAIL", 1)[1]  # show: hints, so the failure says what was seen
    assert "FAIL" in eve and "def test_" not in eve + cyd  # never the suite's code
    assert "LEAK" in eve and "ada+" not in eve and ".html" not in eve.split("LEAK", 1)[1]
    for page, student in ((ada, "ada"), (cyd, "cyd"), (eve, "eve")):  # nobody sees another's page
        others = [s for s in pages if s != student]
        assert all(f"{s}+{ASSIGNMENT}" not in page for s in others)
    # never final grades: no gradebook submission, no autograded/ or feedback/ folder
    assert not (root / "autograded").exists() and not (root / "feedback").exists()
    run(["db", "student", "list"], root)
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert gb.find_assignment(ASSIGNMENT).submissions == []


def test_a_restart_grades_nothing_twice_and_misses_nothing(course):
    folder, root = course
    state = root / "watch" / ASSIGNMENT
    records = {p.stem: json.loads(p.read_text()) for p in state.glob("*.json")}
    ada = next(k for k in records if k.startswith("ada+"))
    # A crash after ada's page was written but before her record said so:
    (state / f"{ada}.json").write_text(json.dumps({**records[ada], "status": "pending"}))
    # ... and one while cyd's new submission was in hand: decided, no page yet.
    submit(folder, "cyd", {})
    summary = watch(ASSIGNMENT, course_root=root, once=True, jobs=1, device="cpu", log=lambda _: None)
    assert summary.line() == "graded 1 new, 2 already done"
    assert summary.graded[0].startswith("cyd+")
    again = watch(ASSIGNMENT, course_root=root, once=True, jobs=1, device="cpu", log=lambda _: None)
    assert again.line() == "graded 0 new, 4 already done"
    assert "100 / 100" in max(fetched_pages(folder, "cyd").items())[1]


def test_over_the_attempt_limit_the_page_says_when_the_next_attempt_is_graded(course):
    folder, root = course
    submit(folder, "cyd", {})  # cyd's third in the hour: the limit is 2
    summary = watch(ASSIGNMENT, course_root=root, once=True, jobs=1, device="cpu", log=lambda _: None)
    assert summary.line() == "graded 1 new (1 over the attempt limit), 4 already done"
    latest = max(fetched_pages(folder, "cyd").items())[1]
    assert "used your 2 graded attempts of the past hour" in latest and "next attempt can be graded from" in latest
    # An hour later it is graded again.
    submit(folder, "cyd", {})
    later = watch(ASSIGNMENT, course_root=root, once=True, jobs=1, device="cpu", log=lambda _: None,
                  clock=lambda: time.time() + 3700)
    assert later.line() == "graded 1 new, 5 already done" and not later.limited


def test_final_feedback_released_by_the_ta_is_never_replaced(course):
    folder, root = course
    feedback = folder / "exchange" / "d2l" / "feedback"
    page = next(feedback.glob("*.html"))
    page.write_text("<html>final feedback from nbgrader release_feedback</html>")
    state = root / "watch" / ASSIGNMENT
    for path in state.glob("*.json"):  # even if everything were graded again
        path.unlink()
    watch(ASSIGNMENT, course_root=root, once=True, jobs=2, device="cpu", log=lambda _: None)
    assert page.read_text() == "<html>final feedback from nbgrader release_feedback</html>"


def test_a_fetched_release_notebook_submitted_unchanged_scores_zero(course, tmp_path):
    folder, root = course
    home = student_home(folder, "gus")
    nb = nbformat.read(home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    assert "replace this stub" in json.dumps(nb)
    run(["submit", ASSIGNMENT, "--student=gus"], home)
    watch(ASSIGNMENT, course_root=root, once=True, jobs=1, device="cpu", log=lambda _: None)
    assert "Autograded: <strong>0 / 100</strong>" in next(iter(fetched_pages(folder, "gus").values()))


def test_links_in_a_submission_are_refused(course):
    folder, root = course
    inbound = folder / "exchange" / "d2l" / "inbound"
    ada = next(p for p in inbound.iterdir() if p.name.startswith("ada+"))
    # a notebook that links to ada's: graded as a refusal, nothing of ada's is read
    fake = inbound / f"mal+{ASSIGNMENT}+2026-12-01 10:00:00.000000 UTC+xyz"
    fake.mkdir()
    (fake / f"{ASSIGNMENT}.ipynb").symlink_to(ada / f"{ASSIGNMENT}.ipynb")
    (fake / "submission_secret.txt").write_text("mal-secret")
    (fake / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
    # a secret that links to ada's: would name ada's page; never picked up
    steal = inbound / f"mal+{ASSIGNMENT}+2026-12-01 10:00:01.000000 UTC+abc"
    steal.mkdir()
    (steal / "submission_secret.txt").symlink_to(ada / "submission_secret.txt")
    summary = watch(ASSIGNMENT, course_root=root, once=True, jobs=1, device="cpu", log=lambda _: None)
    assert summary.failed == [fake.name] and summary.line().startswith("graded 1 new (1 could not be graded)")
    from autograder.watch.exchange import feedback_path
    page = feedback_path(folder / "exchange", "d2l", "mal-secret", ASSIGNMENT).read_text()
    assert "links" in page and "Autograded" not in page


def test_killed_in_the_middle_of_a_burst_a_restart_misses_nothing_and_rewrites_no_page(course):
    import os
    import secrets
    import signal
    import subprocess
    import sys

    from autograder.watch.exchange import feedback_path

    folder, root = course
    inbound = folder / "exchange" / "d2l" / "inbound"
    pages = []
    for i in range(6):  # laid out as nbgrader submit leaves them, the secret last
        stamp = f"2026-12-01 11:00:0{i}.000000 UTC"
        sub = inbound / f"k{i}+{ASSIGNMENT}+{stamp}+{secrets.token_urlsafe(6)}"
        sub.mkdir()
        write(submission(ASSIGNMENT, {}), sub / f"{ASSIGNMENT}.ipynb")
        (sub / "timestamp.txt").write_text(stamp)
        secret = secrets.token_hex(16)
        (sub / "submission_secret.txt").write_text(secret)
        pages.append(feedback_path(folder / "exchange", "d2l", secret, ASSIGNMENT))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    watcher = subprocess.Popen([sys.executable, "-m", "autograder.cli", "watch", ASSIGNMENT, "--jobs", "1",
                                "--device", "cpu", "--interval", "0.5"], cwd=root, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while sum(p.exists() for p in pages) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        os.killpg(watcher.pid, signal.SIGKILL)  # the watcher and its grading processes, mid-burst
        watcher.wait()
    before = {p: p.stat().st_mtime_ns for p in pages if p.exists()}
    assert 2 <= len(before) < 6, "the kill should land in the middle of the burst"
    summary = watch(ASSIGNMENT, course_root=root, once=True, jobs=2, device="cpu", log=lambda _: None)
    assert all(p.exists() for p in pages)  # nothing missed
    assert {p: p.stat().st_mtime_ns for p in before} == before  # nothing graded twice
    assert sorted(summary.graded) == sorted(k for k in (s.name for s in inbound.iterdir())
                                            if k.startswith("k") and feedback_path(
                                                folder / "exchange", "d2l",
                                                (inbound / k / "submission_secret.txt").read_text(),
                                                ASSIGNMENT) not in before)
