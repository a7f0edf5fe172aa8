#!/usr/bin/env bash
# The main job, as a TA runs it, on the bundled sample submissions with the SQLite gradebook:
# per assignment, release, collect, autograde (all submissions in parallel, hidden suites),
# feedback, export, class report. The course state it creates (gradebook.db, submitted/,
# autograded/, feedback/, reports/) is not part of the repository and is rebuilt on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

pipeline() {
    local assignment="$1" student status
    rm -rf "submitted/"*"/$assignment" "autograded/"*"/$assignment" "feedback/"*"/$assignment" "reports/$assignment"
    echo "== $assignment: release (nbgrader generate_assignment)"
    autograder release "$assignment"
    echo "== $assignment: collect (the samples, as nbgrader collect leaves them in submitted/)"
    for folder in "samples/submitted/"*"/$assignment"; do
        student="$(basename "$(dirname "$folder")")"
        mkdir -p "submitted/$student"
        cp -r "$folder" "submitted/$student/"
    done
    echo "== $assignment: autograde (autograder autograde: the engine, in parallel, into the gradebook)"
    status=0
    autograder autograde "$assignment" || status=$?
    if [ "$status" -eq 1 ]; then
        echo "(exit status 1: a submission needs a human; see the report)"
    elif [ "$status" -ne 0 ]; then
        exit "$status"
    fi
    echo "== $assignment: feedback (nbgrader generate_feedback) and export (nbgrader export)"
    nbgrader generate_feedback "$assignment" --log-level=WARN
    nbgrader export --assignment="$assignment" --to="reports/$assignment/nbgrader_export.csv" --log-level=WARN
    echo "== $assignment: report"
    echo "class report:       reports/$assignment/report.html (scores.png, pass_rates.png)"
    echo "grades:             reports/$assignment/grades.csv; nbgrader's export: reports/$assignment/nbgrader_export.csv"
    echo "per student:        reports/$assignment/students/<student>/{results.json,feedback.html}"
    echo "nbgrader feedback:  feedback/<student>/$assignment/$assignment.html"
    column -s, -t < "reports/$assignment/grades.csv" 2>/dev/null || cat "reports/$assignment/grades.csv"
}

rm -f gradebook.db  # a fresh gradebook: the pipelines below fill it again
pipeline linreg_scratch
pipeline linreg_concise
