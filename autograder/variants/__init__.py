"""New variants of an assignment: fresh problem parameters each term, validated before release.

``autograder variant new BASE --name NAME`` draws new parameters from a seed (``--set``
overrides any of them), writes the variant's notebook and parameter file into a *staging*
copy of the course, and checks it there:

1. the assignment's own convergence check (e.g. the book's training loop, run with the
   reference solution, converges with the chosen hyperparameters);
2. nbgrader generates the release (the stubs);
3. the reference scores full marks, the stubs zero, every wrong submission of the assignment's
   corpus loses points at its part, and every differently-right one keeps full marks.

Only then are ``solutions/NAME/`` copied into the course and ``assignments/NAME/``
generated with nbgrader. A refused variant leaves nothing behind, and the refusal says
which parameter to change. A variant is graded by its base's assignment folder, whose suite
reads the parameters from ``solutions/NAME/assignment.json``.

What is generic lives here: ``rules`` (what an assignment's ``variants.py`` provides),
``rewrite`` (the variant's notebook), ``validate`` (the grading check), ``create`` (the
commands). What is the assignment's (its parameters' ranges and theory) is in its folder.
"""

from autograder.variants.create import create_variant, root_base, rules_of, variant_table, write_variant
from autograder.variants.rewrite import sci, setup_mismatches, setup_values
from autograder.variants.rules import Rules, VariantError
from autograder.variants.validate import check_grading

__all__ = ["Rules", "VariantError", "check_grading", "create_variant", "root_base", "rules_of", "sci",
           "setup_mismatches", "setup_values", "variant_table", "write_variant"]
