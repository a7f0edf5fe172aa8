"""A ``zip_collect`` collector for LMS downloads whose notebook names were changed on the way.

LMSs and students rename files: ``linreg_scratch (1).ipynb``, ``linreg_scratch-2.ipynb``,
``Linreg Scratch final.ipynb``. nbgrader's own collector copies such a file under its odd
name, and autograde then finds no notebook: the student scores zero. When the assignment has
exactly one notebook, this collector files any collected notebook under that name instead
(and says so in the log). It also reads the LMS's dashed times (``2026-01-15-12-50-00``) to the
second, which nbgrader's own parsing gets wrong (it keeps 12:00:00). Everything else is
nbgrader's ``FileNameCollectorPlugin``: the course still sets ``named_regexp`` for its LMS. In ``nbgrader_config.py``::

    c.ZipCollectApp.collector_plugin = "autograder.collect.AssignmentNotebookCollector"
    c.FileNameCollectorPlugin.named_regexp = r".+_(?P<student_id>\\w+)_attempt_(?P<timestamp>[0-9\\-]+)_(?P<file_id>.+)"
"""

from __future__ import annotations

import os
import re
from typing import Any

from nbgrader.plugins import FileNameCollectorPlugin
from nbgrader.utils import find_all_notebooks

# LMS times like 2026-01-15-12-50-00: dateutil, which nbgrader's parse_utc uses, reads the
# "-50-00" as a time-zone offset and keeps 12:00:00, so a submission 50 minutes late was on time.
DASHED_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[-_T ](\d{2})[-_:.](\d{2})(?:[-_:.](\d{2}))?")


def normalise_timestamp(text: str) -> str:
    """``2026-01-15-12-50-00`` -> ``2026-01-15 12:50:00`` (kept to the second); other forms as they are."""
    match = DASHED_TIME.fullmatch(text.strip())
    if not match:
        return text
    year, month, day, hour, minute, second = match.groups()
    return f"{year}-{month}-{day} {hour}:{minute}:{second or '00'}"


class AssignmentNotebookCollector(FileNameCollectorPlugin):
    def collect(self, submitted_file: str) -> dict[str, Any] | None:
        info = super().collect(submitted_file)
        if info and isinstance(info.get("timestamp"), str):
            info["timestamp"] = normalise_timestamp(info["timestamp"])
        if not info or not submitted_file.endswith(".ipynb"):
            return info
        released = self._released_notebooks()
        name = os.path.splitext(info["file_id"])[0] + ".ipynb"
        if len(released) == 1 and name not in released:
            self.log.warning("Collecting %s as %s (the assignment's only notebook)",
                             os.path.basename(submitted_file), released[0])
            info["file_id"] = released[0]
        return info

    def _released_notebooks(self) -> list[str]:
        coursedir = self.parent.coursedir  # the ZipCollectApp running this plugin
        return find_all_notebooks(coursedir.format_path(coursedir.release_directory, ".", coursedir.assignment_id))
