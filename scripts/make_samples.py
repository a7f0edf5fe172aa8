"""Rebuild samples/submitted/: the bundled submissions the main job grades.

Each is the released notebook answered by a made-up student, built from the kit's corpus
(``autograder.corpus``), in nbgrader's ``submitted/<student>/<assignment>/`` layout.
Run after changing a notebook: ``.venv/bin/python scripts/make_samples.py``.
"""

import shutil

import nbformat

from autograder.corpus import ROOT, cases, release_path, submission, write

CONCISE_RIGHT = cases("linreg_concise").RIGHT
CONCISE_WRONG = cases("linreg_concise").WRONG
SCRATCH_WRONG = cases("linreg_scratch").WRONG

SAMPLES = ROOT / "samples" / "submitted"


def cases(wrong):
    return {c.name: c.cells for c in wrong}


def main() -> None:
    shutil.rmtree(SAMPLES, ignore_errors=True)
    scratch = cases(SCRATCH_WRONG)
    students = {
        "ada": submission("linreg_scratch"),
        "ben": nbformat.read(release_path("linreg_scratch"), as_version=4),  # handed in untouched
        "cyd": submission("linreg_scratch", scratch["sgd does not divide by batch_size"]),
        "dee": submission("linreg_scratch", scratch["squared_loss without the reshape"]),
        "eve": submission("linreg_scratch", scratch["data_iter drops the last batch"]),
        "fay": submission("linreg_scratch", {"sgd": "def sgd(params, lr, batch_size)\n    pass\n"}),
    }
    for student, nb in students.items():
        write(nb, SAMPLES / student / "linreg_scratch" / "linreg_scratch.ipynb")

    concise = cases(CONCISE_WRONG)
    students = {
        "ada": submission("linreg_concise"),
        "ben": nbformat.read(release_path("linreg_concise"), as_version=4),  # handed in untouched
        "cyd": submission("linreg_concise", concise["train_concise never clears the gradients"]),
        "dee": submission("linreg_concise", {**concise["load_array drops the last, smaller batch"],
                                             **concise["huber_loss is the book's sigma variant (SmoothL1Loss)"]}),
        "eve": submission("linreg_concise", {k: v for case in CONCISE_RIGHT for k, v in case.cells.items()}),
        "fay": submission("linreg_concise", {"train_concise": "def train_concise(features, labels, batch_size=10, "
                                                              "lr=0.03, num_epochs=3)\n    pass\n"}),
    }
    for student, nb in students.items():
        write(nb, SAMPLES / student / "linreg_concise" / "linreg_concise.ipynb")


if __name__ == "__main__":
    main()
