"""nbgrader's default exchange as ``autograder watch`` sees it (read from nbgrader 0.9.6's
``exchange/default``): where submissions land and where a student's feedback page must go.

- ``nbgrader submit`` copies the notebooks to ``ROOT/COURSE/inbound/STUDENT+ASSIGNMENT+TIMESTAMP+RANDOM/``
  with ``timestamp.txt`` and ``submission_secret.txt``, and keeps a copy in the student's cache.
- ``nbgrader fetch_feedback`` looks, for each submission in that cache, for
  ``ROOT/COURSE/feedback/<notebook_hash(secret, notebook_id)>.html`` and copies it to
  ``ASSIGNMENT/feedback/TIMESTAMP/NOTEBOOK.html``. The folder is not listable by students, so a
  page can only be found by whoever holds that submission's secret: its own student.
- ``nbgrader release_feedback`` writes the final feedback under the same name; we never replace a
  page that we did not write.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from nbgrader.utils import notebook_hash

from autograder.course import load_config

DEFAULT_ROOT = "/usr/local/share/nbgrader/exchange"  # nbgrader's Exchange.root default
# As release_feedback makes it: the owner reads and writes, others may only open a known name.
FEEDBACK_DIR_MODE = stat.S_IRUSR | stat.S_IWUSR | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH


class ExchangeError(Exception):
    """The course has no exchange to watch (no course id, no inbound folder)."""


@dataclass(frozen=True)
class Inbound:
    """One ``nbgrader submit``, as it lies in the exchange's inbound folder."""

    folder: Path
    student: str
    timestamp: str

    @property
    def key(self) -> str:
        return self.folder.name

    def secret(self) -> str | None:
        try:
            return (self.folder / "submission_secret.txt").read_text()
        except OSError:
            return None


def course_exchange(course_root: Path) -> tuple[Path, str]:
    """The exchange root and course id from the course's nbgrader_config.py."""
    config = load_config(course_root)
    course_id = config.CourseDirectory.get("course_id", "")
    if not course_id:
        raise ExchangeError(f"{course_root / 'nbgrader_config.py'} sets no c.CourseDirectory.course_id: "
                            "the exchange is organised by course")
    root = Path(config.Exchange.get("root", DEFAULT_ROOT))
    return root, course_id


def inbound(root: Path, course_id: str, assignment: str) -> list[Inbound]:
    """Every submission of ``assignment`` in the inbound folder that is complete (its secret is
    written last by ``nbgrader submit``, after the notebooks and the timestamp)."""
    folder = root / course_id / "inbound"
    if not folder.is_dir():
        raise ExchangeError(f"no inbound folder {folder}: has the course been set up on this exchange?")
    found = []
    for path in sorted(folder.iterdir()):
        parts = path.name.split("+")
        if len(parts) not in (3, 4) or parts[1] != assignment or not path.is_dir():
            continue
        secret = path / "submission_secret.txt"
        # A link could name another submission's secret, and so its page: only plain files count.
        if not path.is_symlink() and secret.is_file() and not secret.is_symlink():
            found.append(Inbound(path, parts[0], parts[2]))
    return found


def feedback_path(root: Path, course_id: str, secret: str, notebook: str) -> Path:
    return root / course_id / "feedback" / f"{notebook_hash(secret=secret, notebook_id=notebook)}.html"


def write_page(path: Path, html: str) -> None:
    """Atomically, as release_feedback does (a temporary file moved into place), readable by all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.parent.chmod(FEEDBACK_DIR_MODE)
    except PermissionError:
        pass  # made by someone else (the exchange's owner): keep its mode
    tmp = path.with_name(f".{path.stem}-{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.chmod(0o644)
    tmp.replace(path)
