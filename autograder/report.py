"""The class report after a batch: grades.csv, two charts and a one-page HTML summary.

It is built from the students' ``results.json`` files (the Gradescope schema), so it covers
the whole class whether a submission was graded in this run or an earlier one. The page lists
the most common failures (what to go over in class) and every submission that needs a human,
with the reason.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.batch.outputs import FEEDBACK, atomic_write, read_results, student_dir, templates
from autograder.results import part_scores

GRADES_CSV = "grades.csv"
REPORT_HTML = "report.html"
HISTOGRAM_PNG = "scores.png"
PASS_RATES_PNG = "pass_rates.png"
TOP_FAILURES = 10


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


def status(test: dict[str, Any]) -> str:
    return test.get("status") or "skipped"  # results.json leaves a skipped check without a status


def write_class_report(reports: Path, assignment: str, students: list[str], errors: dict[str, str]) -> ClassReport:
    """Write the report files into ``reports``: grades.csv, the charts and the page."""
    rows = []
    for student in students:
        result = read_results(reports, student)
        rows.append(Row(student, result, needs_human(result, errors.get(student))))
    graded = [r for r in rows if r.result is not None and r.student not in errors]
    parts = ordered_parts(graded)
    reports.mkdir(parents=True, exist_ok=True)
    write_grades_csv(reports / GRADES_CSV, rows, parts)
    checked = [r for r in graded if not r.reason]  # every check ran: what the class got wrong
    rates = pass_rates(checked)
    plot_histogram(reports / HISTOGRAM_PNG, [r.percent for r in graded if r.percent is not None], assignment)
    plot_pass_rates(reports / PASS_RATES_PNG, rates, assignment)
    flagged = {r.student: r.reason for r in rows if r.reason}
    worth_a_look = {r.student: r.flags for r in rows if r.flags}
    scores = [r.percent for r in graded if r.percent is not None]
    html = templates().get_template("report.html.j2").render(
        assignment=assignment, rows=rows, graded=len(graded), total=len(rows), flagged=flagged,
        worth_a_look=worth_a_look,
        mean=statistics.fmean(scores) if scores else None, median=statistics.median(scores) if scores else None,
        failures=common_failures(checked), histogram=HISTOGRAM_PNG, pass_rates_png=PASS_RATES_PNG,
        grades_csv=GRADES_CSV, feedback=lambda s: f"{student_dir(Path('.'), s).as_posix()}/{FEEDBACK}")
    return ClassReport(atomic_write(reports / REPORT_HTML, html), flagged, worth_a_look)


def ordered_parts(rows: list[Row]) -> list[str]:
    parts: dict[str, None] = {}
    for row in rows:
        parts.update(dict.fromkeys(part_scores(row.result)))
    return list(parts)


def write_grades_csv(path: Path, rows: list[Row], parts: list[str]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student_id", "score", "max_score", *parts, "needs_human", "reason", "worth_a_look"])
    for row in rows:
        if row.result is None:
            writer.writerow([row.student, "", "", *[""] * len(parts), "yes", row.reason or "", ""])
            continue
        scores = part_scores(row.result)
        writer.writerow([row.student, row.result["score"], row.result["max_score"],
                         *[scores.get(p, (0.0, 0.0))[0] for p in parts],
                         "yes" if row.reason else "no", row.reason or "", "; ".join(row.flags)])
    atomic_write(path, out.getvalue())


def pass_rates(rows: list[Row]) -> list[tuple[str, str, float, int]]:
    """(part, test name, share of submissions passing, how many were checked), in the suite's order."""
    seen: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        for test in row.result["tests"]:
            if status(test) == "skipped":
                continue
            key = ((test.get("tags") or ["other"])[0], test["name"])
            passed, checked = seen.setdefault(key, [0, 0])
            seen[key] = [passed + (status(test) == "passed"), checked + 1]
    return [(part, name, passed / checked, checked) for (part, name), (passed, checked) in seen.items()]


def common_failures(rows: list[Row]) -> list[dict[str, Any]]:
    """The checks failed most often, each with the hint most of those students got."""
    failed: dict[tuple[str, str], Counter] = {}
    for row in rows:
        for test in row.result["tests"]:
            if status(test) == "failed":
                key = ((test.get("tags") or ["other"])[0], test["name"])
                hint = (test.get("output") or "").strip().splitlines()
                failed.setdefault(key, Counter())[hint[0] if hint else ""] += 1
    ranked = sorted(failed.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return [{"part": part, "name": name, "count": sum(hints.values()),
             "share": sum(hints.values()) / len(rows), "hint": telling(hints)}
            for (part, name), hints in ranked[:TOP_FAILURES]]


def telling(hints: Counter) -> str:
    """The most common hint, but one about a real attempt rather than an untouched stub."""
    return max(hints.items(), key=lambda kv: ("NotImplementedError" not in kv[0], kv[1]))[0]


def plot_histogram(path: Path, percents: list[float], assignment: str) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.hist(percents, bins=[i * 10 for i in range(11)], color="#4c72b0", edgecolor="white")
    ax.set_xlim(0, 100)
    ax.set_xlabel("autograded score (%)")
    ax.set_ylabel("submissions")
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
