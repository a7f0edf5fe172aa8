#!/usr/bin/env bash
# Creates .venv/ at the repository root with the kit installed (idempotent; sourced by the
# other scripts). Torch is pinned through constraints.txt: an unpinned torch pulls GBs of CUDA.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.installed"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ] || [ "$ROOT/constraints.txt" -nt "$STAMP" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip -c "$ROOT/constraints.txt" 2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" -e "$ROOT[dev]" 2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import autograder, torch, nbgrader" # fail loudly if the install did not work
    touch "$STAMP"
fi
# dask reads $VENV/etc/dask/: grading workers must not be daemonic (README: Grading on a Dask cluster)
mkdir -p "$VENV/etc/dask" && cp "$ROOT/scripts/dask/autograder.yaml" "$VENV/etc/dask/autograder.yaml"
export PATH="$VENV/bin:$PATH"
