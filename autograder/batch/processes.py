"""Starting child processes without re-running the caller's main script in each of them.

``multiprocessing`` (spawn and forkserver alike) imports the parent's ``__main__`` again in
every child it starts, so that functions defined there can be found. Ours never live there.
Under the ``nbgrader`` console script that re-import is all of nbgrader's apps, seconds per
grading worker; from ``python -`` or a script without a ``__main__`` guard it fails or recurses.
Inside this context children are told there is no main script to import.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_main_reimport() -> Iterator[None]:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main, "__spec__", None) is not None:
        yield  # run as ``python -m``: multiprocessing already skips a package's __main__
        return
    del main.__file__  # multiprocessing.spawn.get_preparation_data reads it when a child starts
    try:
        yield
    finally:
        main.__file__ = path
