"""The same batch against a real PostgreSQL server, as a course with ``db_url`` pointing at it.

The test starts its own throw-away server (``initdb`` + ``pg_ctl``, Debian package
``postgresql``, installed by ``.ci/run``) on loopback, in a temporary folder. PostgreSQL
refuses to run as root, so as root the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from autograder.corpus import cases
from tests.batch_helpers import (
    ASSIGNMENT,
    answered,
    assert_gradebook_matches_results,
    autograde,
    hand_in,
    results,
    stored,
)
from tests.course_helpers import make_course, run

WRONG = cases("linreg_scratch").WRONG

pytestmark = pytest.mark.slow


def server_binaries() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    bin_dir = server_binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package "
                    "'postgresql' (.ci/run does)")
    user: dict = {}
    folder = Path(tempfile.mkdtemp(prefix="autograder-pg-"))
    if os.geteuid() == 0:  # initdb refuses root: run the server as the package's system user
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        os.chown(folder, account.pw_uid, account.pw_gid)
        user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    data, port = folder / "data", free_port()

    def pg(*args: str) -> None:
        subprocess.run([str(bin_dir / args[0]), *args[1:]], check=True, capture_output=True, cwd=folder,
                       stdin=subprocess.DEVNULL, **user)

    pg("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
    pg("pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
       "-o", f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off", "start")
    try:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute("CREATE DATABASE gradebook")
        yield f"postgresql://postgres@127.0.0.1:{port}/gradebook"
    finally:
        pg("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_batch_grades_into_postgresql(postgres_url, tmp_path):
    course = make_course(tmp_path, [ASSIGNMENT])
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(f"\nc.CourseDirectory.db_url = {postgres_url!r}\n")
    run(["generate_assignment", ASSIGNMENT, "--force"], course)
    assert not (course / "gradebook.db").exists()  # the gradebook is the server's
    hand_in(course, "ada", answered())
    hand_in(course, "ben", answered({c.name: c for c in WRONG}["linreg forgets the bias"].cells))
    hand_in(course, "cyd", '{"cells": [')
    proc = autograde(course, "--jobs", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]  # cyd needs a human
    gradebook = stored(postgres_url)
    assert set(gradebook) == {"ada", "ben", "cyd"}
    assert_gradebook_matches_results(gradebook, course, ["ada", "ben", "cyd"])
    assert results(course, "ada")["score"] == 100 and results(course, "cyd")["score"] == 0

    proc = autograde(course)  # resumes against the server's gradebook too
    assert "graded 0, already graded 3" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    export = course / "grades.csv"
    run(["export", "--to", str(export)], course)
    assert "ben" in export.read_text()
