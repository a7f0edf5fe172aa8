"""Variants (issue 6): new parameters drawn, validated and released; per-student inputs.

Variants are made with the real command in throw-away courses, never in the repository.
Making one grades about 40 notebooks, so the five seeded variants of each assignment are made
once (several at a time where there are cores to spare) and shared by the tests that look at
them.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.assignment import Assignment
from autograder.corpus import ROOT, release_path, submission, write
from autograder.course import nbgrader
from autograder.results import part_scores
from autograder.variants import VariantError, rules_of, sci, setup_mismatches, write_variant
from tests.conftest import AUTOGRADER, grade
from tests.course_helpers import make_course

SCRATCH, CONCISE = "linreg_scratch", "linreg_concise"
# Seeds whose draws differ: d from 2 to 10, batch sizes 2 to 32, lr 0.02 to 0.2, one count that
# the batch size divides and the others not.
SEEDS = {SCRATCH: [18, 23, 15, 47, 12], CONCISE: [18, 23, 15, 9, 11]}
DRY_RUN = {(SCRATCH, 47), (SCRATCH, 12), (CONCISE, 9), (CONCISE, 11)}  # validated only, not released
VARIANTS = [(base, seed) for base, seeds in SEEDS.items() for seed in seeds]
ENGINE_NAMES = {"true_b": "true_b", "num_examples": "num_examples", "noise": "noise_std",
                "batch_size": "batch_size", "lr": "lr", "num_epochs": "num_epochs"}


def run(args: list[str], course: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*AUTOGRADER, *args, "--course", str(course)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def corpus(base: str):
    return Assignment.load(base, ROOT).grader.corpus()


def rules(base: str):
    return rules_of(Assignment.load(base, ROOT))


THEORY = Assignment.load(SCRATCH, ROOT).grader.module("variants")  # the linear-regression theory
SGD = Assignment.load(SCRATCH, ROOT).grader.module("sgd")


def case_cells(base: str, name: str) -> dict[str, str]:
    return next(c for c in corpus(base).WRONG if c.name == name).cells


def variant_name(base: str, seed: int) -> str:
    return f"{base.removeprefix('linreg_')}_s{seed}"


@dataclass
class Created:
    """One ``autograder variant new`` run: its course, the process and its JSON report."""
    base: str
    seed: int
    course: Path
    proc: subprocess.CompletedProcess
    report: dict | None

    @property
    def name(self) -> str:
        return variant_name(self.base, self.seed)

    def ok(self) -> dict:
        assert self.proc.returncode == 0, self.proc.stdout[-3000:] + self.proc.stderr[-3000:]
        assert self.report is not None
        return self.report


@pytest.fixture(scope="module")
def created(tmp_path_factory) -> dict[tuple[str, int], Created]:
    """The seeded variants, each made by the real command in a throw-away course of its own,
    several at a time where there are cores to spare (a run keeps about two busy)."""
    # An empty gradebook made once and copied: nbgrader spends seconds making one (it runs alembic).
    template = make_course(tmp_path_factory.mktemp("template"), [SCRATCH])
    assert nbgrader(["db", "assignment", "list"], template, check=False, quiet=True).returncode == 0
    courses = {}
    for base, seed in VARIANTS:
        courses[base, seed] = make_course(tmp_path_factory.mktemp(variant_name(base, seed)), [base])
        shutil.copy2(template / "gradebook.db", courses[base, seed] / "gradebook.db")

    def make(key: tuple[str, int]) -> Created:
        (base, seed), course = key, courses[key]
        report = course / "report.json"
        proc = run(["variant", "new", base, "--name", variant_name(base, seed), "--seed", str(seed),
                    "--report", str(report), *(["--dry-run"] if key in DRY_RUN else [])], course)
        return Created(base, seed, course, proc, json.loads(report.read_text()) if report.exists() else None)

    with ThreadPoolExecutor(max_workers=max(1, min(len(VARIANTS), (os.cpu_count() or 1) // 2))) as pool:
        return {(c.base, c.seed): c for c in pool.map(make, VARIANTS)}


@pytest.fixture
def course(tmp_path) -> Path:
    """A throw-away course holding only the scratch assignment's source."""
    return make_course(tmp_path, [SCRATCH])


def nothing_left(course: Path, name: str) -> None:
    assert not (course / "solutions" / name).exists()
    assert not (course / "assignments" / name).exists()
    db = course / "gradebook.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert not conn.execute("select 1 from assignment where name = ?", (name,)).fetchall()


# -- drawing parameters (no grading) -------------------------------------------------------


@pytest.mark.parametrize("base", SEEDS)
def test_seeded_draws_are_reproducible_and_cover_the_ranges(base):
    draws = [rules(base).draw(seed, {}) for seed in SEEDS[base]]
    assert draws == [rules(base).draw(seed, {}) for seed in SEEDS[base]]
    assert {2, 10} <= {len(p["true_w"]) for p in draws}
    assert sum(p["num_examples"] % p["batch_size"] != 0 for p in draws) == 4
    assert len({p["batch_size"] for p in draws}) >= 3 and len({p["lr"] for p in draws}) >= 3


@pytest.mark.parametrize("base", SEEDS)
def test_many_draws_stay_inside_the_limits_and_well_below_the_stability_limit(base):
    profile = rules(base)
    for seed in range(300):
        p = profile.draw(seed, {})
        assert THEORY.check_limits(p) == [], (seed, p)
        assert p["lr"] * profile.lr_scale <= SGD.stability_limit(len(p["true_w"]), p["batch_size"]) / 3, (seed, p)
        assert p["num_epochs"] >= 2 and 0.001 <= p["noise"] <= 0.05


def test_overrides_win_and_leave_the_other_draws_alone():
    plain = rules(SCRATCH).draw(5, {})
    fixed = rules(SCRATCH).draw(5, rules(SCRATCH).parse_overrides(["batch_size=25", "true_w=1,2,3"]))
    assert fixed["batch_size"] == 25 and fixed["true_w"] == [1.0, 2.0, 3.0]
    assert (fixed["true_b"], fixed["noise"], fixed["num_examples"]) == (
        plain["true_b"], plain["noise"], plain["num_examples"])


@pytest.mark.parametrize("item, message", [
    ("lr", "expected KEY=VALUE"), ("speed=3", "KEY one of"), ("lr=fast", "not a number"),
    ("num_epochs=2.5", "whole number"), ('true_w=[1, "x"]', "finite number"), ("true_w={}", "finite number"),
])
def test_bad_overrides_are_refused(item, message):
    with pytest.raises(VariantError, match=message):
        rules(SCRATCH).parse_overrides([item])


def test_out_of_range_parameters_say_which_to_change():
    p = {**rules(SCRATCH).draw(1, {}), "batch_size": 1, "true_w": [1.0] * 12}
    problems = "\n".join(THEORY.check_limits(p))
    assert "true_w has 12 values" in problems and "batch_size = 1 is outside" in problems
    many = {**rules(SCRATCH).draw(1, {}), "num_epochs": 100, "batch_size": 2, "num_examples": 1000}
    assert any("lower num_epochs" in m for m in THEORY.check_limits(many))


def test_notebook_numbers_are_written_like_the_base():
    assert sci(1e-3, up=True) == "1e-3" and sci(0.0018, up=True) == "2e-3" and sci(5e-5) == "5e-5"
    assert sci(0.0095, up=True) == "1e-2"


@pytest.mark.parametrize("base", SEEDS)
def test_base_setup_cell_carries_its_parameters(base):
    asg = Assignment.load(base, ROOT)
    assert setup_mismatches(asg.setup_code(), asg.params, rules(base).setup_names) == []
    assert setup_mismatches(asg.setup_code().replace("lr = 0.03", "lr = 0.3"), asg.params, rules(base).setup_names) == [
        "lr = 0.3 in the set-up cell, 0.03 in assignment.json"]


# -- the advice in a refusal is right -----------------------------------------------------


def staged(folder: Path, base: str, params: dict) -> Assignment:
    """The variant's solutions/ folder in a bare course, without nbgrader or grading."""
    folder.mkdir(parents=True)
    shutil.copy2(ROOT / "nbgrader_config.py", folder / "nbgrader_config.py")
    write_variant(folder, Assignment.load(base, ROOT), rules(base), "staged", params, {})
    return Assignment.load("staged", folder)


def test_too_few_epochs_are_refused_and_the_suggested_number_converges(tmp_path):
    params = {**rules(SCRATCH).draw(1, {}), "lr": 0.005, "num_epochs": 2}
    problems, _ = rules(SCRATCH).check_convergence(staged(tmp_path / "few", SCRATCH, params))
    assert len(problems) == 1 and problems[0].startswith("num_epochs = 2 is too few"), problems
    suggested = int(re.search(r"Change num_epochs to (\d+) or more", problems[0])[1])
    fixed = {**params, "num_epochs": suggested}
    assert THEORY.check_limits(fixed) == []
    assert rules(SCRATCH).check_convergence(staged(tmp_path / "enough", SCRATCH, fixed))[0] == []


@pytest.mark.parametrize("base, lr", [(SCRATCH, 1.5), (CONCISE, 0.7)])
def test_a_diverging_lr_is_refused_and_the_suggested_lr_converges(tmp_path, base, lr):
    params = {**rules(base).draw(1, {}), "lr": lr, "num_epochs": 4}
    problems, _ = rules(base).check_convergence(staged(tmp_path / "fast", base, params))
    assert len(problems) == 1 and problems[0].startswith(f"lr = {lr:g} is too large"), problems
    suggested = float(re.search(r"change lr to ([0-9.]+) or less", problems[0])[1])
    fixed = {**params, "lr": suggested}
    assert rules(base).check_convergence(staged(tmp_path / "slow", base, fixed))[0] == []


# -- whole variants through the command ----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("base, seed", VARIANTS)
def test_random_variant_is_validated_and_released(created, base, seed):
    variant = created[base, seed]
    report, course, name = variant.ok(), variant.course, variant.name
    params, grading = report["params"], report["grading"]
    assert grading["max_score"] == 100 and grading["reference"] == [100, 100]
    assert grading["stubs"] == 0
    assert [w["case"] for w in grading["wrong"]] == [c.name for c in corpus(base).WRONG]
    assert all(w["caught"] and w["score"] < w["max_score"] for w in grading["wrong"]), grading["wrong"]
    assert [r["case"] for r in grading["right"]] == [c.name for c in corpus(base).RIGHT]
    assert all(r["score"] == r["max_score"] > 0 for r in grading["right"]), grading["right"]
    conv = report["convergence"]
    assert conv["runs"] == 9 and conv["worst_error"] < conv["tolerance"] / 2
    if (base, seed) in DRY_RUN:
        nothing_left(course, name)
        return

    config = json.loads((course / "solutions" / name / "assignment.json").read_text())
    assert config == {"grader": base, "base": base, "seed": seed, "params": params}
    # The set-up cell, run as the worker runs it, carries the parameters; so does the prose.
    namespace: dict = {}
    exec(Assignment.load(name, course).setup_code(), namespace)
    assert namespace["true_w"].tolist() == pytest.approx(params["true_w"])
    for key, var in ENGINE_NAMES.items():
        assert namespace[var] == pytest.approx(params[key]), key
    source = nbformat.read(course / "solutions" / name / f"{name}.ipynb", as_version=4)
    text = "\n".join(cell.source for cell in source.cells)
    if base == SCRATCH:
        assert f"$b = {params['true_b']:g}$ and $\\sigma$ = `noise_std` = {params['noise']:g}" in text
        assert f"still high after {params['num_epochs']} epochs" in text
    else:
        signature = f"batch_size={params['batch_size']}, lr={params['lr']:g}, num_epochs={params['num_epochs']}"
        assert text.count(signature) == 2  # the prose and the answer cell's def line
        assert f"weight's shape (1, {len(params['true_w'])})" in text
    assert source.metadata["autograder"]["assignment"] == name
    release = json.dumps(nbformat.read(release_path(name, course), as_version=4))
    assert "### BEGIN SOLUTION" not in release and "BEGIN HIDDEN TESTS" not in release


@pytest.mark.slow
@pytest.mark.parametrize("base, mistake", [(SCRATCH, "linreg multiplies elementwise"),
                                           (CONCISE, "train_concise never clears the gradients")])
def test_released_variant_grades_independently_of_the_validator(created, base, mistake):
    """Not the validator's word: the released stubs and two submissions graded afresh."""
    variant = created[base, SEEDS[base][0]]
    variant.ok()
    name, course = variant.name, variant.course
    ref = write(submission(name, root=course), course / "check" / "ref" / f"{name}.ipynb")
    bad = write(submission(name, case_cells(base, mistake), root=course), course / "check" / "bad" / f"{name}.ipynb")
    stubs, ref_result, bad_result = grade([release_path(name, course), ref, bad], "--course", str(course))
    assert (stubs["score"], ref_result["score"]) == (0, 100)
    part = next(iter(next(c for c in corpus(base).WRONG if c.name == mistake).expected))
    got, out_of = part_scores(bad_result)[part]
    assert got < out_of and bad_result["score"] < 100
    assert {r["extra_data"]["assignment"] for r in (stubs, ref_result, bad_result)} == {name}


@pytest.mark.slow
def test_variant_list_shows_parameters_side_by_side(created):
    variant = created[SCRATCH, SEEDS[SCRATCH][1]]
    report = variant.ok()
    proc = run(["variant", "list", SCRATCH], variant.course)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["assignment", "d", "true_w", "true_b", "num_examples", "noise",
                                "batch_size", "lr", "num_epochs", "seed", "released"]
    assert lines[1].startswith(f"{SCRATCH} (base)") and "[2, -3.4]" in lines[1] and lines[1].endswith("no")
    p = report["params"]
    assert lines[2].startswith(variant.name + " ") and len(lines) == 3
    assert re.search(rf"\b{p['num_examples']}\s+{p['noise']:g}\s+{p['batch_size']}\s+{p['lr']:g}\s+"
                     rf"{p['num_epochs']}\s+{report['seed']}\s+yes$", lines[2]), lines[2]
    # columns are aligned: every row has its 'noise' value where the header has it
    column = lines[0].index("noise")
    assert all(line[column - 2: column] == "  " and line[column] != " " for line in lines[1:])


@pytest.mark.slow
def test_refused_variants_say_what_to_change_and_leave_nothing(created):
    course = created[SCRATCH, SEEDS[SCRATCH][0]].course  # a course with a gradebook and a released variant
    proc = run(["variant", "new", SCRATCH, "--name", "too_fast", "--seed", "1", "--set", "lr=1.5"], course)
    assert proc.returncode == 2
    assert "variant too_fast refused, nothing was written" in proc.stderr
    assert "lr = 1.5 is too large" in proc.stderr and "change lr to" in proc.stderr
    nothing_left(course, "too_fast")

    proc = run(["variant", "new", SCRATCH, "--name", "no_batches", "--set", "batch_size=1"], course)
    assert proc.returncode == 2 and "batch_size = 1 is outside" in proc.stderr
    nothing_left(course, "no_batches")


@pytest.mark.slow
def test_a_variant_that_hides_a_corpus_mistake_is_refused(course):
    """With noise 0.1 the corpus's "noise at the wrong scale" (std 0.1 hard-coded) is right."""
    proc = run(["variant", "new", SCRATCH, "--name", "noisy", "--seed", "3", "--set", "noise=0.1"], course)
    assert proc.returncode == 2, proc.stdout
    assert "'noise at the wrong scale' is no longer caught" in proc.stderr and "change noise" in proc.stderr
    nothing_left(course, "noisy")


@pytest.mark.slow
def test_variant_through_the_nbgrader_flow(created):
    """generate_assignment (done by `variant new`), autograde, feedback and export, as a TA runs them."""
    variant = created[SCRATCH, SEEDS[SCRATCH][2]]
    variant.ok()
    name, course = variant.name, variant.course
    with sqlite3.connect(course / "gradebook.db") as conn:
        assert conn.execute("select 1 from assignment where name = ?", (name,)).fetchall()
    cases = {"ada": {}, "ben": case_cells(SCRATCH, "linreg multiplies elementwise"),
             "cyd": case_cells(SCRATCH, "sgd does not divide by batch_size")}
    paths = {s: write(submission(name, cells, root=course), course / "submitted" / s / name / f"{name}.ipynb")
             for s, cells in cases.items()}
    for step in (["autograde", name], ["generate_feedback", name], ["export", "--to", "grades.csv"]):
        proc = nbgrader(step, course, check=False, quiet=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["student_id"]: r for r in csv.DictReader((course / "grades.csv").open())
            if r["assignment"] == name}
    # the same notebooks through the engine's CLI; the student ids come from the submitted/ layout
    engine = dict(zip(cases, grade([paths[s] for s in cases], "--course", str(course)), strict=True))
    for student in cases:
        assert math.isclose(float(rows[student]["raw_score"]), engine[student]["score"]), student
    assert float(rows["ada"]["raw_score"]) == 100 and float(rows["ben"]["raw_score"]) < 100
    assert float(rows["cyd"]["raw_score"]) < 100
    feedback = course / "feedback" / "ada" / name / f"{name}.html"
    assert feedback.exists() and "training: 15/15" in feedback.read_text()


# -- per-student inputs ---------------------------------------------------------------------


def test_students_get_different_inputs_and_a_regrade_is_identical(tmp_path):
    """A linreg that returns the worker's random numbers: the message shows what it returned
    (drawn in the worker, seeded per student) and what was expected (drawn by the grader)."""
    cells = {"linreg": "def linreg(X, w, b):\n    return torch.matmul(X, w) * 0 + torch.rand(1)\n"}
    paths = {s: write(submission(SCRATCH, cells), tmp_path / "submitted" / s / SCRATCH / f"{SCRATCH}.ipynb")
             for s in ("ada", "ben")}
    first = grade([paths["ada"], paths["ben"]])  # the student id comes from the submitted/ layout
    again = grade([paths["ada"]])

    def message(result: dict) -> tuple[str, str]:
        test = next(t for t in result["tests"] if t["name"].startswith("Computes X w + b"))
        got, _, expected = test["output"].partition("; expected")
        assert got.startswith("linreg gives") and expected
        return got, expected

    (ada_got, ada_expected), (ben_got, ben_expected) = message(first[0]), message(first[1])
    assert ada_got != ben_got and ada_expected != ben_expected
    assert message(again[0]) == (ada_got, ada_expected)
    for result in (first[0], again[0]):
        result.pop("execution_time")
    assert json.dumps(first[0], sort_keys=True) == json.dumps(again[0], sort_keys=True)


def test_batches_per_epoch_counts_the_smaller_last_batch():
    assert THEORY.batches_per_epoch({"num_examples": 1000, "batch_size": 10}) == 100
    assert THEORY.batches_per_epoch({"num_examples": 1001, "batch_size": 10}) == 101
