"""What a submission folder may hold: plain files and folders, nothing that points elsewhere.

A symlink, a hard link to a file outside, a device file, a FIFO or a socket in
``submitted/<student>/<assignment>/`` would make a copy into ``autograded/`` (and from there
nbgrader's feedback) read something other than what the student wrote, such as the solution.
Such a submission is never read or copied; it needs a human, with the reason.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def unsafe_entries(folder: Path) -> list[str]:
    """Each entry of ``folder`` (the folder itself included) that is not a plain file or folder."""
    found = []
    for path in [folder, *_walk(folder)]:
        try:
            info = path.lstat()
        except OSError as exc:
            found.append(f"{path.name}: cannot be read ({exc.strerror})")
            continue
        if stat.S_ISLNK(info.st_mode):
            found.append(f"{_rel(path, folder)} is a symbolic link")
        elif stat.S_ISDIR(info.st_mode):
            continue
        elif not stat.S_ISREG(info.st_mode):
            found.append(f"{_rel(path, folder)} is not a plain file (a device, FIFO or socket)")
        elif info.st_nlink > 1:
            found.append(f"{_rel(path, folder)} is a hard link to another file")
    return found


def problem(folder: Path) -> str | None:
    """The reason a human must look at this submission folder, or None when it is plain."""
    entries = unsafe_entries(folder)
    if not entries:
        return None
    shown = "; ".join(entries[:5]) + (f"; and {len(entries) - 5} more" if len(entries) > 5 else "")
    return (f"the submission folder holds what is not a plain file ({shown}): nothing of it was read or "
            "copied; remove those entries and grade again")


def _walk(folder: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        out += [Path(dirpath) / n for n in dirnames + filenames]
    return out


def _rel(path: Path, folder: Path) -> str:
    return "the folder itself" if path == folder else str(path.relative_to(folder))
