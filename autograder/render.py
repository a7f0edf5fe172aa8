"""How results are shown: one renderer per output format, behind one registry.

A renderer turns the results of one run (the notebooks of one ``autograder grade``, a student's
submission) into one output's text; ``autograder grade --format`` offers exactly the registry's
names. Text is printed as each notebook is graded, so rendering results one at a time and joining
them with newlines gives the same text. The HTML pages (templates/feedback.html.j2, the watch
pages) and nbgrader's grade cells are written from the same pieces: ``Result.parts()`` and ``mark``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

from autograder.results import Part, Result, TestResult, fmt

MARKS = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}


def mark(status: str | None) -> str:
    """A check's mark; results.json leaves a skipped check without a status (also a jinja filter)."""
    return MARKS.get(status or "skipped", MARKS["skipped"])


def check_lines(test: TestResult, indent: str = "") -> list[str]:
    """A check's line, and under it what it saw unless it passed."""
    lines = [f"{indent}[{mark(test.status)}] {test.name} ({fmt(test.score)}/{fmt(test.max_score)})"]
    if test.outcome != "passed":
        lines += [f"{indent}    {line}" for line in test.output.splitlines()]
    return lines


def text_one(result: Result) -> str:
    """The report of one notebook, as ``autograder grade`` prints it."""
    extra = result.extra_data
    lines = [f"{extra['notebook']}: {fmt(result.score)}/{fmt(result.max_score)}  ({extra['assignment']})"]
    if result.output:
        lines += ["  " + line for line in result.output.splitlines()]
    box = extra.get("sandbox") or {}
    if box.get("weaker"):
        lines.append(f"  sandbox: {box['mode']}, WEAKER ISOLATION: " + "; ".join(box.get("notes") or []))
    flags = extra.get("review_flags")
    if flags:
        lines.append("  for the TA, worth a look (no points lost): " + "; ".join(flags))
    for part in result.parts().values():
        lines.append(f"  {part.name}: {fmt(part.score)}/{fmt(part.max_score)}")
        for test in part.tests:
            lines += check_lines(test, "    ")
    return "\n".join(lines)


def part_text(result: Result, name: str) -> tuple[Part, str]:
    """One part and its report, for its grade cell in nbgrader (the notebook's message on top)."""
    part = result.parts().get(name) or Part(name)
    lines = [f"{name}: {fmt(part.score)}/{fmt(part.max_score)}"]
    if result.output:
        lines.append(result.output)
    for test in part.tests:
        lines += check_lines(test)
    return part, "\n".join(lines) + "\n"


def gradescope_dict(result: Result) -> dict[str, Any]:
    """Gradescope knows only passed and failed; a skipped check is shown without a status."""
    tests = [dataclasses.replace(t, status=None) if t.status == "skipped" else t for t in result.tests]
    return dataclasses.replace(result, tests=tests).to_dict()


def text(results: list[Result]) -> str:
    return "\n".join(text_one(r) for r in results)


def as_json(results: list[Result]) -> str:
    """Every field, ours included: a list, one result per notebook."""
    return json.dumps([r.to_dict() for r in results], indent=2)


def gradescope(results: list[Result]) -> str:
    """What Gradescope reads (results.json): one object; a list when several notebooks were graded."""
    out = [gradescope_dict(r) for r in results]
    return json.dumps(out[0] if len(out) == 1 else out, indent=2)


RENDERERS: dict[str, Callable[[list[Result]], str]] = {"text": text, "json": as_json, "gradescope": gradescope}


def render(results: Sequence[Result], output_format: str) -> str:
    """The results in ``output_format``, one of ``RENDERERS``."""
    return RENDERERS[output_format](list(results))
