"""Creating, releasing and listing variants: the steps of ``autograder variant new`` and ``list``.

The variant is written into a staging copy of the course (a temporary folder with the course's
``nbgrader_config.py`` and a gradebook of its own) and checked there; only a variant that passes
every check is copied into the course and released, so a refused one leaves nothing behind.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat

from autograder.assignment import SETUP_GRADE_ID, Assignment, AssignmentError, list_assignments
from autograder.course import nbgrader
from autograder.graders import FOLDER, GraderError
from autograder.notebook import cell_by_grade_id
from autograder.variants.rewrite import setup_mismatches, variant_notebook
from autograder.variants.rules import Rules, VariantError, format_value
from autograder.variants.validate import check_grading

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def root_base(name: str, course: Path) -> Assignment:
    """The assignment a variant is made from: a variant of a variant is one of the original."""
    asg = Assignment.load(name, course)
    base = json.loads((course / "solutions" / name / "assignment.json").read_text()).get("base")
    return Assignment.load(base, course) if base else asg


def rules_of(asg: Assignment) -> Rules:
    """The variant rules of ``asg``'s assignment folder; refused when it has none."""
    try:
        rules = asg.grader.rules()
    except GraderError as exc:
        raise VariantError(str(exc)) from None
    if rules is None:
        raise VariantError(f"{asg.name} has no variants: its assignment folder {asg.grader.path} has no variants.py "
                           "(docs/assignments.md)")
    return rules


def write_variant(course: Path, base: Assignment, rules: Rules, name: str, params: dict[str, Any],
                  provenance: dict[str, Any]) -> Path:
    """``solutions/NAME/`` in ``course``: the notebook, assignment.json, and the base's other files."""
    folder = course / "solutions" / name
    shutil.copytree(base.source_notebook.parent, folder,
                    ignore=shutil.ignore_patterns("*.ipynb", "assignment.json", ".ipynb_checkpoints"))
    nb = variant_notebook(base, rules, name, params)
    nbformat.write(nb, folder / f"{name}.ipynb")
    config = {"grader": base.grader.name, "base": base.name, **provenance, "params": params}
    text = json.dumps(config, indent=2)
    # Lists of numbers on one line, like the base's file: [2.0, -3.4]
    text = re.sub(r"\[\s+([-+0-9.eE,\s]+?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m[1]) + "]", text)
    (folder / "assignment.json").write_text(text + "\n")
    wrong = setup_mismatches(cell_by_grade_id(nb, SETUP_GRADE_ID).source, params, rules.setup_names)
    if wrong:
        raise AssignmentError("the variant's set-up cell does not carry its parameters: " + "; ".join(wrong))
    return folder


def create_variant(base_name: str, name: str, *, course: Path, seed: int | None = None,
                   overrides: dict[str, Any] | None = None, dry_run: bool = False,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Draw, write, validate and release a variant (``dry_run``: only validate); raises
    ``VariantError``, leaving nothing behind, if refused."""
    course = course.resolve()
    if not NAME_PATTERN.match(name):
        raise VariantError(f"--name {name!r}: use letters, digits, '_' and '-', starting with a letter")
    for folder in ("solutions", "assignments"):
        if (course / folder / name).exists():
            raise VariantError(f"{folder}/{name} already exists in {course}: choose another --name")
    try:
        base = root_base(base_name, course)
    except AssignmentError as exc:
        raise VariantError(str(exc)) from None
    rules = rules_of(base)
    overrides = overrides or {}
    seed = secrets.randbelow(2**31) if seed is None else seed
    started = time.monotonic()
    params = rules.draw(seed, overrides)
    report: dict[str, Any] = {"name": name, "base": base.name, "seed": seed, "params": params}
    log(f"variant {name} of {base.name}, seed {seed}" + (f", set {sorted(overrides)}" if overrides else ""))
    log("  " + "  ".join(f"{k}={format_value(v)}" for k, v in params.items()))
    problems = rules.check_limits(params)
    if problems:
        raise VariantError(refusal(name, problems))

    with tempfile.TemporaryDirectory(prefix="autograder-variant-") as tmp:
        staging = Path(tmp)
        shutil.copy2(course / "nbgrader_config.py", staging / "nbgrader_config.py")
        if (course / FOLDER).is_dir():  # the course's own assignment folders, found there first
            shutil.copytree(course / FOLDER, staging / FOLDER, ignore=shutil.ignore_patterns("__pycache__"))
        provenance = {"seed": seed, **({"set": sorted(overrides)} if overrides else {})}
        try:
            write_variant(staging, base, rules, name, params, provenance)
        except AssignmentError as exc:
            raise VariantError(str(exc)) from None
        variant = Assignment.load(name, staging)

        # nbgrader makes the stubs while the loop is checked; the staging course gets its own
        # gradebook, even if the course's config names a shared one. A copy of the course's saves
        # the seconds nbgrader takes to create an empty one.
        if (course / "gradebook.db").is_file():
            shutil.copy2(course / "gradebook.db", staging / "gradebook.db")
        stubs = nbgrader(["generate_assignment", name, "--force", f"--CourseDirectory.root={staging}",
                          f"--CourseDirectory.db_url=sqlite:///{staging / 'gradebook.db'}"], staging, background=True)
        try:
            log("checking the parameters with the assignment's own rules (check_convergence) ...")
            problems, report["convergence"] = rules.check_convergence(variant)
            # What the notebook shows (e.g. an exercise's rates) holds at these parameters: after the
            # convergence checks, whose messages say which parameter to change.
            problems = problems or rules.notebook_checks(nbformat.read(variant.source_notebook, as_version=4), params)
            report["seconds"] = {"convergence": round(time.monotonic() - started, 1)}
            if problems:
                raise VariantError(refusal(name, problems))
            if report["convergence"].get("line"):
                log("  " + report["convergence"].pop("line"))
            log("generating the release (the stubs) in a staging course ...")
            _, err = stubs.communicate(timeout=600)
            if stubs.returncode:
                raise VariantError(refusal(name, [f"nbgrader generate_assignment failed:\n{err[-2000:]}"]))
            report["seconds"]["staging_release"] = round(time.monotonic() - started, 1)
        finally:
            if stubs.poll() is None:
                stubs.kill()
                stubs.communicate()

        log("grading the reference, the stubs and the corpus on the variant ...")
        problems, report["grading"] = check_grading(staging, name, rules, base.params, log)
        report["seconds"]["grading"] = round(time.monotonic() - started, 1)
        if problems:
            raise VariantError(refusal(name, problems))

        if dry_run:
            log(f"dry run: {name} passed every check; nothing was written (run without --dry-run to "
                "release it)")
            return report
        log(f"releasing: solutions/{name}/ and assignments/{name}/ (nbgrader generate_assignment) ...")
        install(course, staging, name)
    report["seconds"]["release"] = round(time.monotonic() - started, 1)
    log(f"released {name} in {time.monotonic() - started:.0f} s: solutions/{name}/{name}.ipynb -> "
        f"assignments/{name}/{name}.ipynb")
    return report


def install(course: Path, staging: Path, name: str) -> None:
    """Copy the validated source into the course and release it with nbgrader; if that fails or
    is interrupted, undo both (folders and gradebook entry)."""
    try:
        shutil.copytree(staging / "solutions" / name, course / "solutions" / name)
        made = nbgrader(["generate_assignment", name, "--force"], course, check=False, quiet=True)
        if made.returncode:
            raise VariantError(f"nbgrader could not release {name} in {course} (nothing was kept):\n"
                               f"{made.stderr[-2000:]}")
    except BaseException:
        shutil.rmtree(course / "solutions" / name, ignore_errors=True)
        shutil.rmtree(course / "assignments" / name, ignore_errors=True)
        nbgrader(["db", "assignment", "remove", name, "--force"], course, check=False, quiet=True)
        raise


def refusal(name: str, problems: list[str]) -> str:
    return f"variant {name} refused, nothing was written:\n" + "\n".join(f"  - {p}" for p in problems)


def family(course: Path, name: str) -> list[str]:
    """The base of ``name`` (or ``name`` itself) and every variant made from it."""
    base = root_base(name, course).name
    variants = [n for n in list_assignments(course) if n != base and
                json.loads((course / "solutions" / n / "assignment.json").read_text()).get("base") == base]
    return [base, *variants]


def variant_table(course: Path, name: str) -> str:
    """A plain aligned table: one row per assignment, one column per parameter."""
    rules = rules_of(root_base(name, course))
    header = ["assignment", *rules.columns({}), "seed", "released"]
    rows = [header]
    for n in family(course, name):
        config = json.loads((course / "solutions" / n / "assignment.json").read_text())
        released = (course / "assignments" / n / f"{n}.ipynb").exists()
        rows.append([n + ("" if config.get("base") else " (base)"), *rules.columns(config.get("params", {})).values(),
                     str(config.get("seed", "-")), "yes" if released else "no"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
