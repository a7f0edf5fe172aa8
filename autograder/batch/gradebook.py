"""The single gradebook writer: stores each graded submission the way ``nbgrader autograde`` does.

It uses nbgrader's own ``Gradebook`` API and reproduces, step for step, what nbgrader's
``Autograde.init_assignment``, ``SaveAutoGrades`` and ``AssignLatePenalties`` store: the
student, the submission with its timestamp, each grade cell's ``auto_score`` and
``needs_manual_grade``, each answer cell's ``auto_comment``, the late penalty, and zeros for
a notebook that was not handed in. So ``nbgrader export``, formgrader and
``nbgrader generate_feedback`` read the engine's grades as their own.

One connection for the whole batch, and the grades of one submission in one transaction:
an interrupted run leaves every submission either stored completely or as before.
"""

from __future__ import annotations

import warnings
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SAWarning

from autograder.batch.job import JobOutcome


class GradebookError(Exception):
    """The gradebook is not ready for this assignment (no such assignment: not released yet)."""


class GradebookWriter:
    def __init__(self, db_url: str, course_id: str, assignment: str, config: Any) -> None:
        from nbgrader.preprocessors import AssignLatePenalties

        self.assignment = assignment
        # nbgrader's add_submission makes SQLAlchemy warn on every new submission ("not in
        # session, add operation ... will not proceed"): harmless there, and noise here.
        warnings.filterwarnings("ignore", category=SAWarning, module="nbgrader.api")
        self.gb = Gradebook(db_url, course_id)
        try:
            found = self.gb.find_assignment(assignment)
        except MissingEntry:
            self.gb.close()
            raise GradebookError(f"the gradebook has no assignment {assignment!r}: generate it first "
                                 f"(autograder release {assignment}, or nbgrader generate_assignment)") from None
        self.notebooks = tuple(nb.name for nb in found.notebooks)
        if not self.notebooks:
            self.gb.close()
            raise GradebookError(f"assignment {assignment!r} has no notebooks in the gradebook: "
                                 f"run nbgrader generate_assignment {assignment}")
        # Cell id -> (name, cell type) of the assignment's cells. They do not change during a
        # batch; read through each grade's association proxy (``grade.name``), every cell was
        # loaded again for every submission, one query each (each commit expires them).
        self.cells = {cell.id: (cell.name, getattr(cell, "cell_type", None))
                      for nb in found.notebooks
                      for cell in (*nb.grade_cells, *nb.solution_cells, *nb.task_cells)}
        # nbgrader's own late-penalty preprocessor, configured from the course (plugin, method).
        self.late = AssignLatePenalties(config=config)
        self.late.init_plugin()

    def close(self) -> None:
        self.gb.close()

    def __enter__(self) -> GradebookWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def graded_students(self) -> set[str]:
        """Students with autograder scores stored (a gradebook that was reset has none)."""
        done = set()
        for submission in self.gb.find_assignment(self.assignment).submissions:
            if any(g.auto_score is not None for nb in submission.notebooks for g in nb.grades):
                done.add(submission.student.id)
        return done

    def record(self, outcome: JobOutcome, timestamp: Any) -> list[str]:
        """Store one graded submission; on any database error nothing of it is kept.

        Returns the code grade cells left for a human: a grade cell the student deleted gets no
        autograder score, and nbgrader then asks for a manual grade in formgrader.
        """
        gb, student = self.gb, outcome.student
        unscored = []
        try:
            # Autograde.init_assignment: the student, then the submission (each commits, as there).
            gb.update_or_create_student(student)
            if timestamp:
                submission = gb.update_or_create_submission(self.assignment, student, timestamp=timestamp)
            else:
                submission = gb.update_or_create_submission(self.assignment, student)
            for nb in outcome.notebooks:
                stored = gb.find_submission_notebook(nb.notebook, self.assignment, student)
                if nb.autograded is None:
                    # Not handed in, or unreadable: what nbgrader stores for a missing notebook,
                    # no points and nothing for formgrader to show (the report lists it).
                    for grade in stored.grades:
                        grade.auto_score = 0
                        grade.needs_manual_grade = False
                else:
                    grades = {self._cell(g)[0]: g for g in stored.grades}
                    for name, auto_score in nb.scores.items():  # SaveAutoGrades._add_score
                        grade = grades[name]
                        grade.auto_score = auto_score
                        grade.needs_manual_grade = grade.manual_score is not None or auto_score is None
                    comments = {self._cell(c)[0]: c for c in stored.comments}
                    for name, text in nb.comments.items():  # SaveAutoGrades._add_comment
                        comments[name].auto_comment = text
                    unscored += [name for name, g in grades.items()
                                 if self._cell(g)[1] == "code" and name not in nb.scores]
                self._late_penalty(submission, stored)
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            raise
        return unscored

    def _cell(self, row: Any) -> tuple[str, str | None]:
        """(name, cell type) of a grade's or comment's cell, from ``self.cells`` when it is known."""
        return self.cells.get(row.cell_id) or (row.name, getattr(row.cell, "cell_type", None))

    def _late_penalty(self, submission: Any, notebook: Any) -> None:
        """AssignLatePenalties.preprocess, on this connection and without its own commit."""
        gb = self.gb
        gb.db.flush()  # the notebook's score is computed in SQL from the grades just set: reload it
        gb.db.expire(notebook, ["score"])
        notebook.late_submission_penalty = None
        if submission.total_seconds_late > 0:
            penalty = self.late.plugin_inst.late_submission_penalty(
                submission.student.id, notebook.score, submission.total_seconds_late)
            if penalty is not None:
                notebook.late_submission_penalty = self.late._check_late_penalty(notebook, penalty)
