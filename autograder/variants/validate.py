"""The grading check a variant must pass before release: the reference scores full marks, the
stubs zero, every wrong case of the assignment's corpus loses points at its part and every
differently-right one keeps full marks. (Whether training converges at the new parameters is
the assignment's own theory: its rules' ``check_convergence``.)
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autograder.assignment import Assignment
from autograder.variants.rules import Params, Rules


def adapt(cells: dict[str, str], pairs: list[tuple[str, str]]) -> dict[str, str]:
    """A corpus case's answers as they would read in the variant (e.g. train_concise's defaults)."""
    out = {}
    for grade_id, source in cells.items():
        for old, new in pairs:
            source = source.replace(old, new)
        out[grade_id] = source
    return out


def check_grading(course: Path, name: str, rules: Rules, base_params: Params, log: Callable[[str], None],
                  students: int = 2) -> tuple[list[str], dict[str, Any]]:
    """Grade the reference, the stubs and the corpus on the variant, in the staging course."""
    from autograder.corpus import release_path, solution_path, submission, write
    from autograder.engine.runner import grade_notebook
    from autograder.results import part_of, part_scores

    asg = Assignment.load(name, course)
    corpus = asg.grader.corpus()
    pairs = rules.code(base_params, asg.params)
    work = course / "validation"

    def grade(path: Path, student: str = "validation", parts: set[str] | None = None) -> dict[str, Any]:
        return grade_notebook(path, name, course_root=course, device="cpu", student_id=student, parts=parts)

    def case_notebook(kind: str, i: int, cells: dict[str, str]) -> Path:
        return write(submission(name, adapt(cells, pairs), root=course), work / f"{kind}{i}" / f"{name}.ipynb")

    def part_hint(parts: list[str]) -> str:
        keys = sorted({k for part in parts for k in rules.part_params.get(part, ())})
        return f"; change {', '.join(keys)}" if keys else ""

    problems: list[str] = []
    reference = [grade(solution_path(name, course), f"validation-{i}") for i in range(students)]
    max_score = reference[0]["max_score"]
    for result in reference:
        failed = [t for t in result["tests"] if t["status"] == "failed"]
        if result["score"] != max_score or result["extra_data"]["grading_errors"]:
            detail = "; ".join(f"{t['name']}: {t['output'].splitlines()[0]}" for t in failed[:3])
            problems.append(f"the reference solution scores {result['score']:g}/{max_score:g} "
                            f"(student {result['extra_data']['student']}: {detail})"
                            + part_hint([part_of(t["tags"]) for t in failed]))
    scores = ", ".join(f"{r['score']:g}" for r in reference)
    log(f"  reference: {scores} / {max_score:g} ({students} students)")
    stubs = grade(release_path(name, course))
    if stubs["score"] != 0 or stubs["extra_data"]["grading_errors"]:
        problems.append(f"the stubs score {stubs['score']:g}/{max_score:g}; they must score 0")
    log(f"  stubs: {stubs['score']:g} / {max_score:g}")

    wrong = []
    for i, case in enumerate(corpus.WRONG):
        # Caught means: the part the mistake is in (named first in ``expected``) loses points.
        # Only that part's tests need to run for that.
        part = next(iter(case.expected))
        result = grade(case_notebook("wrong", i, case.cells), parts={part})
        got, out_of = part_scores(result).get(part, (0.0, 0.0))
        caught = got < out_of and not result["extra_data"]["grading_errors"]
        wrong.append({"case": case.name, "part": part, "score": got, "max_score": out_of,
                      "base_expected": case.expected[part], "caught": caught})
        if not caught:
            hint = rules.case_hints.get(case.name)
            problems.append(f"the corpus case {case.name!r} is no longer caught: its part {part} scores "
                            f"{got:g}/{out_of:g} on this variant, so the mistake passes as right"
                            + (f"; {hint}" if hint else part_hint([part])))
    log(f"  wrong corpus: {sum(w['caught'] for w in wrong)} of {len(wrong)} caught at their part")

    right = []
    known_parts = set(asg.parts())
    for i, case in enumerate(corpus.RIGHT):
        # A right answer can only lose points where its functions are called: its own parts
        # (an answer cell's grade_id names its part) and the parts that use several functions.
        parts = set(case.cells) | set(rules.shared_parts) if set(case.cells) <= known_parts else None
        result = grade(case_notebook("right", i, case.cells), parts=parts)
        right.append({"case": case.name, "score": result["score"], "max_score": result["max_score"]})
        if result["score"] != result["max_score"]:
            failed = [t for t in result["tests"] if t["status"] == "failed"]
            problems.append(f"the differently-right corpus case {case.name!r} scores {result['score']:g}/"
                            f"{result['max_score']:g}" + part_hint([part_of(t["tags"]) for t in failed]))
    log(f"  right corpus: {sum(r['score'] == r['max_score'] for r in right)} of {len(right)} full marks")
    shutil.rmtree(work, ignore_errors=True)
    return problems, {"max_score": max_score, "reference": [r["score"] for r in reference],
                      "stubs": stubs["score"], "wrong": wrong, "right": right}
