#!/usr/bin/env bash
# The kit's tests: lint, then pytest. Sets up .venv/ first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ruff check .
python -m pytest tests "$@"
