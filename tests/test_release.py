"""The committed release is what nbgrader generates from the committed source."""

import json

import pytest

from autograder.corpus import ROOT
from tests.course_helpers import make_course, run

ASSIGNMENTS = sorted(p.parent.name for p in (ROOT / "solutions").glob("*/assignment.json"))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_in_sync_with_source(tmp_path, assignment):
    course = make_course(tmp_path, [assignment])
    run(["generate_assignment", assignment, "--force"], course)
    name = f"{assignment}/{assignment}.ipynb"
    fresh = json.loads((course / "assignments" / name).read_text())
    committed = json.loads((ROOT / "assignments" / name).read_text())
    assert fresh == committed, (f"assignments/{name} is out of date: run "
                                f"`autograder release {assignment}` and commit the result")
    assert "BEGIN HIDDEN TESTS" not in json.dumps(committed)
    assert "BEGIN SOLUTION" not in json.dumps(committed)
