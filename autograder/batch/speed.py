"""Per-process costs of grading that are paid again for every submission and need not be.

Measured on the 40-submission benchmark (``benchmarks/where_time_goes.py``), per submission:

- pytest's ``unraisableexception`` plugin calls ``gc.collect()`` several times per run (twice
  per ``pytest.main``); over the heap of a grading process (nbgrader, nbconvert, SQLAlchemy,
  jsonschema, pytest, numpy) that was about 0.28 s of a 0.75 s submission. ``gc.freeze()``
  after start-up moves that heap out of the collector's sight, so each collection only walks
  what the submission allocated. Nothing allocated later is exempt from collection.
- nbgrader's ``CheckCellMetadata`` runs twice per notebook and validates every cell's metadata
  with ``jsonschema.validate``, which checks nbgrader's own (fixed) schema against the
  meta-schema again on each call: 0.06 s per submission. Here each distinct schema is checked
  once and its validator reused; a cell's metadata is validated exactly as before and an
  invalid one raises the same ``ValidationError`` (``best_match`` of the same errors).

- nbgrader's ``OverwriteCells`` and ``OverwriteKernelspec`` each open a ``Gradebook`` per
  notebook: a new SQLAlchemy engine, then the tables' existence checked and created if missing
  (``create_all``), 3.7 ms of CPU each time for a query or two. ``reuse_gradebook_engines`` gives
  them a ``Gradebook`` on one engine per grading process, made after the fork (a pooled
  connection must not cross one): each use still gets a session of its own, the course row is
  still checked, and closing it returns the connection to the pool with no transaction open, so
  the batch's writer is never kept waiting. ``OverwriteCells`` then asks it for each graded
  cell's source and grade rows, two queries a cell; it answers them from one load of the
  notebook's cells (about 10 → 5 ms of CPU per notebook).

- BLAS's idle threads spin. numpy's OpenBLAS keeps one thread per core and, after each call
  (a suite's ``lstsq`` or ``corrcoef``), lets them spin-wait for more work; a grading process
  calls it, then waits for its worker, and those threads took the cores the workers needed:
  4.5 ms of the grading process's CPU per training run it waited for, 20 ms per submission.
  ``one_blas_thread`` makes the kit's commands use one BLAS thread (unless set otherwise), as
  the workers already use one torch thread; the suites' matrices are small.

And once per command: ``jsonschema`` (imported by nbformat) registers an "iri" format checker
when the optional ``rfc3987-syntax`` is installed (jupyter-events asks for jsonschema's
``format-nongpl`` extra), and that package compiles an Earley grammar with lark when imported:
1.3-1.9 s of CPU, half of what importing nbgrader costs here. Nothing the kit runs checks
formats (nbformat and nbgrader validate without a format checker), so ``skip_iri_grammar``
leaves it out of the kit's own commands.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import types
from typing import Any

_PAUSED = False  # the collector was turned off by ``pause_collector``, and is on again by ``resume_collector``


def pause_collector() -> None:
    """No garbage collection while a batch starts: its imports (nbgrader, pytest, matplotlib, the
    suite: about 300,000 objects, none of them garbage) made the collector walk a growing heap
    again and again, 0.15-0.3 s of CPU while the fork server imports torch on the other core.
    ``after_init`` then collects once and freezes what exists; ``resume_collector`` turns it on
    before any grading process is forked."""
    global _PAUSED
    if gc.isenabled():
        gc.disable()
        _PAUSED = True


def resume_collector() -> None:
    global _PAUSED
    if _PAUSED:
        gc.enable()
        _PAUSED = False


def after_init() -> None:
    """Start-up is over: what exists now lives as long as the process, so stop re-scanning it."""
    gc.collect()
    gc.freeze()


def after_first_submission() -> None:
    """Called before the second submission of a grading process: the first one imported the
    hidden suite's modules and filled pytest's and nbgrader's caches (about 20,000 objects, which
    each of pytest's collections walked again: 0.04-0.06 s of CPU per submission). Its result is
    gone by now; what is left lives as long as the process too."""
    gc.collect()
    gc.freeze()


class _CachedSchemas(types.ModuleType):
    """``jsonschema`` as nbgrader's metadata validator sees it, with ``validate`` memoised."""

    def __init__(self, real: types.ModuleType) -> None:
        super().__init__(real.__name__)
        self._real = real
        self._validators: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def validate(self, instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
        if cls is not None or args or kwargs:
            return self._real.validate(instance, schema, cls, *args, **kwargs)
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            cls = self._real.validators.validator_for(schema)
            cls.check_schema(schema)  # once per distinct schema, as jsonschema.validate would on each call
            validator = self._validators[key] = cls(schema)
        error = self._real.exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error


def validate_schemas_once() -> None:
    """nbgrader's cell-metadata validation, without re-checking its schema on every cell."""
    import jsonschema
    from nbgrader.nbgraderformat import common

    if not isinstance(common.jsonschema, _CachedSchemas):
        common.jsonschema = _CachedSchemas(jsonschema)


BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> None:
    """Before numpy is imported (BLAS reads these once): one thread, where nobody set a number."""
    for name in BLAS_THREADS:
        os.environ.setdefault(name, "1")


def skip_iri_grammar() -> None:
    """Before jsonschema is imported: it registers no "iri" format checker (see the module's
    docstring), so its optional rfc3987-syntax, with its grammar compiled on import, is not loaded."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # None in sys.modules: an ImportError, which jsonschema expects


class _PooledGradebook:
    """``nbgrader.api.Gradebook`` on an engine made once per process and db_url (see the module)."""

    _engines: dict[tuple[int, str], Any] = {}

    def __new__(cls, db_url: str, course_id: str = "default_course", authenticator: Any = None) -> Any:
        from nbgrader.api import Gradebook
        from sqlalchemy.orm import scoped_session, sessionmaker

        key = (os.getpid(), db_url)
        if key not in cls._engines:
            first = Gradebook(db_url, course_id, authenticator)  # creates the tables if need be
            first.db.remove()
            cls._engines[key] = first.engine
        gb = Gradebook.__new__(Gradebook)
        gb.engine = cls._engines[key]
        gb.db = scoped_session(sessionmaker(autoflush=True, bind=gb.engine, future=True))
        gb.check_course(course_id=course_id)
        gb.course_id, gb.authenticator = course_id, authenticator
        gb.close = gb.db.remove  # the engine stays, for this process's next notebook
        gb.find_source_cell = _by_notebook(gb, "source_cells")
        gb.find_graded_cell = _by_notebook(gb, "grade_cells")
        return gb


def _by_notebook(gb: Any, cells: str) -> Any:
    """``find_source_cell`` / ``find_graded_cell`` answered from one load of the notebook's cells
    (``OverwriteCells`` asks for each cell in turn, one query each). Only for the life of this
    Gradebook, one notebook's preprocessing: nothing is kept across notebooks. A missing
    notebook or cell raises ``MissingEntry``, as nbgrader's own lookups do."""
    from nbgrader.api import MissingEntry

    loaded: dict[tuple[str, str], dict[str, Any]] = {}

    def find(name: str, notebook: str, assignment: str) -> Any:
        if (notebook, assignment) not in loaded:
            found = gb.find_notebook(notebook, assignment)
            loaded[notebook, assignment] = {cell.name: cell for cell in getattr(found, cells)}
        try:
            return loaded[notebook, assignment][name]
        except KeyError:
            raise MissingEntry() from None

    return find


def reuse_gradebook_engines() -> None:
    """nbgrader's read-only autograde preprocessors open their Gradebook on a pooled engine."""
    from nbgrader.preprocessors import overwritecells, overwritekernelspec

    for module in (overwritecells, overwritekernelspec):
        module.Gradebook = _PooledGradebook
