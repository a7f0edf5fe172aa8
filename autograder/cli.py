"""The ``autograder`` command (argparse: the standard library's parser, nothing to install)."""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import sys
import threading
from pathlib import Path

from autograder.render import RENDERERS, render
from autograder.results import Result

log = logging.getLogger("autograder")
STREAMED = "text"  # printed as each notebook is graded; the other formats print one document at the end


def cmd_grade(args: argparse.Namespace) -> int:
    from autograder.engine.runner import grade_notebook, worker_device
    from autograder.engine.student import Limits, SandboxUnavailable, choose_mode, shutdown, warm_up

    warm_up(probe_modules(args.notebooks, args.assignment, args.course))
    try:
        try:
            mode = choose_mode(Limits.from_env(), worker_device(args.device))
        except SandboxUnavailable as exc:
            print(f"autograder grade: nothing was graded: {exc}", file=sys.stderr)
            return 2
        log.info("sandbox: %s", mode)
        results, unreadable = [], []
        for path in args.notebooks:
            reason = not_a_notebook(path)
            if reason:
                unreadable.append(f"{path}: {reason}")
            log.info("grading %s", path)
            result = Result.from_dict(grade_notebook(path, args.assignment, course_root=args.course,
                                                     device=args.device, student_id=args.student or student_of(path)))
            results.append(result)
            if args.format == STREAMED:
                print(render([result], args.format), flush=True)
    finally:
        shutdown()  # the fork server exits before this command does
    if args.format != STREAMED:  # one document for all the notebooks
        print(render(results, args.format))
    for line in unreadable:  # each still got its result above, scored 0 with the reason
        print(f"autograder grade: {line}", file=sys.stderr)
    return 1 if unreadable else 0


def not_a_notebook(path: Path) -> str | None:
    """Why ``path`` cannot be read as a notebook (missing, a folder, damaged, not JSON); None if it can."""
    from autograder.notebook import NotebookError, read_notebook

    try:
        read_notebook(path)
    except NotebookError as exc:
        return str(exc)
    return None


def probe_modules(paths: list[Path], assignment: str | None, course: Path | None) -> list[str]:
    """What the fork server should import for the notebooks' assignments' probes."""
    from autograder.assignment import Assignment, AssignmentError
    from autograder.course import find_course_root
    from autograder.notebook import NotebookError, assignment_of, read_notebook

    modules = set()
    for path in paths:
        try:
            name = assignment or assignment_of(read_notebook(path), path)
            modules.update(Assignment.load(name, course or find_course_root(path.parent)).grader.preload())
        except (NotebookError, AssignmentError):
            continue  # grade_notebook reports it
    return sorted(modules)


def student_of(path: Path) -> str:
    """The student id in nbgrader's layout, ``.../<student>/<assignment>/<notebook>.ipynb``."""
    parts = path.resolve().parts
    return parts[-3] if len(parts) >= 3 and parts[-2] == path.stem else ""


def cmd_release(args: argparse.Namespace) -> int:
    from autograder.assignment import AssignmentError
    from autograder.course import release

    try:
        return release(args.assignment, args.course)
    except AssignmentError as exc:
        print(f"autograder release: {exc}", file=sys.stderr)
        return 2


def cmd_autograde(args: argparse.Namespace) -> int:
    """Grade the class; the exit status is 0 when nothing needs a human, 1 when something does.

    The count of submissions that need a human is the class report's, for the whole class.
    """
    from autograder.course import find_course_root
    from autograder.engine.student import shutdown

    root = args.course or find_course_root(default=None)
    if root is None:
        print("autograder autograde: no nbgrader_config.py here or above: run it in the course root "
              "or pass --course", file=sys.stderr)
        return 2  # batch.run.EXIT_SETUP, not imported yet: it brings nbgrader
    try:
        if args.scheduler is None:
            start_fork_server(args.assignment, root)
        return autograde_and_say(args, root)
    except KeyboardInterrupt:  # while the fork server started
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        shutdown()  # whatever happened, the fork server goes with this command


def start_fork_server(assignment: str, root: Path) -> None:
    """The batch's fork server, started before anything else: it imports torch (2.5 s) while this
    process imports nbgrader and reads the course (``batch.run.autograde`` then finds it running)."""
    from autograder.assignment import Assignment, AssignmentError
    from autograder.course import tools_on_path
    from autograder.engine.student import share_fork_server

    tools_on_path()
    try:
        preload = Assignment.load(assignment, root.resolve()).grader.preload()
    except AssignmentError:
        return  # autograde says what is wrong
    share_fork_server(preload)


def autograde_and_say(args: argparse.Namespace, root: Path) -> int:
    from autograder.assignment import AssignmentError
    from autograder.batch.cluster import ClusterError
    from autograder.batch.gradebook import GradebookError
    from autograder.batch.run import EXIT_INTERRUPTED, EXIT_SETUP, autograde
    from autograder.course import CourseError

    try:
        summary = autograde(args.assignment, course_root=root, students=args.student, jobs=args.jobs,
                            device=args.device, force=args.force, reports=args.reports,
                            progress=False if args.no_progress else None, scheduler=args.scheduler)
    except (CourseError, GradebookError, AssignmentError, ClusterError) as exc:
        print(f"autograder autograde: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:  # before grading began: nothing was stored
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"{args.assignment}: graded {len(summary.graded)}, already graded {len(summary.skipped)}; "
          f"needs a human: {len(summary.needs_human)} of {summary.class_size} in the class "
          f"({summary.seconds:.1f} s)")
    box = summary.sandbox
    print(f"sandbox: {box.get('mode')}" + (f" (WEAKER ISOLATION: {'; '.join(box['notes'])})" if box.get("weaker")
                                           else ""))
    if summary.interrupted:
        print("interrupted: run the same command again to grade the rest")
    if summary.report:
        print(f"class report: {summary.report}")
    if summary.worth_a_look:
        print(f"answer code worth a look, no points lost ({len(summary.worth_a_look)}): "
              f"{', '.join(summary.worth_a_look)} (see the report)")
    if summary.needs_human:
        print(f"needs a human ({len(summary.needs_human)}):")
        for student, reason in summary.needs_human.items():
            print(f"  {student}: {reason}")
    return summary.exit_code


def cmd_variant_new(args: argparse.Namespace) -> int:
    from autograder.assignment import AssignmentError
    from autograder.course import find_course_root
    from autograder.variants import VariantError, create_variant, root_base, rules_of

    course = (args.course or find_course_root()).resolve()
    try:
        overrides = rules_of(root_base(args.assignment, course)).parse_overrides(args.set)
        report = create_variant(args.assignment, args.name, course=course, seed=args.seed,
                                overrides=overrides, dry_run=args.dry_run)
    except (VariantError, AssignmentError) as exc:
        print(f"autograder variant new: {exc}", file=sys.stderr)
        return 2
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def cmd_variant_list(args: argparse.Namespace) -> int:
    from autograder.assignment import AssignmentError
    from autograder.course import find_course_root
    from autograder.variants import VariantError, variant_table

    try:
        print(variant_table((args.course or find_course_root()).resolve(), args.assignment))
    except (AssignmentError, VariantError) as exc:
        print(f"autograder variant list: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    """Grade new submissions from the exchange and return a page to each student (never final grades)."""
    from autograder.assignment import AssignmentError
    from autograder.batch.cluster import ClusterError
    from autograder.course import CourseError, find_course_root
    from autograder.watch import watch
    from autograder.watch.exchange import ExchangeError

    root = args.course or find_course_root(default=None)
    if root is None:
        print("autograder watch: no nbgrader_config.py here or above: run it in the course root", file=sys.stderr)
        return 2
    try:
        summary = watch(args.assignment, course_root=root, once=args.once, jobs=args.jobs or 2,
                        device=args.device, interval=args.interval, scheduler=args.scheduler)
    except (CourseError, AssignmentError, ExchangeError, ClusterError, ValueError) as exc:
        print(f"autograder watch: {exc}", file=sys.stderr)
        return 2
    print(f"{args.assignment}: {summary.line()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    grade = sub.add_parser("grade", help="grade notebooks with the hidden suites")
    grade.add_argument("notebooks", nargs="+", type=Path)
    grade.add_argument("--assignment", help="default: read from the notebook")
    grade.add_argument("--format", choices=list(RENDERERS), default="text")
    grade.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    grade.add_argument("--course", type=Path, help="course root (default: found from the cwd)")
    grade.add_argument("--student", help="student id: seeds this student's test inputs")
    grade.set_defaults(func=cmd_grade)

    batch = sub.add_parser("autograde", help="grade every submission of an assignment into the gradebook",
                           description="Grade submitted/*/ASSIGNMENT in parallel, store the grades in "
                           "nbgrader's gradebook, write autograded notebooks, feedback and a class report. "
                           "Exit status: 0 all graded, 1 something needs a human, 2 cannot start, "
                           "130 interrupted.")
    batch.add_argument("assignment")
    batch.add_argument("--student", default="*", metavar="GLOB", help="only these student ids (default: all)")
    batch.add_argument("--jobs", type=int, metavar="N", help="grading processes (default: the CPU cores)")
    batch.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    batch.add_argument("--force", action="store_true", help="grade again what is already graded")
    batch.add_argument("--course", type=Path, help="course root (default: found from the cwd)")
    batch.add_argument("--reports", type=Path, metavar="DIR",
                       help="where results, feedback pages and the class report go "
                       "(default: COURSE/reports/ASSIGNMENT)")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    batch.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="grade on this Dask cluster (dask scheduler / dask worker) instead of a local pool; "
                       "this machine still writes the gradebook and every file")
    batch.set_defaults(func=cmd_autograde)

    release = sub.add_parser("release", help="generate assignments/NAME from solutions/NAME")
    release.add_argument("assignment")
    release.add_argument("--course", type=Path)
    release.set_defaults(func=cmd_release)

    watcher = sub.add_parser("watch", help="feedback on each nbgrader submit, before the deadline",
                             description="Grade each new submission of ASSIGNMENT in the course's exchange "
                             "with the hidden suites and return a page through nbgrader's feedback exchange "
                             "(nbgrader fetch_feedback). Never writes grades. Runs until Ctrl-C/SIGTERM.")
    watcher.add_argument("assignment")
    watcher.add_argument("--once", action="store_true", help="grade what is new, then exit")
    watcher.add_argument("--jobs", type=int, metavar="N", help="grading processes (default: 2)")
    watcher.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    watcher.add_argument("--interval", type=float, default=2.0, metavar="S", help="seconds between looks")
    watcher.add_argument("--course", type=Path, help="course root (default: found from the cwd)")
    watcher.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                         help="grade on this Dask cluster instead of a local pool; pages are written here")
    watcher.set_defaults(func=cmd_watch)

    variant = sub.add_parser("variant", help="new variants of an assignment, with new parameters")
    variant_sub = variant.add_subparsers(dest="variant_command", required=True)
    new = variant_sub.add_parser("new", help="draw, validate and release a variant of ASSIGNMENT")
    new.add_argument("assignment", help="the base assignment, e.g. linreg_scratch")
    new.add_argument("--name", required=True, help="the variant's assignment name, e.g. linreg_scratch_2026")
    new.add_argument("--seed", type=int, help="seed of the random parameters (default: a random one, printed)")
    new.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="fix a parameter, e.g. --set lr=0.05 --set true_w=[1,-2,3] (repeatable)")
    new.add_argument("--course", type=Path, help="course root (default: found from the cwd)")
    new.add_argument("--report", type=Path, help="also write the validation report here, as JSON")
    new.add_argument("--dry-run", action="store_true", help="validate only: write nothing into the course")
    new.set_defaults(func=cmd_variant_new)
    show = variant_sub.add_parser("list", help="ASSIGNMENT and its variants, parameters side by side")
    show.add_argument("assignment")
    show.add_argument("--course", type=Path)
    show.set_defaults(func=cmd_variant_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    from autograder.batch.speed import one_blas_thread, skip_iri_grammar

    skip_iri_grammar()  # 1.3-1.9 s of every command that imports nbformat (batch/speed.py)
    one_blas_thread()  # BLAS's spinning threads took the workers' cores (batch/speed.py)
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


def run() -> None:
    """The ``autograder`` command: ``main``, then an exit without the interpreter's teardown.

    Freeing, module by module, what a batch imported (nbgrader, SQLAlchemy, matplotlib, pytest)
    took 0.08-0.1 s at the end of every command, with nothing left to do: every file is closed
    by then and the gradebook committed. The exit handlers still run (the fork server's
    shutdown, multiprocessing's clean-up of its temporary folder, logging's flush), then the
    standard streams are flushed. An exception, ``--help``, a usage error, or a thread still at
    work (which the interpreter would wait for) exits as usual."""
    code = main()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the exit status still tells
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
