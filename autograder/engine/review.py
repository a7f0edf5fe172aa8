"""Flags for the TA: answer code that reaches for the grader, the process or the machine.

Read on the trusted side from the submitted text (never run). A flag is not a verdict and
costs no points: the sandbox and the trusted-side checks decide the score. It points a human
at code worth reading, in particular at attempts the sandbox cannot rule out, such as
patching the probe code that runs next to the student's functions (see the README's threat
model).
"""

from __future__ import annotations

import re

FLAGS = [
    ("reaches into the grader's modules", r"\bautograder\b|\bassignment_probes\b|\bsys\.modules\b"),
    ("inspects the call stack or other objects' globals",
     r"_getframe|\bf_back\b|\bf_locals\b|\bf_globals\b|__globals__|\binspect\.(stack|currentframe|getouterframes)"
     r"|\bgc\.get_(objects|referrers)"),
    ("replaces a library function",
     r"^\s*(torch|np|numpy|math|pytest|builtins|_pytest)(\.\w+)+\s*=[^=]|setattr\(\s*(torch|np|numpy|math|builtins|pytest)\b"),
    ("uses ctypes", r"\bctypes\b"),
    ("starts processes or threads", r"\bsubprocess\b|\bos\.(fork|exec\w*|spawn\w*|system|popen)\b|\bmultiprocessing\b"
     r"|\bthreading\b|\b_thread\b"),
    ("signals or exits the process", r"\bos\.(kill|killpg|_exit)\b|\bsys\.exit\b|\bsignal\.\w+\("),
    ("uses the network", r"\bsocket\b|\burllib\b|\brequests\b|\bhttp\.client\b"),
    ("touches files", r"\bopen\(|\bos\.(remove|unlink|rmdir|walk|listdir|scandir|chdir)\b|\bshutil\.|\bpathlib\b"),
]
_COMPILED = [(label, re.compile(pattern, re.MULTILINE)) for label, pattern in FLAGS]


def review_flags(cells: list[tuple[str, str]]) -> list[str]:
    """``"<cell>: <what>"`` for each answer cell and each kind of code worth a look."""
    flags = []
    for grade_id, source in cells:
        for label, pattern in _COMPILED:
            if pattern.search(source):
                flags.append(f"{grade_id}: {label}")
    return flags
