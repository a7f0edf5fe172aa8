"""The checks a variant must pass before release.

``check_convergence`` runs the book's training loop with the reference solution, as the suite
does, and holds it to half the suite's tolerance; when it fails, ``diagnose`` names the
parameter to change. ``check_grading`` grades the reference, the stubs and the kit's corpus on
the variant.
"""

from __future__ import annotations

import importlib
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autograder.assignment import Assignment
from autograder.variants.notebook import number, one_digit
from autograder.variants.params import MAX_STEPS, batches_per_epoch, steps_needed
from autograder.variants.profiles import Params, Profile, Run


def check_convergence(asg: Assignment, profile: Profile, seeds: int = 3) -> tuple[list[str], dict[str, Any]]:
    """Run the book's loop with the reference solution; refuse lr that diverges or epochs that stall."""
    from autograder.engine.student import Student, StudentError, WorkerFault, context, derive_seed

    context([asg.probe_module])  # the fork server imports the probes once, not every worker
    student = Student(setup=asg.setup_code(), cells=asg.solution_cells(), probe_module=asg.probe_module,
                      seed_base=f"{asg.name}:convergence")
    try:
        runs = [run for i in range(seeds)
                for run in profile.runs(student, asg.params, derive_seed(asg.name, "convergence", str(i)))]
    except (StudentError, WorkerFault) as exc:
        return [f"the reference solution failed in the book's loop: {exc}"], {}
    finally:
        student.close()
    worst = max(runs, key=lambda r: r.error / r.tolerance)
    summary = {"runs": len(runs), "worst_error": worst.error, "tolerance": worst.tolerance,
               "worst_final_loss": max(r.final_loss for r in runs), "loss_bound": profile.loss_bound(asg.params)}
    return diagnose(asg.params, profile, runs), summary


def diagnose(p: Params, profile: Profile, runs: list[Run]) -> list[str]:
    """Nothing if every run converged; else one message naming the parameter to change."""
    bound = profile.loss_bound(p)
    diverged = [r for r in runs if not math.isfinite(r.final_loss) or r.final_loss > max(r.losses[0], bound)]
    stalled = [r for r in runs if r.error > r.tolerance / 2 or r.final_loss > bound / 2]
    if not diverged and not stalled:
        return []
    d, bs, lr, epochs = len(p["true_w"]), p["batch_size"], p["lr"], p["num_epochs"]
    limit = profile.lr_limit(p)
    formula = "2 / (1 + (d + 2) / batch_size)" + (f" / {profile.lr_scale:g}" if profile.lr_scale != 1 else "")
    if diverged or lr > limit / 2:
        run = (diverged or stalled)[0]
        blown = any(not math.isfinite(r.final_loss) for r in runs)
        how = "diverges" if blown else "does not settle (its loss grows)" if diverged else "does not settle"
        return [f"lr = {number(lr)} is too large for batch_size = {bs} and d = {d}: the book's loop with "
                f"the reference solution {how} ({run.what}: loss {curve(run.losses)}). Minibatch SGD here "
                f"is stable only up to about lr = {limit:.2g} ({formula}); change lr to "
                f"{one_digit(limit / 3)} or less, or raise batch_size."]
    run = max(stalled, key=lambda r: r.error / r.tolerance)
    where = (f"the reference solution ends {run.error:.3g} from the true parameters at loss "
             f"{run.final_loss:.3g} ({run.what}: loss {curve(run.losses)}); a release needs at most "
             f"{run.tolerance / 2:.3g} (half the hidden tests' tolerance) and a loss under {bound / 2:.3g}")
    steps = epochs * batches_per_epoch(p)
    need = steps_needed(p, profile.target(p), profile.lr_scale)
    levelled = len(run.losses) < 2 or run.losses[-1] > 0.5 * run.losses[-2]
    if levelled and need <= steps:
        # Enough steps to get there, and the loss has levelled off above the bound: more epochs
        # will not help, smaller steps will.
        return [f"lr = {number(lr)} leaves the steps jittering around the solution with batch_size = {bs} "
                f"and noise = {number(p['noise'])}: {where}. Change lr to {one_digit(lr / 2)} (with more "
                "num_epochs) or raise batch_size."]
    suggest = max(epochs + 1, math.ceil(1.5 * need / batches_per_epoch(p)))
    fix = f"change num_epochs to {suggest} or more"
    if suggest * batches_per_epoch(p) > MAX_STEPS:
        fix = f"raise lr (stable up to about {limit:.2g}; {one_digit(limit / 3)} is safe)"
    elif lr < limit / 6:
        fix += f", or raise lr (stable up to about {limit:.2g})"
    return [f"num_epochs = {epochs} is too few for lr = {number(lr)}: after {epochs} epochs "
            f"({steps} steps) {where}. {fix[0].upper() + fix[1:]}."]


def curve(losses: list[float]) -> str:
    """A loss for a message: per epoch, the first five and the last."""
    if len(losses) == 1:
        return f"{losses[0]:.3g} at the end"
    shown = losses if len(losses) <= 6 else [*losses[:5], losses[-1]]
    return "per epoch " + ", ".join(f"{v:.3g}" for v in shown) + (" (last)" if len(losses) > 6 else "")


def adapt(cells: dict[str, str], pairs: list[tuple[str, str]]) -> dict[str, str]:
    """A corpus case's answers as they would read in the variant (e.g. train_concise's defaults)."""
    out = {}
    for grade_id, source in cells.items():
        for old, new in pairs:
            source = source.replace(old, new)
        out[grade_id] = source
    return out


def check_grading(course: Path, name: str, profile: Profile, base_params: Params, log: Callable[[str], None],
                  students: int = 2) -> tuple[list[str], dict[str, Any]]:
    """Grade the reference, the stubs and the corpus on the variant, in the staging course."""
    from autograder.corpus import release_path, solution_path, submission, write
    from autograder.engine.runner import grade_notebook
    from autograder.results import part_scores

    asg = Assignment.load(name, course)
    corpus = importlib.import_module(f"autograder.corpus.{asg.suite}")
    pairs = profile.code(base_params, asg.params)
    work = course / "validation"

    def grade(path: Path, student: str = "validation", parts: set[str] | None = None) -> dict[str, Any]:
        return grade_notebook(path, name, course_root=course, device="cpu", student_id=student, parts=parts)

    def case_notebook(kind: str, i: int, cells: dict[str, str]) -> Path:
        return write(submission(name, adapt(cells, pairs), root=course), work / f"{kind}{i}" / f"{name}.ipynb")

    def part_hint(parts: list[str]) -> str:
        keys = sorted({k for part in parts for k in profile.part_params.get(part, ())})
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
                            + part_hint([t["tags"][0] for t in failed]))
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
            hint = profile.case_hints.get(case.name)
            problems.append(f"the corpus case {case.name!r} is no longer caught: its part {part} scores "
                            f"{got:g}/{out_of:g} on this variant, so the mistake passes as right"
                            + (f"; {hint}" if hint else part_hint([part])))
    log(f"  wrong corpus: {sum(w['caught'] for w in wrong)} of {len(wrong)} caught at their part")

    right = []
    known_parts = set(asg.parts())
    for i, case in enumerate(corpus.RIGHT):
        # A right answer can only lose points where its functions are called: its own parts
        # (an answer cell's grade_id names its part) and the parts that use several functions.
        parts = set(case.cells) | set(profile.shared_parts) if set(case.cells) <= known_parts else None
        result = grade(case_notebook("right", i, case.cells), parts=parts)
        right.append({"case": case.name, "score": result["score"], "max_score": result["max_score"]})
        if result["score"] != result["max_score"]:
            failed = [t for t in result["tests"] if t["status"] == "failed"]
            problems.append(f"the differently-right corpus case {case.name!r} scores {result['score']:g}/"
                            f"{result['max_score']:g}" + part_hint([t["tags"][0] for t in failed]))
    log(f"  right corpus: {sum(r['score'] == r['max_score'] for r in right)} of {len(right)} full marks")
    shutil.rmtree(work, ignore_errors=True)
    return problems, {"max_score": max_score, "reference": [r["score"] for r in reference],
                      "stubs": stubs["score"], "wrong": wrong, "right": right}
