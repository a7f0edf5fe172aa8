"""Starting child processes without re-running the caller's main script in each of them.

``multiprocessing`` (spawn and forkserver alike) runs the parent's ``__main__`` again in every
child it starts, so that functions defined there can be found. Ours never live there. Under the
``nbgrader`` console script that is all of nbgrader's apps, seconds per grading worker; under
``python -m autograder.cli`` it is the CLI module, run again by ``runpy`` in each sandboxed
worker (about 9 ms of its CPU); from ``python -`` or a script without a ``__main__`` guard it
fails or recurses. Inside this context children are told there is no main script to run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

_MISSING = object()


@contextmanager
def without_main_reimport() -> Iterator[None]:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if main is None or (spec is not None and (spec.name == "__main__" or spec.name.endswith(".__main__"))):
        yield  # ``python -m package``: multiprocessing already skips a package's __main__
        return
    # multiprocessing.spawn.get_preparation_data reads the module's name (``-m``), else its file
    path = main.__dict__.pop("__file__", _MISSING)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__spec__ = spec
        if path is not _MISSING:
            main.__file__ = path
