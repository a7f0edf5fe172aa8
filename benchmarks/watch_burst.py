"""``autograder watch`` against a real exchange folder: how long one submission waits for its page
on an idle watcher, and how long a burst of N submissions takes (and that none is lost).

Submissions are written into ``inbound/`` as ``nbgrader submit`` lays them out (notebook,
timestamp.txt, submission_secret.txt last), from the kit's corpus (right and wrong answers).

    .venv/bin/python benchmarks/watch_burst.py [-n 100] [--jobs 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.corpus import cases, submission, write  # noqa: E402
from autograder.watch.exchange import feedback_path  # noqa: E402
from tests.course_helpers import make_course, run  # noqa: E402

WRONG = cases("linreg_scratch").WRONG

ASSIGNMENT = "linreg_scratch"


def drop(inbound: Path, student: str, cells: dict[str, str]) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    folder = inbound / f"{student}+{ASSIGNMENT}+{stamp}+{secrets.token_urlsafe(6)}"
    folder.mkdir()
    write(submission(ASSIGNMENT, cells), folder / f"{ASSIGNMENT}.ipynb")
    (folder / "timestamp.txt").write_text(stamp)
    secret = secrets.token_hex(64)
    (folder / "submission_secret.txt").write_text(secret)
    return secret


def wait_for(pages: list[Path], limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if all(p.exists() for p in pages):
            return time.monotonic() - started
        time.sleep(0.1)
    return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="watch-bench-") as tmp:
        folder = Path(tmp)
        course = make_course(folder, [ASSIGNMENT])
        run(["generate_assignment", ASSIGNMENT, "--force"], course)
        run(["release_assignment", ASSIGNMENT], course)
        config = course / "solutions" / ASSIGNMENT / "assignment.json"
        config.write_text(json.dumps({**json.loads(config.read_text()), "watch": {"attempts_per_hour": 1000}}))
        exchange, inbound = folder / "exchange", folder / "exchange" / "d2l" / "inbound"
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        watcher = subprocess.Popen([sys.executable, "-m", "autograder.cli", "watch", ASSIGNMENT, "--jobs",
                                    str(args.jobs), "--device", "cpu", "--interval", "1"], cwd=course, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            # Warm up (the grading processes import torch on their first submission), then idle.
            first = wait_for([feedback_path(exchange, "d2l", drop(inbound, "warm", {}), ASSIGNMENT)], 300)
            time.sleep(5)
            one = wait_for([feedback_path(exchange, "d2l", drop(inbound, "solo", {}), ASSIGNMENT)], 300)
            print(f"first submission (cold pool): page after {first:.1f} s")
            print(f"one submission on an idle watcher: page after {one:.1f} s")
            answers = itertools.cycle([{}, *(case.cells for case in WRONG)])
            started = time.monotonic()
            pages = [feedback_path(exchange, "d2l", drop(inbound, f"s{i:03d}", next(answers)), ASSIGNMENT)
                     for i in range(args.n)]
            burst = wait_for(pages, 3600)
            done = sum(p.exists() for p in pages)
            print(f"burst of {args.n} (written in {time.monotonic() - started - burst:.1f} s): "
                  f"{done} pages in {burst:.1f} s, {burst / max(done, 1):.2f} s per submission, "
                  f"--jobs {args.jobs}, load average {os.getloadavg()[0]:.1f}")
        finally:
            watcher.send_signal(signal.SIGTERM)
            out, _ = watcher.communicate(timeout=300)
            print("watcher:", out.strip().splitlines()[-1] if out.strip() else "(no output)",
                  f"(exit {watcher.returncode})")


if __name__ == "__main__":
    main()
