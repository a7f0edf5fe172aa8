"""nbgrader integration: the course layout, and a preprocessor that grades through the engine.

``EngineGrader`` replaces nbgrader's ``Execute`` in ``Autograde.autograde_preprocessors``.
It grades the sanitized notebook (locked and grade cells already restored from the
gradebook) in a sandboxed worker, then writes each grade cell's outputs: the part's report
on stdout and its points as a plain float ``execute_result``, which nbgrader reads as
partial credit. It never writes stderr or an error output, and the points are clamped to
the cell's maximum, so none of nbgrader's output traps can change a grade.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbgrader
from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Unicode

from autograder import submission_files
from autograder.hand_grading import ShowForHandGrading, StashStudentOutputs
from autograder.notebook import grade_cell_part
from autograder.render import part_text
from autograder.results import Result, fmt

NBCONVERT_TEMPLATES = Path(__file__).resolve().parent / "templates" / "nbconvert"
NBGRADER_TEMPLATES = Path(nbgrader.__file__).resolve().parent / "server_extensions" / "formgrader" / "templates"
# What a released answer cell holds: it says what to do, also in the error it raises when run.
CODE_STUB = '# YOUR CODE HERE: replace this stub\nraise NotImplementedError("replace this stub with your code")'


def configure(c: Any, root: Path) -> None:
    """Make ``root`` an nbgrader course graded by the engine (called from nbgrader_config.py)."""
    from autograder.batch.speed import one_blas_thread

    one_blas_thread()  # before nbgrader's process imports numpy (batch/speed.py)
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.source_directory = "solutions"
    c.CourseDirectory.release_directory = "assignments"
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    defaults = Autograde.class_traits()["autograde_preprocessors"].make_dynamic_default()
    graders = [EngineGrader if p is Execute else p for p in defaults]
    # The student's outputs and the rubrics go in once nbgrader has cleared the cell metadata,
    # and before LimitOutput, which then caps the outputs' lines too (see hand_grading).
    after = graders.index(ClearMetadataPreprocessor) + 1 if ClearMetadataPreprocessor in graders else 1
    c.Autograde.autograde_preprocessors = [*graders[:after], ShowForHandGrading, *graders[after:]]
    sanitize = Autograde.class_traits()["sanitize_preprocessors"].make_dynamic_default()
    c.Autograde.sanitize_preprocessors = [StashStudentOutputs, *sanitize]
    # generate_feedback's pages work offline: our feedback/mathjax.html.j2 comes first on the template
    # path and loads no MathJax from a CDN (nbgrader's own templates follow, as nbgrader sets them).
    c.HTMLExporter.extra_template_basedirs = [str(NBCONVERT_TEMPLATES), str(NBGRADER_TEMPLATES)]
    c.ClearSolutions.code_stub = {"python": CODE_STUB}


def exchange_root(config: Any) -> str:
    """The course's nbgrader exchange (every student's submissions and feedback): hidden from workers."""
    from nbgrader.exchange.default.exchange import Exchange

    return str(config.Exchange.get("root") or Exchange.class_traits()["root"].default())


class EngineGrader(NbGraderPreprocessor):
    """Grades with the hidden suites instead of executing the notebook in a kernel."""

    device = Unicode("auto", help="auto, cpu or cuda").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict):
        from autograder.engine.runner import grade  # numpy and pytest: only where grading happens

        info = resources["nbgrader"]
        root = Path(self.config.CourseDirectory.get("root", ".")).resolve()
        path = Path(f"{info['notebook']}.ipynb")
        submitted = root / self.config.CourseDirectory.get("submitted_directory", "submitted") / info["student"] \
            / info["assignment"]
        unsafe = submission_files.problem(submitted) if submitted.exists() else None
        if unsafe:  # nbgrader then fails the submission and removes what it copied into autograded/
            raise ValueError(f"{info['student']}/{info['assignment']}: {unsafe}")
        result = grade(nb, path, info["assignment"], course_root=root, device=self.device,
                       student_id=info["student"], private=[exchange_root(self.config)])
        resources["autograder_result"] = result
        typed = Result.from_dict(result)
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            name = grade_cell_part(cell) if cell.cell_type == "code" else None
            if not (meta.get("grade") and name):
                continue
            part, report = part_text(typed, name)
            points = float(meta.get("points", 0))
            earned = points * part.score / part.max_score if part.max_score else 0.0
            earned = min(max(round(earned, 4), 0.0), points)
            cell.outputs = [
                new_output("stream", name="stdout", text=report),
                new_output("execute_result", data={"text/plain": repr(float(earned))},
                           execution_count=index + 1),
            ]
            cell.execution_count = index + 1
        self.log.info("engine graded %s/%s: %s/%s", info["student"], info["notebook"],
                      fmt(result["score"]), fmt(result["max_score"]))
        self.log.debug("%s", json.dumps(result["extra_data"]))
        return nb, resources
