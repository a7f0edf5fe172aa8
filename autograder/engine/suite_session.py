"""The hidden suite as one pytest session per process, run again for each submission.

``pytest.main`` per submission built pytest's configuration, read every plugin again for
fixtures and collected the same tests again: about 18 ms of a grading process's CPU per
submission, a third of what pytest cost it. A ``SuiteSession`` does that once, and grades each
submission with pytest's own run loop (the ``pytest_runtestloop`` hook) over the collected
items. The loop's last item tears down every fixture, session-scoped ones included, so nothing
of one submission's run is set up for the next; the re-run of an item is pytest's own
protocol (pytest-rerunfailures runs items again the same way).

The session's pytest holds two plugins: ``SuitePlugin`` (the hooks) and ``suite_fixtures``
(``student``, ``params``, ``rng``, ``cuda``); both answer for the submission being graded,
which ``SuiteSession.run`` puts in the config's stash for the length of its run.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from _pytest.config import _prepareconfig  # what pytest.main builds its config with

from autograder.engine import suite_fixtures
from autograder.engine.suite_fixtures import GRADING, grading_of
from autograder.graders import make_importable
from autograder.results import part_of

if TYPE_CHECKING:
    from autograder.assignment import Assignment
    from autograder.engine.runner import GradingRun

# pytest's plugins a grading run does without. Its own result collection is GradingRun;
# stdout and stderr are redirected around the run; a third-party plugin installed next to the
# kit (pytest-randomly reorders tests) must not change a grade. Measured per run of the scratch
# suite with all 26 tests failing, pytest's failure text already off: 124 ms with these
# plugins, 70 ms without. A kept session has no terminal either (``SuiteSession``).
UNUSED_PLUGINS = ("cacheprovider", "faulthandler", "warnings", "stepwise", "capture", "logging", "junitxml",
                  "pastebin", "doctest", "debugging", "unittest", "setuponly", "setupplan", "legacypath",
                  "tmpdir", "monkeypatch", "recwarn", "subtests", "unraisableexception", "threadexception")


def pytest_args(suite_dir: Path) -> list[str]:
    return [str(suite_dir), "--rootdir", str(suite_dir), "--confcutdir", str(suite_dir),
            "-c", os.devnull, "--assert=plain", "-q", "--disable-plugin-autoload",
            *(arg for name in UNUSED_PLUGINS for arg in ("-p", f"no:{name}"))]


def tags_of(item: pytest.Item) -> list[str]:
    """The module's tag (the part) first, then the test's own (such as "exercise")."""
    tags = [t for mark in reversed(list(item.iter_markers("tags"))) for t in mark.args]
    return sorted(set(tags), key=tags.index)


def quiet() -> contextlib.ExitStack:
    """pytest's report and anything the suite prints or warns (numpy's RuntimeWarnings) are
    nobody's reading: the grading run's entries are the result."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


class SuitePlugin:
    """The hooks of a kept session: the tests' order, and each outcome handed to the
    submission's ``GradingRun`` (the fixtures are ``suite_fixtures``)."""

    def __init__(self, assignment: Assignment, parts: frozenset[str] | None) -> None:
        self.order = {part: i for i, part in enumerate(assignment.parts())}
        self.parts = parts  # only these parts' tests run (None: all)

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "points(n): what the test is worth")
        config.addinivalue_line("markers", "tags(*names): the part of the assignment it grades")

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Run and report the parts in the notebook's order (stable within a part). With
        ``parts``, only those parts' tests run (``variant new`` checks each corpus case at its
        own part; a grade always runs them all)."""
        items.sort(key=lambda item: self.order.get(part_of(tags_of(item)), len(self.order)))
        if self.parts is not None:
            keep = [item for item in items if part_of(tags_of(item)) in self.parts]
            config.hook.pytest_deselected(items=[item for item in items if item not in keep])
            items[:] = keep

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        grading_of(item.config).student.begin_test(item.name)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
        report = failure_report(item, call) or pytest.TestReport.from_item_and_call(item, call)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            grading = grading_of(item.config)
            grading.entries.append(grading.entry(item, call, report))
        return report


def failure_report(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport | None:
    """pytest's report of a failed test, with the exception's one line as its text; None for
    anything else (pytest makes that report itself).

    The grading run explains a failure from ``call.excinfo`` and nobody reads pytest's own
    text, which pytest builds by parsing each test file and reprs of every frame's arguments:
    on the 40-submission benchmark that was a fifth of a grading process's CPU."""
    excinfo = call.excinfo
    if excinfo is None or isinstance(excinfo.value, (pytest.skip.Exception, BaseExceptionGroup)):
        return None
    return pytest.TestReport(item.nodeid, item.location, dict.fromkeys(item.keywords, 1), "failed",
                             excinfo.exconly(), call.when, [], call.duration, call.start, call.stop)


class SuiteError(Exception):
    """pytest could not set up the suite's session: nothing of it can be graded."""


class SuiteSession:
    """An assignment's suite, configured and collected once; ``run`` grades one submission."""

    def __init__(self, assignment: Assignment, parts: frozenset[str] | None) -> None:
        self.plugin = SuitePlugin(assignment, parts)
        self.lock = threading.Lock()  # one submission at a time (a Dask worker runs tasks in threads)
        self.usable = False
        make_importable(assignment.grader)  # its suite imports the folder's own helpers
        # No terminal: it would keep every report of every submission (and -q is its option).
        args = [a for a in pytest_args(assignment.suite_dir) if a != "-q"] + ["-p", "no:terminal"]
        with quiet():
            self.config = _prepareconfig(args, [self.plugin, suite_fixtures])
            self.session = pytest.Session.from_config(self.config)
            self.config._do_configure()
            self.config.hook.pytest_sessionstart(session=self.session)
            self.config.hook.pytest_collection(session=self.session)
        if self.session.testsfailed:
            raise SuiteError(f"pytest could not collect the hidden suite ({self.session.testsfailed} "
                             "errors during collection)")
        self.ids = [item.name for item in self.session.items]
        self.usable = True

    def run(self, grading: GradingRun) -> int:
        """pytest's run loop over the collected tests, for ``grading``'s submission; its exit code
        as ``pytest.main`` gives it. Anything but a finished loop retires the session."""
        session = self.session
        with self.lock, quiet():
            session.testsfailed = 0
            session.shouldfail = session.shouldstop = False
            self.config.stash[GRADING] = grading
            grading.selected = list(self.ids)
            cwd = os.getcwd()
            try:
                self.config.hook.pytest_runtestloop(session=session)
            except KeyboardInterrupt:
                self.usable = False
                return int(pytest.ExitCode.INTERRUPTED)
            except BaseException as exc:  # noqa: BLE001 - a fault of ours: this run reports it
                self.usable = False
                grading.errors.append(f"pytest stopped inside the hidden suite ({type(exc).__name__}: {exc})")
                return int(pytest.ExitCode.INTERNAL_ERROR)
            finally:
                del self.config.stash[GRADING]
                os.chdir(cwd)  # a test may chdir; pytest.main too goes back to where it started
        if session.testsfailed:
            return int(pytest.ExitCode.TESTS_FAILED)
        if session.testscollected == 0:
            return int(pytest.ExitCode.NO_TESTS_COLLECTED)
        return int(pytest.ExitCode.OK)


_kept: dict[tuple[str, str, frozenset[str] | None], SuiteSession] = {}


def kept_session(assignment: Assignment, parts: set[str] | None = None) -> SuiteSession:
    """This process's session of ``assignment``'s suite (for those ``parts``), made on first use.

    Like the suite's modules, which are imported once per process, it lives as long as the
    process: a changed suite is graded by new processes (a new batch, a restarted service)."""
    chosen = frozenset(parts) if parts is not None else None
    key = (str(assignment.suite_dir), str(assignment.source_notebook), chosen)
    session = _kept.get(key)
    if session is None or not session.usable:
        _kept.pop(key, None)
        session = SuiteSession(assignment, chosen)
        _kept[key] = session
    return session
