"""This repository is an nbgrader course: solutions/ is the source, assignments/ the release.

Grading goes through the kit's engine, never through a student's kernel: the engine's
preprocessor takes the place of nbgrader's Execute in autograde.
"""

from pathlib import Path

from autograder.nbgrader_plugin import configure

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

configure(c, Path(__file__).resolve().parent)
