"""Results in the Gradescope ``results.json`` schema, and their text rendering.

Our own fields (assignment, notebook, student, load errors, grading errors) go under
``extra_data``, which the schema reserves for that, so the object stays a valid
Gradescope result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def build_result(entries: list[dict[str, Any]], *, notebook: Path, assignment: str,
                 student: str = "", output: str | None = None,
                 cell_errors: list[dict[str, Any]] | None = None,
                 errors: list[str] | None = None, seconds: float = 0.0) -> dict[str, Any]:
    tests = [{k: e[k] for k in ("name", "score", "max_score", "status", "output", "tags",
                                "visibility")} for e in entries]
    score = round(sum(t["score"] for t in tests), 4)
    max_score = round(sum(t["max_score"] for t in tests), 4)
    lines = [output] if output else []
    for err in cell_errors or []:
        where = f" (line {err['where']['line']})" if err.get("where") else ""
        if where and err["message"].endswith(f"line {err['where']['line']})"):  # a SyntaxError says it already
            where = ""
        lines.append(f"Your cell '{err['cell']}' raised {err['type']}: {err['message']}{where}")
    return {
        "score": score,
        "max_score": max_score,
        "output": "\n".join(lines),
        "visibility": "visible",
        "execution_time": round(seconds, 3),
        "tests": tests,
        "extra_data": {
            "assignment": assignment,
            "notebook": str(notebook),
            "student": student,
            "test_ids": [e["id"] for e in entries],
            "cell_errors": cell_errors or [],
            "grading_errors": errors or [],
        },
    }


def part_scores(result: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Score and max per part: a test counts towards its first tag."""
    parts: dict[str, tuple[float, float]] = {}
    for test in result["tests"]:
        part = test["tags"][0] if test["tags"] else "other"
        got, out_of = parts.get(part, (0.0, 0.0))
        parts[part] = (got + test["score"], out_of + test["max_score"])
    return parts


def to_gradescope(result: dict[str, Any]) -> dict[str, Any]:
    """Gradescope knows only passed and failed; a skipped check is shown without a status."""
    tests = []
    for test in result["tests"]:
        test = dict(test)
        if test["status"] == "skipped":
            del test["status"]
        tests.append(test)
    return {**result, "tests": tests}


def render_text(result: dict[str, Any]) -> str:
    mark = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}
    lines = [f"{result['extra_data']['notebook']}: {fmt(result['score'])}/"
             f"{fmt(result['max_score'])}  ({result['extra_data']['assignment']})"]
    if result["output"]:
        lines += ["  " + line for line in result["output"].splitlines()]
    box = result["extra_data"].get("sandbox") or {}
    if box.get("weaker"):
        lines.append(f"  sandbox: {box['mode']}, WEAKER ISOLATION: " + "; ".join(box.get("notes") or []))
    flags = result["extra_data"].get("review_flags")
    if flags:
        lines.append("  for the TA, worth a look (no points lost): " + "; ".join(flags))
    parts = part_scores(result)
    for part, (got, out_of) in parts.items():
        lines.append(f"  {part}: {fmt(got)}/{fmt(out_of)}")
        for test in result["tests"]:
            if (test["tags"] or ["other"])[0] != part:
                continue
            lines.append(f"    [{mark[test['status']]}] {test['name']} "
                         f"({fmt(test['score'])}/{fmt(test['max_score'])})")
            if test["status"] != "passed":
                lines += ["        " + line for line in test["output"].splitlines()]
    return "\n".join(lines)


def fmt(x: float) -> str:
    return f"{x:g}"
