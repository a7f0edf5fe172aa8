"""The ``autograder`` command (argparse: the standard library's parser, nothing to install)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from autograder.results import render_text, to_gradescope

log = logging.getLogger("autograder")


def cmd_grade(args: argparse.Namespace) -> int:
    from autograder.engine.runner import grade_notebook
    from autograder.engine.student import warm_up

    warm_up()
    results = []
    for path in args.notebooks:
        log.info("grading %s", path)
        result = grade_notebook(path, args.assignment, course_root=args.course,
                                device=args.device, student_id=args.student or student_of(path))
        results.append(result)
        if args.format == "text":
            print(render_text(result), flush=True)
    if args.format == "gradescope":
        out = [to_gradescope(r) for r in results]
        print(json.dumps(out[0] if len(out) == 1 else out, indent=2))
    elif args.format == "json":
        print(json.dumps(results, indent=2))
    return 0


def student_of(path: Path) -> str:
    """The student id in nbgrader's layout, ``.../<student>/<assignment>/<notebook>.ipynb``."""
    parts = path.resolve().parts
    return parts[-3] if len(parts) >= 3 and parts[-2] == path.stem else ""


def cmd_release(args: argparse.Namespace) -> int:
    from autograder.course import release

    return release(args.assignment, args.course)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    grade = sub.add_parser("grade", help="grade notebooks with the hidden suites")
    grade.add_argument("notebooks", nargs="+", type=Path)
    grade.add_argument("--assignment", help="default: read from the notebook")
    grade.add_argument("--format", choices=["text", "json", "gradescope"], default="text")
    grade.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    grade.add_argument("--course", type=Path, help="course root (default: found from the cwd)")
    grade.add_argument("--student", help="student id: seeds this student's test inputs")
    grade.set_defaults(func=cmd_grade)

    release = sub.add_parser("release", help="generate assignments/NAME from solutions/NAME")
    release.add_argument("assignment")
    release.add_argument("--course", type=Path)
    release.set_defaults(func=cmd_release)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
