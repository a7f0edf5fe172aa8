"""Batch grading for TAs: every submission of an assignment, in parallel, into nbgrader's gradebook.

``autograder autograde ASSIGNMENT`` (see ``run.autograde``) grades ``submitted/`` through the
engine in a pool of grading processes, while this process alone writes the gradebook, the
autograded notebooks, each student's ``results.json`` and feedback page, and the class report.
"""
