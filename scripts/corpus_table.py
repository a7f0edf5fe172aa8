"""Print the grade table of an assignment: reference, stubs and every corpus case, per part.

Usage: .venv/bin/python scripts/corpus_table.py linreg_scratch
Grades everything in one run of ``autograder grade`` and prints a Markdown table.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.corpus import ROOT, cases, release_path, submission, write


def main(assignment: str) -> None:
    corpus = cases(assignment)
    folder = Path(tempfile.mkdtemp())
    rows = {"reference": write(submission(assignment), folder / "ref" / f"{assignment}.ipynb"),
            "stubs (release)": release_path(assignment)}
    for i, case in enumerate(corpus.WRONG + corpus.RIGHT):
        kind = "wrong" if case in corpus.WRONG else "right"
        path = folder / str(i) / f"{assignment}.ipynb"
        rows[f"{kind}: {case.name}"] = write(submission(assignment, case.cells), path)
    out = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", *map(str, rows.values()),
                          "--format", "json", "--device", "cpu"], cwd=ROOT, capture_output=True, text=True, check=True)
    results = json.loads(out.stdout)
    parts = list(dict.fromkeys(t["tags"][0] for t in results[0]["tests"]))
    maxes = {p: sum(t["max_score"] for t in results[0]["tests"] if t["tags"][0] == p) for p in parts}
    print("| submission | " + " | ".join(f"{p} ({maxes[p]:g})" for p in parts) + " | total |")
    print("|---" * (len(parts) + 2) + "|")
    for name, result in zip(rows, results, strict=True):
        got = {p: sum(t["score"] for t in result["tests"] if t["tags"][0] == p) for p in parts}
        cells = [f"{got[p]:g}" if got[p] == maxes[p] else f"**{got[p]:g}**" for p in parts]
        print(f"| {name} | " + " | ".join(cells) + f" | {result['score']:g} |")


if __name__ == "__main__":
    main(sys.argv[1])
