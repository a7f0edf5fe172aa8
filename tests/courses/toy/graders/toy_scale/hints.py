"""Errors students of the toy assignment meet, and what they usually mean here.

The grader adds the hint of the first pair whose text is in the student's error (then the kit's own)."""

HINTS = [
    ("'builtin_function_or_method' object has no attribute",
     "`x.abs` is the method itself, not its result: call it, `x.abs().mean()`."),
    ("can't multiply sequence by non-int", "Multiply the tensor itself (`a * x`), not a Python list."),
]
