"""The TA's and the student's pages in a real browser: headless Chromium, driven by Selenium.

One small class is graded through ``autograder autograde`` and ``nbgrader generate_feedback``;
then Chromium opens the class report, a student's nbgrader feedback page (both from files,
with the network unreachable to them: they must work offline) and formgrader's manual-grading
page for one submission, served live by a Jupyter server on 127.0.0.1 with a token. Each test
checks what a person would look for (the student's plot, the rubric, the failures grouped by
cause) and saves a screenshot in its tmp dir.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them as root); skipped,
with the reason, where they are missing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from autograder.corpus import cases
from tests.batch_helpers import ASSIGNMENT, answered, autograde, hand_in, sqlite_url, with_outputs
from tests.course_helpers import make_course, run

WRONG = cases("linreg_scratch").WRONG

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                       reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)"),
]

WRONG_CELLS = {c.name: c.cells for c in WRONG}
SYNTAX_ERROR = {"sgd": "def sgd(params, lr, batch_size)\n    pass\n"}
TOKEN = "autograder-browser-test"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("browser"), [ASSIGNMENT])
    run(["generate_assignment", ASSIGNMENT, "--force"], course)
    hand_in(course, "ada", with_outputs())
    hand_in(course, "ben", answered(WRONG_CELLS["sgd does not divide by batch_size"]))
    hand_in(course, "cyd", answered(WRONG_CELLS["sgd does not divide by batch_size"]))
    hand_in(course, "fay", answered(SYNTAX_ERROR))
    proc = autograde(course)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    run(["generate_feedback", ASSIGNMENT], course)
    return course


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1600", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def visible_text(driver) -> str:
    return driver.find_element("tag name", "body").text


def loaded_images(driver) -> list[dict]:
    """Every <img> the browser decoded, with its size on screen."""
    return driver.execute_script(
        "return Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0)"
        ".map(i => ({src: i.src.slice(0, 40), w: i.getBoundingClientRect().width}));")


def screenshot_at(driver, text: str, path: Path) -> None:
    """Scroll the first element showing ``text`` (or the student's plot, for "plot") into view, then save."""
    driver.execute_script(
        "const t = arguments[0]; const el = t === 'plot' ? Array.from(document.images).find("
        "i => i.src.startsWith('data:image/png')) : Array.from(document.querySelectorAll('h2, h3, p, strong, b'))"
        ".find(e => e.textContent.includes(t)); if (el) el.scrollIntoView({block: 'start'});", text)
    driver.save_screenshot(str(path))


def network_urls(driver) -> list[str]:
    """What the page asked the network for (scripts, styles, images); files and data: URLs aside."""
    return [u for u in driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
            if not u.startswith(("file:", "data:"))]


def test_class_report_groups_causes_and_sorts(course, browser, tmp_path):
    browser.get((course / "reports" / ASSIGNMENT / "report.html").as_uri())
    text = visible_text(browser)
    causes = text.split("Failures by cause", 1)[1].split("Code worth a look", 1)[0]
    mistakes = causes.split("Mistakes in the code", 1)[1].split("Code that does not run", 1)[0]
    assert mistakes.count("divide by batch_size") == 1 and "ben, cyd" in mistakes  # one cause, one row
    broken = causes.split("Code that does not run", 1)[1].split("Not attempted", 1)[0]
    assert "cell 'sgd' does not run: SyntaxError at line 1" in broken and "fay" in broken
    assert "total\n(out of 100)" in text and "sgd\n(out of 20)" in text and "class mean" in text
    students = ("return Array.from(document.querySelectorAll('#scores tbody tr td:first-child'))"
                ".map(td => td.innerText);")
    assert browser.execute_script(students) == ["ada", "ben", "cyd", "fay"]
    total = browser.find_element("css selector", "#scores thead th:nth-child(2)")
    total.click()  # ascending by total: the two wrong sgd (92) before ada (100); fay (65) first
    assert browser.execute_script(students)[0] == "fay" and browser.execute_script(students)[-1] == "ada"
    total.click()
    assert browser.execute_script(students)[0] == "ada"
    assert len(loaded_images(browser)) == 2  # the two charts
    assert network_urls(browser) == []
    screenshot_at(browser, "Failures by cause", tmp_path / "report.png")


def test_student_feedback_shows_the_plot_and_the_rubric_offline(course, browser, tmp_path):
    browser.get((course / "feedback" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.html").as_uri())
    text = visible_text(browser)
    assert "Rubric for exercise_d" in text and "A plot with one loss curve per learning rate" in text
    assert "the student's own output" in text and "My answer to (d)" in text
    plots = [i for i in loaded_images(browser) if i["src"].startswith("data:image/png")]
    assert plots and plots[0]["w"] > 100, plots
    assert network_urls(browser) == []  # no MathJax from a CDN
    screenshot_at(browser, "plot", tmp_path / "feedback.png")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def formgrader(course, tmp_path_factory):
    """A Jupyter server in the course root, on loopback with a token; installing nbgrader enables
    its formgrader extension in the environment's Jupyter config."""
    port = free_port()
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "HOME": str(home), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={course}", "--ServerApp.allow_root=True"],
        cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail("the Jupyter server did not start:\n" + (home / "server.log").read_text()[-3000:])
            time.sleep(0.3)
    yield url
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def test_formgrader_shows_the_plot_and_the_rubric_to_the_ta(course, formgrader, browser, tmp_path):
    from nbgrader.api import Gradebook

    with Gradebook(sqlite_url(course), "d2l") as gb:
        submission = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "ada").id
    browser.get(f"{formgrader}/formgrader/submissions/{submission}/?token={TOKEN}")
    deadline = time.monotonic() + 30
    while "Rubric for exercise_d" not in visible_text(browser) and time.monotonic() < deadline:
        time.sleep(0.5)
    text = visible_text(browser)
    assert "Rubric for exercise_d" in text and "A plot with one loss curve per learning rate" in text
    assert "the student's own output" in text and "My answer to (d)" in text
    plots = [i for i in loaded_images(browser) if i["src"].startswith("data:image/png")]
    assert plots and plots[0]["w"] > 100, plots
    assert "sgd: 20/20" in text  # the grade cells show the engine's report
    screenshot_at(browser, "plot", tmp_path / "formgrader.png")
