#!/usr/bin/env bash
# The main job: release the assignments with nbgrader, then grade the bundled sample
# submissions through the engine and print each student's scores and hints.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
autograder release linreg_scratch
autograder grade samples/submitted/*/linreg_scratch/linreg_scratch.ipynb
autograder release linreg_concise
autograder grade samples/submitted/*/linreg_concise/linreg_concise.ipynb
