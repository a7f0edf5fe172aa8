"""New variants of an assignment: fresh problem parameters each term, validated before release.

``autograder variant new BASE --name NAME`` draws new parameters from a seed (``--set``
overrides any of them), writes the variant's notebook and parameter file into a *staging*
copy of the course, and checks it there:

1. the book's training loop, run with the reference solution, converges with the chosen
   hyperparameters (several data sets; random and zero start and uneven batches where the
   suite checks those);
2. nbgrader generates the release (the stubs);
3. the reference scores full marks, the stubs zero, every wrong submission of the kit's
   corpus loses points at its part, and every differently-right one keeps full marks.

Only then are ``solutions/NAME/`` copied into the course and ``assignments/NAME/``
generated with nbgrader. A refused variant leaves nothing behind, and the refusal says
which parameter to change. A variant uses its base's hidden suite, which reads the
parameters from ``solutions/NAME/assignment.json``.

Modules: ``params`` (ranges, draws, SGD theory), ``notebook`` (rewriting the notebook),
``profiles`` (what each suite needs), ``validate`` (the checks), ``create`` (the commands).
"""

from autograder.variants.create import create_variant, root_base, variant_table, write_variant
from autograder.variants.notebook import sci, setup_mismatches, setup_values
from autograder.variants.params import (
    VariantError,
    batches_per_epoch,
    check_limits,
    draw_params,
    parse_overrides,
    stability_limit,
)
from autograder.variants.profiles import PROFILES, Profile, Run
from autograder.variants.validate import check_convergence, check_grading

__all__ = ["PROFILES", "Profile", "Run", "VariantError", "batches_per_epoch", "check_convergence",
           "check_grading", "check_limits", "create_variant", "draw_params", "parse_overrides",
           "root_base", "sci", "setup_mismatches", "setup_values", "stability_limit", "variant_table",
           "write_variant"]
