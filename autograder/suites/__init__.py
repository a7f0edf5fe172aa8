"""Hidden suites: one package per assignment, plain pytest, run in the grader's process.

They never import torch and never see student objects: only the plain data that probes
(``autograder.probes``) send back from the worker.
"""
