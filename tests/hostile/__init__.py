"""Hostile submissions: each tries one thing against the grader (see ``cases.py``)."""
