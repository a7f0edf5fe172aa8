"""Results in the Gradescope ``results.json`` schema, as typed objects.

A result travels and is stored as a plain dict (results.json, the Dask transport, the tests'
expectations); ``Result`` and ``TestResult`` are that dict read into fields, and give back
exactly the same dict (``to_dict``), so code reads a result in one way. Our own fields
(assignment, notebook, student, load errors, grading errors) go under ``extra_data``, which the
schema reserves for that, so the object stays a valid Gradescope result. How a result is shown
(text, JSON, Gradescope) is autograder/render.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OTHER = "other"  # the part of a test without tags


def part_of(tags: Sequence[str] | None) -> str:
    """The part a test counts towards: its first tag (DESIGN.md "Results"), OTHER without tags."""
    return tags[0] if tags else OTHER


@dataclass
class TestResult:
    """One check's verdict: a ``tests[]`` entry of results.json."""

    __test__ = False  # not a pytest test class, whatever module imports it

    name: str
    score: float
    max_score: float
    # passed, failed or skipped; None where results.json left it out (Gradescope knows no "skipped")
    status: str | None
    output: str
    tags: list[str]
    visibility: str = "visible"

    @property
    def part(self) -> str:
        return part_of(self.tags)

    @property
    def outcome(self) -> str:
        """passed, failed or skipped, also for a check read back from results.json without a status."""
        return self.status or "skipped"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "score": self.score, "max_score": self.max_score}
        if self.status is not None:
            out["status"] = self.status
        out.update(output=self.output, tags=list(self.tags), visibility=self.visibility)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestResult:
        return cls(name=data["name"], score=data["score"], max_score=data["max_score"], status=data.get("status"),
                   output=data.get("output") or "", tags=list(data.get("tags") or []),
                   visibility=data.get("visibility", "visible"))


@dataclass
class Part:
    """A part's points and its checks, in the suite's order."""

    name: str
    score: float = 0.0
    max_score: float = 0.0
    tests: list[TestResult] = field(default_factory=list)


@dataclass
class Result:
    """One notebook's (or one submission's) result: results.json's top level."""

    score: float
    max_score: float
    output: str
    tests: list[TestResult]
    extra_data: dict[str, Any] = field(default_factory=dict)  # ours: kept as it is, any keys
    visibility: str = "visible"
    execution_time: float | None = None  # None: not given (hand-made results)

    def parts(self) -> dict[str, Part]:
        """Each part with its points and checks, in the order the parts first appear."""
        parts: dict[str, Part] = {}
        for test in self.tests:
            part = parts.setdefault(test.part, Part(test.part))
            part.score += test.score
            part.max_score += test.max_score
            part.tests.append(test)
        return parts

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"score": self.score, "max_score": self.max_score, "output": self.output,
                               "visibility": self.visibility}
        if self.execution_time is not None:
            out["execution_time"] = self.execution_time
        out["tests"] = [t.to_dict() for t in self.tests]
        out["extra_data"] = self.extra_data
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        return cls(score=data["score"], max_score=data["max_score"], output=data.get("output") or "",
                   tests=[TestResult.from_dict(t) for t in data.get("tests") or []],
                   extra_data=data.get("extra_data") or {}, visibility=data.get("visibility", "visible"),
                   execution_time=data.get("execution_time"))


def build_result(entries: list[dict[str, Any]], *, notebook: Path, assignment: str,
                 student: str = "", output: str | None = None,
                 cell_errors: list[dict[str, Any]] | None = None,
                 errors: list[str] | None = None, seconds: float = 0.0) -> Result:
    """The engine's result from the suite's entries (each a test's fields plus its pytest ``id``)."""
    tests = [TestResult(name=e["name"], score=e["score"], max_score=e["max_score"], status=e["status"],
                        output=e["output"], tags=e["tags"], visibility=e["visibility"]) for e in entries]
    score = round(sum(t.score for t in tests), 4)
    max_score = round(sum(t.max_score for t in tests), 4)
    lines = [output] if output else []
    for err in cell_errors or []:
        where = f" (line {err['where']['line']})" if err.get("where") else ""
        if where and err["message"].endswith(f"line {err['where']['line']})"):  # a SyntaxError says it already
            where = ""
        lines.append(f"Your cell '{err['cell']}' raised {err['type']}: {err['message']}{where}")
    return Result(score=score, max_score=max_score, output="\n".join(lines), tests=tests,
                  execution_time=round(seconds, 3),
                  extra_data={
                      "assignment": assignment,
                      "notebook": str(notebook),
                      "student": student,
                      "test_ids": [e["id"] for e in entries],
                      "cell_errors": cell_errors or [],
                      "grading_errors": errors or [],
                  })


def part_scores(result: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Score and max per part of a result dict (as read from results.json)."""
    return {name: (part.score, part.max_score) for name, part in Result.from_dict(result).parts().items()}


def fmt(x: float) -> str:
    return f"{x:g}"
