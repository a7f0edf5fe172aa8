"""The class report after a batch: grades.csv, two charts and a one-page HTML summary.

It is built from the students' ``results.json`` files (the Gradescope schema), so it covers
the whole class whether a submission was graded in this run or an earlier one. The page groups
the failed checks by cause (what to go over in class), keeping code that does not run and
answers never attempted apart from real mistakes; it lists every submission that needs a
human, with the reason, and a table of every student's part scores, sortable by any column
(a few lines of inline JavaScript: the page works offline, from a file).
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.batch.outputs import FEEDBACK, atomic_write, read_results, student_dir, templates
from autograder.results import Result, fmt, part_scores

GRADES_CSV = "grades.csv"
REPORT_HTML = "report.html"
HISTOGRAM_PNG = "scores.png"
PASS_RATES_PNG = "pass_rates.png"


@dataclass
class ClassReport:
    page: Path
    needs_human: dict[str, str]  # student -> why the grade is missing or incomplete
    worth_a_look: dict[str, list[str]]  # student -> the engine's review flags (no points lost)


@dataclass
class Row:
    student: str
    result: dict[str, Any] | None
    reason: str | None  # why a human should look; None when all went well

    @property
    def flags(self) -> list[str]:
        """The engine's review flags: answer code worth a human look, which costs no points."""
        extra = (self.result or {}).get("extra_data") or {}
        nested = [f for nb in extra.get("notebooks", []) for f in nb.get("review_flags", [])]
        return list(extra.get("review_flags") or []) + nested

    @property
    def percent(self) -> float | None:
        if not self.result or not self.result.get("max_score"):
            return None
        return 100.0 * self.result["score"] / self.result["max_score"]


def needs_human(result: dict[str, Any] | None, error: str | None) -> str | None:
    """The grader could not finish, could not read the notebook, or could not check a part."""
    if error:
        return error
    if result is None:
        return "not graded yet"
    extra = result.get("extra_data") or {}
    reasons = list(extra.get("grading_errors") or [])
    problem = (extra.get("batch") or {}).get("problem")
    if problem and problem not in reasons:
        reasons.insert(0, problem)
    return "; ".join(reasons) or None


def write_class_report(reports: Path, assignment: str, students: list[str], errors: dict[str, str]) -> ClassReport:
    """Write the report files into ``reports``: grades.csv, the charts and the page.

    ``students`` is the whole class (every submission folder), whatever a run graded.
    """
    rows = []
    for student in students:
        result = read_results(reports, student)
        rows.append(Row(student, result, needs_human(result, errors.get(student))))
    graded = [r for r in rows if r.result is not None and r.student not in errors]
    parts = part_maxima(graded)
    reports.mkdir(parents=True, exist_ok=True)
    write_grades_csv(reports / GRADES_CSV, rows, parts)
    checked = [r for r in graded if not checks_failed_to_run(r.result)]  # the engine could check their code
    rates = pass_rates(checked)
    plot_histogram(reports / HISTOGRAM_PNG, [r.percent for r in graded if r.percent is not None], assignment)
    plot_pass_rates(reports / PASS_RATES_PNG, rates, assignment)
    flagged = {r.student: r.reason for r in rows if r.reason}
    worth_a_look = {r.student: r.flags for r in rows if r.flags}
    scores = [r.percent for r in graded if r.percent is not None]
    total_max = max((r.result["max_score"] for r in graded), default=0.0)
    html = templates().get_template("report.html.j2").render(
        assignment=assignment, rows=rows, graded=len(graded), total=len(rows), flagged=flagged,
        worth_a_look=worth_a_look, checked=len(checked), parts=parts, total_max=total_max,
        table=score_table(rows, parts), part_means=part_means(graded, parts),
        mean=statistics.fmean(scores) if scores else None, median=statistics.median(scores) if scores else None,
        causes=group_causes(checked), sandboxes=sandboxes(graded), histogram=HISTOGRAM_PNG,
        pass_rates_png=PASS_RATES_PNG,
        grades_csv=GRADES_CSV, feedback=lambda s: f"{student_dir(Path('.'), s).as_posix()}/{FEEDBACK}")
    return ClassReport(atomic_write(reports / REPORT_HTML, html), flagged, worth_a_look)


def sandboxes(rows: list[Row]) -> dict[str, dict[str, Any]]:
    """Mode -> {count, weaker, notes}: how the graded submissions were isolated (the trusted side's words)."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        extra = row.result.get("extra_data") or {}
        for box in [extra.get("sandbox"), *(nb.get("sandbox") for nb in extra.get("notebooks", []))]:
            if box:
                entry = found.setdefault(box["mode"], {"count": 0, "weaker": bool(box.get("weaker")),
                                                       "notes": box.get("notes") or []})
                entry["count"] += 1
    return found


def checks_failed_to_run(result: dict[str, Any]) -> bool:
    """The notebook could not be read or checked (missing, damaged): its zeros say nothing of the code."""
    return bool((result.get("extra_data") or {}).get("grading_errors"))


def part_maxima(rows: list[Row]) -> dict[str, float]:
    """Each part and its points, in the suite's order."""
    parts: dict[str, float] = {}
    for row in rows:
        for part, (_, out_of) in part_scores(row.result).items():
            parts[part] = max(parts.get(part, 0.0), out_of)
    return parts


def write_grades_csv(path: Path, rows: list[Row], parts: dict[str, float]) -> None:
    """The autograded points only, and the columns say out of what (nbgrader's export adds the
    hand-graded answers, so its totals differ)."""
    out = io.StringIO()
    writer = csv.writer(out)
    total = max((r.result["max_score"] for r in rows if r.result), default=0.0)
    writer.writerow(["student_id", f"autograded (out of {fmt(total)})",
                     *[f"{p} (out of {fmt(m)})" for p, m in parts.items()], "needs_human", "reason", "worth_a_look"])
    for row in rows:
        if row.result is None:
            writer.writerow([row.student, "", *[""] * len(parts), "yes", row.reason or "", ""])
            continue
        scores = part_scores(row.result)
        writer.writerow([row.student, row.result["score"], *[scores.get(p, (0.0, 0.0))[0] for p in parts],
                         "yes" if row.reason else "no", row.reason or "", "; ".join(row.flags)])
    atomic_write(path, out.getvalue())


def score_table(rows: list[Row], parts: dict[str, float]) -> list[dict[str, Any]]:
    """One row per student: the total and every part's points (None where not graded)."""
    table = []
    for row in rows:
        scores = part_scores(row.result) if row.result else {}
        table.append({"student": row.student, "total": row.result["score"] if row.result else None,
                      "parts": [scores[p][0] if p in scores else None for p in parts],
                      "reason": row.reason, "flags": row.flags})
    return table


def part_means(rows: list[Row], parts: dict[str, float]) -> list[float | None]:
    means = []
    for part in parts:
        got = [part_scores(r.result).get(part, (0.0, 0.0))[0] for r in rows]
        means.append(statistics.fmean(got) if got else None)
    return means


def pass_rates(rows: list[Row]) -> list[tuple[str, str, float, int]]:
    """(part, test name, share of submissions passing, how many were checked), in the suite's order."""
    seen: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        for test in Result.from_dict(row.result).tests:
            if test.outcome == "skipped":
                continue
            key = (test.part, test.name)
            passed, checked = seen.setdefault(key, [0, 0])
            seen[key] = [passed + (test.outcome == "passed"), checked + 1]
    return [(part, name, passed / checked, checked) for (part, name), (passed, checked) in seen.items()]


MISTAKE, DOES_NOT_RUN, NOT_ATTEMPTED = "mistake", "does not run", "not attempted"
STUB = re.compile(r"NotImplementedError|still the stub")
CELL = re.compile(r"your cell '([^']+)'")
UNDEFINED = re.compile(r"^(\w+) is not defined")
NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")


@dataclass
class Cause:
    """One reason for failed checks, and who it concerns: a row of the report."""

    kind: str  # MISTAKE, DOES_NOT_RUN or NOT_ATTEMPTED
    text: str  # what the students were told (the most common wording)
    parts: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    students: list[str] = field(default_factory=list)
    wordings: Counter = field(default_factory=Counter)

    def add(self, student: str, part: str, check: str, wording: str) -> None:
        for items, item in ((self.parts, part), (self.checks, check), (self.students, student)):
            if item not in items:
                items.append(item)
        self.wordings[wording] += 1
        self.text = self.wordings.most_common(1)[0][0] if self.kind == MISTAKE else self.text


def group_causes(rows: list[Row]) -> dict[str, list[Cause]]:
    """Failed checks grouped by their cause, one cause one row, most students first, per kind.

    A check that failed because an answer cell does not run (a syntax error) or was never
    written (the stub, an empty cell) is not a mistake in the code, and is counted apart, once
    per cell; the remaining failures are grouped by the hint's wording with the numbers left
    out, so that one mistake seen by several checks, or with other inputs, is one row.
    """
    causes: dict[tuple[str, str], Cause] = {}
    for row in rows:
        broken = {e["cell"]: e for e in (row.result.get("extra_data") or {}).get("cell_errors") or []
                  if e.get("cell")}
        for test in Result.from_dict(row.result).tests:
            if test.outcome != "failed":
                continue
            kind, key, text = cause_of(test.output, broken)
            cause = causes.setdefault((kind, key), Cause(kind, text))
            cause.add(row.student, test.part, test.name, text)
    grouped: dict[str, list[Cause]] = {MISTAKE: [], DOES_NOT_RUN: [], NOT_ATTEMPTED: []}
    for cause in sorted(causes.values(), key=lambda c: (-len(c.students), c.text)):
        grouped[cause.kind].append(cause)
    return grouped


def cause_of(output: str, broken: dict[str, dict[str, Any]]) -> tuple[str, str, str]:
    """(kind, grouping key, text) of one failed check's output."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    first = lines[0] if lines else "(no message)"
    named = CELL.findall(output)
    undefined = UNDEFINED.match(first)
    for cell in [*named, *([undefined.group(1)] if undefined else [])]:
        if cell in broken:
            err = broken[cell]
            line = (err.get("where") or {}).get("line")
            message = re.sub(r"\s*\(<answer cell [^>]*>, line \d+\)", "", err.get("message", ""))
            where = f" at line {line}" if line else ""
            return DOES_NOT_RUN, f"cell:{cell}", f"cell '{cell}' does not run: {err.get('type')}{where}: {message}"
    if STUB.search(output):
        cell = named[0] if named else "?"
        return NOT_ATTEMPTED, f"stub:{cell}", f"cell '{cell}' is still the stub (raise NotImplementedError())"
    if undefined:
        name = undefined.group(1)
        return NOT_ATTEMPTED, f"missing:{name}", f"{name} is not defined: its answer cell is empty or renamed it"
    return MISTAKE, NUMBER.sub("#", first), first


def plot_histogram(path: Path, percents: list[float], assignment: str) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.hist(percents, bins=[i * 10 for i in range(11)], color="#4c72b0", edgecolor="white")
    ax.set_xlim(0, 100)
    ax.set_xlabel("autograded score (%)")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"{assignment}: {len(percents)} submissions")
    fig.savefig(path, dpi=110)


def plot_pass_rates(path: Path, rates: list[tuple[str, str, float, int]], assignment: str) -> None:
    from matplotlib.figure import Figure

    height = max(2.5, 0.24 * len(rates) + 1.0)
    fig = Figure(figsize=(8, height), layout="constrained")
    ax = fig.subplots()
    parts = list(dict.fromkeys(part for part, *_ in rates))
    colours = {part: f"C{i}" for i, part in enumerate(parts)}
    labels = [f"{part}: {name}" if len(name) < 60 else f"{part}: {name[:57]}..." for part, name, *_ in rates]
    ax.barh(range(len(rates)), [100 * r for _, _, r, _ in rates], color=[colours[p] for p, *_ in rates])
    ax.set_yticks(range(len(rates)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("submissions passing (%)")
    ax.set_title(f"{assignment}: pass rate of each check")
    fig.savefig(path, dpi=110)
