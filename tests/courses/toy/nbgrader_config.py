"""A course of its own, outside the kit: its assignment folders are in graders/, found before the kit's.

The kit's tests copy this folder into a temporary directory and grade there (tests/test_toy_course.py).
"""

from pathlib import Path

from autograder.nbgrader_plugin import configure

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

configure(c, Path(__file__).resolve().parent)
c.CourseDirectory.course_id = "toy"
